"""Run a command under `strace -f` and list every file-system write its processes attempted.

A write is any syscall that creates, changes or removes a file-system entry or its metadata:
open/openat/openat2 with a write, create, truncate or append flag, creat, rename*, unlink*,
rmdir, mkdir*, mknod*, link*, symlink*, chmod*, chown*, truncate*, utime*, *setxattr,
*removexattr, mount, umount2, and bind() of a named AF_UNIX socket. Paths are made absolute
from strace's `-y` decoration of directory descriptors (AT_FDCWD shows the caller's working
directory), or from a per-process working directory followed through chdir/fchdir and forks
for the old syscalls without a directory descriptor. A failed attempt (ENOENT, EACCES, EROFS)
still counts: as root almost nothing is refused, so an attempt that failed here would succeed
on a host laid out differently.

Who wrote: every process is tracked from its fork (strace's PID-namespace translation keeps
parents right inside `unshare --pid`) and its execve, so a write is reported with the program
that made it, and `owned` can keep only the processes a given server started for its client
(an sshd's session commands, not sshd's own utmp/lastlog writes).
"""

from __future__ import annotations

import codecs
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

WRITE_SYSCALLS = (
    "open,openat,openat2,creat,rename,renameat,renameat2,unlink,unlinkat,rmdir,mkdir,mkdirat,"
    "mknod,mknodat,link,linkat,symlink,symlinkat,chmod,fchmod,fchmodat,chown,lchown,fchown,"
    "fchownat,truncate,ftruncate,utime,utimes,utimensat,futimesat,setxattr,lsetxattr,"
    "fsetxattr,removexattr,lremovexattr,fremovexattr,mount,umount2,bind")
PROCESS_SYSCALLS = "chdir,fchdir,clone,clone3,fork,vfork,execve,execveat"


def strace_command(trace: Path) -> list[str]:
    """The strace prefix: follow forks, decode descriptors to paths, full strings, pids
    translated out of PID namespaces, no signal lines."""
    return ["strace", "-f", "-qq", "-y", "-s", "4096", "--decode-pids=pidns", "-e",
            "signal=none", "-e", f"trace={WRITE_SYSCALLS},{PROCESS_SYSCALLS}", "-o", str(trace)]


OPEN_WRITE = re.compile(r"\bO_(WRONLY|RDWR|CREAT|TRUNC|APPEND|TMPFILE)\b")
LINE = re.compile(r"^(\d+) +(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(.*)$", re.S)
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
DECORATED = re.compile(r"^(-?\d+|AT_FDCWD)<(.*)>$", re.S)
CHILD = re.compile(r"^(\d+)(?: /\* (\d+) in strace's PID NS \*/)?")
# argument positions: (dirfd, path) pairs written to, or a lone path/fd, per syscall
PATH_ARGS: dict[str, list[tuple[int | None, int]]] = {
    "open": [(None, 0)], "creat": [(None, 0)], "openat": [(0, 1)], "openat2": [(0, 1)],
    "rename": [(None, 0), (None, 1)], "renameat": [(0, 1), (2, 3)], "renameat2": [(0, 1), (2, 3)],
    "unlink": [(None, 0)], "unlinkat": [(0, 1)], "rmdir": [(None, 0)], "mkdir": [(None, 0)],
    "mkdirat": [(0, 1)], "mknod": [(None, 0)], "mknodat": [(0, 1)], "link": [(None, 1)],
    "linkat": [(2, 3)], "symlink": [(None, 1)], "symlinkat": [(1, 2)], "chmod": [(None, 0)],
    "fchmodat": [(0, 1)], "chown": [(None, 0)], "lchown": [(None, 0)], "fchownat": [(0, 1)],
    "truncate": [(None, 0)], "utime": [(None, 0)], "utimes": [(None, 0)],
    "utimensat": [(0, 1)], "futimesat": [(0, 1)], "setxattr": [(None, 0)],
    "lsetxattr": [(None, 0)], "removexattr": [(None, 0)], "lremovexattr": [(None, 0)],
    "mount": [(None, 1)], "umount2": [(None, 0)],
    "fchmod": [(0, -1)], "fchown": [(0, -1)], "ftruncate": [(0, -1)], "fsetxattr": [(0, -1)],
    "fremovexattr": [(0, -1)],
}


@dataclass
class Write:
    pid: int
    syscall: str
    path: str
    detail: str  # the syscall line as strace printed it
    program: str  # the process's executable at that moment
    failed: bool

    def __str__(self) -> str:
        outcome = " (failed)" if self.failed else ""
        return f"{self.program} [{self.pid}] {self.syscall} {self.path}{outcome}: " \
               f"{self.detail[:300]}"


@dataclass
class Trace:
    """A parsed trace: the writes, and per process its parent and program."""
    writes: list[Write] = field(default_factory=list)
    parent: dict[int, int] = field(default_factory=dict)
    execs: dict[int, list[str]] = field(default_factory=dict)  # every program a pid ran

    def owned(self, server: str) -> set[int]:
        """The processes that `server` (an executable path) started for its client: each one
        that replaced the server's image by another program, and all their descendants."""
        roots = {pid for pid, programs in self.execs.items()
                 if any(a == server != b for a, b in zip(programs, programs[1:]))}
        owned: set[int] = set()
        for pid in set(self.parent) | set(self.execs):
            chain, at = [], pid
            while at is not None and at not in owned and at not in roots:
                chain.append(at)
                at = self.parent.get(at)
            if at is not None:
                owned.update(chain + [at])
        return owned


