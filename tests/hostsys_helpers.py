"""Shared helpers of the host_system tests (firewall, patches, time, logs, anti-malware): the
real collectors through the LocalTransport on sysroot trees built by the tests, and a replay
transport for tools this machine cannot run (their recorded outputs in tests/data)."""

from __future__ import annotations

import functools
from pathlib import Path

from scanner.catalog import load_catalog
from scanner.checks import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes import Collected, collector_registry
from scanner.model import ProbeResult
from scanner.transports.base import CommandResult, HostContext
from scanner.transports.local import LocalTransport

RECORDED = Path(__file__).parent / "data" / "host_system" / "recorded"
REPO = Path(__file__).parent.parent
COLLECTOR = {"host.firewall": "firewall", "host.patches": "packages", "host.time_sync": "time",
             "host.log_retention": "logs", "host.antivirus": "antivirus"}


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


READ_ONLY = ("cat ", "ls -1A -- ", "head -c ", "find ", "df -P ", "date +%s", "dpkg-query ",
             "rpm -q ")


class ReplayTransport:
    """Answers commands from recorded outputs; runs the read-only ones (cat, ls, head, find,
    df, date, dpkg-query, rpm -q) for real on the sysroot; any other is "not found" (127)."""

    def __init__(self, answers: dict[str, tuple[int | None, str, str]]):
        self.answers = answers

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        wrapped, command = command, command.split("; ", 1)[1]  # without HostContext's PATH
        if command not in self.answers and command.startswith(READ_ONLY):
            return LocalTransport().run(wrapped, timeout)
        code, out, err = self.answers.get(command, (127, "", f"sh: 1: {command}: not found"))
        if code is None:
            return CommandResult(command, None, error=f"timed out after {timeout:g}s")
        return CommandResult(command, code, out, err)

    def describe(self) -> str:
        return "replay"

    def close(self) -> None:
        pass


@functools.cache
def defaults(control: str) -> dict:
    return load_catalog().get(control).defaults()


def collect(control: str, ctx: HostContext) -> Collected:
    return collector_registry()[COLLECTOR[control]](ctx, [defaults(control)])


def judge(control: str, collected: Collected | dict, **params):
    data = collected if isinstance(collected, dict) else \
        {**collected.data, "error": collected.error}
    obs = Observations({"host": ProbeResult("host", "local", {COLLECTOR[control]: data})})
    return evaluate(control, obs, {**defaults(control), **params})


def local(root: Path | str = "/") -> HostContext:
    return HostContext(LocalTransport(), timeout=60, root=str(root))


def replay(answers: dict[str, tuple[int, str, str]], root: Path | str = "/") -> HostContext:
    return HostContext(ReplayTransport(answers), timeout=10, root=str(root))


def write_tree(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Files of a sysroot; None makes an empty directory."""
    for rel, content in files.items():
        path = root / rel.lstrip("/")
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return root
