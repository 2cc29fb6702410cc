"""Attestations and waivers change verdicts as specified, expiry included; bad files are
refused before any probe."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scanner.evidence import attestations
from scanner.cli.main import main
from scanner.errors import ConfigError
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
IDS = {"P-MANUAL", "P-PORTS", "P-TLS"}


def result() -> ScanResult:
    def control(cid: str, status: Status) -> ControlResult:
        return ControlResult(cid, cid, "high", status, {}, "x", "y", "why" if status != Status.PASS else "")

    clauses = [
        ClauseResult("P-MANUAL", "p", "§1", "Breach", "Breach notice in 24 h.", Status.MANUAL, [],
                     "The breach procedure."),
        ClauseResult("P-PORTS", "p", "§2", "Ports", "Only 80/443.", Status.FAIL,
                     [control("net.allowed_ports", Status.FAIL)]),
        ClauseResult("P-TLS", "p", "§3", "TLS", "TLS 1.2.", Status.FAIL,
                     [control("tls.min_version", Status.FAIL), control("tls.certificate", Status.PASS)]),
    ]
    targets = [TargetResult(addr, addr, [ClauseResult(**c.__dict__) for c in clauses])
               for addr in ("10.0.0.1", "10.0.0.2")]
    for target in targets:
        target.results = [ClauseResult(**{**c.__dict__, "controls": [
            ControlResult(**k.__dict__) for k in c.controls]}) for c in target.results]
    return ScanResult("s", "f", [{"id": "p", "title": "P", "source": {}}], targets)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def attest(tmp_path, expires: str, targets: str = "") -> list:
    (tmp_path / "procedure.pdf").write_bytes(b"%PDF-1.4 procedure")
    text = ("attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne Martin\n    role: DPO\n"
            f"    date: 2026-10-01\n    expires: '{expires}'\n"
            "    statement: The breach procedure is in force and was tested.\n"
            f"    evidence: [procedure.pdf, https://intranet.example/breach]\n{targets}")
    return attestations.load_attestations(write(tmp_path, "att.yaml", text), IDS)


def status(res: ScanResult, address: str, clause: str) -> ClauseResult:
    target = next(t for t in res.targets if t.address == address)
    return next(c for c in target.results if c.clause_id == clause)


def test_valid_attestation_attests(tmp_path):
    res = result()
    attestations.apply(res, attest(tmp_path, "2027-10-01"), [], NOW)
    clause = status(res, "10.0.0.1", "P-MANUAL")
    assert clause.status == Status.ATTESTED
    assert clause.attestation["attested_by"] == "Jeanne Martin"
    assert clause.attestation["expiry_note"] == attestations.END_OF_DAY_NOTE
    assert clause.attestation["expires_at"] == "2027-10-01T23:59:59.999999+00:00"


def test_expired_attestation_counts_as_failure(tmp_path):
    res = result()
    for clause_result in (t.results for t in res.targets):
        for c in clause_result:
            if c.status == Status.FAIL:  # leave only the attestation to decide the exit code
                c.status = Status.PASS
    attestations.apply(res, attest(tmp_path, "2026-11-22"), [], NOW)
    assert status(res, "10.0.0.1", "P-MANUAL").status == Status.EXPIRED
    assert res.exit_code() == 1


def test_end_of_day_utc_is_still_valid_that_day(tmp_path):
    res = result()
    attestations.apply(res, attest(tmp_path, "2026-11-23"), [], NOW)
    assert status(res, "10.0.0.1", "P-MANUAL").status == Status.ATTESTED


def test_attestation_limited_to_targets(tmp_path):
    res = result()
    attestations.apply(res, attest(tmp_path, "2027-01-01", "    targets: ['10.0.0.2']\n"), [], NOW)
    assert status(res, "10.0.0.1", "P-MANUAL").status == Status.MANUAL
    assert status(res, "10.0.0.2", "P-MANUAL").status == Status.ATTESTED


def waivers(tmp_path, body: str) -> list:
    from scanner.catalog.controls import load_catalog

    return attestations.load_waivers(write(tmp_path, "w.yaml", "waivers:\n" + body), IDS,
                                     load_catalog())


def test_clause_waiver_waives_and_stays_visible(tmp_path):
    res = result()
    found = waivers(tmp_path, "  - clause: P-PORTS\n    targets: ['10.0.0.*']\n"
                    "    justification: Legacy FTP until the migration in March.\n"
                    "    approver: CISO\n    expires: '2027-03-31T18:00:00+01:00'\n")
    attestations.apply(res, [], found, NOW)
    clause = status(res, "10.0.0.1", "P-PORTS")
    assert clause.status == Status.WAIVED and clause.controls[0].status == Status.WAIVED
    assert clause.waiver["approver"] == "CISO" and clause.waiver["expired"] is False
    assert "expiry_note" not in clause.waiver


def test_expired_waiver_no_longer_applies_and_says_so(tmp_path):
    res = result()
    found = waivers(tmp_path, "  - clause: P-PORTS\n    targets: ['*']\n"
                    "    justification: Legacy FTP until the migration in March.\n"
                    "    approver: CISO\n    expires: '2026-01-31'\n")
    attestations.apply(res, [], found, NOW)
    clause = status(res, "10.0.0.1", "P-PORTS")
    assert clause.status == Status.FAIL and clause.waiver["expired"] is True


def test_control_waiver_only_waives_that_control(tmp_path):
    res = result()
    found = waivers(tmp_path, "  - control: tls.min_version\n    targets: ['10.0.0.2']\n"
                    "    justification: Old client devices need TLS 1.0 until June.\n"
                    "    approver: CISO\n    expires: '2027-06-30'\n")
    attestations.apply(res, [], found, NOW)
    assert status(res, "10.0.0.2", "P-TLS").status == Status.WAIVED
    assert status(res, "10.0.0.1", "P-TLS").status == Status.FAIL
    assert status(res, "10.0.0.2", "P-PORTS").status == Status.FAIL


@pytest.mark.parametrize("name,text,expected", [
    ("att.yaml", "attestations:\n  - clause: NOPE\n    attested_by: Jeanne\n    role: DPO\n"
     "    date: 2026-10-01\n    expires: 2027-01-01\n    statement: A statement long enough.\n",
     "unknown clause 'NOPE'"),
    ("att.yaml", "attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne\n    role: DPO\n"
     "    date: 2026-10-01\n    expires: '2027-01-01T10:00'\n    statement: A statement long enough.\n",
     "has no time zone"),
    ("att.yaml", "attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne\n    role: DPO\n"
     "    date: 2026-10-01\n    expires: next year\n    statement: A statement long enough.\n",
     "not an ISO 8601 date"),
    ("att.yaml", "attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne\n    role: DPO\n"
     "    date: 2026-10-01\n    expires: 2027-01-01\n    statement: A statement long enough.\n"
     "    evidence: [missing.pdf]\n", "evidence file not found"),
    ("att.yaml", "attestations:\n  - clause: P-MANUAL\n    who: Jeanne\n", "'who' was unexpected"),
])
def test_bad_attestation_files(tmp_path, name, text, expected):
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as error:
        attestations.load_attestations(path, IDS)
    assert expected in str(error.value) and str(path) in str(error.value)


def test_bad_waiver_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown control 'net.nope'"):
        waivers(tmp_path, "  - control: net.nope\n    targets: ['*']\n"
                "    justification: A justification long enough.\n"
                "    approver: CISO\n    expires: 2027-01-01\n")
    with pytest.raises(ConfigError, match="is not valid under any of the given schemas|oneOf"):
        waivers(tmp_path, "  - targets: ['*']\n    justification: A justification long enough.\n"
                "    approver: CISO\n    expires: 2027-01-01\n")


def test_scan_applies_attestations_before_reporting(tmp_path, capsys):
    profile = write(tmp_path, "p.yaml", "id: p\ntitle: Manual only\nclauses:\n  - id: P-MANUAL\n"
                    "    section: '1'\n    title: Breach\n    requirement: Breach notice in 24 h.\n"
                    "    manual: true\n    attest: The breach procedure.\n")
    attest(tmp_path, "2027-10-01")
    out = tmp_path / "out"
    code = main(["scan", "--profile", str(profile), "--attestations", str(tmp_path / "att.yaml"),
                 "--no-progress", "--format", "json", "-o", str(out), "local"])
    assert code == 0, capsys.readouterr().out
    report = json.loads((out / "annexscan.json").read_text())
    [clause] = report["contract"]  # organisational: judged once per scan, not on the host
    assert not report["targets"][0]["results"]
    assert clause["status"] == "attested" and clause["attestation"]["role"] == "DPO"
    assert report["summary"]["attested"] == 1


def test_attestation_typo_fails_before_any_probe(tmp_path, capsys):
    bad = write(tmp_path, "att.yaml", "attestations:\n  - clause: 3DOUEST-NOPE\n    attested_by: J\n")
    code = main(["scan", "--profile", "3douest", "--attestations", str(bad), "--no-progress",
                 "127.0.0.9"])
    assert code == 2 and "att.yaml" in capsys.readouterr().err
