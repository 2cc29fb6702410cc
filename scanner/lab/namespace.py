"""A named network namespace for a lab that outlives the command starting it.

`ip netns add NAME` pins a fresh namespace at /run/netns/NAME, so `ip netns exec NAME CMD` and
`annexscan lab exec` can run commands where only the lab listens. The name is checked by
scanner.lab.state.lab_name (no leading '-'), so it never reads as an option of `ip`.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

from scanner.errors import ConfigError
from scanner.lab.procs import start_time

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def exists(name: str) -> bool:
    return os.path.lexists(netns_path(name))


def _ip(*args: str) -> None:
    try:
        done = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"ip {' '.join(args)}: {exc}") from None
    if done.returncode:
        raise ConfigError(f"ip {' '.join(args)} failed: "
                          f"{done.stderr.decode(errors='replace').strip()[:500]}")


def create(name: str) -> None:
    """The namespace with its loopback up (a fresh namespace has nothing else)."""
    _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")


def delete(name: str) -> None:
    if exists(name):
        _ip("netns", "del", name)


def enter(name: str) -> None:
    """Move the calling thread (the whole process, if it has one thread) into the namespace."""
    handle = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(handle, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise ConfigError(f"cannot enter network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(handle)


def _ancestors() -> set[int]:
    """This process and its parents: a `lab down` run inside the lab must not stop itself."""
    chain, pid = set(), os.getpid()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return chain


def members(name: str) -> dict[int, str]:
    """pid -> start time of every process in the namespace (none of ours), to stop them all."""
    try:
        pinned = os.stat(netns_path(name))
    except OSError:
        return {}
    mine, found = _ancestors(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            ns = os.stat(entry / "ns" / "net")
        except OSError:  # gone, or a zombie
            continue
        started = start_time(int(entry.name))
        if (ns.st_dev, ns.st_ino) == (pinned.st_dev, pinned.st_ino) and started:
            found[int(entry.name)] = started
    return found
