"""Organisational clauses belong to the contract, not to a host (issue 9): judged once per scan
and reported once in every format, attested once, counted once; a clause mixing host controls
with an attestation stays on each host."""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import sample_result
from trestle.oscal.assessment_results import AssessmentResults

from scanner.evidence import attestations
from scanner.evidence.attestations import Record
from scanner.catalog.controls import load_catalog
from scanner.catalog.contract import is_contract, judge_contract
from scanner.model import CONTRACT, ScanResult, Status
from scanner.catalog.profiles import load_profile
from scanner.reporters.registry import reporters, write_all
from scanner.reporters.load import load_result
from scanner.reporters.terminal import print_summary
from rich.console import Console

HOSTS = 7
MIXED = "3DOUEST-11.3-PATCHES"           # host.patches plus an attestation: per host
ADVICE_ONLY = "3DOUEST-A1.VIII-ENCRYPTION"  # manual, but an automated advice control: per host
ORGANISATIONAL = "3DOUEST-7-DATA-RETURN"    # no control a probe answers: the contract's
NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def profile_and_catalog():
    catalog = load_catalog()
    return load_profile("3douest", catalog), catalog


def lab_like(profile, catalog) -> ScanResult:
    """Seven hosts as a scan now judges them: the real sample's hosts, without the contract's
    clauses, and the contract judged once."""
    sample = sample_result()
    contract_ids = {c.id for c in profile.clauses if is_contract(c, catalog)}
    targets = []
    for index in range(HOSTS):
        target = copy.deepcopy(sample.targets[index % len(sample.targets)])
        target.target = target.address = f"127.0.0.{index + 2}"
        target.results = [c for c in target.results if c.clause_id not in contract_ids]
        targets.append(target)
    return ScanResult(sample.started_at, sample.finished_at, sample.profiles, targets,
                      sample.options, contract=judge_contract([profile], catalog))


def test_the_contract_is_the_clauses_no_probe_answers(profile_and_catalog):
    profile, catalog = profile_and_catalog
    contract = judge_contract([profile], catalog)
    ids = [c.clause_id for c in contract]
    assert ORGANISATIONAL in ids and MIXED not in ids and ADVICE_ONLY not in ids
    assert len(ids) == len(set(ids)) == sum(c.kind(catalog) == "manual" and not any(
        catalog.get(r.control_id).automated for r in c.controls) for c in profile.clauses)
    assert {c.status for c in contract} == {Status.MANUAL}
    assert all(c.status == Status.MANUAL for clause in contract for c in clause.controls)


def test_each_format_lists_a_contract_clause_once_and_a_mixed_clause_per_host(
        profile_and_catalog, tmp_path: Path):
    profile, catalog = profile_and_catalog
    result = lab_like(profile, catalog)
    contract = len(result.contract)
    out = {p.name.split(".", 1)[1]: p for p in write_all(result, list(reporters()), tmp_path)}

    report = json.loads(out["json"].read_text("utf-8"))
    assert [c["clause_id"] for c in report["contract"]].count(ORGANISATIONAL) == 1
    per_host = [c["clause_id"] for t in report["targets"] for c in t["results"]]
    assert ORGANISATIONAL not in per_host
    assert per_host.count(MIXED) == per_host.count(ADVICE_ONLY) == HOSTS
    manual = sum(t["summary"]["manual"] for t in report["targets"])
    assert report["summary"]["manual"] == manual + contract  # the contract counted once
    assert load_result(out["json"]).summary() == result.summary()

    suites = ET.fromstring(out["xml"].read_bytes())
    names = [s.get("name") for s in suites.iter("testsuite")]
    assert names[0] == f"{CONTRACT} / 3douest" and len(names) == HOSTS + 1
    cases = [c.get("name") for c in suites.iter("testcase")]
    assert sum(ORGANISATIONAL in c for c in cases) == 1
    assert sum(MIXED in c for c in cases) == HOSTS

    rows = list(csv.DictReader(io.StringIO(out["csv"].read_text("utf-8"))))
    assert [(r["target"], r["clause_id"]) for r in rows].count((CONTRACT, ORGANISATIONAL)) == 1
    assert sum(r["clause_id"] == ORGANISATIONAL for r in rows) == 1
    assert sum(r["clause_id"] == MIXED for r in rows) == HOSTS

    page = out["html"].read_text("utf-8")
    assert page.count(f'id="{CONTRACT}/{ORGANISATIONAL}"') == 1
    assert page.count("<h2>The contract: clauses no probe answers") == 1
    assert page.count(f'/{MIXED}"') >= HOSTS

    oscal = AssessmentResults.oscal_read(out["oscal.json"])
    titles = [f.title for f in oscal.results[0].findings]
    assert sum(t.startswith(f"{ORGANISATIONAL} on ") for t in titles) == 1

    console = Console(record=True, width=200)
    print_summary(result, console)
    shown = console.export_text()
    assert f"manual={report['summary']['manual']}" in shown and CONTRACT in shown


def test_an_attestation_answers_the_contract_once(profile_and_catalog, tmp_path: Path):
    profile, catalog = profile_and_catalog
    result = lab_like(profile, catalog)
    record = {"clause": ORGANISATIONAL, "attested_by": "A. Auditor", "role": "DPO",
              "date": "2026-10-01", "expires": "2099-12-31", "statement": "Signed."}
    everyone = Record(record, datetime(2099, 12, 31, tzinfo=timezone.utc), "", ["*"])
    attestations.apply(result, [everyone], [], NOW)  # the scan's whole result: contract too
    attested = [c for c in result.contract if c.clause_id == ORGANISATIONAL]
    assert [c.status for c in attested] == [Status.ATTESTED]
    assert result.summary()["attested"] == 1
    # an attestation naming some hosts vouches for them, not for the contract: still manual
    fresh = lab_like(profile, catalog)
    some = Record(record, datetime(2099, 12, 31, tzinfo=timezone.utc), "", ["127.0.0.2"])
    attestations.apply_contract(fresh.contract, [some], NOW)
    assert {c.status for c in fresh.contract} == {Status.MANUAL}
    # expired: a failure, counted once, whatever the number of hosts
    lapsed = lab_like(profile, catalog)
    old = Record({**record, "expires": "2025-01-01"},
                 datetime(2025, 1, 1, tzinfo=timezone.utc), "", ["*"])
    attestations.apply_contract(lapsed.contract, [old], NOW)
    assert lapsed.summary()["expired"] == 1
