"""Checks on recorded observations: cases the lab cannot build (SSL 3.0, Heartbleed, ROBOT,
SMTP with STARTTLS) and the rule that missing data is an error, never a pass."""

from __future__ import annotations

import pytest

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status


def defaults(catalog, control_id, **over):
    return {**catalog.get(control_id).defaults(), **over}


def observations(services=None, tls_ports=None, ssh_ports=None, open_ports=None, **errors):
    services = services or {}
    results = {
        "ports": ProbeResult("ports", "x", {"open_ports": open_ports or sorted(services),
                                            "scanned": "1-65535"}),
        "service": ProbeResult("service", "x", {"services": services}),
        "tls": ProbeResult("tls", "x", {"ports": tls_ports or {}}),
        "ssh": ProbeResult("ssh", "x", {"ports": ssh_ports or {}}),
    }
    for probe, message in errors.items():
        results[probe] = ProbeResult(probe, "x", error=message)
    return Observations(results)


def tls_port(versions, vulns=None, errors=None):
    return {"versions": {v: {"accepted": bool(s), "cipher_suites": s} for v, s in versions.items()},
            "errors": errors or {},
            "vulnerabilities": vulns or {"heartbleed": False, "ccs_injection": False,
                                         "compression": False, "insecure_renegotiation": False,
                                         "robot": "NOT_VULNERABLE_NO_ORACLE"}}


ALL_VERSIONS = ["SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
MODERN = {v: [] for v in ALL_VERSIONS} | {"TLS 1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                                           "TLS 1.3": ["TLS_AES_128_GCM_SHA256"]}
TLS_SERVICE = {443: {"protocol": "tls"}}


def test_ssl3_fails_min_version(catalog):
    obs = observations(TLS_SERVICE, {443: tls_port(MODERN | {"SSL 3.0": ["SSL_CK_RC4_128_WITH_MD5"]})})
    verdict = evaluate("tls.min_version", obs, defaults(catalog, "tls.min_version"))
    assert verdict.status == Status.FAIL and "SSL 3.0" in verdict.reason


def test_untested_old_version_is_error_not_pass(catalog):
    versions = {k: v for k, v in MODERN.items() if k != "TLS 1.0"}
    obs = observations(TLS_SERVICE, {443: tls_port(versions, errors={"TLS 1.0": "timeout"})})
    assert evaluate("tls.min_version", obs, defaults(catalog, "tls.min_version")).status == Status.ERROR


@pytest.mark.parametrize("vuln,value", [("heartbleed", True), ("ccs_injection", True),
                                        ("compression", True), ("insecure_renegotiation", True),
                                        ("robot", "VULNERABLE_STRONG_ORACLE")])
def test_each_vulnerability_fails(catalog, vuln, value):
    port = tls_port(MODERN)
    port["vulnerabilities"][vuln] = value
    verdict = evaluate("tls.known_vulnerabilities", observations(TLS_SERVICE, {443: port}),
                       defaults(catalog, "tls.known_vulnerabilities"))
    assert verdict.status == Status.FAIL and vuln in verdict.reason


def test_robot_inconclusive_is_error(catalog):
    port = tls_port(MODERN)
    port["vulnerabilities"]["robot"] = "UNKNOWN_INCONSISTENT_RESULTS"
    verdict = evaluate("tls.known_vulnerabilities", observations(TLS_SERVICE, {443: port}),
                       defaults(catalog, "tls.known_vulnerabilities"))
    assert verdict.status == Status.ERROR


@pytest.mark.parametrize("suite,fails", [
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", True), ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", True),
    ("TLS_DH_anon_WITH_AES_128_CBC_SHA", True), ("TLS_RSA_WITH_NULL_SHA256", True),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", True),  # no forward secrecy
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", False), ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", False),
])
def test_cipher_suites(catalog, suite, fails):
    port = tls_port(MODERN | {"TLS 1.2": [suite]})
    verdict = evaluate("tls.cipher_strength", observations(TLS_SERVICE, {443: port}),
                       defaults(catalog, "tls.cipher_strength"))
    assert verdict.status == (Status.FAIL if fails else Status.PASS), verdict.reason


