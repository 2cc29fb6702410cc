"""How a scan logged in to a target, as its report records it (TargetResult.access), so
`annexscan remediate` can log in the same way. Only the fields named here are recorded: never
a secret (key passphrase, sudo password) nor a key's content, only its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanner.transports.ssh import SshAccess

# the SshAccess fields a report may hold (reports/schema/report.schema.json: target.access)
RECORDED = ("user", "port", "key_file", "jump", "sudo", "alias", "known_hosts", "ssh_config",
            "use_agent", "insecure_accept_host_key")


def recorded_access(access: SshAccess | None) -> dict[str, Any] | None:
    """The access as a report records it, unset fields left out; None without SSH access."""
    if access is None:
        return None
    values = {name: getattr(access, name) for name in RECORDED}
    return {name: str(value) if isinstance(value, Path) else value
            for name, value in values.items() if value is not None}