def split_args(text: str) -> list[str]:
    """Top-level arguments of a strace call: commas inside strings, brackets, braces and
    `<path>` decorations do not split."""
    args, depth, start, i, quoted = [], 0, 0, 0, False
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "<" and re.match(r"(-?\d+|AT_FDCWD)$", text[start:i].strip()):
            end = text.find(">", i)  # a descriptor's path: up to the '>' ending the argument
            while end != -1 and text[end + 1:end + 2] not in ("", ","):
                end = text.find(">", end + 1)
            i = end if end != -1 else len(text)
        elif char == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    args.append(text[start:].strip())
    return args


def unquote(arg: str) -> str | None:
    """A strace string argument ("..." with C escapes) as text; None for anything else."""
    if len(arg) < 2 or arg[0] != '"' or not arg.rstrip(".").endswith('"'):
        return None
    raw = arg.rstrip(".")[1:-1].encode("latin-1", "backslashreplace")
    return codecs.escape_decode(raw)[0].decode("utf-8", "surrogateescape")


def descriptor(arg: str) -> str | None:
    """The path strace's -y shows for a descriptor (`3</etc/x>`, `AT_FDCWD</root>`)."""
    match = DECORATED.match(arg)
    return codecs.escape_decode(match[2].encode("latin-1", "backslashreplace"))[0].decode(
        "utf-8", "surrogateescape") if match else None


def parse(trace_file: Path, cwd: str) -> Trace:
    """Every write attempted in the trace, with absolute paths. `cwd`: the first process's
    working directory."""
    trace, cwds, pending = Trace(), {}, {}
    for raw in trace_file.read_text(errors="surrogateescape").splitlines():
        match = LINE.match(raw)
        if not match:
            continue
        pid, text = int(match[1]), match[2]
        if not cwds:
            cwds[pid] = cwd
        if text.endswith("<unfinished ...>"):
            pending[pid] = text[:-len("<unfinished ...>")].rstrip()
            continue
        resumed = RESUMED.match(text)
        if resumed:
            text = pending.pop(pid, resumed[1] + "(") + resumed[2]
        call = CALL.match(text)
        if call:
            _record(trace, cwds, pid, call[1], split_args(call[2]), call[3].strip(), text)
    return trace


def _record(trace: Trace, cwds: dict[int, str], pid: int, name: str, args: list[str],
            result: str, line: str) -> None:
    failed = result.startswith(("-1", "?"))
    cwd = cwds.get(pid)
    if name in ("clone", "clone3", "fork", "vfork") and not failed:
        child = CHILD.match(result)
        if child:  # the child's own lines may come before the parent's return
            kid = int(child[2] or child[1])
            trace.parent[kid] = pid
            cwds.setdefault(kid, cwd)
            if pid in trace.execs:
                trace.execs[kid] = trace.execs[pid][-1:] + trace.execs.get(kid, [])
        return
    if name in ("execve", "execveat"):
        if not failed:
            program = unquote(args[0 if name == "execve" else 1]) or "?"
            trace.execs.setdefault(pid, []).append(_absolute(program, None, cwd))
        return
    if name in ("chdir", "fchdir"):
        if not failed:
            cwds[pid] = descriptor(args[0]) if name == "fchdir" else \
                _absolute(unquote(args[0]) or "?", None, cwd)
        return
    for arg in args:  # AT_FDCWD</dir> is the caller's directory right now
        if arg.startswith("AT_FDCWD<"):
            cwds[pid] = descriptor(arg)
    program = (trace.execs.get(pid) or ["(traced command)"])[-1]
    for path in _written(name, args, cwd):
        trace.writes.append(Write(pid, name, path, line, program, failed))


def _written(name: str, args: list[str], cwd: str | None) -> list[str]:
    flags = {"open": 1, "openat": 2, "openat2": 2}.get(name)  # openat2: {flags=..., ...}
    if flags is not None and not OPEN_WRITE.search(args[flags] if flags < len(args) else ""):
        return []
    if name == "bind":
        path = re.search(r'sun_path="((?:[^"\\]|\\.)*)"', args[1] if len(args) > 1 else "")
        return [_absolute(unquote(f'"{path[1]}"') or "?", None, cwd)] if path and \
            args[1].startswith("{sa_family=AF_UNIX") else []
    paths = []
    for fd_at, path_at in PATH_ARGS.get(name, []):
        base = descriptor(args[fd_at]) if fd_at is not None and fd_at < len(args) else None
        if path_at == -1:  # the descriptor itself
            paths.append(base or f"(descriptor {args[fd_at]})")
            continue
        path = unquote(args[path_at]) if path_at < len(args) else None
        if path is None or path == "":  # NULL or AT_EMPTY_PATH: the descriptor itself
            paths.append(base or f"(descriptor {args[fd_at] if fd_at is not None else '?'})")
        else:
            paths.append(_absolute(path, base, cwd))
    return paths


def _absolute(path: str, base: str | None, cwd: str | None) -> str:
    if path.startswith("/"):
        return posixpath.normpath(path)
    directory = base or cwd
    return posixpath.normpath(posixpath.join(directory, path)) if directory \
        else f"(unknown directory)/{path}"


def outside(writes: list[Write], allowed: list[str]) -> list[Write]:
    """The writes that touch none of the allowed paths (a directory allows what is under it).
    Pipes, sockets and anonymous memory files, which strace shows without a leading '/' or
    as /memfd:, are not files."""
    def ok(path: str) -> bool:
        if not path.startswith("/") and not path.startswith("("):
            return True  # pipe:[..], socket:[..], anon_inode:..
        if path.startswith("/memfd:"):
            return True
        return any(path == entry or path.startswith(entry.rstrip("/") + "/")
                   for entry in allowed)
    return [w for w in writes if not ok(w.path)]
