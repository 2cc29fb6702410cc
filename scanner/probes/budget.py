"""A target's time budget, derived from the timeouts: the sum of the bounds of the probes the
plan runs. It ends what the probes' own bounds miss (a server that keeps a probe busy port
after port), so the scan of one target cannot hold the report for ever; past it, the probes
not yet done are errors that say so, never a pass. `--target-budget` overrides it.

Probes that work port by port are budgeted for `PORTS_BUDGETED` ports at their worst case; a
normal port takes a fraction of that, so only a hostile host (or a huge one: raise the budget)
reaches it. Each bound below comes from the probe's own deadlines, in timeouts `t`.
"""

from __future__ import annotations

from scanner.probes.base import ProbeRequest
from scanner.probes.tls import port_bound

PORTS_BUDGETED = 8
COMMANDS_PER_COLLECTOR = 4  # host commands a collector runs, each within --command-timeout


def probe_bounds(request: ProbeRequest, probes: list[str]) -> dict[str, float]:
    """Seconds each probe of `probes` may take on one target."""
    t, web = request.timeout, request.http_timeout
    per_port = {
        "service": 2 * t + 3 * t,  # the ClientHello exchange, then STARTTLS dialogues side by side
        "tls": port_bound(t),
        "ssh": 2 * t + 2 * (3 * t + 1),  # the KEXINIT read, two logins (the RSA key's second)
        "latency": request.latency_samples * t,
        "http": 2 * web,  # a clear and a TLS fetch
    }
    whole = {
        "ports": request.nmap_host_timeout_s + 30.0,  # nmap's host timeout, and its own end
        "fingerprint": max(10.0, 8 * t),  # the probe's own deadline
        "http": len(request.http_paths) * web
        + (request.crawl_limits or {}).get("budget_s", 0),
        "host": COMMANDS_PER_COLLECTOR * len(request.host_collectors) * request.command_timeout,
    }
    return {name: PORTS_BUDGETED * per_port.get(name, 0) + whole.get(name, 0)
            for name in probes}


def target_budget(request: ProbeRequest, probes: list[str]) -> float:
    return round(sum(probe_bounds(request, probes).values()), 1)
