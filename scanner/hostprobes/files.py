"""Host file access shared by the collectors: optional files, directory listings, INI text.

An absent file is an answer (None); a file that exists but cannot be read is Unreadable, which
the collectors turn into an `error` naming the command and, when it is permissions, --sudo.
"""

from __future__ import annotations

import shlex

from scanner.hostprobes import Collected
from scanner.transports.base import CommandResult, HostContext


class Unreadable(Exception):
    """A file exists but cannot be read (or the command failed): the collector reports `error`."""


def _absent(result: CommandResult) -> bool:
    text = result.stderr.lower()
    return result.error is None and any(
        why in text for why in ("no such file", "not a directory", "is a directory"))


def unreadable(result: CommandResult) -> Unreadable:
    hint = " (needs root: use --sudo)" if result.permission_denied else ""
    return Unreadable(result.explain() + hint)


def read_optional(out: Collected, ctx: HostContext, path: str, sudo: bool = False) -> str | None:
    """Contents of a host file, None when it does not exist."""
    result = out.read(ctx, path, sudo=sudo)
    if result.ok:
        return result.stdout
    if _absent(result):
        return None
    raise unreadable(result)


def list_dir(out: Collected, ctx: HostContext, path: str, sudo: bool = False) -> list[str] | None:
    """Sorted entry names of a host directory, None when it does not exist."""
    result = out.run(ctx, f"ls -1A -- {shlex.quote(ctx.path(path))}", sudo=sudo)
    if result.ok:
        return sorted(line for line in result.stdout.splitlines() if line)
    if _absent(result):
        return None
    raise unreadable(result)


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """`[section]` and `key = value` lines (keys lowercased; '' is the section before any
    header); `#` and `;` start comments; a later assignment wins."""
    sections: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, {})
        elif "=" in line:
            key, _, value = line.partition("=")
            sections[current][key.strip().lower()] = value.strip()
    return sections
