"""The `local` transport: host checks on this machine, without SSH."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from scanner.transports.base import CommandResult


class LocalTransport:
    def describe(self) -> str:
        return "local"

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        if sudo and os.geteuid() != 0:
            command_line = f"sudo -n -- sh -c {_quote(command)}"
        else:
            command_line = command
        start = time.perf_counter()
        proc = subprocess.Popen(["sh", "-c", command_line], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", start_new_session=True,
                                env={**os.environ, "LC_ALL": "C"})
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: sh and what it started
            proc.communicate()
            return CommandResult(command, None, duration_s=round(time.perf_counter() - start, 3),
                                 error=f"timed out after {timeout:g}s")
        return CommandResult(command, proc.returncode, out, err,
                             round(time.perf_counter() - start, 3))

    def close(self) -> None:
        pass


def _quote(command: str) -> str:
    import shlex

    return shlex.quote(command)
