"""Checks on open ports, services and latency."""

from __future__ import annotations

from scanner.scope import portspec
from scanner.checks.base import Observations, check, passed
from scanner.model import Status, Verdict

@check("net.allowed_ports")
def allowed_ports(obs: Observations, params: dict) -> Verdict:
    data = obs.data("ports")
    allowed = sorted(params["allowed"])
    # the probe may have scanned more for another control: judge this control's own range
    mine = [p for p in data["open_ports"] if portspec.covers(params["ports"], p)]
    unexpected = [f"{p}/tcp" for p in mine if p not in allowed]
    observed = {"open_ports": mine, "scanned": params["ports"]}
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


def _own(by_port: dict[int, dict], params: dict) -> dict[int, dict]:
    """The ports of this control's own range (the probe may have seen more, for another)."""
    return {port: info for port, info in by_port.items() if portspec.covers(params["ports"], port)}


@check("net.no_admin_exposure")
def no_admin_exposure(obs: Observations, params: dict) -> Verdict:
    """What each port was identified as speaking; an unidentified service on a port usually
    given to an administration service is an error."""
    ports = _own(obs.data("fingerprint")["ports"], params)
    kinds = set(params["kinds"])
    exposed = [f"{port}/{found['service']} ({found['kind']}, {found['matched']})"
               for port, info in sorted(ports.items()) for found in info["identified"]
               if found["kind"] in kinds]
    if params["ssh_is_admin"]:
        exposed += [f"{port}/ssh" for port, info in sorted(ports.items())
                    if info["protocol"] == "ssh"]
    usual = {rule["port"]: rule["service"] for rule in params["usual_ports"]}
    unknown = [f"{port} (usually {usual[port]}): speaks {info['protocol']}"
               + (f"; {info['note']}" if info.get("note") else "")
               for port, info in sorted(ports.items())
               if port in usual and not info["identified"]
               and (info["protocol"] in ("unknown", "silent") or not info["complete"])]
    expected = (f"no port speaks an administration interface ({', '.join(sorted(kinds))})"
                + (", SSH included" if params["ssh_is_admin"] else ""))
    observed = {str(port): [f["service"] for f in info["identified"]] or info["protocol"]
                for port, info in sorted(ports.items())}
    if not exposed and unknown:
        return Verdict(Status.ERROR, expected, observed,
                       "service not identified on a port usually given to an administration "
                       f"service: {'; '.join(unknown)}")
    return passed(not exposed, expected, observed,
                  f"reachable administration interfaces: {', '.join(exposed)}")


@check("net.no_cleartext_services")
def no_cleartext_services(obs: Observations, params: dict) -> Verdict:
    """By what each port speaks; r-services have no greeting, so their usual ports stand in."""
    services = _own(obs.services(), params)
    forbidden = set(params["forbidden"])
    found, unknown = [], []
    for port, service in sorted(services.items()):
        protocol = service["protocol"]
        if protocol in forbidden and params["allow_starttls"] and "starttls" in service \
                and service["starttls"] is None:  # it may offer the upgrade: nobody can tell
            unknown.append(f"{port}/{protocol}: its STARTTLS support could not be read")
        elif protocol in forbidden and not (params["allow_starttls"] and service.get("starttls")):
            upgrade = {None: "", True: ", STARTTLS offered", False: ", no STARTTLS"}.get(
                service.get("starttls"), "")
            found.append(f"{port}/{protocol}{upgrade}")
    for rule in params["usual_ports"]:
        service = services.get(rule["port"])
        if service and service["protocol"] in ("unknown", "silent"):
            unknown.append(f"{rule['port']} (usually {rule['service']}): speaks "
                           f"{service['protocol']}")
    expected = (f"no port offers {', '.join(sorted(forbidden))} in clear"
                + (" (STARTTLS offered counts as encrypted)" if params["allow_starttls"] else ""))
    observed = {str(p): s["protocol"] + (" +STARTTLS" if s.get("starttls") else "")
                for p, s in sorted(services.items())}
    if not found and unknown:
        return Verdict(Status.ERROR, expected, observed,
                       f"not identified: {'; '.join(unknown)}")
    return passed(not found, expected, observed,
                  f"clear-text services reachable: {', '.join(found)}")


@check("net.latency")
def latency(obs: Observations, params: dict) -> Verdict:
    """Every sample within the limit. A sample with no answer within the timeout is over it when
    the timeout is at least the limit; with a shorter timeout nobody can tell (error)."""
    data = obs.data("latency")
    limit = params["max_ms"]
    method = "ICMP echo" if data["method"] == "icmp" else f"TCP connect to port {data['port']}"
    observed = {key: data[key] for key in ("method", "samples_ms", "max_ms", "median_ms",
                                           "port", "fallback") if key in data}
    rules = ["ICMP echo answered"] if params["require_icmp"] else []
    rules += [f"every {method} round trip <= {limit} ms"] if limit is not None else []
    expected = "; ".join(rules) or "the host answers (no limit checked)"
    if params["require_icmp"] and data["method"] != "icmp":
        cannot_send = "cannot be sent" in data.get("fallback", "")
        return Verdict(Status.ERROR if cannot_send else Status.FAIL, expected, observed,
                       f"ping not answered: {data.get('fallback', 'no ICMP echo reply')}")
    if limit is None:
        return Verdict(Status.PASS, expected, observed)
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
