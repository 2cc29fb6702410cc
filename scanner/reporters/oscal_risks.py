"""The risks of an OSCAL assessment-results document, per target x clause: its waiver's, and one
per failing or advisory control, carrying the control's remediation.

A waiver's risk is deviation-approved (approver, justification, deadline = expiry), or open
once the waiver has expired. A failing control's risk is open, or deviation-approved when a
waiver covers it (its status is then `waived`); an advisory control's is open and says it never
fails the clause. Its `remediations` hold one recommendation (OSCAL `risks[].remediations[]`,
as a POA&M would carry it): the rendered text as description, and each configuration snippet
as an action task, the snippet fenced in its markdown description, its implementation and
language as props, so a GRC tool shows the fix with the risk.
"""

from __future__ import annotations

from typing import Any, Protocol

from trestle.oscal.common import Observation, Origin, RelatedObservation, Response, Risk, Task

from scanner.evidence.oscal import moment, oneline, prop
from scanner.model import ClauseResult, ControlResult, Status, TargetResult
from scanner.reporters.base import fenced


class Run(Protocol):
    """What a risk needs of the document being written (the reporter's run)."""

    def uuid(self, *parts: str) -> str: ...

    def tool_origin(self) -> Origin: ...


def clause_risks(run: Run, target: TargetResult, clause: ClauseResult,
                 seen: list[Observation]) -> list[Risk]:
    """The waiver's risk first, then the controls' in clause order; `seen` holds the
    observation of each control, at its index."""
    risks = [waiver_risk(run, target, clause, seen)] if clause.waiver else []
    return risks + [control_risk(run, target, clause, index, control, seen[index])
                    for index, control in enumerate(clause.controls) if control.remediation]


def waiver_risk(run: Run, target: TargetResult, clause: ClauseResult,
                seen: list[Observation]) -> Risk:
    waiver: dict[str, Any] = clause.waiver or {}
    until = waiver.get("expires_at") or waiver.get("expires", "?")
    approver = waiver.get("approver", "?")
    scope = (f"control {waiver['control']}" if waiver.get("control")
             else f"clause {waiver.get('clause', clause.clause_id)}")
    statement = (f"The waiver expired on {until} and no longer applies: the failure stands."
                 if waiver.get("expired") else
                 f"The failure of {clause.clause_id} on {target.target} is accepted by "
                 f"{approver} until {until}; it is still reported, as not satisfied.")
    return Risk(
        uuid=run.uuid(target.address, clause.clause_id, "waiver"),
        title=oneline(f"Waiver of {scope} on {target.target}"
                      + (" (expired)" if waiver.get("expired") else "")),
        description=waiver.get("justification") or "no justification given",
        statement=statement,
        status="open" if waiver.get("expired") else "deviation-approved",
        props=[prop("approver", approver), prop("waiver-scope", scope)]
        + ([prop("expiry-note", waiver["expiry_note"])] if waiver.get("expiry_note") else []),
        deadline=moment(waiver["expires_at"], "waiver expires_at")
        if waiver.get("expires_at") else None,
        related_observations=[RelatedObservation(observation_uuid=o.uuid) for o in seen] or None)


def control_risk(run: Run, target: TargetResult, clause: ClauseResult, index: int,
                 control: ControlResult, observation: Observation) -> Risk:
    key = (target.address, clause.clause_id, str(index), control.control_id)
    reason = f": {control.reason}" if control.reason else ""
    if control.status == Status.ADVISORY:
        statement = (f"{control.control_id} is hardening advice the profile adds to "
                     f"{clause.clause_id}: unmet on {target.target}, it never fails the clause.")
    else:
        statement = f"{control.control_id} fails on {target.target}, so {clause.clause_id} is " \
                    f"not met" + (" (a waiver accepts the failure)"
                                  if control.status == Status.WAIVED else "") + "."
    return Risk(
        uuid=run.uuid(*key, "risk"),
        title=oneline(f"{control.control_id} on {target.target}: {control.status.value}"),
        description=f"{control.title} ({control.control_id}): {control.status.value}{reason}",
        statement=statement,
        status="deviation-approved" if control.status == Status.WAIVED else "open",
        props=[prop("clause-id", clause.clause_id), prop("control-id", control.control_id),
               prop("status", control.status.value), prop("severity", control.severity),
               prop("basis", control.basis)],
        origins=[run.tool_origin()],
        remediations=[_remediation(run, key, control.control_id, control.remediation or {})],
        related_observations=[RelatedObservation(observation_uuid=observation.uuid)])


def _remediation(run: Run, key: tuple[str, ...], control_id: str,
                 fix: dict[str, Any]) -> Response:
    return Response(
        uuid=run.uuid(*key, "remediation"), lifecycle="recommendation",
        title=oneline(f"How to fix {control_id}"), description=fix["text"],
        tasks=[Task(uuid=run.uuid(*key, "remediation", str(number)), type="action",
                    title=_snippet_title(snippet["implementation"], snippet["language"]),
                    description=fenced(snippet["text"], snippet["language"]),
                    props=[prop("implementation", snippet["implementation"]),
                           prop("language", snippet["language"])])
               for number, snippet in enumerate(fix["snippets"])] or None)


def _snippet_title(implementation: str, language: str) -> str:
    """"With nginx", "With mdadm (shell)": the language when the implementation does not say it."""
    return oneline(f"With {implementation}" + (f" ({language})" if language != implementation
                                                else ""))

