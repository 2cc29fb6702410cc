"""Ages on the host's own clock: its current time, file modification times and sizes, and the
names of the running processes. Shared by the collectors that judge retention and freshness
from evidence (log archives, journal files, package lists) and look for running daemons."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from scanner.hostprobes import Collected
from scanner.hostprobes.files import Unreadable, unreadable
from scanner.transports.base import HostContext

MAX_FILES = 10000        # entries read from one directory listing
MAX_PROC_BYTES = 1 << 20  # /proc/*/comm text read at most


@dataclass
class FileStat:
    path: str         # host path (without the sysroot)
    mtime: float      # epoch seconds, host clock
    disk_bytes: int   # allocated size (st_blocks x 512), what journald's caps count


def host_now(out: Collected, ctx: HostContext) -> float:
    """The host's own clock: ages are computed against it, never against the scanner's."""
    result = out.run(ctx, "date +%s")
    if not result.ok or not result.stdout.strip().isdigit():
        raise unreadable(result)
    return float(result.stdout.strip())


def file_stats(out: Collected, ctx: HostContext, directory: str, name: str = "*",
               depth: int = 1, sudo: bool = False) -> list[FileStat] | None:
    """Regular files named like `name` (a find -name glob) under an absolute host directory,
    at most `depth` levels down; None when the directory does not exist."""
    if not directory.startswith("/"):  # never lets a configured path become a find option
        raise Unreadable(f"not an absolute path: {directory!r}")
    root = ctx.path(directory)
    result = out.run(ctx, f"find {shlex.quote(root)} -maxdepth {int(depth)} -type f -name "
                          f"{shlex.quote(name)} -printf '%T@ %b %p\\n' | head -n {MAX_FILES}",
                     sudo=sudo)
    complaints = [line for line in result.stderr.lower().splitlines() if line.strip()]
    vanished = all("no such file" in line for line in complaints)  # files gone mid-listing
    if complaints and vanished and not result.stdout.strip():
        return None
    if result.error or result.exit_code != 0 or not vanished:
        raise unreadable(result)
    strip = len(root.rstrip("/")) - len(directory.rstrip("/"))
    stats = []
    for line in result.stdout.splitlines():
        mtime, blocks, path = (line.split(" ", 2) + ["", ""])[:3]
        if path:
            stats.append(FileStat(path[strip:], float(mtime), int(blocks) * 512))
    return stats


def running_processes(out: Collected, ctx: HostContext) -> set[str] | None:
    """Process names (comm) from the host's /proc; None when the list cannot be complete:
    no /proc (a golden image), or /proc mounted hidepid (init, pid 1, is not visible)."""
    proc = shlex.quote(ctx.path("/proc"))
    if not out.run(ctx, f"cat -- {proc}/1/comm").ok:
        return None
    result = out.run(ctx, f"cat {proc}/[0-9]*/comm 2>/dev/null | head -c {MAX_PROC_BYTES}")
    names = {line.strip() for line in result.stdout.splitlines() if line.strip()}
    return names if result.error is None and names else None
