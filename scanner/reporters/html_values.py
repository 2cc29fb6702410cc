"""What the HTML templates see of one target: plain dicts, lists and strings (a view model).

No model object reaches a template, so a template can call nothing on the result; every string
here is plain text, which the templates' autoescape turns into text, never markup. Links are
built here, percent-encoded, from the bundle layout (scanner.evidence.layout).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from scanner.evidence.layout import attestation_path, evidence_path
from scanner.model import ClauseResult, ControlResult, Status, TargetResult
from scanner.reporters.base import Contract
from scanner.reporters.terminal import printable

# Worst first: the order of columns, legends and chart segments.
ORDER = tuple(s.value for s in (Status.FAIL, Status.EXPIRED, Status.ERROR, Status.MANUAL,
                                Status.WAIVED, Status.ATTESTED, Status.PASS,
                                Status.NOT_APPLICABLE))
SUMMARY_CHARS = 110  # compact JSON shown in a collapsed <details> summary
TEXT_CHARS = 400     # longer text is collapsed too

ATTESTATION = ("attested_by", "role", "date", "statement", "evidence", "targets")
WAIVER = ("clause", "control", "justification", "approver", "targets")
SHOWN_APART = ("clause", "expires", "expires_at", "expired", "expiry_note")


def anchor(target: str, clause_id: str) -> str:
    """The id of a clause's article for one target (as the page shows it: control characters
    as escapes, so that the matrix's percent-encoded links name the same id)."""
    return re.sub(r"\s", "_", printable(f"{target}/{clause_id}"))


def evidence_href(address: str, probe: str) -> str:
    return quote(evidence_path(address, probe))


def value_view(value: Any) -> dict[str, Any]:
    """Short text as is ("text"); anything else "json": compact JSON (or the text's start) as
    `short`, the pretty JSON (or the whole text) as `full`."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, str):
        if len(value) <= TEXT_CHARS and "\n" not in value:
            return {"kind": "text", "text": value}
        short, full = value.replace("\n", " "), value
    else:
        short = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        full = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    short = short if len(short) <= SUMMARY_CHARS else short[:SUMMARY_CHARS] + " …"
    return {"kind": "json", "short": short, "full": full}


def _field_view(key: str, value: Any) -> dict[str, Any]:
    """A record field: evidence references (local files link to their copy in the bundle, URLs
    stay plain text: the page links to nothing outside), lists as lines, the rest as values."""
    if key == "evidence" and isinstance(value, list):
        return {"kind": "refs", "entries": [
            {"text": str(ref), "href": None if "://" in str(ref) else
             quote(attestation_path(str(ref)))} for ref in value]}
    if isinstance(value, list):
        return {"kind": "lines", "entries": [str(item) for item in value]}
    return value_view(value)


def record_view(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """An attestation or waiver: its known fields in order, its expiry, then any other field
    (the clause is the article's own, unless the kind's fields name it)."""
    fields = ATTESTATION if kind == "attestation" else WAIVER
    rows = [{"key": key, "value": _field_view(key, record[key])} for key in fields
            if key in record]
    at = record.get("expires_at")
    rows.append({"key": "expires", "value": {
        "kind": "expiry", "expires": str(record.get("expires", "")),
        "at": str(at) if at and at != record.get("expires") else "",
        "note": str(record.get("expiry_note") or ""), "lapsed": bool(record.get("expired"))}})
    known = set(fields) | set(SHOWN_APART)
    rows += [{"key": str(key), "value": _field_view(key, value)}
             for key, value in record.items() if key not in known]
    return {"kind": kind, "lapsed": bool(record.get("expired")), "rows": rows}


def control_view(target: TargetResult, control: ControlResult) -> dict[str, Any]:
    """One control of a clause, as controls.html.j2 shows it in its row."""
    took = control.duration_s + control.probe_duration_s
    return {"id": control.control_id, "title": control.title, "severity": str(control.severity),
            "took": f"{took:.2f}" if took else "", "advice": control.basis == "advice",
            "status": control.status.value, "expected": value_view(control.expected),
            "observed": value_view(control.observed), "reason": control.reason or "",
            "evidence": [{"probe": str(p), "href": evidence_href(target.address, str(p))}
                         for p in control.evidence.get("probes", [])],
            "remediation": _remediation_view(control.remediation)}


def _remediation_view(fix: dict[str, Any] | None) -> dict[str, Any] | None:
    """How to fix a failing or advisory control: its text and snippets, as plain strings."""
    if not fix:
        return None
    return {"text": str(fix.get("text", "")),
            "snippets": [{key: str(s.get(key, "")) for key in ("implementation", "language",
                                                                "text")}
                         for s in fix.get("snippets", [])]}


def clause_view(target: TargetResult, clause: ClauseResult) -> dict[str, Any]:
    return {"id": clause.clause_id, "status": clause.status.value,
            "anchor": anchor(target.target, clause.clause_id), "title": clause.title,
            "section": clause.section, "requirement": clause.requirement,
            "quote": list(clause.quote or []),
            "controls": [control_view(target, c) for c in clause.controls],
            "attest": clause.attest or "",
            "attestation": record_view("attestation", clause.attestation)
            if clause.attestation else None,
            "waiver": record_view("waiver", clause.waiver) if clause.waiver else None}


def target_view(index: int, target: TargetResult, profiles: list[str]) -> dict[str, Any]:
    """One subject (the contract or a target) with its probes and its clauses per profile."""
    return {"index": index, "name": target.target, "contract": isinstance(target, Contract),
            "address": "" if target.address == target.target else target.address,
            "probes": [{"name": name, "duration": str(info.get("duration_s", "")),
                        "error": str(info["error"]) if info.get("error") else "",
                        "href": evidence_href(target.address, name)}
                       for name, info in target.probes.items()],
            "profiles": [{"id": profile, "clauses": [clause_view(target, c) for c in
                                                     target.results if c.profile == profile]}
                         for profile in profiles]}
