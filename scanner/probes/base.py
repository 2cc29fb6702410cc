"""The small interface every probe implements."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from scanner.model import ProbeResult
from scanner.scope.targets import Target
from scanner.transports.ssh import SshAccess  # noqa: F401 - used in a type annotation


@dataclass
class ProbeRequest:
    """Everything a probe may need; the engine fills in what earlier probes found."""
    timeout: float = 5.0
    port_spec: str = "1-65535"
    udp_port_spec: str | None = None  # UDP ports to scan; None: no UDP scan
    ca_bundle: Path | None = None  # --ca-bundle: the trust store of every tls.certificate
    ca_bundles: list[Path] = field(default_factory=list)  # tls.certificate ca_bundle parameters
    http_paths: list[str] = field(default_factory=lambda: ["/"])
    http_ports: list[int] = field(default_factory=lambda: [80])
    latency_ports: list[int] = field(default_factory=lambda: [443, 80, 22])
    latency_samples: int = 3
    latency_method: str = "icmp"  # icmp (falls back to tcp, saying why) or tcp
    nmap_host_timeout_s: int = 900
    http_timeout: float = 5.0
    crawl_limits: dict | None = None  # http.forms_over_tls: crawl each site within these limits
    # host checks: how to reach the host, which collectors with which control parameters
    ssh_access: "SshAccess | None" = None
    host_root: str = "/"
    sudo: bool = False
    command_timeout: float = 30.0
    host_collectors: dict[str, list[dict]] = field(default_factory=dict)
    budget_s: float | None = None  # the time one target's probes may take together (budget.py)
    # filled in by the engine: when the target's budget ends (time.monotonic()), and from the
    # ports and service probes
    deadline: float | None = None
    open_ports: list[int] = field(default_factory=list)
    services: dict[int, dict] = field(default_factory=dict)

    def ports_speaking(self, protocol: str) -> list[int]:
        return sorted(p for p, s in self.services.items() if s.get("protocol") == protocol)

    def seconds_left(self) -> float | None:
        """What is left of the target's time budget (None: no budget): a probe whose work
        can be bounded keeps within it."""
        return None if self.deadline is None else self.deadline - time.monotonic()


class Probe(Protocol):
    name: str

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult: ...


def timed(name: str, target: Target, body: Callable[[ProbeResult], None]) -> ProbeResult:
    """Run `body` on a fresh result, record the duration; an unexpected exception becomes
    the probe's error instead of crashing the scan of every other target."""
    result = ProbeResult(probe=name, target=target.address)
    start = time.perf_counter()
    try:
        body(result)
    except Exception as exc:  # noqa: BLE001 - one broken host must not abort the scan
        result.error = f"{type(exc).__name__}: {exc}"
    result.duration_s = round(time.perf_counter() - start, 3)
    return result


class Deadline:
    """Bounds a whole exchange, not just each recv: a server dribbling one byte per timeout
    would otherwise hold a probe for ever. Past `seconds` the socket is shut down, which makes
    a blocked read return or raise at once; `expired` then tells why the exchange ended."""

    def __init__(self, sock: socket.socket, seconds: float):
        # A duplicate of the descriptor: wrapping the socket in TLS detaches the original
        # object, but shutting down any descriptor of a connection ends it for all of them.
        self.sock, self.seconds, self.expired = sock.dup(), seconds, False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._timer.cancel()
        self.sock.close()
