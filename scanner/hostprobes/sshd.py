"""Effective sshd configuration, from `sshd -T` (needs root: it reads the host keys)."""

from __future__ import annotations

import shlex
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.transports.base import HostContext


def parse_sshd_t(text: str) -> dict[str, list[str]]:
    """`sshd -T` prints one lowercase `keyword value` per line; some keywords repeat."""
    config: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            config.setdefault(key.lower(), []).append(value.strip())
    return config


@collector("sshd")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"configs": {}})
    for config_file in sorted({p["config_file"] for p in params}):
        result = out.run(ctx, f"sshd -T -f {shlex.quote(ctx.path(config_file))}", sudo=True)
        if result.missing_tool:
            out.data["installed"] = False
            return out
        if not result.ok:
            out.error = result.explain() + (" (sshd -T needs root: use --sudo)"
                                            if result.permission_denied else "")
            return out
        out.data["configs"][config_file] = parse_sshd_t(result.stdout)
    out.data["installed"] = True
    return out
