"""3D Ouest §11.8 "Délai de latence maximal du service en ligne (réponse au ping) 0,5 s": real ICMP
echo on loopback, every sample judged, and the TCP fallback saying why.

A slow host is built for real: inside the test's private network namespace the kernel stops
answering pings (net.ipv4.icmp_echo_ignore_all, a per-namespace setting) and a raw-socket
responder answers echo requests itself, after a delay chosen per address.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status
from scanner.probes.base import ProbeRequest
from scanner.probes.latency import LatencyProbe
from scanner.scope.targets import Target
from net_support import Responder

IGNORE_ALL = Path("/proc/sys/net/ipv4/icmp_echo_ignore_all")
SLOW, FAST, SILENT = "127.0.0.91", "127.0.0.92", "127.0.0.93"
DELAYS = {SLOW: 0.7, FAST: 0.01}  # seconds before the responder answers; SILENT: never


def need_namespace() -> None:
    if os.environ.get("ANNEXSCAN_NETNS") != "1" or os.geteuid() != 0:
        pytest.skip("needs root inside a private network namespace (python -m scanner.netns)")


@pytest.fixture
def slow_hosts():
    need_namespace()
    before = IGNORE_ALL.read_text()
    IGNORE_ALL.write_text("1\n")
    try:
        with Responder(DELAYS):
            yield
    finally:
        IGNORE_ALL.write_text(before)


def judge(address: str, max_ms: float | None = 500, timeout: float = 2.0, method: str = "icmp",
          require_icmp: bool = False):
    request = ProbeRequest(timeout=timeout, latency_samples=3, latency_ports=[9],
                           latency_method=method)
    result = LatencyProbe().run(Target(address, address), request)
    verdict = evaluate("net.latency", Observations({"latency": result}),
                       {"max_ms": max_ms, "method": method, "ports": [9], "samples": 3,
                        "require_icmp": require_icmp})
    return result, verdict


def test_kernel_ping_on_loopback_passes():
    need_namespace()
    result, verdict = judge("127.0.0.2")
    assert result.error is None and result.data["method"] == "icmp"
    assert verdict.status == Status.PASS and len(result.data["samples_ms"]) == 3


def test_ping_over_the_limit_fails_on_every_slow_sample(slow_hosts):
    result, verdict = judge(SLOW)
    assert result.data["method"] == "icmp"
    assert all(ms is not None and ms >= 650 for ms in result.data["samples_ms"])
    assert verdict.status == Status.FAIL and "#1:" in verdict.reason and "#3:" in verdict.reason


def test_a_fast_answer_from_a_userspace_host_passes(slow_hosts):
    result, verdict = judge(FAST)
    assert result.data["method"] == "icmp" and verdict.status == Status.PASS


def test_no_ping_answer_falls_back_to_tcp_and_says_why(slow_hosts):
    result, verdict = judge(SILENT, timeout=0.5)
    assert result.data["method"] == "tcp" and result.data["port"] == 9
    assert "no ICMP echo reply" in result.data["fallback"]
    assert result.evidence["outcomes"] == ["refused"] * 3  # a refusal proves the host is up
    assert verdict.status == Status.PASS and verdict.observed["fallback"]


def test_ping_required_fails_when_unanswered_and_passes_when_answered(slow_hosts):
    """3D Ouest §11.3 "Les requêtes Ping sont autorisées": an echo must come back."""
    _, unanswered = judge(SILENT, max_ms=None, timeout=0.5, require_icmp=True)
    assert unanswered.status == Status.FAIL and "ping not answered" in unanswered.reason
    _, answered = judge(SLOW, max_ms=None, require_icmp=True)
    assert answered.status == Status.PASS and answered.expected == "ICMP echo answered"


def one_slow_sample(samples, timeout_ms=2000.0):
    data = {"method": "icmp", "samples_ms": samples, "timeout_ms": timeout_ms,
            "max_ms": max(s for s in samples if s is not None),
            "median_ms": sorted(s for s in samples if s is not None)[0]}
    return evaluate("net.latency", Observations({"latency": ProbeResult("latency", "x", data)}),
                    {"max_ms": 500, "method": "icmp", "ports": [443], "samples": 3,
                     "require_icmp": False})


def test_one_slow_sample_fails_even_with_a_fast_median():
    verdict = one_slow_sample([1.0, 2.0, 900.0])
    assert verdict.status == Status.FAIL and "#3: 900.0 ms" in verdict.reason


def test_a_lost_sample_fails_only_when_the_timeout_covers_the_limit():
    assert one_slow_sample([1.0, None, 2.0]).status == Status.FAIL
    assert one_slow_sample([1.0, None, 2.0], timeout_ms=300.0).status == Status.ERROR
