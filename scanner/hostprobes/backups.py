"""Backup files under a directory (two levels deep): when each was written (and on which day of
the host's calendar), its size, and what its first bytes say (see backup_formats).

The listing is NUL-separated and carried in base64, so any byte of a name, a newline too, stays
inside its own entry. Only paths that listing gave are read back, HEAD_BYTES each, for the files
whose names match a control's `pattern`; heads are split by position, never by searching the
output, so no name or content can pose as another file.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from fnmatch import fnmatchcase
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.backup_formats import HEAD_BYTES, SEVEN_Z_AES_CODER, describe, result
from scanner.transports.base import CommandResult, HostContext

MAX_LISTED = 20000  # newest files listed per location (a name, a date and a size each)
MAX_LISTING_BYTES = 4 << 20  # and at most this much listing (names are up to 255 bytes)
MAX_READ = 20000  # newest backup files whose first bytes are read (128 bytes each)
MAX_7Z_TAILS = 100
ARGS_CHARS = 60000  # quoted paths in one command: well under Linux's 128 KiB per argument
SIDECAR_MAX_BYTES = 65536
_SIDECAR_NAME = re.compile(r"(\.(sha1|sha224|sha256|sha384|sha512|md5|b2)|SUMS)$", re.IGNORECASE)
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")


def shown(raw: bytes) -> str:
    """A host path as report text: invalid UTF-8 and control characters escaped."""
    text = raw.decode("utf-8", "backslashreplace")
    return _CONTROL_CHAR.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def is_backup(entry: dict[str, Any], pattern: str) -> bool:
    """Does the file's name (not its directory) match the profile's glob?"""
    return fnmatchcase(entry["name"], pattern)


def parse_listing(raw: bytes, prefix: bytes, host_prefix: bytes) -> list[tuple[dict, bytes]]:
    """`MTIME DAY SIZE PATH` records, NUL-terminated, as (entry, raw path) pairs; entries show
    host paths (`host_prefix` in place of the sysroot's `prefix`)."""
    files = []
    for record in raw.split(b"\0"):
        if not record:
            continue
        mtime, day, size, path = record.split(b" ", 3)
        if not path.startswith(prefix) or not re.fullmatch(rb"\d{4}-\d{2}-\d{2}", day):
            raise ValueError(f"unexpected listing record {shown(record[:200])!r}")
        host = host_prefix + path[len(prefix):]
        files.append(({"path": shown(host), "name": shown(host.rsplit(b"/", 1)[-1]),
                       "mtime": float(mtime), "day": day.decode(), "size": int(size)}, path))
    return files


def split_heads(raw: bytes, batch: list[tuple[dict, bytes]]) -> dict[int, bytes] | None:
    """`head -v -c N` output for the batch's files, in order: `==> PATH <==` then min(size, N)
    bytes, a blank line between files; a file head could not open has no header. None when the
    bytes do not add up exactly (a file changed between listing and reading)."""
    heads: dict[int, bytes] = {}
    at = 0
    for index, (entry, path) in enumerate(batch):
        marker = (b"\n" if heads else b"") + b"==> " + path + b" <==\n"
        if raw.startswith(marker, at):
            start = at + len(marker)
            heads[index] = raw[start:start + min(entry["size"], HEAD_BYTES)]
            at = start + min(entry["size"], HEAD_BYTES)
    return heads if at == len(raw) else None


def _batches(files: list[tuple[dict, bytes]]) -> list[list[tuple[dict, bytes]]]:
    batches: list[list[tuple[dict, bytes]]] = [[]]
    size = 0
    for item in files:
        size += len(shlex.quote(item[1].decode())) + 1
        if batches[-1] and size > ARGS_CHARS:
            batches.append([])
            size = len(shlex.quote(item[1].decode())) + 1
        batches[-1].append(item)
    return batches


def _read_heads(out: Collected, ctx: HostContext,
                files: list[tuple[dict, bytes]]) -> dict[bytes, bytes]:
    """Classify each file by its first bytes (returned by raw path); a file not read gets
    `unverified` saying why."""
    found: dict[bytes, bytes] = {}
    for batch in _batches(files):
        quoted = " ".join(shlex.quote(path.decode()) for _, path in batch)
        read = out.run(ctx, f"head -v -c {HEAD_BYTES} -- {quoted} | base64 -w0", sudo=True)
        try:
            heads = split_heads(base64.b64decode(read.stdout.strip(), validate=True), batch)
        except binascii.Error:
            heads = None
        # first bytes of clear files may be data: evidence keeps the classification, not them
        read.stdout = f"[{len(read.stdout)} base64 characters of file headers, not kept]"
        read.command = f"head -v -c {HEAD_BYTES} -- [{len(batch)} listed files, newest first: " \
                       f"{batch[0][0]['path']} ... {batch[-1][0]['path']}] | base64 -w0"
        why = "its first bytes could not be read" + (
            f": {read.explain()}" if read.error or read.missing_tool else
            " (permission denied: use --sudo)" if read.permission_denied else "")
        if heads is None:
            why = "the files changed while their first bytes were read"
        for index, (entry, path) in enumerate(batch):
            head = (heads or {}).get(index)
            entry.update(describe(head, entry["size"]) if head is not None else
                         result("unread", None) | {"unverified": why})
            if head is not None:
                found[path] = head
    return found


def _sevenzip_tails(out: Collected, ctx: HostContext, files: list[tuple[dict, bytes]],
                    heads: dict[bytes, bytes]) -> None:
    """A 7z end header naming the AES coder (06F10701) is encrypted (-mhe=on) or lists AES for
    the data; an LZMA-packed header without it hides whether the data is encrypted."""
    targets = [(e, p) for e, p in files if e["format"] == "7z" and len(heads[p]) >= 32]
    for batch in _batches(targets[:MAX_7Z_TAILS]) if targets else []:
        parts = []
        for entry, path in batch:
            head = heads[path]
            offset = 32 + int.from_bytes(head[12:20], "little")
            length = min(int.from_bytes(head[20:28], "little"), 4096)
            parts.append(f"tail -c +{offset + 1} -- {shlex.quote(path.decode())} | head -c "
                         f"{length} | base64 -w0; echo")
        tails = out.run(ctx, "; ".join(parts), sudo=True)
        for (entry, _), line in zip(batch, tails.stdout.splitlines()):
            _judge_7z(entry, line)


def _judge_7z(entry: dict[str, Any], line: str) -> None:
    """Encryption of a 7z file from its end header (a base64 line)."""
    try:
        tail = base64.b64decode(line.strip(), validate=True)
    except binascii.Error:
        return
    if SEVEN_Z_AES_CODER in tail:
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
    patterns: dict[str, set[str]] = {}
    for p in params:
        patterns.setdefault(p["path"], set()).add(p["pattern"])
    for path in sorted(patterns):
        try:
            out.data["locations"][path] = _location(out, ctx, path, patterns[path])
        except ValueError as exc:  # unexpected tool output
            out.data["locations"][path] = {"error": f"unreadable listing of {path}: {exc}"}
    return out


def _location(out: Collected, ctx: HostContext, path: str, patterns: set[str]) -> dict[str, Any]:
    where = shlex.quote(ctx.path(path))
    kind = out.run(ctx, f"stat -L -c %F -- {where}", sudo=True)
    if not kind.ok:
        if "No such file" in kind.stderr:
            return {"exists": False}
        return {"error": _failed(kind)}
    if kind.stdout.strip() != "directory":
        return {"exists": True, "directory": False, "kind": kind.stdout.strip()}
    listing = out.run(ctx, f"date '+%s %Y-%m-%d' && find -H {where} -maxdepth 2 -type f -printf "
                           f"'%T@ %TY-%Tm-%Td %s %p\\0' | LC_ALL=C sort -z -rn | head -z -n "
                           f"{MAX_LISTED + 1} | head -c {MAX_LISTING_BYTES} | base64 -w0; echo",
                      sudo=True)
    if not listing.ok or listing.stderr.strip():
        return {"error": _failed(listing)}
    clock, _, encoded = listing.stdout.partition("\n")
    if not re.fullmatch(r"\d+ \d{4}-\d{2}-\d{2}", clock.strip()):
        return {"error": f"`{listing.command}` printed no current time"}
    now, today = clock.split()
    prefix = ctx.path(path).encode()
    raw = base64.b64decode(encoded.strip(), validate=True)
    cut = len(raw) >= MAX_LISTING_BYTES
    files = parse_listing(raw[:raw.rfind(b"\0") + 1] if cut else raw, prefix, path.encode())
    listing.stdout = f"{clock}\n[{len(files)} files listed, base64 of NUL-separated records]"
    truncated = cut or len(files) > MAX_LISTED
    files = files[:MAX_LISTED]
    _describe_backups(out, ctx, [f for f in files if any(is_backup(f[0], p) for p in patterns)])
    return {"exists": True, "directory": True, "now": int(now), "today": today,
            "files": [entry for entry, _ in files], "truncated": truncated}


def _describe_backups(out: Collected, ctx: HostContext, files: list[tuple[dict, bytes]]) -> None:
    """Format, encryption and sidecar flag of the newest MAX_READ backup files (newest first)."""
    readable = []
    for rank, (entry, path) in enumerate(files):
        try:
            path.decode()
            if rank < MAX_READ:
                readable.append((entry, path))
            else:
                entry.update(result("unread", None) | {"unverified": f"not read: only the "
                                                       f"newest {MAX_READ} are"})
        except UnicodeDecodeError:
            entry.update(result("unread", None) | {"unverified": "its name is not UTF-8, so "
                                                   "it is not passed to the host's shell"})
    heads = _read_heads(out, ctx, readable) if readable else {}
    for entry, _ in files:
        entry["sidecar"] = entry["size"] <= SIDECAR_MAX_BYTES and (
            entry["format"] == "openpgp-signature" or bool(_SIDECAR_NAME.search(entry["name"])))
    _sevenzip_tails(out, ctx, readable, heads)
