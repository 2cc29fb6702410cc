"""SSH public keys that may log in: every user's AuthorizedKeysFile, as SHA256 fingerprints.

The files come from `sshd -T` (AuthorizedKeysFile, AuthorizedKeysCommand), else sshd's default
(.ssh/authorized_keys .ssh/authorized_keys2). Data keeps fingerprints, types, comments and
options per file, not the files themselves. Match blocks are not expanded (global settings).
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
from scanner.hostprobes.sshd import parse_sshd_t
from scanner.transports.base import HostContext

DEFAULT_FILES = [".ssh/authorized_keys", ".ssh/authorized_keys2"]
SSHD_CONFIG = "/etc/ssh/sshd_config"
_FILE, _FAILED = "\x1e", "\x1f"  # markers of the combined read (record/unit separators)


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
    return {"type": parts[0], "fingerprint": fingerprint(found[1]),
            "comment": parts[2].strip() if len(parts) > 2 else ""}


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


def sshd_t(out: Collected, ctx: HostContext) -> tuple[dict[str, list[str]] | None, str | None]:
    """(effective sshd configuration, None) or (None, why not). Runs `sshd -T` as root on the
    host's /etc/ssh/sshd_config (under the sysroot); a missing sshd is `result.missing_tool`."""
    result = out.run(ctx, f"sshd -T -f {shlex.quote(ctx.path(SSHD_CONFIG))}", sudo=True)
    if result.ok:
        return parse_sshd_t(result.stdout), None
    needs_root = result.permission_denied or "no hostkeys available" in result.stderr
    return None, result.explain() + (" (sshd -T needs root: use --sudo)" if needs_root else "")


def _sshd_settings(out: Collected, ctx: HostContext) -> dict[str, Any]:
    config, why = sshd_t(out, ctx)
    if config is not None:
        command = config.get("authorizedkeyscommand", ["none"])[0]
        return {"patterns": " ".join(config.get("authorizedkeysfile", [])).split()
                or DEFAULT_FILES, "source": "sshd -T",
                "authorized_keys_command": None if command == "none" else command}
    result = out.commands[-1]
    if result.missing_tool or (result.error is None and "no such file" in result.stderr.lower()):
        absent = "sshd not installed" if result.missing_tool else f"no {SSHD_CONFIG}"
        return {"patterns": DEFAULT_FILES, "source": f"sshd default ({absent})",
                "authorized_keys_command": None}
    raise Unreadable(why)


def _read_all(out: Collected, ctx: HostContext, paths: list[str]) -> dict[str, str | None]:
    """Every file in one command (one round trip over SSH): path -> text, None if absent.

    An unreadable file raises Unreadable. The evidence keeps one summary line per file."""
    local = {ctx.path(p): p for p in paths}
    if not local:
        return {}
    script = "; ".join(f"printf '\\n{_FILE}%s\\n' {shlex.quote(m)}; cat -- {shlex.quote(m)} "
                       f"2>&1 || printf '\\n{_FAILED}\\n'" for m in local)
    result = out.run(ctx, script, sudo=True)
    if not result.ok:
        raise Unreadable(result.explain())
    texts: dict[str, str | None] = {}
    for block in result.stdout.split(f"\n{_FILE}")[1:]:
        mapped, _, body = block.partition("\n")
        if body.rstrip("\n").endswith(_FAILED):
            message = body.rstrip("\n")[:-1].strip()
            if "no such file" not in message.lower() and "not a directory" not in \
                    message.lower():
                raise Unreadable(f"cannot read {local[mapped]}: {message}"
                                  + (" (needs root: use --sudo)" if "denied" in message else ""))
            texts[local[mapped]] = None
        else:
            texts[local[mapped]] = body
    result.stdout = "".join(f"{p}: {'absent' if t is None else f'{len(t.splitlines())} lines'}\n"
                            for p, t in texts.items())
    return texts


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
