"""SSH public keys that may log in: every user's AuthorizedKeysFile, as SHA256 fingerprints.

The files come from `sshd -T` (AuthorizedKeysFile, AuthorizedKeysCommand), else sshd's default
(.ssh/authorized_keys .ssh/authorized_keys2). Data keeps fingerprints, types, comments and
options per file, not the files themselves. Every Match context of the effective
configuration counts (scanner.hostprobes.sshd).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shlex
import struct
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, read_optional
from scanner.hostprobes.sshd import SSHD_CONFIG, effective
from scanner.transports.base import HostContext

DEFAULT_FILES = [".ssh/authorized_keys", ".ssh/authorized_keys2"]
# What ssh.key_types reads per context (pubkeyacceptedkeytypes: OpenSSH before 8.5).
KEY_SETTINGS = ("pubkeyauthentication", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes",
                "trustedusercakeys")
MAX_KEYS_BYTES = 256 * 1024  # per authorized_keys file (all of them, base64, fit one read)


def key_blob_type(b64: str) -> tuple[str, bytes] | None:
    """(type named inside the blob, blob) of a base64 public key, None if it is not one."""
    try:
        blob = base64.b64decode(b64, validate=True)
        (size,) = struct.unpack(">I", blob[:4])
    except (binascii.Error, ValueError, struct.error):
        return None
    name = blob[4:4 + size]
    return (name.decode("ascii", "replace"), blob) if 0 < size == len(name) else None


def fingerprint(blob: bytes) -> str:
    """Like `ssh-keygen -lf`: SHA256: and the unpadded base64 of the blob's SHA-256."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _split_options(line: str) -> tuple[str, str]:
    """(options, rest): options end at the first whitespace outside double quotes."""
    quoted, i = False, 0
    while i < len(line):
        if line[i] == "\\" and quoted:
            i += 2
            continue
        if line[i] == '"':
            quoted = not quoted
        elif line[i] in " \t" and not quoted:
            break
        i += 1
    return line[:i], line[i:].strip()


def _key(text: str) -> dict[str, Any] | None:
    parts = text.split(None, 2)
    if len(parts) < 2:
        return None
    found = key_blob_type(parts[1])
    if found is None or found[0] != parts[0]:
        return None
    key = {"type": parts[0], "fingerprint": fingerprint(found[1]),
           "comment": parts[2].strip() if len(parts) > 2 else ""}
    bits = rsa_bits(found[1]) if parts[0] == "ssh-rsa" else None
    return {**key, "bits": bits} if bits else key


def rsa_bits(blob: bytes) -> int | None:
    """Modulus size of an ssh-rsa public key blob (string type, mpint e, mpint n)."""
    offset, fields = 0, []
    for _ in range(3):
        if len(blob) < offset + 4:
            return None
        (size,) = struct.unpack(">I", blob[offset:offset + 4])
        fields.append(blob[offset + 4:offset + 4 + size])
        offset += 4 + size
    return int.from_bytes(fields[2], "big").bit_length() or None


def parse_key_line(line: str) -> dict[str, Any] | None:
    """{type, fingerprint, comment, options} of one authorized_keys line; None if not a key.

    Like sshd: the line is tried as a bare key first, then as `options key`."""
    key = _key(line)
    if key is not None:
        return {**key, "options": ""}
    options, rest = _split_options(line)
    key = _key(rest)
    return {**key, "options": options} if key is not None else None


