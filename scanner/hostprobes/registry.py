"""Every host collector module, listed: a new kind of host observation is a module with an
`@collector(name)` function and a line here."""

from __future__ import annotations

from scanner.hostprobes import _COLLECTORS, Collector
from scanner.hostprobes import (accounts, antivirus, backups, disk, firewall, keys, logs,
                                mfa, packages, passwords, raid, sockets, sshd, timesync)

MODULES = (accounts, antivirus, backups, disk, firewall, keys, logs,
           mfa, packages, passwords, raid, sockets, sshd, timesync)


def collector_registry() -> dict[str, Collector]:
    """collector name -> collector (every listed module registered its own when imported)."""
    return _COLLECTORS
