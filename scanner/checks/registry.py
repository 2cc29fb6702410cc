"""Every check module, listed: a new control's check is a function in one of them, or a new
module and a line here."""

from __future__ import annotations

from typing import Any

from scanner.checks import (host_accounts, host_backups, host_logs, host_malware, host_ssh,
                            host_storage, host_system, http, net, ssh, tls)
from scanner.checks.base import _CHECKS, Check, MissingData, Observations
from scanner.model import Status, Verdict

MODULES = (host_accounts, host_backups, host_logs, host_malware, host_ssh, host_storage,
           host_system, http, net, ssh, tls)


def check_registry() -> dict[str, Check]:
    """control id -> check (every listed module registered its checks when imported)."""
    return _CHECKS


def evaluate(control_id: str, observations: Observations, params: dict[str, Any]) -> Verdict:
    fn = check_registry().get(control_id)
    if fn is None:
        return Verdict(Status.ERROR, reason=f"no check implements control {control_id}")
    try:
        return fn(observations, params)
    except MissingData as exc:
        return Verdict(Status.ERROR, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a check bug must not abort the scan
        return Verdict(Status.ERROR, reason=f"check crashed: {type(exc).__name__}: {exc}")
