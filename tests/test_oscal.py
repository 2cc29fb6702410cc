"""OSCAL: profiles export as catalogs, scans report as assessment-results whose findings point at
the catalog's statements; both parsed back with compliance-trestle's models of NIST's schemas."""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

import pytest

from conftest import sample_result
from pydantic import ValidationError
from rich.console import Console
from trestle.oscal import OSCAL_VERSION
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog as OscalCatalog, Control as OscalControl

from report_support import text
from scanner.evidence import attestations
from scanner.errors import ConfigError
from scanner.model import ScanResult, Status
from scanner.evidence.oscal import control_ids, profile_catalog, render_catalog, token
from scanner.cli.oscal_command import add_export_parser, profiles_export_command
from scanner.catalog.profiles import builtin_profile_ids, load_profile
from scanner.reporters.base import subjects
from scanner.reporters.registry import reporters
from scanner.reporters.oscal_report import write


def render(result: ScanResult) -> str:
    return text(write, result)

TOKEN = re.compile(r"^[_A-Za-z][_A-Za-z0-9.\-]*$")  # OSCAL's token, ASCII part


def read_back(model, text: str, tmp_path: Path, name: str):
    """Write the document, parse it with the trestle model, check nothing was lost."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    parsed = model.oscal_read(path)
    assert parsed.oscal_serialize_json(pretty=True) + "\n" == text
    return parsed


def statements(catalog: OscalCatalog) -> dict[str, str]:
    """Statement id -> clause id (the control's label)."""
    found = {}
    for group in catalog.groups:
        for control in group.controls:
            label = next(p.value for p in control.props if p.name == "label")
            found.update({part.id: label for part in control.parts if part.name == "statement"})
    return found


@pytest.fixture(scope="module")
def profile(catalog):
    return load_profile("3douest", catalog)


@pytest.fixture(scope="module")
def exported(profile, catalog, tmp_path_factory) -> OscalCatalog:
    return read_back(OscalCatalog, render_catalog(profile, catalog),
                     tmp_path_factory.mktemp("catalog"), "3douest.oscal.json")


def test_ids_are_deterministic_tokens():
    assert token("3DOUEST-11.3-PORTS", "clause") == "clause-3douest-11.3-ports"
    assert token("3DOUEST-A1.VIII-FLOWS", "clause") == "clause-3douest-a1.viii-flows"
    assert token("ZENLOC-RGPD3.1-X", "clause") == "zenloc-rgpd3.1-x"
    assert token("section Annexe I §VIII (sécurité logique)", "s") == \
        "section-annexe-i-viii-securite-logique"
    with pytest.raises(ConfigError, match="'A_1' and 'a-1' both map to the OSCAL control id"):
        control_ids(["A_1", "a-1"])
    with pytest.raises(ValidationError, match="id"):  # why clause ids need mapping at all
        OscalControl(id="3DOUEST-11.3-PORTS", title="Ports")


def test_catalog_has_a_control_per_clause(profile, exported):
    controls = {c.id: c for g in exported.groups for c in g.controls}
    ids = control_ids(c.id for c in profile.clauses)
    assert sorted(controls) == sorted(ids[c.id] for c in profile.clauses)
    assert exported.metadata.title == profile.title
    assert exported.metadata.oscal_version.root.root == OSCAL_VERSION == "1.2.1"
    assert {g.title for g in exported.groups} == {c.section for c in profile.clauses}
    every_id = [i for g in exported.groups for i in [g.id] + [c.id for c in g.controls]
                + [p.id for c in g.controls for p in c.parts]]
    assert len(every_id) == len(set(every_id)) and all(TOKEN.match(i) for i in every_id)
    for clause in profile.clauses:
        control = controls[ids[clause.id]]
        props = {p.name: p.value for p in control.props}
        assert props["label"] == props["clause-id"] == clause.id
        assert props["section"] == clause.section and control.title == clause.title
        parts = {p.name + "/" + str(p.props[0].value if p.props else ""): p for p in control.parts}
        # the statement is the annex's own words; the English paraphrase is guidance
        assert parts["statement/"].prose == "\n\n".join(clause.quote)
        assert parts["guidance/"].prose == clause.requirement
        assert parts["statement/"].id == f"{control.id}_smt"
        if clause.manual:
            assert props["verification"] in ("manual", "mixed")
            assert clause.attest in parts["assessment-method/EXAMINE"].parts[0].prose
        if clause.controls and not clause.manual:
            tested = parts["assessment-method/TEST"].parts[0].prose
            assert all(f"`{r.control_id}`" in tested for r in clause.controls)
    ports = controls["clause-3douest-11.3-ports"]
    tested = next(p for p in ports.parts if p.name == "assessment-method")
    assert "net.allowed_ports" in tested.parts[0].prose


def test_every_builtin_profile_exports_stably(catalog):
    for pid in builtin_profile_ids():
        profile = load_profile(pid, catalog)
        first, again = profile_catalog(profile, catalog), profile_catalog(profile, catalog)
        assert first.uuid == again.uuid
        OscalCatalog.model_validate(json.loads(render_catalog(profile, catalog))["catalog"])


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> ScanResult:
    return sample_result()


def findings_by_clause(ar: AssessmentResults) -> dict[tuple[str, str], object]:
    def value(obj, name):
        return next(p.value for p in obj.props if p.name == name)
    return {(value(f, "target"), value(f, "clause-id")): f for f in ar.results[0].findings}


def check_references(ar: AssessmentResults) -> None:
    """Every uuid a result refers to is defined in the document."""
    result = ar.results[0]
    observations = {o.uuid for o in result.observations}
    items = {i.uuid for i in result.local_definitions.inventory_items}
    actors = {c.uuid for c in result.local_definitions.components} | {
        p.uuid for p in ar.metadata.parties or []}
    risks = {r.uuid for r in result.risks or []}
    for risk in result.risks or []:
        assert {r.observation_uuid for r in risk.related_observations} <= observations
    assert ar.import_ap.href[1:] in {r.uuid for r in ar.back_matter.resources}
    for obs in result.observations:
        assert {s.subject_uuid for s in obs.subjects} <= items
        assert {a.actor_uuid for o in obs.origins for a in o.actors} <= actors
    for finding in result.findings:
        assert {r.observation_uuid for r in finding.related_observations} <= observations
        assert {r.risk_uuid for r in finding.related_risks or []} <= risks


def test_assessment_results_point_at_catalog_statements(sample, exported, tmp_path):
    assert reporters()["oscal"][0] == "oscal.json"
    text = render(sample)
    assert text == render(sample)
    ar = read_back(AssessmentResults, text, tmp_path, "annexscan.oscal.json")
    check_references(ar)
    known = statements(exported)
    result = ar.results[0]
    by_clause = findings_by_clause(ar)
    assert len(by_clause) == sum(len(t.results) for t in subjects(sample))  # contract too
    reviewed = {c.control_id for s in result.reviewed_controls.control_selections
                for c in s.include_controls}
    for target in subjects(sample):
        for clause in target.results:
            finding = by_clause[(target.target, clause.clause_id)]
            assert finding.target.type.value == "statement-id"
            assert known[finding.target.target_id] == clause.clause_id
            assert finding.target.target_id.removesuffix("_smt") in reviewed
            state = finding.target.status.state.value
            assert state == ("satisfied" if clause.status == Status.PASS else "not-satisfied")
            related = {r.observation_uuid for r in finding.related_observations}
            assert len(related) == len(clause.controls) + bool(clause.attest)
    tested = [o for o in result.observations if o.methods == ["TEST"]]
    assert len(tested) == sum(1 for t in subjects(sample) for c in t.results for r in c.controls
                              if r.evidence.get("probes"))
    paths = {p.value for o in tested for e in o.relevant_evidence for p in e.props}
    assert "evidence/127.0.0.3/tls.json.gz" in paths
    assert result.start.isoformat() == sample.started_at
    with pytest.raises(ConfigError, match="judged no clause"):
        render(ScanResult(sample.started_at, sample.finished_at, sample.profiles, []))


def test_each_failing_or_advisory_control_has_a_risk_with_its_remediation(sample, tmp_path):
    ar = read_back(AssessmentResults, render(sample), tmp_path, "fixes.oscal.json")
    check_references(ar)
    result = ar.results[0]
    risks = {r.uuid: r for r in result.risks}
    observations = {o.uuid: o for o in result.observations}
    by_clause = findings_by_clause(ar)
    fixed = 0
    for target in subjects(sample):
        for clause in target.results:
            related = [risks[r.risk_uuid] for r in by_clause[(target.target, clause.clause_id)]
                       .related_risks or []]
            with_fix = [c for c in clause.controls if c.remediation]
            assert [prop_value(r, "control-id") for r in related] == \
                [c.control_id for c in with_fix]
            for control, risk in zip(with_fix, related):
                fixed += 1
                assert control.status in (Status.FAIL, Status.ADVISORY)
                assert prop_value(risk, "status") == control.status.value
                assert risk_status(risk) == "open"
                assert ("never fails the clause" in risk.statement) == \
                    (control.status == Status.ADVISORY)
                (seen,) = [observations[o.observation_uuid] for o in risk.related_observations]
                assert prop_value(seen, "control-id") == control.control_id
                (fix,) = risk.remediations
                assert fix.model_dump(mode="json")["lifecycle"] == "recommendation"
                assert fix.description == control.remediation["text"]
                assert [(prop_value(t, "implementation"), prop_value(t, "language"))
                        for t in fix.tasks] == [(s["implementation"], s["language"])
                                                for s in control.remediation["snippets"]]
                for task, snippet in zip(fix.tasks, control.remediation["snippets"]):
                    assert task.model_dump(mode="json")["type"] == "action"
                    assert task.description == (f"```{snippet['language']}\n"
                                                 f"{snippet['text'].rstrip()}\n```")
    assert fixed == len(result.risks) > 0  # a passing control has none
    # the profile's values, never the catalog's defaults: 3douest forbids the weak suites but
    # does not require forward secrecy, which the catalog's default does
    (ciphers,) = [r for r in result.risks if prop_value(r, "control-id") == "tls.cipher_strength"
                  and prop_value(r, "status") == "fail"]
    text = ciphers.remediations[0].description
    assert text.startswith("Accept no cipher suite with NULL, anon, EXPORT")
    assert "ephemeral" not in text and "ECDHE" not in ciphers.remediations[0].tasks[0].description
    uuids = re.findall(r'"uuid": "([^"]+)"', render(sample))
    assert len(uuids) == len(set(uuids))


def test_a_snippet_cannot_close_its_fence(sample, tmp_path):
    """A snippet is hostile text: a backtick run in it gets a longer fence, its language is
    reduced to a safe info string, and control characters stay escaped JSON text."""
    result = copy.deepcopy(sample)
    control = next(c for t in result.targets for cl in t.results for c in cl.controls
                   if c.remediation)
    control.remediation = {"text": "Run\x1b[2J it.", "snippets": [
        {"implementation": "sh", "language": "shell\n<x>`", "text": "echo ```\n````\n"}]}
    text = render(result)
    assert "\x1b" not in text and "\\u001b[2J" in text
    ar = read_back(AssessmentResults, text, tmp_path, "hostile.oscal.json")
    (risk,) = [r for r in ar.results[0].risks if r.remediations
               and r.remediations[0].description == "Run\x1b[2J it."]
    assert risk.remediations[0].tasks[0].description == "`````shellx\necho ```\n````\n`````"


def test_attestations_and_waivers_map_to_oscal(sample, catalog, tmp_path):
    (tmp_path / "register.pdf").write_bytes(b"%PDF-1.4 register")
    (tmp_path / "att.yaml").write_text("""attestations:
  - {clause: 3DOUEST-7-DATA-RETURN, attested_by: Ana Auditor, role: DPO, date: 2026-10-01,
     expires: 2099-12-31, statement: Reversibility procedure reviewed and signed.,
     evidence: [register.pdf, "https://example.org/procedure"]}
  - {clause: 3DOUEST-9-CONFIDENTIALITY, attested_by: Bo Boss, role: CEO, date: 2024-01-01,
     expires: 2025-01-01, statement: Staff confidentiality undertakings on file.}
""", encoding="utf-8")
    (tmp_path / "waivers.yaml").write_text("""waivers:
  - {clause: 3DOUEST-11.2-RAID1, targets: ["127.0.0.2"], approver: CISO,
     justification: Hardware RAID on the host; not visible to the probe., expires: 2099-06-30}
  - {control: host.firewall, targets: ["*"], approver: CISO,
     justification: Upstream firewall covered the hosts until then., expires: 2025-06-30}
""", encoding="utf-8")
    known = attestations.clause_ids([load_profile("3douest", catalog)])
    result = sample_result()
    attested = attestations.load_attestations(tmp_path / "att.yaml", known)
    attestations.apply(result, attested,
                       attestations.load_waivers(tmp_path / "waivers.yaml", known, catalog))
    ar = read_back(AssessmentResults, render(result), tmp_path, "waived.oscal.json")
    check_references(ar)
    found = findings_by_clause(ar)
    observations = {o.uuid: o for o in ar.results[0].observations}
    risks = {r.uuid: r for r in ar.results[0].risks}

    def status(clause, target="127.0.0.2"):
        s = found[(target, clause)].target.status
        return s.state.value, getattr(s.reason, "value", s.reason)

    # the annex's organisational clauses are judged once, for the whole contract
    assert status("3DOUEST-7-DATA-RETURN", "contract") == ("satisfied", "pass")
    attested = [observations[r.observation_uuid]
                for r in found[("contract", "3DOUEST-7-DATA-RETURN")].related_observations]
    assert attested[0].methods == ["INTERVIEW", "EXAMINE"]
    assert attested[0].expires.year == 2099
    assert {e.href for e in attested[0].relevant_evidence} == {None,
                                                                "https://example.org/procedure"}
    assert {p.name for p in ar.metadata.parties} == {"Ana Auditor", "Bo Boss"}
    assert status("3DOUEST-9-CONFIDENTIALITY", "contract") == ("not-satisfied", "fail")
    assert status("3DOUEST-10.1-FIX-TIMES", "contract") == ("not-satisfied", "other")  # manual
    assert status("3DOUEST-11.5-BACKUP-DAILY") == ("not-satisfied", "other")  # error
    waived = found[("127.0.0.2", "3DOUEST-11.2-RAID1")]
    assert status("3DOUEST-11.2-RAID1") == ("not-satisfied", "fail")
    assert "waiver" in waived.target.status.remarks
    (risk, raid) = [risks[r.risk_uuid] for r in waived.related_risks]
    assert prop_value(risk, "approver") == "CISO"
    assert risk_status(risk) == "deviation-approved" and risk.deadline.year == 2099
    # the waived control's own risk: the failure accepted, its fix still given
    assert prop_value(raid, "control-id") == "host.raid" and prop_value(raid, "status") == "waived"
    assert risk_status(raid) == "deviation-approved" and raid.remediations
    assert status("3DOUEST-11.2-RAID1", "127.0.0.3") == ("not-satisfied", "fail")
    assert [risk_status(risks[r.risk_uuid]) for r in
            found[("127.0.0.3", "3DOUEST-11.2-RAID1")].related_risks] == ["open"]  # no waiver
    (stale, firewall) = [risks[r.risk_uuid] for r in
                         found[("127.0.0.2", "3DOUEST-11.3-FIREWALL")].related_risks]
    assert risk_status(stale) == "open" and "no longer applies" in stale.statement
    assert risk_status(firewall) == "open" and prop_value(firewall, "status") == "fail"


def prop_value(obj, name: str) -> str | None:
    return next((p.value for p in obj.props or [] if p.name == name), None)


def risk_status(risk) -> str:
    return risk.model_dump(mode="json", by_alias=True)["status"]


def export_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="annexscan profiles")
    add_export_parser(parser.add_subparsers(dest="action"))
    return parser.parse_args(["export", *argv])


def test_export_command(tmp_path, capsys):
    out = tmp_path / "3douest.oscal.json"
    console = Console(file=open(tmp_path / "console.txt", "w"), width=200)
    assert profiles_export_command(export_args("3douest", "--format", "oscal", "-o", str(out)),
                                   console) == 0
    assert OscalCatalog.oscal_read(out).metadata.title.startswith("3D OUEST")
    assert profiles_export_command(export_args("3douest", "--format", "oscal"), Console()) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text())
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        profiles_export_command(export_args("nope", "--format", "oscal"), console)
    with pytest.raises(ConfigError, match="does not exist"):
        profiles_export_command(export_args("3douest", "--format", "oscal", "-o",
                                            str(tmp_path / "missing" / "deeper" / "x.json")),
                                console)
    with pytest.raises(SystemExit):
        export_args("3douest", "--format", "sarif")
