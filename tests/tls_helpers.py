"""Shared by the tests/test_tls_*.py files: real TLS servers probed by the real service probe
and sslyze, then judged by the checks. Addresses 127.0.0.120-139 are theirs."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import Verdict
from scanner.probes.base import ProbeRequest
from scanner.probes.service import ServiceProbe
from scanner.probes.tls import TlsProbe
from scanner.scope.targets import Target

needs_netns = pytest.mark.skipif(
    os.environ.get("ANNEXSCAN_NETNS") != "1" or os.geteuid() != 0,
    reason="real TLS servers on 127.0.0.x need root in a private network namespace "
           "(python -m scanner.netns -- pytest ...)")


def observe(address: str, ports: list[int], ca_bundle: Path | None = None,
            ca_bundles: list[Path] | None = None, name: str | None = None) -> Observations:
    """The service and TLS probes, for real, on the given open ports."""
    target = Target(name or address, address)
    request = ProbeRequest(timeout=2.0, open_ports=ports, ca_bundle=ca_bundle,
                           ca_bundles=ca_bundles or [])
    service = ServiceProbe().run(target, request)
    assert service.error is None, service.error
    request.services = service.data["services"]
    tls = TlsProbe().run(target, request)
    assert tls.error is None, tls.error
    return Observations({"service": service, "tls": tls})


def judge(control_id: str, obs: Observations, **params: Any) -> Verdict:
    return evaluate(control_id, obs, {**load_catalog().get(control_id).defaults(), **params})


def wait_accepting(address: str, port: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing accepts on {address}:{port}")
