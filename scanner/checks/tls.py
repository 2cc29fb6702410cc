"""Checks on the TLS ports: versions, certificate, key, cipher suites, vulnerabilities."""

from __future__ import annotations

from typing import Any, Callable

from scanner.checks.base import Finding, Observations, aggregate, check
from scanner.model import Status, Verdict
from scanner.probes.service import WELL_KNOWN_TLS_PORTS

VERSIONS = ["SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
NO_TLS = "the target has no open port speaking TLS"


def per_tls_port(obs: Observations, expected: Any, judge: Callable[[int, dict], Finding],
                 cleartext_fails: bool = False) -> Verdict:
    """Judge every TLS port. Well-known TLS ports that stayed silent are errors; ones that
    answered in clear text fail when `cleartext_fails`, and are otherwise not TLS services."""
    tls_data = obs.data("tls")["ports"]
    findings = []
    for port, service in sorted(obs.services().items()):
        if port in tls_data:
            observed = tls_data[port]
            if "error" in observed:
                findings.append(Finding(str(port), Status.ERROR, None, observed["error"]))
            else:
                findings.append(judge(port, observed))
        elif port in WELL_KNOWN_TLS_PORTS and service["protocol"] == "silent":
            findings.append(Finding(str(port), Status.ERROR, service,
                                    f"usual TLS port is silent: {service.get('detail')}"))
        elif port in WELL_KNOWN_TLS_PORTS and cleartext_fails and service["protocol"] != "tls":
            findings.append(Finding(str(port), Status.FAIL, {"protocol": service["protocol"]},
                                    f"usual TLS port answers without TLS "
                                    f"({service['protocol']}): traffic is not encrypted"))
    return aggregate(findings, expected, NO_TLS)


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
        weak = [v for v in accepted if v in too_old]
        if weak:
            return Finding(str(port), Status.FAIL, accepted, f"accepts {', '.join(weak)}")
        if [v for v in untested if v in too_old]:
            return Finding(str(port), Status.ERROR, accepted,
                           f"could not test {', '.join(untested)}: {observed['errors']}")
        if not accepted:
            return Finding(str(port), Status.ERROR, accepted, "no version accepted")
        return Finding(str(port), Status.PASS, accepted)

    return per_tls_port(obs, f"only {minimum} or newer", judge, cleartext_fails=True)


@check("tls.latest_version")
def latest_version(obs: Observations, params: dict) -> Verdict:
    def judge(port: int, observed: dict) -> Finding:
        accepted, untested = accepted_versions(observed)
        if "TLS 1.3" in accepted:
            return Finding(str(port), Status.PASS, accepted)
        if "TLS 1.3" in untested:
            return Finding(str(port), Status.ERROR, accepted, "TLS 1.3 could not be tested")
        return Finding(str(port), Status.FAIL, accepted, "TLS 1.3 not offered")

    return per_tls_port(obs, "TLS 1.3 offered", judge)


def _certificates(observed: dict) -> list[dict]:
    if "certificates" not in observed:
        raise_missing = observed.get("errors", {}).get("certificate", "no certificate data")
        return [{"error": raise_missing}]
    return observed["certificates"]


@check("tls.certificate")
def certificate(obs: Observations, params: dict) -> Verdict:
    def judge(port: int, observed: dict) -> Finding:
        problems, seen = [], []
        for cert in _certificates(observed):
            if "error" in cert:
                return Finding(str(port), Status.ERROR, None, cert["error"])
            seen.append({k: cert[k] for k in ("subject", "issuer", "not_after", "days_left",
                                                "names", "trust_store", "trusted")})
            if cert["days_left"] < 0:
                problems.append(f"expired on {cert['not_after']}")
            elif cert["days_left"] < params["min_days_left"]:
                problems.append(f"expires in {cert['days_left']} days")
            if not cert["trusted"]:
                problems.append(f"not trusted by {cert['trust_store']}: {cert['trust_error']}")
            if not cert["name_matches"]:
                problems.append(f"names {cert['names']} do not match the scanned name")
        status = Status.FAIL if problems else Status.PASS
        return Finding(str(port), status, seen, "; ".join(problems))

    return per_tls_port(obs, f"valid, trusted, matching, >= {params['min_days_left']} days left",
                        judge)


@check("tls.key_strength")
def key_strength(obs: Observations, params: dict) -> Verdict:
    minimum = {"RSA": params["min_rsa_bits"], "EC": params["min_ec_bits"],
               "Ed25519": 0, "Ed448": 0}
    forbidden = {h.lower() for h in params["forbidden_hashes"]}

    def judge(port: int, observed: dict) -> Finding:
        problems, seen = [], []
        for cert in _certificates(observed):
            if "error" in cert:
                return Finding(str(port), Status.ERROR, None, cert["error"])
            kind, bits, digest = cert["key_type"], cert["key_bits"], cert["signature_hash"]
            seen.append({"key": f"{kind} {bits}", "signature_hash": digest})
            if kind not in minimum:
                problems.append(f"{kind} key type not accepted")
            elif (bits or 0) < minimum[kind]:
                problems.append(f"{kind} key of {bits} bits < {minimum[kind]}")
            if digest and digest.lower() in forbidden:
                problems.append(f"signed with {digest}")
        return Finding(str(port), Status.FAIL if problems else Status.PASS, seen,
                       "; ".join(problems))

    expected = (f"RSA >= {params['min_rsa_bits']} bits, EC >= {params['min_ec_bits']} bits, "
                f"no {', '.join(params['forbidden_hashes'])} signature")
    return per_tls_port(obs, expected, judge)


@check("tls.cipher_strength")
def cipher_strength(obs: Observations, params: dict) -> Verdict:
    forbidden = {t.upper() for t in params["forbidden"]}

    def judge(port: int, observed: dict) -> Finding:
        weak, no_fs = [], []
        for version, info in observed["versions"].items():
            for suite in info["cipher_suites"]:
                if forbidden & set(suite.upper().split("_")):
                    weak.append(suite)
                elif (params["require_forward_secrecy"] and version != "TLS 1.3"
                      and "_ECDHE_" not in suite and "_DHE_" not in suite):
                    no_fs.append(suite)
        if observed["errors"].keys() & set(VERSIONS):
            return Finding(str(port), Status.ERROR, None,
                           f"some versions could not be tested: {observed['errors']}")
        problems = ([f"weak suites: {', '.join(sorted(set(weak)))}"] if weak else []) + \
                   ([f"no forward secrecy: {', '.join(sorted(set(no_fs)))}"] if no_fs else [])
        return Finding(str(port), Status.FAIL if problems else Status.PASS,
                       {"weak": sorted(set(weak)), "without_forward_secrecy": sorted(set(no_fs))},
                       "; ".join(problems))

    expected = f"no suite with {', '.join(params['forbidden'])}" + \
        ("; ECDHE/DHE on TLS 1.2 and older" if params["require_forward_secrecy"] else "")
    return per_tls_port(obs, expected, judge)


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
            return Finding(str(port), Status.FAIL, seen, f"vulnerable to {', '.join(vulnerable)}")
        if unknown:
            return Finding(str(port), Status.ERROR, seen, f"could not test {', '.join(unknown)}")
        return Finding(str(port), Status.PASS, seen)

    return per_tls_port(obs, f"not vulnerable to {', '.join(params['checks'])}", judge)
