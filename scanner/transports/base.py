"""What a host check needs from a machine: run a command, read a file, with timeouts."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Protocol

MISSING_TOOL_EXIT = 127
DEFAULT_MAX_OUTPUT = 1024 * 1024  # bytes kept per command stream (stdout, stderr)


class TransportError(Exception):
    """The transport itself failed (cannot connect, authentication refused, host key mismatch).

    Every host check on that target becomes `error` with this message as its reason."""


@dataclass
class CommandResult:
    command: str
    exit_code: int | None  # None: it did not finish (timeout) or could not start
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    error: str | None = None  # timeout, output cap or transport failure, in words
    truncated: list[str] = field(default_factory=list)  # streams cut at the output cap

    @classmethod
    def from_streams(cls, command: str, exit_code: int | None, out: Capped, err: Capped,
                     duration_s: float, timeout: float) -> CommandResult:
        """A finished, stopped or timed-out command. Output past the cap makes it an error:
        a check must never judge a file or listing it saw only part of."""
        cut = [s for s in (out, err) if s.truncated]
        error = None
        if cut:
            exit_code = None
            error = (f"output past {cut[0].limit} bytes on {' and '.join(s.name for s in cut)}:"
                     f" command stopped, only the first {cut[0].limit} bytes kept")
        elif exit_code is None:
            error = f"timed out after {timeout:g}s"
        return cls(command, exit_code, out.text(), err.text(), duration_s, error,
                   [s.name for s in cut])

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0

    @property
    def missing_tool(self) -> bool:
        """Exit 127 / "command not found": the tool is absent, which is not a finding."""
        return self.exit_code == MISSING_TOOL_EXIT or "command not found" in self.stderr

    @property
    def permission_denied(self) -> bool:
        text = self.stderr.lower()
        return "permission denied" in text or "a password is required" in text \
            or "a terminal is required" in text or "not in the sudoers" in text

    def explain(self) -> str:
        """One line saying why this command gave no usable output."""
        if self.error:
            return f"`{self.command}`: {self.error}"
        if self.missing_tool:
            return f"`{self.command}`: command not found on the host (exit 127)"
        tail = (self.stderr or self.stdout).strip().splitlines()[-1:] or [""]
        return f"`{self.command}` exited {self.exit_code}: {tail[0][:200]}"

    def evidence(self) -> dict:
        return {"command": self.command, "exit_code": self.exit_code, "stdout": self.stdout,
                "stderr": self.stderr, "duration_s": self.duration_s, "error": self.error,
                "truncated": self.truncated}


class Capped:
    """One output stream of a command, kept up to `limit` bytes (a hostile host may send
    endless output)."""

    def __init__(self, name: str, limit: int):
        self.name, self.limit = name, limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> bool:
        """Keep what fits; False once the stream went past its cap (stop reading)."""
        room = self.limit - len(self.data)
        self.data += chunk[:room]
        self.truncated = len(chunk) > room
        return not self.truncated

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Transport(Protocol):
    """A host reachable for commands. `describe()` never includes a secret."""

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


@dataclass
class HostContext:
    """A transport plus where the host's files are: `root` is "/" on a real host, or a sysroot
    directory of config files (fixtures, golden images) that file reads are pointed at.

    When the transport could not be opened, `transport` is None and every command answers with
    `transport_error`, so each check reports why; `address` and `ssh_access` stay available for
    collectors that log in themselves (ssh.mfa must see the login fail half-way)."""
    transport: Transport | None
    timeout: float = 10.0
    root: str = "/"
    sudo: bool = False
    transport_error: str | None = None
    address: str = "local"
    ssh_access: object | None = None  # scanner.transports.ssh.SshAccess for remote targets

    def path(self, path: str) -> str:
        return path if self.root == "/" else self.root.rstrip("/") + "/" + path.lstrip("/")

    def run(self, command: str, sudo: bool = False) -> CommandResult:
        if self.transport is None:
            return CommandResult(command, None, error=self.transport_error or "no transport")
        # Commands like sshd live in sbin, which a non-root SSH session often lacks in PATH.
        wrapped = f"PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin; {command}"
        result = self.transport.run(wrapped, self.timeout, sudo=sudo and self.sudo)
        result.command = command
        return result

    def read(self, path: str, sudo: bool = False) -> CommandResult:
        """Contents of a host file (under `root`), via `cat`, so SSH and local behave alike."""
        return self.run(f"cat -- {shlex.quote(self.path(path))}", sudo=sudo)
