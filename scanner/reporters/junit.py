"""JUnit XML: one testsuite per target x profile, one testcase per clause (GitLab, Jenkins); the
contract's clauses (judged once per scan) in testsuites of their own, `contract / <profile>`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, TextIO

from scanner.model import ClauseResult, ScanResult, Status, TargetResult
from scanner.reporters.base import subjects
from scanner.reporters.terminal import printable

FORMAT = "junit"
EXTENSION = "xml"


def _details(clause: ClauseResult) -> str:
    lines = [f"{clause.clause_id} ({clause.section}): {clause.requirement}"]
    lines += [f"annex: « {quote} »" for quote in clause.quote]
    for control in clause.controls:
        basis = " [advice: never fails the clause]" if control.basis == "advice" else ""
        lines.append(f"- {control.control_id}{basis}: {control.status.value}"
                     + (f" - {control.reason}" if control.reason else ""))
        if control.expected is not None:
            lines.append(f"    expected: {control.expected}")
        if control.observed is not None:
            lines.append(f"    observed: {json.dumps(control.observed, default=str)}")
    if clause.attest:
        lines.append(f"to attest: {clause.attest}")
    for label, record in (("attestation", clause.attestation), ("waiver", clause.waiver)):
        if record:
            lines.append(f"{label}: {json.dumps(record, default=str)}")
    return "\n".join(lines + _how_to_fix(clause))


def _how_to_fix(clause: ClauseResult) -> list[str]:
    """A paragraph after the details (what a JUnit viewer shows of a failure): each failing or
    advisory control's remediation text, then its snippets, indented under their implementation."""
    fixes = [c for c in clause.controls if c.remediation]
    lines = ["", "How to fix:"] if fixes else []
    for control in fixes:
        fix: dict[str, Any] = control.remediation or {}
        basis = " [advice]" if control.basis == "advice" else ""
        lines.append(f"- {control.control_id}{basis}: {fix['text']}")
        for snippet in fix["snippets"]:
            lines.append(f"  {snippet['implementation']} ({snippet['language']}):")
            lines += [f"    {line}" if line else "" for line in snippet["text"].splitlines()]
    return lines


def _properties(case: ET.Element, clause: ClauseResult) -> None:
    """The annex's words and any advisory (an unmet advice control: reported, not a failure)."""
    entries = [("quote", quote) for quote in clause.quote]
    entries += [("advisory", f"{c.control_id}: {c.reason}") for c in clause.advisories()]
    if entries:
        properties = ET.SubElement(case, "properties")
        for name, value in entries:
            ET.SubElement(properties, "property", name=name, value=value)


def write(result: ScanResult, out: TextIO) -> None:
    """One testsuite at a time, indented as ElementTree would indent the whole document."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    opened = False
    for target in subjects(result):
        for profile in result.profiles:
            suite = _suite(result, target, profile)
            if not len(suite):  # e.g. a profile without clauses of the contract's
                continue
            ET.indent(suite, level=1)
            out.write(("" if opened else '<testsuites name="annexscan">') + "\n  "
                      + _printable_xml(suite))
            opened = True
    out.write("\n</testsuites>\n" if opened else '<testsuites name="annexscan" />\n')


def _printable_xml(element: ET.Element) -> str:
    # ElementTree writes characters XML 1.0 forbids (a banner's ESC or NUL) as they are, and
    # the file no longer parses: they (and CR, bidi overrides) become visible escapes. None of
    # them can be markup, so doing it on the serialised text reaches every name and message.
    return printable(ET.tostring(element, encoding="unicode"), keep="\n\t")


def _suite(result: ScanResult, target: TargetResult, profile: dict[str, Any]) -> ET.Element:
    clauses = [c for c in target.results if c.profile == profile["id"]]
    counts = {s: sum(c.status == s for c in clauses) for s in Status}
    suite = ET.Element("testsuite", {
        "name": f"{target.target} / {profile['id']}", "tests": str(len(clauses)),
        "failures": str(counts[Status.FAIL] + counts[Status.EXPIRED]),
        "errors": str(counts[Status.ERROR]),
        "skipped": str(counts[Status.MANUAL] + counts[Status.NOT_APPLICABLE]
                       + counts[Status.WAIVED]),
        "timestamp": result.started_at, "hostname": target.address})
    for clause in clauses:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"{profile['id']}.{target.target}",
            "name": f"[{clause.clause_id}] {clause.section}: {clause.title}"})
        _properties(case, clause)
        _outcome(case, clause)
    if target.probe_errors():  # the cause of the cases that point to it, said once
        ET.SubElement(suite, "system-err").text = "\n".join(
            f"the {name} probe failed: {error}"
            for name, error in target.probe_errors().items())
    return suite


def _outcome(case: ET.Element, clause: ClauseResult) -> None:
    details = _details(clause)
    failing = "; ".join(c.reason for c in clause.controls if c.reason
                        and c.status == clause.status) or clause.status.value
    if clause.status == Status.EXPIRED:
        ET.SubElement(case, "failure", message="attestation expired",
                      type="expired").text = details
    elif clause.status == Status.FAIL:
        ET.SubElement(case, "failure", message=failing, type="fail").text = details
    elif clause.status == Status.ERROR:
        ET.SubElement(case, "error", message=failing, type="error").text = details
    elif clause.status == Status.WAIVED:
        ET.SubElement(case, "skipped", message="waived: " + str(
            (clause.waiver or {}).get("justification", ""))).text = details
    elif clause.status in (Status.MANUAL, Status.NOT_APPLICABLE):
        message = ("manual: needs an attestation" if clause.status == Status.MANUAL
                   else f"not applicable: {failing}")
        ET.SubElement(case, "skipped", message=message).text = details
    else:
        ET.SubElement(case, "system-out").text = details
