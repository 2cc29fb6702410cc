"""The `local` transport: host checks on this machine, without SSH."""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import time

from scanner.transports.base import DEFAULT_MAX_OUTPUT, CommandResult, Capped


class LocalTransport:
    def __init__(self, max_output: int = DEFAULT_MAX_OUTPUT):
        self.max_output = max_output

    def describe(self) -> str:
        return "local"

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        if sudo and os.geteuid() != 0:
            command_line = f"sudo -n -- sh -c {shlex.quote(command)}"
        else:
            command_line = command
        start = time.perf_counter()
        proc = subprocess.Popen(["sh", "-c", command_line], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env={**os.environ, "LC_ALL": "C"})
        out, err = Capped("stdout", self.max_output), Capped("stderr", self.max_output)
        deadline = time.monotonic() + timeout
        finished = _read({proc.stdout: out, proc.stderr: err}, deadline)
        if finished:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                finished = False
        if not finished:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group: sh and what it started
            except ProcessLookupError:
                pass
        code = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        return CommandResult.from_streams(command, code if finished else None, out, err,
                                          round(time.perf_counter() - start, 3), timeout)

    def close(self) -> None:
        pass


def _read(streams: dict, deadline: float) -> bool:
    """Read both pipes until they close; False (stop) at the deadline or past a stream's cap."""
    with selectors.DefaultSelector() as selector:
        for pipe in streams:
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif not streams[key.fileobj].add(chunk):
                    return False
    return True