def test_smtp_with_starttls_passes_without_it_fails(catalog):
    params = defaults(catalog, "net.no_cleartext_services")
    ok = observations({25: {"protocol": "smtp", "starttls": True}})
    bad = observations({25: {"protocol": "smtp", "starttls": False}})
    assert evaluate("net.no_cleartext_services", ok, params).status == Status.PASS
    assert evaluate("net.no_cleartext_services", bad, params).status == Status.FAIL


def test_ftp_banner_on_unusual_port_fails(catalog):
    obs = observations({2121: {"protocol": "ftp"}})
    verdict = evaluate("net.no_cleartext_services", obs, defaults(catalog, "net.no_cleartext_services"))
    assert verdict.status == Status.FAIL and "2121/ftp" in verdict.reason


def test_ssh_is_admin_only_when_the_profile_says_so(catalog):
    obs = observations({22: {"protocol": "ssh"}})
    obs.results["fingerprint"] = ProbeResult("fingerprint", "x", {"ports": {22: {
        "protocol": "ssh", "identified": [], "complete": True}}})
    params = defaults(catalog, "net.no_admin_exposure")
    assert evaluate("net.no_admin_exposure", obs, params).status == Status.PASS
    params["ssh_is_admin"] = True
    assert evaluate("net.no_admin_exposure", obs, params).status == Status.FAIL


@pytest.mark.parametrize("control_id", [
    "net.allowed_ports", "net.no_admin_exposure", "net.no_cleartext_services", "tls.required",
    "tls.min_version", "tls.certificate", "tls.key_strength", "tls.cipher_strength",
    "ssh.key_only", "ssh.algorithms"])
def test_failed_port_scan_never_passes(catalog, control_id):
    obs = observations(ports="nmap: host timeout", service="the port scan failed",
                       tls="the port scan failed", ssh="the port scan failed",
                       fingerprint="the port scan failed")
    verdict = evaluate(control_id, obs, defaults(catalog, control_id))
    assert verdict.status == Status.ERROR and "failed" in verdict.reason


def test_missing_probe_is_error(catalog):
    verdict = evaluate("net.latency", Observations({}), defaults(catalog, "net.latency"))
    assert verdict.status == Status.ERROR and "did not run" in verdict.reason


def test_ssh_partial_observations(catalog):
    ssh = {22: {"auth_error": "EOFError: closed", "banner": "SSH-2.0-x",
                "kexinit": {"kex": ["curve25519-sha256"], "host_key": ["ssh-ed25519"],
                            "ciphers_c2s": ["aes256-gcm@openssh.com"], "ciphers_s2c": [],
                            "macs_c2s": [], "macs_s2c": []}}}
    obs = observations({22: {"protocol": "ssh"}}, ssh_ports=ssh)
    assert evaluate("ssh.key_only", obs, defaults(catalog, "ssh.key_only")).status == Status.ERROR
    # an empty cipher or MAC list is not "no weak algorithm": nothing was seen
    assert evaluate("ssh.algorithms", obs, defaults(catalog, "ssh.algorithms")).status == Status.ERROR


def test_allowed_ports_judges_only_its_own_range(catalog):
    """Another control may have had 1-65535 scanned: 8080 is outside this one's "1-1024"."""
    obs = observations({22: {"protocol": "ssh"}, 8080: {"protocol": "http"}})
    params = defaults(catalog, "net.allowed_ports", udp_ports=None)
    assert evaluate("net.allowed_ports", obs, {**params, "ports": "1-1024"}).status == Status.PASS
    verdict = evaluate("net.allowed_ports", obs, params)
    assert verdict.status == Status.FAIL and "8080/tcp" in verdict.reason
