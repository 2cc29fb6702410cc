"""Checks on open ports, services and latency."""

from __future__ import annotations

from scanner import portspec
from scanner.checks.base import Observations, check, passed
from scanner.model import Status, Verdict

CLEARTEXT_PROTOCOLS = {"ftp", "telnet", "pop3", "imap"}


@check("net.allowed_ports")
def allowed_ports(obs: Observations, params: dict) -> Verdict:
    data = obs.data("ports")
    allowed = sorted(params["allowed"])
    unexpected = [f"{p}/tcp" for p in sorted(set(data["open_ports"]) - set(allowed))]
    observed = {"open_ports": data["open_ports"], "scanned": data["scanned"]}
    expected = f"open TCP ports within {allowed}"
    if params["udp_ports"] is not None:
        expected = f"open TCP and UDP ports within {allowed}"
        udp = data.get("udp") or {"error": "the port probe ran no UDP scan"}
        if udp.get("error"):
            return Verdict(Status.ERROR, expected, observed,
                           f"UDP ports not scanned ({udp['error']}): the allowlist covers UDP too")
        mine = [p for p in udp["open"] if portspec.covers(params["udp_ports"], p)]
        silent = [p for p in udp["open_filtered"] if portspec.covers(params["udp_ports"], p)]
        unexpected += [f"{p}/udp" for p in mine if p not in allowed]
        observed.update(udp_open=mine, udp_scanned=params["udp_ports"],
                        udp_open_filtered=silent)
        if silent:
            observed["udp_note"] = ("open|filtered: no answer to nmap's protocol probes (a silent "
                                    "service or a firewall dropping them); not counted as open")
    observed["not_allowed"] = unexpected
    return passed(not unexpected, expected, observed,
                  f"ports open outside the allowlist: {', '.join(unexpected)}")


@check("net.no_admin_exposure")
def no_admin_exposure(obs: Observations, params: dict) -> Verdict:
    open_ports = set(obs.data("ports")["open_ports"])
    exposed = [f"{f['port']}/{f['service']}" for f in params["forbidden"] if f["port"] in open_ports]
    if params["ssh_is_admin"]:
        exposed += [f"{port}/ssh" for port, s in sorted(obs.services().items())
                    if s["protocol"] == "ssh"]
    expected = "no administration or database service reachable" + \
        (" (SSH included)" if params["ssh_is_admin"] else "")
    return passed(not exposed, expected, {"exposed": exposed, "open_ports": sorted(open_ports)},
                  f"reachable administration services: {', '.join(exposed)}")


@check("net.no_cleartext_services")
def no_cleartext_services(obs: Observations, params: dict) -> Verdict:
    services = obs.services()
    found = []
    for rule in params["forbidden"]:
        service = services.get(rule["port"])
        if service is None:
            continue
        if service["protocol"] == "smtp" and service.get("starttls"):
            continue
        found.append(f"{rule['port']}/{rule['service']} ({service['protocol']})")
    for port, service in sorted(services.items()):
        listed = any(rule["port"] == port for rule in params["forbidden"])
        if service["protocol"] in CLEARTEXT_PROTOCOLS and not listed:
            found.append(f"{port}/{service['protocol']} (banner)")
    observed = {str(p): s["protocol"] for p, s in sorted(services.items())}
    return passed(not found, "no clear-text service (FTP, Telnet, POP3, IMAP, LDAP, SMTP "
                  "without STARTTLS, r-services)", observed,
                  f"clear-text services reachable: {', '.join(found)}")


@check("net.latency")
def latency(obs: Observations, params: dict) -> Verdict:
    """Every sample within the limit. A sample with no answer within the timeout is over it when
    the timeout is at least the limit; with a shorter timeout nobody can tell (error)."""
    data = obs.data("latency")
    limit = params["max_ms"]
    method = "ICMP echo" if data["method"] == "icmp" else f"TCP connect to port {data['port']}"
    expected = f"every {method} round trip <= {limit} ms"
    observed = {key: data[key] for key in ("method", "samples_ms", "max_ms", "median_ms",
                                           "port", "fallback") if key in data}
    lost = [i for i, ms in enumerate(data["samples_ms"], 1) if ms is None]
    slow = [f"#{i}: {ms} ms" for i, ms in enumerate(data["samples_ms"], 1)
            if ms is not None and ms > limit]
    if lost and not slow and data["timeout_ms"] < limit:
        return Verdict(Status.ERROR, expected, observed,
                       f"samples {lost} got no answer within {data['timeout_ms']:g} ms, a timeout "
                       f"shorter than the {limit} ms limit: their round trip is unknown")
    slow += [f"#{i}: no answer within {data['timeout_ms']:g} ms" for i in lost]
    return passed(not slow, expected, observed,
                  f"{method} round trips over {limit} ms: {', '.join(slow)}")
