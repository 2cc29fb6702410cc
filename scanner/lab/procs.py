"""Start a lab server process with its output in a log file, and stop it with all its children.

sshd forks a child per connection into a session of its own, out of reach of a process-group
kill, and runs under an `unshare` that ignores SIGTERM, so `stop` signals the whole process tree
as it was just before the stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_REPO = str(Path(__file__).resolve().parents[2])


def _die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """For the child before exec: get `sig` if the process that started the lab dies."""
    def prctl() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    return prctl


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...), None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def start_time(pid: int) -> str | None:
    """Tells a process apart from a later one that got the same pid."""
    fields = _stat(pid)
    return fields[19] if fields else None


def alive(pid: int, started: str) -> bool:
    """The process `pid` that started at `started` still runs (a zombie has ended)."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def _tree(root: int) -> dict[int, str]:
    """pid -> start time of `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree: dict[int, str] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        started = start_time(pid)
        if started is not None:
            tree[pid] = started
            todo.extend(children.get(pid, []))
    return tree


def _signal(tree: dict[int, str], sig: signal.Signals) -> None:
    for pid, started in tree.items():
        if start_time(pid) == started:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def terminate(processes: dict[int, str], timeout: float = 3.0) -> None:
    """Stop processes that need not be our children (pid -> start time): SIGTERM, then
    SIGKILL to those still alive after `timeout` seconds."""
    _signal(processes, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(alive(*p) for p in processes.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal({p: s for p, s in processes.items() if alive(p, s)}, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while any(alive(*p) for p in processes.items()) and time.monotonic() < deadline:
        time.sleep(0.05)


def module_env() -> dict[str, str]:
    """The environment for `python -m scanner...` in a child, wherever it runs from."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPO, env.get("PYTHONPATH")]))
    return env


def module_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def log_tail(log: Path, lines: int = 15, limit: int = 1 << 16) -> str | None:
    """The last `lines` lines of a server's log, read from its last `limit` bytes ("" when it
    is empty, None when it cannot be read)."""
    try:
        with open(log, "rb") as stream:
            stream.seek(max(0, os.fstat(stream.fileno()).st_size - limit))
            text = stream.read(limit).decode(errors="replace")
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:])


class Proc:
    """One lab server process (`name` is used in error messages).

    `death_signal` goes to the process if the lab's own process dies without stopping it.
    """

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None,
                 death_signal: signal.Signals = signal.SIGTERM) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, env=env,
                                          preexec_fn=_die_with_parent(death_signal))

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def log_tail(self, lines: int = 15) -> str:
        tail = log_tail(self.log, lines)
        return "(no log)" if tail is None else tail or "(empty log)"

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM to the process tree; SIGKILL to whatever is left after `timeout` seconds."""
        tree = _tree(self.popen.pid)
        _signal(tree, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        _signal(tree, signal.SIGKILL)  # no-op for the processes that are gone (start time check)
        self.popen.wait()