def parse_authorized_keys(text: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The keys of a file (with their line number) and the numbers of lines that are not keys."""
    keys, invalid = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key = parse_key_line(line)
        if key is None:
            invalid.append(number)
        else:
            keys.append({**key, "line": number})
    return keys, invalid


def parse_passwd(text: str) -> list[dict[str, str]]:
    users = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] and fields[5] and not line.startswith("#"):
            users.append({"user": fields[0], "uid": fields[2], "home": fields[5]})
    return users


def expand(pattern: str, user: dict[str, str]) -> str:
    """AuthorizedKeysFile tokens (%% %h %u %U); a relative path is under the home."""
    out, i = "", 0
    while i < len(pattern):
        if pattern[i] == "%" and i + 1 < len(pattern):
            out += {"%": "%", "h": user["home"], "u": user["user"],
                    "U": user["uid"]}.get(pattern[i + 1], pattern[i:i + 2])
            i += 2
        else:
            out += pattern[i]
            i += 1
    return out if out.startswith("/") else user["home"].rstrip("/") + "/" + out


def _sshd_settings(out: Collected, ctx: HostContext) -> dict[str, Any]:
    """Where keys come from, over every Match context of the effective configuration: the
    union of AuthorizedKeysFile patterns (reading a file sshd would not use for some user is
    the safe side), and what each context accepts (for ssh.key_types)."""
    view = effective(out, ctx, SSHD_CONFIG)
    if view["error"] is None:
        configs = [c["config"] for c in view["contexts"]]
        patterns = [p for config in configs for p in " ".join(
            config.get("authorizedkeysfile", [])).split()]
        commands = [c for config in configs for c in config.get("authorizedkeyscommand", [])
                    if c != "none"]
        return {"patterns": list(dict.fromkeys(patterns)) or DEFAULT_FILES,
                "source": "sshd -T" + (f" ({len(configs)} Match contexts)"
                                       if len(configs) > 1 else ""),
                "authorized_keys_command": commands[0] if commands else None,
                "sshd_installed": True, "unresolved": view["unresolved"],
                "contexts": [{"name": c["name"], **{k: " ".join(c["config"].get(k, []))
                                                    for k in KEY_SETTINGS}}
                             for c in view["contexts"]]}
    if view["installed"] is False or view["config_absent"]:
        absent = "sshd not installed" if view["installed"] is False else f"no {SSHD_CONFIG}"
        return {"patterns": DEFAULT_FILES, "source": f"sshd default ({absent})",
                "authorized_keys_command": None, "sshd_installed": view["installed"],
                "unresolved": [], "contexts": []}
    raise Unreadable(view["error"])


def _read_all(out: Collected, ctx: HostContext, paths: list[str]) -> dict[str, str | None]:
    """Every file in one command (one round trip over SSH): path -> text, None if absent.

    Each file is one line `INDEX BASE64(content) BASE64(head's errors)`: base64 holds no space
    nor newline, so no file content can forge the framing (a `\x1e` marker could be appended
    to a user's own file to hide its keys). An unreadable file raises Unreadable. The evidence
    keeps one summary line per file."""
    local = {ctx.path(p): p for p in paths}
    if not local:
        return {}
    script = "command -v base64 >/dev/null || exit 127; " + "; ".join(
        f"printf '{i} '; head -c {MAX_KEYS_BYTES + 1} -- {shlex.quote(m)} 2>/dev/null "
        f"| base64 -w 0; printf ' '; head -c {MAX_KEYS_BYTES + 1} -- {shlex.quote(m)} 2>&1 "
        f">/dev/null | base64 -w 0; echo" for i, m in enumerate(local))
    result = out.run(ctx, script, sudo=True)
    if result.truncated:
        raise Unreadable(f"the {len(local)} authorized_keys files together are too large to "
                         f"read whole ({result.error})")
    if not result.ok:
        raise Unreadable(result.explain())
    records = result.stdout.split("\n")
    if len(records) != len(local) + 1 or records[-1]:
        raise Unreadable(f"the combined read of {len(local)} authorized_keys files gave "
                         f"{len(records) - 1} records")
    texts: dict[str, str | None] = {}
    for index, (mapped, record) in enumerate(zip(local, records)):
        fields = record.split(" ")
        if len(fields) != 3 or fields[0] != str(index):
            raise Unreadable(f"malformed record {index} in the combined authorized_keys read")
        body, message = (_b64(f, local[mapped]) for f in fields[1:])
        if message.strip():
            if "no such file" not in message.lower() and "not a directory" not in \
                    message.lower():
                raise Unreadable(f"cannot read {local[mapped]}: {message.strip()}"
                                  + (" (needs root: use --sudo)" if "denied" in message else ""))
            texts[local[mapped]] = None
        elif len(body.encode()) > MAX_KEYS_BYTES:
            raise Unreadable(f"{local[mapped]} is larger than {MAX_KEYS_BYTES} bytes: not read")
        else:
            texts[local[mapped]] = body
    result.stdout = "".join(f"{p}: {'absent' if t is None else f'{len(t.splitlines())} lines'}\n"
                            for p, t in texts.items())
    return texts


def _b64(field: str, path: str) -> str:
    try:
        return base64.b64decode(field, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise Unreadable(f"malformed base64 in the read of {path}") from None


@collector("keys")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"files": {}})
    try:
        passwd = read_optional(out, ctx, "/etc/passwd")
        if passwd is None:
            raise Unreadable("/etc/passwd is absent: no user list")
        settings = _sshd_settings(out, ctx)
        out.data.update(settings)
        users_of: dict[str, list[str]] = {}
        for user in parse_passwd(passwd):
            for pattern in settings["patterns"]:
                if pattern != "none":
                    users_of.setdefault(expand(pattern, user), []).append(user["user"])
        for path, text in _read_all(out, ctx, list(users_of)).items():
            if text is not None:
                keys, invalid = parse_authorized_keys(text)
                out.data["files"][path] = {"users": users_of[path], "keys": keys,
                                           "invalid_lines": invalid}
    except Unreadable as exc:
        out.error = str(exc)
    return out
