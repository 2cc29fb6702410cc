"""Where a lab started by `annexscan lab up` is recorded: /run/annexscan-lab/NAME.json.

The state names the lab's network namespace, its work dir (keys, certificates) and the processes
it started, each with its start time so that a later `lab down` never signals a process that
merely reused a pid. The directory is root's alone (0700); a state file that is not a regular
file owned by root, or is writable by others, is refused, and it is only ever replaced
atomically (scanner.outputs), never written through a symlink.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError
from scanner.outputs import write_file

STATE_DIR = Path("/run/annexscan-lab")
DEFAULT_NAME = "annexscan-lab"
NAME_ENV = "ANNEXSCAN_LAB"  # another lab name: a second lab, e.g. for a test beside a user's
_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
MAX_STATE = 64 << 10  # bytes: a state file is a few KB


def lab_name() -> str:
    """The lab's name (also its network namespace's name): ANNEXSCAN_LAB or annexscan-lab."""
    name = os.environ.get(NAME_ENV) or DEFAULT_NAME
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{NAME_ENV}={name!r}: a lab name is lowercase letters, digits and "
                          "'-', starting with a letter, at most 40 characters")
    return name


def state_dir() -> Path:
    """/run/annexscan-lab, created 0700 if missing; refused unless it is root's alone."""
    try:
        STATE_DIR.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"lab state directory {STATE_DIR}: {exc.strerror or exc}") from None
    info = os.lstat(STATE_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise ConfigError(f"lab state directory {STATE_DIR}: must be a directory of root's "
                          "alone (0700), not a symbolic link; refusing to use it")
    return STATE_DIR


class LabState:
    """The state file of one named lab; `record` is None when the lab is not up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = state_dir() / f"{name}.json"
        self.log = self.path.with_suffix(".log")  # the keeper's stderr

    @contextmanager
    def locked(self) -> Iterator[LabState]:
        """Held while a lab goes up or down, so that two commands never race (a lock on the
        state directory: a lock file of its own could never be removed safely)."""
        handle = os.open(STATE_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(handle)

    def read(self) -> dict[str, Any] | None:
        try:
            handle = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
            raise ConfigError(f"lab state {self.path}: {why}; refusing to use it") from None
        with os.fdopen(handle, "rb") as stream:
            info = os.fstat(stream.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
                raise ConfigError(f"lab state {self.path}: not a regular file of root's alone; "
                                  "refusing to use it (remove it by hand)")
            data = stream.read(MAX_STATE + 1)
        try:
            record = json.loads(data) if len(data) <= MAX_STATE else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("name") != self.name:
            raise ConfigError(f"lab state {self.path}: not a lab state file; remove it by hand")
        return record

    def write(self, record: dict[str, Any]) -> None:
        write_file(self.path, json.dumps({**record, "name": self.name}, indent=1).encode(),
                   "lab state")

    def remove(self) -> None:
        for path in (self.path, self.log):
            path.unlink(missing_ok=True)
