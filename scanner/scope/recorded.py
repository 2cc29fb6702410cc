"""How a scan logged in to a target, as its report records it (TargetResult.access), so
`annexscan remediate` can log in the same way. Only the fields named here are recorded: never
a secret (key passphrase, sudo password) nor a key's content, only its path. The user and port
are the ones the scan used, resolved as its transport resolves them (ssh config, then root and
22), so the inventory does not fall back to ssh's own defaults (the local user name)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError
from scanner.transports.ssh import SshAccess, resolve_login

# the SshAccess fields a report may hold (reports/schema/report.schema.json: target.access)
RECORDED = ("user", "port", "key_file", "jump", "sudo", "alias", "known_hosts", "ssh_config",
            "use_agent", "insecure_accept_host_key")


def recorded_access(access: SshAccess | None, name: str) -> dict[str, Any] | None:
    """The access to target `name` as a report records it, unset fields left out; None without
    SSH access."""
    if access is None:
        return None
    try:
        login = resolve_login(name, access)
        access = replace(access, user=login.user, port=login.port)
    except ConfigError:
        pass  # the ssh config is unreadable: the scan did not log in (its host probe says why)
    values = {field: getattr(access, field) for field in RECORDED}
    return {field: str(value) if isinstance(value, Path) else value
            for field, value in values.items() if value is not None}
