"""Real servers (nginx, OpenSSH, raw TCP) scanned by real nmap, sslyze and paramiko:
the verdict of every automated control on every lab host."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import control_result
from scanner.model import Status
from report_support import text
from scanner.reporters import json_report
from scanner.catalog.resources import report_schema_path
from scanner.catalog.profiles import load_profile
from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
from scanner.lab.hosts import expected_verdicts
from scanner.scope.targets import Target

P, F, E, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE
CONTROLS = ["net.allowed_ports", "net.no_admin_exposure", "net.no_cleartext_services",
            "net.latency", "tls.required", "tls.min_version", "tls.latest_version",
            "tls.certificate", "tls.key_strength", "tls.cipher_strength",
            "tls.known_vulnerabilities", "http.https_redirect", "http.hsts",
            "http.response_time", "ssh.key_only", "ssh.algorithms"]
EXPECTED = {
    #            ports adm clr lat req min new crt key cip vul rdr hsts time sshk ssha
    "good":     [P,   P,  P,  P,  P,  P,  P,  P,  P,  P,  P,  P,  P,   P,   P,   P],
    "legacy":   [F,   F,  F,  P,  P,  F,  F,  P,  P,  F,  P,  F,  F,   P,   F,   F],
    "expired":  [P,   P,  P,  P,  P,  P,  P,  F,  P,  P,  P,  P,  P,   P,   NA,  NA],
    "weakkey":  [P,   P,  P,  P,  P,  P,  P,  F,  F,  P,  P,  P,  F,   P,   NA,  NA],
    "plain443": [P,   P,  P,  P,  F,  F,  NA, NA, NA, NA, NA, P,  NA,  P,   NA,  NA],
    "silent":   [P,   P,  P,  P,  E,  E,  E,  E,  E,  E,  E,  P,  NA,  NA,  NA,  NA],
    "closed":   [P,   P,  P,  P,  F,  NA, NA, NA, NA, NA, NA, P,  NA,  NA,  NA,  NA],
}
CASES = [(host, control, expected) for host, row in EXPECTED.items()
         for control, expected in zip(CONTROLS, row)]


@pytest.mark.lab
@pytest.mark.parametrize("host,control,expected", CASES,
                         ids=[f"{h}-{c}" for h, c, _ in CASES])
def test_verdict(lab, lab_scan, host, control, expected):
    result = control_result(lab_scan, lab.hosts[host].address, control)
    assert result.status == expected, f"{host} {control}: {result.status} ({result.reason})"
    if expected in (F, E):
        assert result.reason, "a fail or error always says why"
    if expected in (P, F):
        assert result.expected is not None and result.observed is not None


@pytest.mark.lab
def test_findings_name_what_is_wrong(lab, lab_scan):
    legacy = lab.hosts["legacy"].address
    ports = control_result(lab_scan, legacy, "net.allowed_ports")
    assert ports.observed["not_allowed"] == ["21/tcp", "3306/tcp", "8080/tcp"]
    assert "TLS 1.0" in control_result(lab_scan, legacy, "tls.min_version").reason
    ssh = control_result(lab_scan, legacy, "ssh.key_only")
    assert {"password", "keyboard-interactive"} <= set(ssh.observed["22"]["auth_methods"])
    algs = control_result(lab_scan, legacy, "ssh.algorithms").observed["22"]["weak"]
    assert "diffie-hellman-group1-sha1" in algs["kex"] and "3des-cbc" in algs["ciphers"]
    assert "hmac-md5" in algs["macs"] and "ssh-rsa" in algs["host_key"]
    weak = control_result(lab_scan, lab.hosts["weakkey"].address, "tls.key_strength")
    assert "1024" in weak.reason and "sha1" in weak.reason
    expired = control_result(lab_scan, lab.hosts["expired"].address, "tls.certificate")
    assert "expired" in expired.reason


@pytest.mark.lab
def test_no_pass_without_data_on_silent_host(lab, lab_scan):
    """The silent port accepts and never answers: nothing TLS-related may pass."""
    target = next(t for t in lab_scan.targets if t.address == lab.hosts["silent"].address)
    tls_statuses = {c.control_id: c.status for clause in target.results
                    for c in clause.controls if c.control_id.startswith("tls.")}
    assert Status.PASS not in tls_statuses.values(), tls_statuses
    assert target.probes["service"]["duration_s"] < 10, "the silent port is bounded by the timeout"


@pytest.mark.lab
def test_json_report_carries_raw_evidence_and_validates(lab, lab_scan):
    report = json.loads(text(json_report.write, lab_scan))  # in memory: evidence embedded
    schema = json.loads(report_schema_path().read_text())
    jsonschema.validate(report, schema, format_checker=jsonschema.FormatChecker())
    good = next(t for t in report["targets"] if t["address"] == lab.hosts["good"].address)
    assert good["evidence"]["ports"]["nmap_xml"].startswith("<?xml")
    assert "<nmaprun" in good["evidence"]["ports"]["nmap_xml"]
    assert good["evidence"]["tls"]["sslyze_443"]["scan_status"] == "COMPLETED"
    assert good["evidence"]["ssh"]["ssh_22"]["banner"].startswith("SSH-2.0-OpenSSH")
    control = good["results"][0]["controls"][0]
    assert control["evidence"]["probes"] == ["ports", "service"]


@pytest.mark.lab
def test_expected_clause_verdicts_that_lab_up_shows(lab, catalog):
    """scanner/lab/expected.yaml (shown by `annexscan lab up`) is what a real scan finds."""
    profile_id, expected = expected_verdicts()
    options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle)
    plan = plan_scan([load_profile(profile_id, catalog)], catalog, options)
    scan = run_scan([ScanJob(Target(h.address, h.address), plan) for h in lab.hosts.values()],
                    options)
    assert set(expected) == set(lab.hosts)
    for target in scan.targets:
        name = next(h.name for h in lab.hosts.values() if h.address == target.address)
        found: dict[str, list[str]] = {}
        for clause in target.results:
            if clause.status != Status.MANUAL:
                found.setdefault(clause.status.value, []).append(clause.clause_id)
        assert found == expected[name], name
