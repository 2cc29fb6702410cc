"""Network round trips: ICMP echo (what the annexes call "ping") where this machine may send it,
else TCP connect time, with the reason for the fallback recorded beside the samples."""

from __future__ import annotations

import socket
import statistics
import time

from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, timed
from scanner.probes.icmp import IcmpUnavailable, echo_ms
from scanner.scope.targets import Target


def connect_time_ms(address: str, port: int, timeout: float) -> tuple[float | None, str]:
    """Milliseconds to SYN-ACK (or RST: a refusal proves the host answered), or None."""
    start = time.perf_counter()
    try:
        with socket.create_connection((address, port), timeout=timeout):
            outcome = "open"
    except ConnectionRefusedError:
        outcome = "refused"
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return (time.perf_counter() - start) * 1000, outcome


def icmp_samples(address: str, count: int, timeout: float) -> tuple[list[float | None], str]:
    """Echo round trips (None: no reply within the timeout), and why ICMP is not usable ("" when
    it is: at least one reply came)."""
    try:
        samples = [echo_ms(address, seq, timeout) for seq in range(1, count + 1)]
    except IcmpUnavailable as exc:
        return [], f"ICMP echo cannot be sent from here ({exc})"
    except OSError as exc:
        return [], f"ICMP echo failed: {exc.strerror or exc}"
    if all(ms is None for ms in samples):
        return samples, f"no ICMP echo reply in {count} tries (ping filtered or dropped)"
    return samples, ""


def tcp_samples(target: Target, request: ProbeRequest) -> tuple[int, list[float | None], list[str]]:
    candidates = [p for p in request.latency_ports if p in request.open_ports]
    port = candidates[0] if candidates else request.latency_ports[0]
    samples, outcomes = [], []
    for _ in range(request.latency_samples):
        ms, outcome = connect_time_ms(target.address, port, request.timeout)
        samples.append(ms)
        outcomes.append(outcome)
    return port, samples, outcomes


class LatencyProbe:
    name = "latency"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            samples, fallback = [], "the profile asks for TCP connect times"
            if request.latency_method == "icmp":
                samples, fallback = icmp_samples(target.address, request.latency_samples,
                                                 request.timeout)
                result.evidence["icmp_samples_ms"] = _rounded(samples)
            if fallback:
                port, samples, outcomes = tcp_samples(target, request)
                result.evidence.update(port=port, tcp_samples_ms=_rounded(samples),
                                       outcomes=outcomes, fallback=fallback)
                result.data.update(method="tcp", port=port, fallback=fallback)
                if all(ms is None for ms in samples):
                    result.error = f"{fallback}; no TCP answer from port {port}: {outcomes[-1]}"
                    return
            else:
                result.data["method"] = "icmp"
            answered = [ms for ms in samples if ms is not None]
            result.data.update(samples_ms=_rounded(samples), timeout_ms=request.timeout * 1000,
                               max_ms=round(max(answered), 3),
                               median_ms=round(statistics.median(answered), 3))

        return timed(self.name, target, body)


def _rounded(samples: list[float | None]) -> list[float | None]:
    return [None if ms is None else round(ms, 3) for ms in samples]

