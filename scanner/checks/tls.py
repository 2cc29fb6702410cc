"""Checks on the TLS ports: versions, certificate, key, cipher suites, vulnerabilities."""

from __future__ import annotations

from typing import Any, Callable

from scanner.scope import portspec
from scanner.checks.base import Finding, Observations, aggregate, check
from scanner.model import Status, Verdict
from scanner.probes.service import WELL_KNOWN_TLS_PORTS
from scanner.scope.targets import is_address

VERSIONS = ["SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
NO_TLS = "the target has no open port speaking TLS"
MOZILLA = "mozilla"
# What the service probe answers when it could not tell what a port speaks.
UNIDENTIFIED = frozenset({"silent", "unknown", "closed", "unreachable"})
# Protocol knowledge: what the service probe recognises that encrypts without TLS.
ENCRYPTED = frozenset({"ssh"})


def _scope(params: dict) -> str:
    return params.get("ports") or "1-65535"


def per_tls_port(obs: Observations, params: dict, expected: Any,
                 judge: Callable[[int, dict], Finding], cleartext_fails: bool = False,
                 also: list[Finding] | None = None) -> Verdict:
    """Judge every TLS port (direct or STARTTLS) within the control's `ports`, with the findings
    `also` given. Well-known TLS ports that stayed silent are errors; ones that answered in
    clear text fail when `cleartext_fails`, and are otherwise not TLS services."""
    tls_data = obs.data("tls")["ports"]
    findings = []
    for port, service in sorted(obs.services().items()):
        if not portspec.covers(_scope(params), port):
            continue
        if port in tls_data:
            observed = tls_data[port]
            if "error" in observed:
                findings.append(Finding(_key(port, observed), Status.ERROR, None,
                                        observed["error"]))
            else:
                findings.append(judge(port, observed))
        elif port in WELL_KNOWN_TLS_PORTS and service["protocol"] == "silent":
            findings.append(Finding(str(port), Status.ERROR, service,
                                    f"usual TLS port is silent: {service.get('detail')}"))
        elif port in WELL_KNOWN_TLS_PORTS and cleartext_fails and service["protocol"] != "tls":
            findings.append(Finding(str(port), Status.FAIL, {"protocol": service["protocol"]},
                                    f"usual TLS port answers without TLS "
                                    f"({service['protocol']}): traffic is not encrypted"))
    return aggregate(findings + (also or []), expected, NO_TLS)


def _key(port: int, observed: dict) -> str:
    """The finding's name: the port, with the protocol when TLS comes after STARTTLS."""
    return f"{port}/{observed['starttls']}+starttls" if observed.get("starttls") else str(port)


def _https_redirect(obs: Observations, port: int) -> bool | str:
    """True when the HTTP probe saw `port` answer only a redirect to https://, else why not."""
    http = obs.results.get("http")
    answer = (http.data.get("plain") or {}).get(port) if http and not http.error else None
    if not answer or "status" not in answer:
        return "no HTTP answer recorded on this port to show it only redirects"
    location = str(answer.get("location") or "")
    if 300 <= answer["status"] < 400 and location.lower().startswith("https://"):
        return True
    return f"answers {answer['status']}, not a redirect to https://"


def not_tls(obs: Observations, params: dict) -> list[Finding]:
    """Every flow: the open ports in scope that carry neither TLS nor an allowed protocol
    (usual TLS ports are left to per_tls_port, which already fails them in clear text)."""
    tls_data = obs.data("tls")["ports"]
    allowed = set(params["non_tls_allowed"])
    findings = []
    for port, service in sorted(obs.services().items()):
        protocol = service["protocol"]
        if port in tls_data or port in WELL_KNOWN_TLS_PORTS or protocol in allowed \
                or not portspec.covers(_scope(params), port):
            continue
        if protocol == "http" and params.get("http_redirects_allowed"):
            redirect = _https_redirect(obs, port)
            if redirect is not True:
                findings.append(Finding(str(port), Status.FAIL, {"protocol": protocol},
                                        f"http in clear text ({redirect})"))
        elif protocol in UNIDENTIFIED or service.get("starttls", False) is None:
            detail = f": {service['detail']}" if service.get("detail") else ""
            findings.append(Finding(str(port), Status.ERROR, {"protocol": protocol},
                                    f"cannot tell whether the flow is encrypted "
                                    f"({protocol}{detail})"))
        elif protocol != "tls":
            offer = " without STARTTLS" if "starttls" in service else ""
            how = "encrypted, but not with TLS" if protocol in ENCRYPTED else "in clear text"
            findings.append(Finding(str(port), Status.FAIL, {"protocol": protocol},
                                    f"{protocol}{offer} {how}"))
    return findings


def accepted_versions(observed: dict) -> tuple[list[str], list[str]]:
    """(accepted versions, versions that could not be tested)."""
    versions = observed["versions"]
    accepted = [v for v in VERSIONS if versions.get(v, {}).get("accepted")]
    untested = [v for v in VERSIONS if v not in versions]
    return accepted, untested


@check("tls.required")
def required(obs: Observations, params: dict) -> Verdict:
    services = obs.services()
    findings = []
    for port in params["ports"]:
        service = services.get(port)
        if service is None:
            findings.append(Finding(str(port), Status.FAIL, "closed", "port is not open"))
        elif service["protocol"] == "tls":
            findings.append(Finding(str(port), Status.PASS, "tls"))
        elif service["protocol"] == "silent":
            findings.append(Finding(str(port), Status.ERROR, "silent", service.get("detail", "")))
        else:
            findings.append(Finding(str(port), Status.FAIL, service["protocol"],
                                    f"answers {service['protocol']}, not TLS"))
    return aggregate(findings, f"TLS served on ports {params['ports']}", "no port listed")


@check("tls.min_version")
def min_version(obs: Observations, params: dict) -> Verdict:
    minimum = f"TLS {params['min']}"
    too_old = VERSIONS[:VERSIONS.index(minimum)]

    def judge(port: int, observed: dict) -> Finding:
        accepted, untested = accepted_versions(observed)
        key = _key(port, observed)
        weak = [v for v in accepted if v in too_old]
        if weak:
            return Finding(key, Status.FAIL, accepted, f"accepts {', '.join(weak)}")
        if [v for v in untested if v in too_old]:
            return Finding(key, Status.ERROR, accepted,
                           f"could not test {', '.join(untested)}: {observed['errors']}")
        if not accepted:
            return Finding(key, Status.ERROR, accepted, "no version accepted")
        return Finding(key, Status.PASS, accepted)

    expected = f"only {minimum} or newer on every TLS port (STARTTLS included)"
    if params.get("all_flows"):
        others = list(params["non_tls_allowed"]) + \
            (["plain HTTP redirecting to https://"] if params.get("http_redirects_allowed") else [])
        expected += f"; every open port carries TLS{' or ' + ', '.join(others) if others else ''}"
    also = not_tls(obs, params) if params.get("all_flows") else []
    return per_tls_port(obs, params, expected, judge, cleartext_fails=True, also=also)


@check("tls.latest_version")
def latest_version(obs: Observations, params: dict) -> Verdict:
    def judge(port: int, observed: dict) -> Finding:
        accepted, untested = accepted_versions(observed)
        if "TLS 1.3" in accepted:
            return Finding(_key(port, observed), Status.PASS, accepted)
        if "TLS 1.3" in untested:
            return Finding(_key(port, observed), Status.ERROR, accepted,
                           "TLS 1.3 could not be tested")
        return Finding(_key(port, observed), Status.FAIL, accepted, "TLS 1.3 not offered")

    return per_tls_port(obs, params, "TLS 1.3 offered", judge)


def _certificates(observed: dict) -> list[dict]:
    if "certificates" not in observed:
        return [{"error": observed.get("errors", {}).get("certificate", "no certificate data")}]
    return observed["certificates"]


def _store(cert: dict, params: dict) -> str:
    """--ca-bundle when given (the probe's default store), else the control's bundle, else
    the Mozilla store."""
    if cert["default_store"] != MOZILLA:
        return cert["default_store"]
    return params.get("ca_bundle") or MOZILLA


@check("tls.certificate")
def certificate(obs: Observations, params: dict) -> Verdict:
    margin = params.get("min_days_left")

    def judge(port: int, observed: dict) -> Finding:
        key, problems, seen, unsure = _key(port, observed), [], [], []
        for cert in _certificates(observed):
            if "error" in cert:
                return Finding(key, Status.ERROR, None, cert["error"])
            store = _store(cert, params)
            validation = cert["validations"].get(store, {"error": f"not validated against {store}"})
            if "trusted" not in validation:
                return Finding(key, Status.ERROR, None, validation["error"])
            seen.append({**{k: cert[k] for k in ("subject", "issuer", "not_after", "days_left",
                                                  "names", "scanned_name")},
                         "trust_store": store, "trusted": validation["trusted"]})
            reasons = validation["reasons"]
            if is_address(cert["scanned_name"]) and not all(map(is_address, cert["names"])):
                # Scanned by address: the service is reached by a host name nobody gave us.
                reasons = [r for r in reasons if not r.startswith("name mismatch")]
                if len(reasons) < len(validation["reasons"]):
                    unsure.append(f"the certificate names {', '.join(cert['names'])}, not the "
                                  f"scanned address {cert['scanned_name']}: scan the host name "
                                  "the service is reached by to judge the name")
            problems += [f"not trusted ({store}): {reason}" for reason in reasons]
            if margin is not None and 0 <= cert["days_left"] < margin:
                problems.append(f"expires in {cert['days_left']} days (on {cert['not_after']}), "
                                f"less than {margin}")
        if problems:
            return Finding(key, Status.FAIL, seen, "; ".join(problems))
        return Finding(key, Status.ERROR if unsure else Status.PASS, seen, "; ".join(unsure))

    expected = "chain valid now for the scanned name (strict RFC 5280 path validation)" + \
        (f", at least {margin} days left" if margin is not None else ", no expiry margin checked")
    return per_tls_port(obs, params, expected, judge)


@check("tls.key_strength")
def key_strength(obs: Observations, params: dict) -> Verdict:
    minimum = {"RSA": params.get("min_rsa_bits"), "EC": params.get("min_ec_bits"),
               "Ed25519": 0, "Ed448": 0}
    forbidden = {h.lower() for h in params.get("forbidden_hashes") or []}

    def judge(port: int, observed: dict) -> Finding:
        problems, seen = [], []
        for cert in _certificates(observed):
            if "error" in cert:
                return Finding(_key(port, observed), Status.ERROR, None, cert["error"])
            kind, bits, digest = cert["key_type"], cert["key_bits"], cert["signature_hash"]
            seen.append({"key": f"{kind} {bits}", "signature_hash": digest})
            if kind not in minimum:
                problems.append(f"{kind} key type not accepted")
            elif minimum[kind] is not None and (bits or 0) < minimum[kind]:
                problems.append(f"{kind} key of {bits} bits < {minimum[kind]}")
            if digest and digest.lower() in forbidden:
                problems.append(f"signed with {digest}")
        return Finding(_key(port, observed), Status.FAIL if problems else Status.PASS, seen,
                       "; ".join(problems))

    rules = [f"{kind} >= {bits} bits" for kind, bits in minimum.items()
             if kind in ("RSA", "EC") and bits is not None]
    rules.append(f"no {', '.join(sorted(forbidden))} signature" if forbidden
                 else "signature hash not checked")
    return per_tls_port(obs, params, ", ".join(rules), judge)


@check("tls.cipher_strength")
def cipher_strength(obs: Observations, params: dict) -> Verdict:
    forbidden = {t.upper() for t in params.get("forbidden") or []}
    want_fs = bool(params.get("require_forward_secrecy"))

    def judge(port: int, observed: dict) -> Finding:
        weak, no_fs = [], []
        for version, info in observed["versions"].items():
            for suite in info["cipher_suites"]:
                if forbidden & set(suite.upper().split("_")):
                    weak.append(suite)
                elif (want_fs and version != "TLS 1.3"
                      and "_ECDHE_" not in suite and "_DHE_" not in suite):
                    no_fs.append(suite)
        if observed["errors"].keys() & set(VERSIONS):
            return Finding(_key(port, observed), Status.ERROR, None,
                           f"some versions could not be tested: {observed['errors']}")
        problems = ([f"weak suites: {', '.join(sorted(set(weak)))}"] if weak else []) + \
                   ([f"no forward secrecy: {', '.join(sorted(set(no_fs)))}"] if no_fs else [])
        return Finding(_key(port, observed), Status.FAIL if problems else Status.PASS,
                       {"weak": sorted(set(weak)), "without_forward_secrecy": sorted(set(no_fs))},
                       "; ".join(problems))

    expected = (f"no suite with {', '.join(params['forbidden'])}" if forbidden
                else "suite components not checked") + \
        ("; ECDHE/DHE on TLS 1.2 and older" if want_fs else "; forward secrecy not checked")
    return per_tls_port(obs, params, expected, judge)


_VULNERABLE = {
    "heartbleed": lambda v: v is True, "ccs_injection": lambda v: v is True,
    "compression": lambda v: v is True, "insecure_renegotiation": lambda v: v is True,
    "robot": lambda v: str(v).startswith("VULNERABLE"),
}


@check("tls.known_vulnerabilities")
def known_vulnerabilities(obs: Observations, params: dict) -> Verdict:
    def judge(port: int, observed: dict) -> Finding:
        results = observed["vulnerabilities"]
        seen = {name: results.get(name) for name in params["checks"]}
        vulnerable = [n for n in params["checks"] if n in results and _VULNERABLE[n](results[n])]
        unknown = [n for n in params["checks"] if n not in results
                   or (n == "robot" and str(results[n]).startswith("UNKNOWN"))]
        if vulnerable:
            return Finding(_key(port, observed), Status.FAIL, seen,
                           f"vulnerable to {', '.join(vulnerable)}")
        if unknown:
            return Finding(_key(port, observed), Status.ERROR, seen,
                           f"could not test {', '.join(unknown)}")
        return Finding(_key(port, observed), Status.PASS, seen)

    return per_tls_port(obs, params, f"not vulnerable to {', '.join(params['checks'])}", judge)
