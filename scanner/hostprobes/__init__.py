"""Host collectors: one module per kind of host observation, run over a transport.

A collector takes a HostContext (transport + sysroot) and the parameters of the controls that
need it, and returns a Collected: structured data plus every command it ran as raw evidence.
It never judges; checks/host_*.py do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from scanner.transports.base import CommandResult, HostContext


@dataclass
class Collected:
    data: dict[str, Any] = field(default_factory=dict)
    commands: list[CommandResult] = field(default_factory=list)
    error: str | None = None  # could not observe: the checks answer `error` with this

    def run(self, ctx: HostContext, command: str, sudo: bool = False) -> CommandResult:
        """Run and keep as evidence."""
        result = ctx.run(command, sudo=sudo)
        self.commands.append(result)
        return result

    def read(self, ctx: HostContext, path: str, sudo: bool = False) -> CommandResult:
        result = ctx.read(path, sudo=sudo)
        self.commands.append(result)
        return result


Collector = Callable[[HostContext, list[dict[str, Any]]], Collected]
_COLLECTORS: dict[str, Collector] = {}


def collector(name: str) -> Callable[[Collector], Collector]:
    def decorate(fn: Collector) -> Collector:
        _COLLECTORS[name] = fn
        return fn
    return decorate
