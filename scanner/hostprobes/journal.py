"""journald: the effective [Journal] settings, and what the persistent journal really holds.

MaxRetentionSec only caps the age of entries; journald also deletes the oldest files whenever
the journal reaches SystemMaxUse, SystemKeepFree or SystemMaxFiles (journald.conf(5)), so the
settings alone never show that N days are kept. The evidence is the journal itself: the first
entry of its oldest file (`journalctl --header`, else the files' modification times, a lower
bound), its disk usage beside the size caps in force, all read-only."""

from __future__ import annotations

import re
import shlex
from typing import Any

from scanner.hostprobes import Collected
from scanner.hostprobes.files import list_dir, parse_ini, read_optional, unreadable
from scanner.hostprobes.filetimes import file_stats
from scanner.transports.base import HostContext

JOURNALD_DIRS = ["/etc/systemd/journald.conf.d", "/usr/lib/systemd/journald.conf.d"]
JOURNAL_DIR = "/var/log/journal"
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50,
              "E": 1 << 60}
DEFAULT_CAP = 4 << 30                  # journald.conf(5): each default is capped to 4G
DEFAULT_MAX_USE, DEFAULT_KEEP_FREE = 0.10, 0.15  # of the file system
DEFAULT_MAX_FILES = 100
MAX_HEADER_BYTES = 4 << 20
HEAD = re.compile(r"^Head realtime timestamp:.*\(([0-9a-f]+)\)\s*$", re.M)


def size_bytes(value: str | None) -> int | None:
    """journald.conf sizes: bytes with an optional K, M, G, T, P or E suffix (base 1024)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGTPE]?)B?", (value or "").strip(), re.I)
    return int(float(match[1]) * SIZE_UNITS[match[2].upper()]) if match else None


def read_settings(out: Collected, ctx: HostContext) -> tuple[list[str], dict[str, str]] | None:
    """Effective [Journal] settings: main file, then drop-ins by name (/etc masks /usr/lib)."""
    main = "/etc/systemd/journald.conf"
    text = read_optional(out, ctx, main)
    if text is None:
        main = "/usr/lib/systemd/journald.conf"
        text = read_optional(out, ctx, main)
    dropins: dict[str, str] = {}
    for directory in reversed(JOURNALD_DIRS):  # /etc last, so it masks a same-named file
        for name in list_dir(out, ctx, directory) or []:
            if name.endswith(".conf"):
                dropins[name] = f"{directory}/{name}"
    if text is None and not dropins:
        return None
    settings = dict(parse_ini(text or "").get("Journal", {}))
    files = [main] if text is not None else []
    for name in sorted(dropins):
        content = read_optional(out, ctx, dropins[name])
        if content is not None:
            files.append(dropins[name])
            settings.update(parse_ini(content).get("Journal", {}))
    return files, settings


def _oldest_entry(out: Collected, ctx: HostContext) -> float | None:
    """Epoch of the first entry of the oldest journal file, from the file headers."""
    if out.run(ctx, "journalctl --version").missing_tool:
        return None
    result = out.run(ctx, f"journalctl --no-pager -D {shlex.quote(ctx.path(JOURNAL_DIR))} "
                          f"--header | head -c {MAX_HEADER_BYTES}", sudo=True)
    heads = [int(h, 16) / 1e6 for h in HEAD.findall(result.stdout) if int(h, 16)]
    if not heads and result.stderr.strip():
        raise unreadable(result)
    return min(heads, default=None)


def _filesystem(out: Collected, ctx: HostContext) -> tuple[int, int]:
    """(size, available) bytes of the file system holding the journal."""
    result = out.run(ctx, f"df -P -k -- {shlex.quote(ctx.path(JOURNAL_DIR))}")
    lines = result.stdout.splitlines()
    fields = lines[-1].split() if result.ok and len(lines) > 1 else []
    if len(fields) < 4 or not (fields[1].isdigit() and fields[3].isdigit()):
        raise unreadable(result)
    return int(fields[1]) * 1024, int(fields[3]) * 1024


def _caps(settings: dict[str, str], fs_size: int) -> dict[str, Any]:
    """The size limits in force: the configured value, else journald's default."""
    def cap(key: str, share: float) -> int:
        configured = size_bytes(settings.get(key))  # journald ignores a value it cannot parse
        return configured if configured is not None else min(int(fs_size * share), DEFAULT_CAP)
    max_use = cap("systemmaxuse", DEFAULT_MAX_USE)
    file_size = size_bytes(settings.get("systemmaxfilesize")) or min(max_use // 8, 128 << 20)
    files = settings.get("systemmaxfiles", str(DEFAULT_MAX_FILES))
    return {"max_use": max_use, "keep_free": cap("systemkeepfree", DEFAULT_KEEP_FREE),
            "max_file_size": file_size, "max_files": int(files) if files.isdigit() else None}


def journal_evidence(out: Collected, ctx: HostContext, settings: dict[str, str],
                     now: float) -> dict[str, Any]:
    """How far back the persistent journal reaches, and whether a size cap is pruning it."""
    files = file_stats(out, ctx, JOURNAL_DIR, "*.journal", depth=2, sudo=True) or []
    if not files:  # nothing on disk (yet): nothing shows the days kept
        return {"directory": JOURNAL_DIR, "files": 0, "disk_bytes": 0, "oldest_entry": None,
                "source": None, "horizon_days": None, "caps": {}, "at_size_cap": []}
    oldest = _oldest_entry(out, ctx)
    source = "journalctl --header (first entry of the oldest file)"
    if oldest is None:
        oldest, source = min(f.mtime for f in files), "oldest file modification time (a " \
                                                        "lower bound: no header from journalctl)"
    fs_size, fs_avail = _filesystem(out, ctx)
    caps = _caps(settings, fs_size)
    usage = sum(f.disk_bytes for f in files)
    at_cap = []
    if usage >= caps["max_use"] - caps["max_file_size"]:
        at_cap.append(f"uses {usage >> 20} MiB of SystemMaxUse {caps['max_use'] >> 20} MiB")
    if fs_avail <= caps["keep_free"] + caps["max_file_size"]:
        at_cap.append(f"{fs_avail >> 20} MiB free, SystemKeepFree {caps['keep_free'] >> 20} MiB")
    if caps["max_files"] and len(files) >= caps["max_files"]:
        at_cap.append(f"{len(files)} files, SystemMaxFiles {caps['max_files']}")
    return {"directory": JOURNAL_DIR, "files": len(files), "disk_bytes": usage,
            "oldest_entry": oldest, "source": source,
            "horizon_days": round((now - oldest) / 86400, 2),
            "filesystem": {"size": fs_size, "available": fs_avail}, "caps": caps,
            "at_size_cap": at_cap}
