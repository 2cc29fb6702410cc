"""OSCAL assessment-results (JSON): a finding per target x clause, targeting the clause's statement
in the catalog `annexscan profiles export ID --format oscal` writes (`<control-id>_smt`), resting
on observations: one per target x control result (method TEST: a probe ran), plus one per manual
clause for its attestation (INTERVIEW, and EXAMINE when it cites evidence) or its absence.

OSCAL's objective status is only satisfied or not-satisfied; annexscan's statuses map so that
nothing unverified reads as satisfied (the annexscan status stays in the `status` prop):
- pass, attested: satisfied (reason pass);
- fail, expired attestation: not-satisfied (reason fail);
- error, manual: not-satisfied (reason other): no determination was made, and an assessor
  does not call an objective satisfied that nobody checked; the remarks say why;
- waived: not-satisfied (reason fail), because the requirement is still not met, with a risk
  in status deviation-approved (the waiver: approver, justification, deadline = expiry); a
  waiver found expired gives an open risk that says it no longer applies;
- not_applicable: not-satisfied (reason other), remarks "not applicable": OSCAL has no such
  state, and "satisfied" would claim a verification that did not happen.
Observations of advice controls (hardening the profile adds) carry prop basis=advice; an unmet
one has status "advisory" and never changes the finding. Each failing or advisory control also
gets a risk holding its remediation, and a waiver its own risk (scanner.reporters.oscal_risks);
the finding refers to them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any, Iterator, TextIO

from trestle.oscal.assessment_results import AssessmentResults, ImportAp, LocalDefinitions1, Result
from trestle.oscal.common import (
    AssociatedRisk, BackMatter, ControlSelections, Finding, FindingTarget, InventoryItem,
    ObjectiveStatus, Observation, Origin, OriginActor, Parties, RelatedObservation,
    RelevantEvidence, Resource, ReviewedControls, Risk, SelectControlById, Status as ComponentStatus,
    SubjectReference, SystemComponent)

from scanner import __version__
from scanner.errors import ConfigError
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult
from scanner.evidence.layout import attestation_path, evidence_path
from scanner.evidence.oscal import control_ids, metadata, moment, oneline, prop, stable_uuid, statement_id
from scanner.reporters import json_report
from scanner.reporters.base import subjects
from scanner.reporters.jsonstream import Items, dump
from scanner.reporters.oscal_risks import clause_risks

FORMAT = "oscal"
EXTENSION = "oscal.json"

# annexscan status -> (OSCAL objective state, reason, remark)
OBJECTIVE = {
    Status.PASS: ("satisfied", "pass", ""),
    Status.ATTESTED: ("satisfied", "pass", "attested"),
    Status.NOT_APPLICABLE: ("not-satisfied", "other",
                            "not applicable: nothing on the target this clause applies to, "
                            "so nothing was verified"),
    Status.FAIL: ("not-satisfied", "fail", ""),
    Status.EXPIRED: ("not-satisfied", "fail", "the attestation has expired"),
    Status.WAIVED: ("not-satisfied", "fail",
                    "fails, but the failure is accepted by a waiver (see the waiver's risk)"),
    Status.ERROR: ("not-satisfied", "other", "could not be evaluated, so it is not shown as met"),
    Status.MANUAL: ("not-satisfied", "other", "to be attested; no attestation was given"),
}


class _Run:
    """What every part of one document shares: its scan, its tool, the parties it names."""

    def __init__(self, result: ScanResult):
        self.key = stable_uuid("scan", result.started_at, result.finished_at)
        self.collected = moment(result.finished_at, "finished_at")
        self.tool = stable_uuid("component", "annexscan")
        self.parties: dict[str, Parties] = {}

    def uuid(self, *parts: str) -> str:
        return stable_uuid(self.key, *parts)

    def party(self, name: str) -> str:
        uuid = stable_uuid("party", name)
        self.parties.setdefault(uuid, Parties(uuid=uuid, type="person", name=oneline(name)))
        return uuid

    def tool_origin(self) -> Origin:
        return Origin(actors=[OriginActor(type="tool", actor_uuid=self.tool)])


def write(result: ScanResult, out: TextIO) -> None:
    """The document's frame is built and validated by trestle; its observations, risks,
    findings and inventory are written target by target, each validated as its own model."""
    run, scope = _Run(result), _Scope(result)
    for target in subjects(result):
        scope.add(run, target)
    if not scope.judged:
        raise ConfigError("OSCAL assessment-results: the result judged no clause on any target, "
                          "and OSCAL needs at least one reviewed control")
    ids = {profile: control_ids(clauses) for profile, clauses in scope.clauses.items()}
    plan = run.uuid("plan")
    frame = AssessmentResults(
        # the same result written twice is the same document, hence the same UUID
        uuid=stable_uuid("assessment-results", _report_digest(result)),
        metadata=metadata(
            "annexscan assessment: " + "; ".join(p["title"] for p in result.profiles),
            __version__, run.collected, parties=list(run.parties.values()) or None,
            props=[prop("generator", f"annexscan {__version__}")]),
        import_ap=ImportAp(href=f"#{plan}", remarks=(
            "annexscan keeps no separate OSCAL assessment plan: the plan is the scan itself, "
            "its profiles and options, described by the back-matter resource referenced here.")),
        results=[Result(
            uuid=run.uuid("result"), title=f"annexscan scan of {scope.targets} target(s)",
            description=_summary(result), start=moment(result.started_at, "started_at"),
            end=run.collected,
            local_definitions=LocalDefinitions1(components=[_tool_component(run)]),
            reviewed_controls=_reviewed(result, ids))],
        back_matter=BackMatter(resources=[_plan_resource(plan, result)]
                               + [_catalog_resource(p) for p in result.profiles]))
    document = frame.oscal_dict()
    streamed = {"observations": scope.observed and _parts(run, result, ids, 0),
                "risks": scope.risky and _parts(run, result, ids, 1),
                "findings": _parts(run, result, ids, 2)}
    fields = [field.alias or name for name, field in Result.model_fields.items()]
    section = document["assessment-results"]["results"][0]
    if scope.targets:
        section["local-definitions"]["inventory-items"] = Items(
            _json(_inventory_item(t)) for t in subjects(result))
    section.update({name: items for name, items in streamed.items() if items})
    document["assessment-results"]["results"][0] = {
        name: section[name] for name in fields if name in section}
    dump(document, out)
    out.write("\n")


class _Scope:
    """What the document's frame needs before any target is written, from one pass."""

    def __init__(self, result: ScanResult):
        self.clauses: dict[str, dict[str, None]] = {p["id"]: {} for p in result.profiles}
        self.targets, self.judged, self.observed, self.risky = 0, False, False, False

    def add(self, run: _Run, target: TargetResult) -> None:
        self.targets += 1
        for clause in target.results:
            self.judged = True
            self.observed = self.observed or bool(clause.controls or clause.attest)
            self.risky = self.risky or bool(clause.waiver) or any(
                c.remediation for c in clause.controls)
            # per profile, clause id -> control id in the order the clauses were judged
            self.clauses.setdefault(clause.profile, {})[clause.clause_id] = None
            if clause.attest and (clause.attestation or {}).get("attested_by"):
                run.party(clause.attestation["attested_by"])


