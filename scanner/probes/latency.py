"""Network round trip measured as TCP connect time (no root needed, unlike ICMP)."""

from __future__ import annotations

import socket
import statistics
import time

from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, register, timed
from scanner.targets import Target


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


class LatencyProbe:
    name = "latency"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            candidates = [p for p in request.latency_ports if p in request.open_ports]
            port = candidates[0] if candidates else request.latency_ports[0]
            samples, outcomes = [], []
            for _ in range(request.latency_samples):
                ms, outcome = connect_time_ms(target.address, port, request.timeout)
                outcomes.append(outcome)
                if ms is not None:
                    samples.append(round(ms, 3))
            result.evidence.update(port=port, samples_ms=samples, outcomes=outcomes)
            if not samples:
                result.error = f"no TCP answer from port {port}: {outcomes[-1]}"
                return
            result.data.update(port=port, median_ms=round(statistics.median(samples), 3),
                               samples_ms=samples)

        return timed(self.name, target, body)


register(LatencyProbe())
