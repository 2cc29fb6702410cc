"""tls.min_version's all-flows rule on recorded service observations: the cases a lab cannot
stage on demand (a port that closed between nmap and the service probe)."""

from __future__ import annotations

from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status
from tls_helpers import judge


def _obs(services: dict) -> Observations:
    return Observations({"service": ProbeResult("service", "x", {"services": services}),
                         "tls": ProbeResult("tls", "x", {"ports": {}})})


def test_usual_tls_port_in_clear_text_is_one_finding():
    verdict = judge("tls.min_version", _obs({443: {"protocol": "http"}}), all_flows=True)
    assert verdict.status == Status.FAIL
    assert verdict.reason == ("443: usual TLS port answers without TLS (http): traffic is not "
                              "encrypted")


def test_port_gone_or_unidentified_is_an_error_not_a_clear_text_fail():
    for protocol in ("closed", "silent", "unknown"):
        verdict = judge("tls.min_version", _obs({5000: {"protocol": protocol}}), all_flows=True)
        assert verdict.status == Status.ERROR, protocol
        assert verdict.reason.startswith("5000: cannot tell whether the flow is encrypted")


def test_ssh_is_allowed_by_default_and_telnet_is_not():
    services = {22: {"protocol": "ssh"}, 23: {"protocol": "telnet"}}
    verdict = judge("tls.min_version", _obs(services), all_flows=True)
    assert (verdict.status, verdict.reason) == (Status.FAIL, "23: telnet in clear text")
    tls_only = judge("tls.min_version", _obs({22: {"protocol": "ssh"}}), all_flows=True,
                     non_tls_allowed=[])
    assert (tls_only.status, tls_only.reason) == (Status.FAIL,
                                                  "22: ssh encrypted, but not with TLS")