def _parts(run: _Run, result: ScanResult, ids: dict[str, dict[str, str]],
           part: int) -> Items:
    """Every target's observations (part 0), risks (1) or findings (2)."""
    def judged() -> Iterator[dict[str, Any]]:
        for target in subjects(result):
            subject = SubjectReference(subject_uuid=_item_uuid(target), type="inventory-item")
            for clause in target.results:
                seen = [_control_observation(run, target, clause, i, c, subject)
                        for i, c in enumerate(clause.controls)]
                if clause.attest:
                    seen.append(_attestation_observation(run, target, clause, subject))
                risks = clause_risks(run, target, clause, seen)
                if part == 0:
                    yield from map(_json, seen)
                elif part == 1:
                    yield from map(_json, risks)
                elif part == 2:
                    yield _json(_finding(run, target, clause,
                                         ids[clause.profile][clause.clause_id], seen, risks))
    return Items(judged())


def _json(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


class _Digest:
    """A text sink that only hashes what is written to it."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def write(self, text: str) -> int:
        self.sha256.update(text.encode("utf-8", "backslashreplace"))
        return len(text)


def _report_digest(result: ScanResult) -> str:
    """SHA-256 of the result's JSON report, computed while writing it nowhere."""
    sink = _Digest()
    json_report.write(result, sink)  # type: ignore[arg-type]
    return sink.sha256.hexdigest()


def _reviewed(result: ScanResult, ids: dict[str, dict[str, str]]) -> ReviewedControls:
    titles = {p["id"]: p["title"] for p in result.profiles}
    return ReviewedControls(control_selections=[
        ControlSelections(
            description=oneline(f"Clauses of profile {profile}: {titles.get(profile, profile)}"),
            props=[prop("profile", profile)],
            include_controls=[SelectControlById(control_id=c, statement_ids=[statement_id(c)])
                              for c in controls.values()])
        for profile, controls in ids.items() if controls])


def _control_observation(run: _Run, target: TargetResult, clause: ClauseResult, index: int,
                         control: ControlResult, subject: SubjectReference) -> Observation:
    probes = [p for p in control.evidence.get("probes", []) if isinstance(p, str)]
    reason = f": {control.reason}" if control.reason else ""
    return Observation(
        uuid=run.uuid(target.address, clause.clause_id, str(index), control.control_id),
        title=oneline(f"{control.control_id} on {target.target}: {control.status.value}"),
        description=f"{control.title} ({control.control_id}): {control.status.value}{reason}",
        props=[prop("clause-id", clause.clause_id), prop("control-id", control.control_id),
               prop("status", control.status.value), prop("severity", control.severity),
               prop("basis", control.basis)],
        methods=["TEST" if probes else "EXAMINE"], types=["control-objective"],
        origins=[run.tool_origin()], subjects=[subject],
        relevant_evidence=[_probe_evidence(target, p) for p in probes] or None,
        collected=run.collected, remarks=_expected_observed(control))


def _expected_observed(control: ControlResult) -> str | None:
    lines = [f"{label}: {json.dumps(value, ensure_ascii=False, default=str)}"
             for label, value in (("expected", control.expected), ("observed", control.observed))
             if value is not None]
    return "\n\n".join(lines) or None


def _probe_evidence(target: TargetResult, probe: str) -> RelevantEvidence:
    error = (target.probes.get(probe) or {}).get("error")
    return RelevantEvidence(
        description=oneline(f"Raw output of the {probe} probe on {target.address}, "
                            f"{evidence_path(target.address, probe)} in the evidence bundle"
                            + (f"; the probe failed: {error}" if error else "")),
        props=[prop("evidence-path", evidence_path(target.address, probe))])


def _attestation_observation(run: _Run, target: TargetResult, clause: ClauseResult,
                             subject: SubjectReference) -> Observation:
    """Who vouched for a manual clause, when, until when; or that nobody did."""
    record: dict[str, Any] = clause.attestation or {}
    common = dict(uuid=run.uuid(target.address, clause.clause_id, "attestation"),
                  types=["control-objective"], subjects=[subject], collected=run.collected,
                  props=[prop("clause-id", clause.clause_id), prop("status", clause.status.value)])
    if not record:
        return Observation(**common, title=oneline(f"{clause.clause_id} on {target.target}: "
                                                   "no attestation"),
                           description=f"No attestation was given. To examine: {clause.attest}",
                           methods=["EXAMINE"], origins=[run.tool_origin()])
    until = record.get("expires_at") or record.get("expires", "")
    expired = (f" It expired on {until}: the clause counts as failed."
               if clause.status == Status.EXPIRED else "")
    evidence = [_attested_evidence(ref) for ref in record.get("evidence", [])]
    return Observation(
        **common, title=oneline(f"{clause.clause_id} on {target.target}: attested by "
                                f"{record.get('attested_by', '?')}"),
        description=oneline(f"Attested by {record.get('attested_by', '?')} "
                            f"({record.get('role', 'role not given')}) on "
                            f"{record.get('date', '?')}, valid until {until}: "
                            f"{record.get('statement', '')}") + expired,
        methods=["INTERVIEW"] + ["EXAMINE"] * bool(evidence),
        origins=[Origin(actors=[OriginActor(type="party",
                                            actor_uuid=run.party(record["attested_by"]))])]
        if record.get("attested_by") else [run.tool_origin()],
        relevant_evidence=evidence or None,
        expires=moment(record["expires_at"], "attestation expires_at")
        if record.get("expires_at") else None,
        remarks=record.get("expiry_note"))


def _attested_evidence(ref: str) -> RelevantEvidence:
    if "://" in ref:
        return RelevantEvidence(href=ref, description="Evidence cited by the attestation")
    return RelevantEvidence(
        description=oneline(f"Evidence file cited by the attestation ({ref}), "
                            f"{attestation_path(ref)} in the evidence bundle"),
        props=[prop("evidence-path", attestation_path(ref))])


def _finding(run: _Run, target: TargetResult, clause: ClauseResult, control_id: str,
             seen: list[Observation], risks: list[Risk]) -> Finding:
    state, reason, remark = OBJECTIVE[clause.status]
    why = "; ".join(f"{c.control_id}: {c.reason}" for c in clause.binding()
                    if c.reason and c.status not in (Status.PASS, Status.MANUAL))
    return Finding(
        uuid=run.uuid(target.address, clause.clause_id, "finding"),
        title=oneline(f"{clause.clause_id} on {target.target}: {clause.status.value}"),
        description=f"{clause.title}. {clause.requirement}"
                    + "".join(f"\n\n« {q} »" for q in clause.quote),
        props=[prop("clause-id", clause.clause_id), prop("profile", clause.profile),
               prop("section", clause.section), prop("status", clause.status.value),
               prop("target", target.target)],
        target=FindingTarget(
            type="statement-id", target_id=statement_id(control_id),
            title=oneline(f"{clause.clause_id}: {clause.title}"),
            status=ObjectiveStatus(state=state, reason=reason,
                                   remarks="; ".join(x for x in (remark, why) if x) or None)),
        origins=[run.tool_origin()],
        related_observations=[RelatedObservation(observation_uuid=o.uuid) for o in seen] or None,
        related_risks=[AssociatedRisk(risk_uuid=risk.uuid) for risk in risks] or None)


def _item_uuid(target: TargetResult) -> str:
    # per subject, not per scan: the same host is the same inventory item in every report
    return stable_uuid("inventory-item", target.target, target.address)


def _inventory_item(target: TargetResult) -> InventoryItem:
    props = [prop("asset-id", target.target, ns=None)]
    try:
        kind = f"ipv{ipaddress.ip_address(target.address).version}-address"
        props.append(prop(kind, target.address, ns=None))
    except ValueError:
        pass  # `local` or a name: the asset-id says it
    return InventoryItem(uuid=_item_uuid(target), props=props,
                         description=oneline(f"Scan target {target.target} ({target.address})"))


def _tool_component(run: _Run) -> SystemComponent:
    return SystemComponent(
        uuid=run.tool, type="software", title="annexscan",
        description="The scanner that probed the targets and judged every clause.",
        props=[prop("version", __version__)], status=ComponentStatus(state="operational"))


def _summary(result: ScanResult) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in result.summary().items() if n)
    return oneline(f"Every clause of {', '.join(p['id'] for p in result.profiles)} judged on "
                   f"{', '.join(t.target for t in result.targets) or 'no target'}: "
                   f"{counts or 'nothing judged'}.")


def _plan_resource(plan: str, result: ScanResult) -> Resource:
    options = {k: result.options[k] for k in ("probes", "port_spec", "timeout_s")
               if k in result.options}
    return Resource(
        uuid=plan, title="annexscan scan plan",
        description=oneline(f"The scan stands for the assessment plan: profiles "
                            f"{', '.join(p['id'] for p in result.profiles)}, options {options}."),
        props=[prop("profile", p["id"]) for p in result.profiles] or None)


def _catalog_resource(profile: dict[str, Any]) -> Resource:
    return Resource(
        uuid=stable_uuid("catalog-resource", profile["id"]), title=oneline(profile["title"]),
        description=oneline(
            f"The OSCAL catalog the findings' statement ids belong to: `annexscan profiles "
            f"export {profile['id']} --format oscal`."),
        props=[prop("profile-id", profile["id"])])
