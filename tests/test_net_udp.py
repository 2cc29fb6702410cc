"""3D Ouest §11.3 "seuls les ports suivants sont laissés ouverts : 80, 443, 22" says ports, not
TCP ports: real UDP services on loopback, scanned by real nmap (-sU, root)."""

from __future__ import annotations

import os

import pytest

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status
from scanner.probes.base import ProbeRequest
from scanner.probes.ports import PortsProbe
from scanner.scope.targets import Target
from net_support import UdpService

DEFAULTS = load_catalog().get("net.allowed_ports").defaults()


def need_root_namespace() -> None:
    if os.environ.get("ANNEXSCAN_NETNS") != "1" or os.geteuid() != 0:
        pytest.skip("needs root inside a private network namespace (python -m scanner.netns)")


def scan(address: str, **params):
    params = {**DEFAULTS, "ports": "22", **params}
    request = ProbeRequest(timeout=1.0, port_spec=params["ports"],
                           udp_port_spec=params["udp_ports"])
    result = PortsProbe().run(Target(address, address), request)
    assert result.error is None, result.error
    return result, evaluate("net.allowed_ports", Observations({"ports": result}), params)


def test_an_allowed_udp_service_passes():
    need_root_namespace()
    with UdpService("127.0.0.94", 443, answers=True):
        result, verdict = scan("127.0.0.94")
    assert result.data["udp"]["open"] == [443]
    assert verdict.status == Status.PASS and verdict.observed["udp_open"] == [443]


def test_an_open_udp_port_outside_the_allowlist_fails():
    need_root_namespace()
    with UdpService("127.0.0.95", 161, answers=True):
        _, verdict = scan("127.0.0.95")
    assert verdict.status == Status.FAIL and "161/udp" in verdict.reason


def test_a_silent_udp_port_is_reported_open_filtered_not_open():
    need_root_namespace()
    with UdpService("127.0.0.96", 123, answers=False):
        result, verdict = scan("127.0.0.96")
    assert result.data["udp"]["open_filtered"] == [123] and result.data["udp"]["open"] == []
    assert verdict.status == Status.PASS
    assert verdict.observed["udp_open_filtered"] == [123] and "open|filtered" in \
        verdict.observed["udp_note"]


def test_udp_null_scans_tcp_only():
    need_root_namespace()
    with UdpService("127.0.0.97", 161, answers=True):
        result, verdict = scan("127.0.0.97", udp_ports=None)
    assert "-sU" not in result.evidence["nmap_command"]
    assert verdict.status == Status.PASS and "UDP" not in verdict.expected


def test_no_udp_scan_is_an_error_never_a_pass():
    ports = ProbeResult("ports", "x", {"open_ports": [22], "scanned": "22",
                                       "udp": {"error": "a UDP scan needs root (nmap -sU)"}})
    verdict = evaluate("net.allowed_ports", Observations({"ports": ports}), DEFAULTS)
    assert verdict.status == Status.ERROR and "needs root" in verdict.reason
