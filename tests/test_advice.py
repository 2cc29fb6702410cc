"""Advice never fails a clause: an unmet advice control is `advisory`, shown in every format
beside the annex's words, and leaves the clause status and the exit code to the annex's controls.

Real servers: the lab's legacy host (nginx without TLS 1.3, an sshd offering passwords).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from conftest import scan_lab_with

from scanner.evidence.attestations import Record, apply
from scanner.errors import ConfigError
from scanner.model import Status
from scanner.catalog.profiles import load_profile
from scanner.reporters.registry import reporters, write_all
from scanner.reporters.terminal import print_summary

QUOTE = "Le protocole TLS 1.2 à minima sur tous les flux"
PROFILE = f"""
id: advice-test
title: Advice and annex controls side by side
source: {{issuer: annexscan tests, title: advice yardstick}}
clauses:
  - id: T-TLS
    section: "1"
    title: HTTPS served
    requirement: HTTPS is served on 443.
    quote: "{QUOTE}"
    controls:
      - {{control: tls.required, basis: annex}}
      - {{control: tls.latest_version, basis: advice}}
  - id: T-SSH
    section: "2"
    title: SSH by key
    requirement: SSH by key only.
    quote: [ "L'accès distant en ssh", "clés RSA" ]
    controls:
      - {{control: ssh.key_only, basis: annex}}
      - {{control: ssh.algorithms, basis: advice}}
"""


@pytest.fixture(scope="module")
def legacy_scan(lab, catalog, tmp_path_factory):
    return scan_lab_with(lab, catalog, PROFILE, tmp_path_factory.mktemp("advice"), ["legacy"])


def clause(result, clause_id):
    return next(c for c in result.targets[0].results if c.clause_id == clause_id)


@pytest.mark.lab
def test_unmet_advice_is_advisory_and_the_clause_passes(legacy_scan):
    tls = clause(legacy_scan, "T-TLS")
    statuses = {c.control_id: (c.basis, c.status) for c in tls.controls}
    assert statuses == {"tls.required": ("annex", Status.PASS),
                        "tls.latest_version": ("advice", Status.ADVISORY)}
    assert tls.status == Status.PASS and tls.quote == [QUOTE]
    assert "TLS 1.3" in tls.controls[1].reason
    # the annex's own control still fails its clause: advice hides nothing
    assert clause(legacy_scan, "T-SSH").status == Status.FAIL
    summary = legacy_scan.summary()
    assert summary["advisory"] == 2 and summary["fail"] == 1 and summary["pass"] == 1
    assert legacy_scan.exit_code() == 1


@pytest.mark.lab
def test_advice_alone_never_raises_the_exit_code(legacy_scan):
    fixed = copy.deepcopy(legacy_scan)  # as if the annex's SSH rule were met
    ssh = clause(fixed, "T-SSH")
    ssh.controls[0].status, ssh.status = Status.PASS, Status.PASS
    assert fixed.exit_code() == 0 and fixed.summary()["advisory"] == 2


@pytest.mark.lab
def test_a_waiver_leaves_advisories_as_they_are(legacy_scan):
    waived = copy.deepcopy(legacy_scan)
    now = datetime.now(timezone.utc)
    waiver = Record({"clause": "T-SSH", "justification": "legacy host retired in March",
                     "approver": "CISO", "expires": "2099-01-01"}, now + timedelta(days=90))
    apply(waived, [], [waiver], now)
    ssh = clause(waived, "T-SSH")
    assert ssh.status == Status.WAIVED
    assert [c.status for c in ssh.controls] == [Status.WAIVED, Status.ADVISORY]


@pytest.mark.lab
def test_every_format_shows_the_quote_and_the_advisory(legacy_scan, tmp_path):
    rendered = {path.name: path.read_text(encoding="utf-8")
                for path in write_all(legacy_scan, list(reporters()), tmp_path)}
    for name, text in rendered.items():
        assert "advisory" in text, name
        assert "TLS 1.2 à minima" in text or "TLS 1.2 \\u00e0 minima" in text, name

    report = json.loads(rendered["annexscan.json"])
    tls = next(c for c in report["targets"][0]["results"] if c["clause_id"] == "T-TLS")
    assert tls["quote"] == [QUOTE] and tls["status"] == "pass"
    assert [c["basis"] for c in tls["controls"]] == ["annex", "advice"]

    suites = ET.fromstring(rendered["annexscan.xml"])
    case = next(c for c in suites.iter("testcase") if "T-TLS" in c.get("name"))
    assert case.find("failure") is None and case.find("error") is None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["quote"] == QUOTE and props["advisory"].startswith("tls.latest_version")

    sarif = json.loads(rendered["annexscan.sarif"])["runs"][0]
    notes = [r for r in sarif["results"] if r["level"] == "note"]
    assert sorted(r["ruleId"] for r in notes) == ["ssh.algorithms", "tls.latest_version"]
    rule = next(r for r in sarif["tool"]["driver"]["rules"] if r["id"] == "tls.latest_version")
    assert "advice" in rule["help"]["text"] and QUOTE in rule["help"]["text"]

    rows = list(csv.DictReader(io.StringIO(rendered["annexscan.csv"])))
    row = next(r for r in rows if r["clause_id"] == "T-TLS")
    assert row["status"] == "pass" and row["advisories"].startswith("tls.latest_version")
    assert row["quote"] == QUOTE

    page = rendered["annexscan.html"]
    assert 'class="badge b-advisory"' in page and "« Le protocole TLS 1.2" in page


def test_a_clause_of_advice_alone_is_refused(catalog, tmp_path):
    path = tmp_path / "only-advice.yaml"
    path.write_text(PROFILE.replace("{control: tls.required, basis: annex}",
                                    "{control: tls.required, basis: advice}"))
    with pytest.raises(ConfigError, match=r"only-advice.yaml:\d+.*only advice controls"):
        load_profile(str(path), catalog)


@pytest.mark.lab
def test_terminal_summary_lists_advisories_and_quotes_failing_clauses(legacy_scan):
    console = Console(record=True, width=80, color_system=None)
    print_summary(legacy_scan, console)
    text = console.export_text()
    assert "advisory" in text and "advice T-TLS tls.latest_version:" in text
    assert "« L'accès distant en ssh »" in text  # the failing clause, in the annex's words
