"""Backup files in a directory (two levels deep): age, size, and whether their first bytes show an
encrypted container (OpenPGP, age, openssl enc, LUKS, AES zip, 7z with an AES-coded header).

Only the newest MAX_FILES files are listed and read (the count and the oldest file are always
exact). Recognition is by header only: a format without one (restic, borg, `openssl enc -nosalt`)
reads as unrecognised, i.e. not shown encrypted.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.transports.base import CommandResult, HostContext

MAX_FILES = 3000
HEAD_BYTES = 128  # enough for an ASCII-armor header and the first OpenPGP packet under it
MAX_7Z_TAILS = 100
SIDECAR_MAX_BYTES = 65536
_SIDECAR_NAME = re.compile(r"(\.(sha1|sha224|sha256|sha384|sha512|md5|b2)|SUMS)$", re.IGNORECASE)
_7Z_AES_CODER = b"\x06\xf1\x07\x01"
_PGP_CIPHERS = {1: "IDEA", 2: "3DES", 3: "CAST5", 4: "Blowfish", 7: "AES-128", 8: "AES-192",
                9: "AES-256", 10: "Twofish", 11: "Camellia-128", 12: "Camellia-192",
                13: "Camellia-256"}
_WEAK_PGP_CIPHERS = {1, 2, 3, 4}  # 64-bit blocks or broken
_CLEAR_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
                b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4", b"PK\x05\x06": "zip"}


def _result(fmt: str, encrypted: bool | None, weak: str | None = None,
            cipher: str | None = None) -> dict[str, Any]:
    return {"format": fmt, "encrypted": encrypted, "weak": weak, "cipher": cipher}


def _openpgp(head: bytes) -> dict[str, Any] | None:
    """First OpenPGP packet (RFC 4880/9580): old format 10TTTTLL, new format 11TTTTTT."""
    first = head[0]
    if first & 0x40:
        tag, length_byte = first & 0x3F, head[1] if len(head) > 1 else 0
        skip = 2 if length_byte < 192 or 224 <= length_byte < 255 else 3 if length_byte < 224 \
            else 6
    else:
        tag, skip = (first >> 2) & 0x0F, 1 + (1, 2, 4, 0)[first & 3]
    body = head[skip:]
    if not body:
        return None
    version = body[0]
    if tag == 1 and version in (3, 6):
        return _result("openpgp-pubkey-encrypted", True)
    if tag == 3 and version in (4, 5, 6):
        algo = body[2] if version == 6 else body[1] if len(body) > 1 else None
        weak = f"OpenPGP cipher {_PGP_CIPHERS[algo]}" if algo in _WEAK_PGP_CIPHERS else None
        return _result("openpgp-symmetric", True, weak, _PGP_CIPHERS.get(algo, str(algo)))
    if tag in (18, 20) and version in (1, 2):
        return _result("openpgp-encrypted-data", True)
    if tag == 9:
        return _result("openpgp-encrypted-data", True, "OpenPGP data without integrity "
                                                       "protection (SED packet)")
    if tag == 2 and version in (3, 4, 5, 6):
        return _result("openpgp-signature", False)
    if tag in (4, 8, 11):  # one-pass signature, compressed, literal: readable by anyone
        return _result("openpgp-clear", False)
    return None


def _armored(head: bytes) -> dict[str, Any]:
    """ASCII armor: decode what follows the blank line and classify that packet."""
    _, blank, rest = head.replace(b"\r\n", b"\n").partition(b"\n\n")
    text = re.sub(rb"\s", b"", rest)
    text = text[:len(text) // 4 * 4]
    try:
        packet = base64.b64decode(text, validate=True) if blank else b""
    except binascii.Error:
        packet = b""
    return (_openpgp(packet) if packet else None) or _result("openpgp-armored", None)


def classify(head: bytes, size: int) -> dict[str, Any]:
    """What the first HEAD_BYTES of a file say about its format and encryption."""
    if size == 0 or not head:
        return _result("empty", False)
    if head.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return _armored(head)
    if head.startswith(b"-----BEGIN PGP SIGNATURE-----"):
        return _result("openpgp-signature", False)
    if head.startswith((b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----")):
        return _result("age", True)
    if head.startswith(b"Salted__"):
        return _result("openssl-enc", True)
    if head.startswith(b"LUKS\xba\xbe"):
        return _result("luks", True)
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return _result("7z", None)  # decided by its end header, see _sevenzip_tails
    if head.startswith(b"PK\x03\x04") and len(head) >= 10:
        flags, method = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        if not flags & 1:
            return _result("zip", False)
        if method == 99 or flags & 0x40:
            return _result("zip-aes" if method == 99 else "zip-strong", True)
        return _result("zip-zipcrypto", True, "ZipCrypto (legacy zip encryption, broken by "
                                              "known-plaintext attacks)")
    if head[0] & 0x80 and (pgp := _openpgp(head)):
        return pgp
    for magic, fmt in _CLEAR_MAGIC.items():
        if head.startswith(magic):
            return _result(fmt, False)
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return _result("text", False)
    return _result("unrecognised", False)


def _describe(head: bytes, size: int) -> dict[str, Any]:
    """classify() plus the first bytes in hex and why encryption stays unknown, if it does."""
    found = classify(head, size) | {"magic": head[:8].hex()}
    if found["format"] == "openpgp-armored":
        found["unverified"] = "the armored OpenPGP packet is beyond the bytes read"
    elif found["format"] == "7z":
        found["unverified"] = "its end header was not read"
    return found


def _parse_listing(text: str) -> tuple[int | None, list[dict[str, Any]], dict | None, int]:
    """`date +%s`, then `MTIME SIZE PATH` newest first, `oldest ...` and `total N` lines."""
    now, files, oldest, total = None, [], None, 0
    for line in text.splitlines():
        if now is None and line.strip().isdigit():
            now = int(line)
        elif line.startswith("total "):
            total = int(line.split()[1])
        elif match := re.match(r"^(oldest )?(\d+(?:\.\d+)?) (\d+) (.+)$", line):
            entry = {"path": match[4], "mtime": float(match[2]), "size": int(match[3])}
            if match[1]:
                oldest = entry
            else:
                files.append(entry)
    return now, files, oldest, total


def _heads(raw: bytes, files: list[dict[str, Any]]) -> dict[str, bytes]:
    """Split `head -v -c N f1 f2 ...` output with the markers it prints before each file."""
    heads = {}
    for entry in files:
        marker = b"==> " + entry["path"].encode() + b" <==\n"
        at = raw.find(marker)
        if at >= 0:
            start = at + len(marker)
            heads[entry["path"]] = raw[start:start + min(entry["size"], HEAD_BYTES)]
    return heads


def _sevenzip_tails(out: Collected, ctx: HostContext, files: list[dict[str, Any]],
                    heads: dict[str, bytes]) -> None:
    """A 7z end header naming the AES coder (06F10701) is encrypted (-mhe=on) or lists AES for
    the data; an LZMA-packed header without it hides whether the data is encrypted."""
    targets = [f for f in files if f["format"] == "7z" and len(heads[f["path"]]) >= 32]
    targets = targets[:MAX_7Z_TAILS]
    parts = []
    for entry in targets:
        head = heads[entry["path"]]
        offset = 32 + int.from_bytes(head[12:20], "little")
        length = min(int.from_bytes(head[20:28], "little"), 4096)
        parts.append(f"tail -c +{offset + 1} -- {shlex.quote(entry['path'])} | head -c {length}"
                     f" | base64 -w0; echo")
    if not parts:
        return
    result = out.run(ctx, "; ".join(parts), sudo=True)
    for entry, line in zip(targets, result.stdout.splitlines()):
        try:
            tail = base64.b64decode(line.strip(), validate=True)
        except binascii.Error:
            continue
        if _7Z_AES_CODER in tail:
            entry.update(encrypted=True, cipher="AES-256", unverified=None)
        elif tail[:1] == b"\x01":
            entry.update(encrypted=False, unverified=None)  # plain header, no AES coder
        elif tail:
            entry["unverified"] = "7z header is compressed, not encrypted: data encryption " \
                                  "cannot be seen (create archives with 7z -mhe=on)"


def _failed(result: CommandResult) -> str:
    """Why a command gave no usable listing; a pipeline exits 0 when only its first tool failed."""
    why = result.explain() if not result.ok else \
        f"`{result.command}` reported: {result.stderr.strip().splitlines()[-1][:200]}"
    return why + (" (needs root: use --sudo)" if result.permission_denied else "")


@collector("backups")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"locations": {}})
    for path in sorted({p["path"] for p in params}):
        out.data["locations"][path] = _location(out, ctx, path)
    return out


def _location(out: Collected, ctx: HostContext, path: str) -> dict[str, Any]:
    where = shlex.quote(ctx.path(path))
    kind = out.run(ctx, f"stat -L -c %F -- {where}", sudo=True)
    if not kind.ok:
        if "No such file" in kind.stderr:
            return {"exists": False}
        return {"error": _failed(kind)}
    if kind.stdout.strip() != "directory":
        return {"exists": True, "directory": False, "kind": kind.stdout.strip()}
    found = f"find -H {where} -maxdepth 2 -type f"
    listing = out.run(ctx, f"date +%s && {found} -printf '%T@ %s %p\\n' | sort -rn | awk -v "
                           f"max={MAX_FILES} 'NR<=max {{print; next}} {{last=$0}} END "
                           f"{{if (NR>max) print \"oldest \" last; print \"total \" NR}}'",
                      sudo=True)
    if not listing.ok or listing.stderr.strip():
        return {"error": _failed(listing)}
    now, files, oldest, total = _parse_listing(listing.stdout)
    if now is None:
        return {"error": f"`{listing.command}` printed no current time"}
    heads: dict[str, bytes] = {}
    if files:
        read = out.run(ctx, f"{found} -printf '%T@ %p\\0' | sort -z -rn | head -z -n {MAX_FILES}"
                            f" | cut -z -d' ' -f2- | xargs -0 -r head -v -c {HEAD_BYTES} -- "
                            f"| base64 -w0", sudo=True)
        heads = _heads(base64.b64decode(read.stdout.strip() or b""), files)
        # first bytes of clear files may be data: evidence keeps the classification, not them
        read.stdout = f"[{len(read.stdout)} base64 characters of file headers, not kept]"
        unread = "its first bytes could not be read" + (
            " (permission denied: use --sudo)" if read.permission_denied else "")
    for entry in files:
        head = heads.get(entry["path"])
        entry.update(_describe(head, entry["size"]) if head is not None else
                     _result("unread", None) | {"unverified": unread})
        entry["sidecar"] = entry["size"] <= SIDECAR_MAX_BYTES and (
            entry["format"] == "openpgp-signature" or bool(_SIDECAR_NAME.search(entry["path"])))
    _sevenzip_tails(out, ctx, files, heads)
    prefix = ctx.path(path)  # show host paths, not sysroot ones
    for entry in files + ([oldest] if oldest else []):
        entry["path"] = path + entry["path"][len(prefix):]
    return {"exists": True, "directory": True, "now": now, "files": files, "oldest": oldest,
            "total": total, "truncated": total > len(files)}
