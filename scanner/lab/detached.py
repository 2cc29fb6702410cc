"""A lab that runs between commands: `annexscan lab up`, `lab exec`, `lab status`, `lab down`.

`up` pins a named network namespace (scanner.lab.namespace), starts a keeper process in a session
of its own (scanner.lab.keeper) that enters it and runs the servers, and records everything in
the state file (scanner.lab.state) before starting it, so that a crash at any point leaves
something `down` can find: `down` stops the keeper and whatever still runs in the namespace,
then removes the namespace, the work dir (keys, certificates) and the state.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from scanner.errors import ConfigError
from scanner.lab import lab_missing, namespace
from scanner.lab.procs import (alive, log_tail, module_command, module_env, start_time,
                               terminate)
from scanner.lab.state import LabState

READY_TIMEOUT = 60.0  # seconds for the keeper to start every server (the lab waits 10 s itself)
STOP_TIMEOUT = 20.0  # seconds for the keeper to stop its servers (each gets 3 s, then SIGKILL)
WORKDIR_PREFIX = "annexscan-lab-"
SILENT_KEEPER = "the lab's keeper ended without a word"


def require_root() -> None:
    if os.geteuid() != 0:
        raise ConfigError("lab: needs root (network namespaces, ports below 1024, sshd)")


def check_can_run() -> None:
    require_root()
    missing = lab_missing() + (["ip (iproute2)"] if not shutil.which("ip") else [])
    if missing:
        raise ConfigError(f"lab: needs {', '.join(missing)} installed")


def keeper_alive(record: dict[str, Any]) -> bool:
    keeper = record.get("keeper") or {}
    return isinstance(keeper.get("pid"), int) and alive(keeper["pid"], str(keeper.get("start")))


def servers_alive(record: dict[str, Any]) -> dict[str, bool]:
    return {str(s.get("name")): isinstance(s.get("pid"), int) and alive(s["pid"], str(s["start"]))
            for s in record.get("servers", [])}


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM, SIGHUP and Ctrl-C during `up` unwind through the clean-up, once."""
    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for sig in signals:  # a second signal must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt
    saved = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def up(name: str) -> tuple[dict[str, Any], bool]:
    """Start the lab: (its state record, True if it was already up)."""
    check_can_run()
    state = LabState(name)
    with state.locked(), _stop_signals_interrupt():
        record = state.read()
        if record is not None and keeper_alive(record):
            return record, True
        if record is not None:  # a lab that crashed or was half started: clean it first
            _teardown(state, record)
        elif namespace.exists(name):
            raise ConfigError(f"lab up: a network namespace {name} exists that no lab state "
                              f"records; if it is a leftover, remove it: ip netns del {name}")
        record = {"status": "starting", "netns": name,
                  "workdir": tempfile.mkdtemp(prefix=WORKDIR_PREFIX)}
        try:
            state.write(record)
            namespace.create(name)
            keeper = _spawn_keeper(name, Path(record["workdir"]), state.log)
            record["keeper"] = {"pid": keeper.pid, "start": start_time(keeper.pid)}
            state.write(record)
            record.update(_wait_ready(keeper, state.log), status="up", started_at=time.time())
            state.write(record)
        except BaseException:
            _teardown(state, record)
            raise
        return record, False


def _spawn_keeper(name: str, workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:  # in the root-only state dir
        return subprocess.Popen(
            module_command("scanner.lab.keeper", "--netns", name, "--workdir", str(workdir)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, cwd="/",
            env=module_env(), start_new_session=True)


def _wait_ready(keeper: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """The keeper's one JSON line, once every server accepts connections."""
    assert keeper.stdout is not None
    with keeper.stdout, selectors.DefaultSelector() as selector:
        selector.register(keeper.stdout, selectors.EVENT_READ)
        if not selector.select(READY_TIMEOUT):
            raise ConfigError(f"lab up: the lab did not start within {READY_TIMEOUT:.0f} s; "
                              f"see {log}")
        line = keeper.stdout.readline(1 << 20)
    try:
        ready = json.loads(line)
    except ValueError:
        ready = None
    if not isinstance(ready, dict):
        keeper.wait(5)
        raise ConfigError(f"lab up: {log_tail(log) or SILENT_KEEPER}")
    return ready


def down(name: str) -> dict[str, Any] | None:
    """Stop the lab; its last state record, or None when it was not up."""
    require_root()
    state = LabState(name)
    with state.locked():
        record = state.read()
        if record is not None:
            _teardown(state, record)
        return record


def _teardown(state: LabState, record: dict[str, Any]) -> None:
    """Stop everything `record` names or its namespace holds; remove what it created."""
    keeper = record.get("keeper") or {}
    if isinstance(keeper.get("pid"), int):
        terminate({keeper["pid"]: str(keeper.get("start"))}, STOP_TIMEOUT)
    terminate(namespace.members(state.name))  # orphans of a keeper that was killed
    terminate({s["pid"]: str(s.get("start")) for s in record.get("servers", [])
               if isinstance(s.get("pid"), int)})
    namespace.delete(state.name)
    _remove_workdir(record.get("workdir"))
    state.remove()


def _remove_workdir(recorded: object) -> None:
    """The lab's temporary dir (keys, certificates), if it still is one `up` made."""
    if not isinstance(recorded, str):
        return
    path = Path(recorded)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not (path.is_absolute() and path.name.startswith(WORKDIR_PREFIX)
            and stat.S_ISDIR(info.st_mode) and info.st_uid == 0):
        raise ConfigError(f"lab: the recorded work dir {path} is not one the lab made; "
                          "left in place")
    shutil.rmtree(path)


def exec_in(name: str, argv: list[str]) -> int:
    """Run argv (no shell) in the lab's namespace; its exit status."""
    check_running(name)
    own = Path(sys.executable).parent / "annexscan"
    if argv[0] == "annexscan" and own.is_file():  # this annexscan, venv or not on PATH
        argv = [str(own), *argv[1:]]
    namespace.enter(name)
    env = dict(os.environ, ANNEXSCAN_NETNS="1")  # tells annexscan it runs where the lab is
    try:
        return subprocess.call(argv, env=env)
    except OSError as exc:
        raise ConfigError(f"lab exec: {argv[0]}: {exc.strerror or exc}") from None


def check_running(name: str) -> dict[str, Any]:
    require_root()
    record = LabState(name).read()
    if record is None or not keeper_alive(record):
        raise ConfigError(f"lab {name} is not up: start it with `annexscan lab up`")
    return record
