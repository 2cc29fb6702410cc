"""SARIF 2.1.0 for GitHub code scanning: one rule per control, one result per target x clause x
control that needs attention.

Only problems become results: failures, errors, waived failures (kept visible, with a
suppression) and expired attestations. GitHub turns every result into an alert whatever its
`kind`, so passes, manual clauses and valid attestations would bury the failures; the JSON,
JUnit and CSV reports carry every verdict.

Remediation goes in the rule's `help` (text, and markdown with the snippets in fenced code
blocks: GitHub shows it with the alert), one "How to fix" per distinct parameter set, and in
each result's `properties.remediation`. Not in SARIF `fixes`: a fix is a set of artifactChanges
(byte ranges replaced in files of the analysed repository), and the files to change are on a
remote host, not in the repository the log describes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterator, TextIO

from scanner import __version__
from scanner.catalog.controls import load_catalog
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult, to_jsonable
from scanner.reporters.base import fenced, subjects
from scanner.catalog.profiles import builtin_profile_ids
from scanner.reporters.jsonstream import Items, dump
from scanner.catalog.resources import profiles_dir
from scanner.catalog.yamldoc import load_yaml

FORMAT = "sarif"
EXTENSION = "sarif"
SCHEMA_URI = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
              "sarif-schema-2.1.0.json")

# A clause's attestation has no control of its own: its expiry is reported under this rule.
ATTESTATION_RULE = "annexscan.attestation"
_RULE_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub ranks security alerts by this score: >= 9 critical, >= 7 high, >= 4 medium, else low.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
# An advisory (unmet advice the annex does not state) is a note: visible, never an error.
_RESULT_LEVEL = {Status.FAIL: "error", Status.EXPIRED: "error", Status.WAIVED: "error",
                 Status.ERROR: "warning", Status.ADVISORY: "note"}


def write(result: ScanResult, out: TextIO) -> None:
    dump(document(result), out)
    out.write("\n")


def document(result: ScanResult) -> dict[str, Any]:
    """The SARIF log with its results and notifications as streams (jsonstream.Items)."""
    rules = _rules(result)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    lines = _clause_lines({p["id"] for p in result.profiles})
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "annexscan", "version": __version__, "rules": rules}},
            "invocations": [{"executionSuccessful": True,
                             "startTimeUtc": _utc(result.started_at),
                             "endTimeUtc": _utc(result.finished_at),
                             "toolExecutionNotifications": Items(_probe_failures(result))}],
            "results": Items(entry for target in subjects(result)
                             for entry in _target_results(target, index, lines)),
            "properties": {"profiles": to_jsonable(result.profiles),
                           "summary": result.summary()},
        }],
    }


def _target_results(target: TargetResult, index: dict[str, int],
                    lines: dict[tuple[str, str], int]) -> Iterator[dict[str, Any]]:
    for clause in target.results:
        line = lines.get((clause.profile, clause.clause_id), 1)
        seen: Counter = Counter()
        for control in clause.controls:
            # a clause may list one control twice (annex and advice): one alert each
            variant = _variant(control, seen)
            if control.status in _RESULT_LEVEL:
                extra = {"remediation": control.remediation} if control.remediation else {}
                yield _result(target, clause, control.control_id, index, line,
                              control.status, control.reason or control.title,
                              {"expected": control.expected, "observed": control.observed,
                               "basis": control.basis, **extra}, variant)
        if clause.status == Status.EXPIRED:
            yield _result(target, clause, ATTESTATION_RULE, index, line, clause.status,
                          _expiry_message(clause), {})


def _rules(result: ScanResult) -> list[dict[str, Any]]:
    seen: dict[str, ControlResult] = {}
    cited: dict[str, dict[tuple[str, str], ClauseResult]] = {}  # control -> (clause, basis)
    fixes: dict[str, dict[str, dict[str, Any]]] = {}  # control -> its distinct remediations
    for target in subjects(result):
        for clause in target.results:
            for control in clause.controls:
                seen.setdefault(control.control_id, control)
                cited.setdefault(control.control_id, {}).setdefault(
                    (clause.clause_id, control.basis), clause)
                if control.remediation:
                    fixes.setdefault(control.control_id, {}).setdefault(
                        json.dumps(control.remediation, sort_keys=True), control.remediation)
    catalog = load_catalog()
    rules = []
    for control_id, control in sorted(seen.items()):
        # A report from another annexscan version may name a control this catalog lacks.
        known = catalog.get(control_id) if control_id in catalog else None
        description = known.description if known else control.title
        help_text = (f"{description}\n\nPasses when: {known.pass_means.rstrip('.')}.\n"
                     f"Fails when: {known.fail_means.rstrip('.')}." if known else description)
        help_text += _annex_words(cited[control_id])
        rule = _rule(control_id, control.title, description, help_text, control.severity)
        remedies = list(fixes.get(control_id, {}).values())
        rule["help"]["text"] += "".join(f"\n\nHow to fix: {r['text']}" for r in remedies)
        rule["help"]["markdown"] = _markdown(help_text) + "".join(map(_fix_markdown, remedies))
        rules.append(rule)
    rules.append(_rule(
        ATTESTATION_RULE, "Manual clause attested, attestation in force",
        "An organisational clause that no probe can verify is answered by an attestation: who "
        "vouches for it, in which role, until when. Past its expiry the clause counts as failed.",
        "Renew the attestation (--attestations FILE): a new expiry, a fresh statement and "
        "current evidence from the person accountable for the clause.", "high"))
    return rules


def _annex_words(clauses: dict[tuple[str, str], ClauseResult]) -> str:
    """The clauses that use a control, each with its basis and the annex's own words."""
    lines = []
    for (clause_id, basis), clause in sorted(clauses.items()):
        role = "required by" if basis == "annex" else "advice (never fails the clause) for"
        quote = " / ".join(f"« {q} »" for q in clause.quote) or "(no quote)"
        lines.append(f"- {role} {clause_id} ({clause.section}): {quote}")
    return "\n\nAnnex clauses:\n" + "\n".join(lines) if lines else ""


def _markdown(text: str) -> str:
    """Plain text as markdown that shows as written: every markdown character escaped, and
    line breaks kept."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~])", r"\\\1", text).replace("\n", "  \n")


def _fix_markdown(remediation: dict[str, Any]) -> str:
    """A remediation under "How to fix": its text, then each snippet fenced, the fence longer
    than any backtick run inside (a snippet cannot close it)."""
    parts = [f"\n\n**How to fix**: {_markdown(remediation['text'])}"]
    for snippet in remediation["snippets"]:
        parts.append(f"\n\n{_markdown(snippet['implementation'])}:\n\n"
                     + fenced(snippet["text"], snippet["language"]))
    return "".join(parts)


def _rule(rule_id: str, title: str, description: str, help_text: str,
          severity: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.replace("_", ".").split(".")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": description},
        "defaultConfiguration": {"level": _RULE_LEVEL.get(severity, "warning")},
        "help": {"text": help_text},
        "properties": {"tags": ["security", "compliance"], "severity": severity,
                       "security-severity": _SECURITY_SEVERITY.get(severity, "5.5")},
    }


def _variant(control: ControlResult, seen: Counter) -> str:
    """"" for a clause's first annex ref of a control (the fingerprint alerts always had),
    else its basis and rank, so that every ref of a clause is an alert of its own."""
    rank = seen[(control.control_id, control.basis)]
    seen[(control.control_id, control.basis)] += 1
    if control.basis == "annex" and not rank:
        return ""
    return control.basis + (f"#{rank}" if rank else "")


def _result(target: TargetResult, clause: ClauseResult, rule_id: str, index: dict[str, int],
            line: int, status: Status, reason: str, observed: dict[str, Any],
            variant: str = "") -> dict[str, Any]:
    properties = {"target": target.target, "address": target.address,
                  "profile": clause.profile, "clause_id": clause.clause_id,
                  "section": clause.section, "clause_title": clause.title,
                  "quote": clause.quote,
                  "status": status.value, "clause_status": clause.status.value, **observed}
    for label, record in (("attestation", clause.attestation), ("waiver", clause.waiver)):
        if record:
            properties[label] = record
    entry: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": index[rule_id],
        "level": _RESULT_LEVEL[status],
        "message": {"text": f"{target.target} {clause.clause_id}: {reason}"},
        "locations": [{
            # GitHub needs a file and a line: the clause in its profile, relative to the repo.
            "physicalLocation": {"artifactLocation": {"uri": f"profiles/{clause.profile}.yaml"},
                                 "region": {"startLine": line}},
            "logicalLocations": [{"name": clause.clause_id,
                                  "fullyQualifiedName": f"{target.target}/{clause.clause_id}"}],
        }],
        # GitHub matches alerts across runs by this key only, and would otherwise hash the
        # profile line, merging every target's alert for a clause into one.
        "partialFingerprints": {"primaryLocationLineHash": _fingerprint(
            target.target, clause.profile, clause.clause_id, rule_id, *filter(None, [variant]))},
        "properties": to_jsonable(properties),
    }
    if status == Status.WAIVED and clause.waiver:
        entry["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": str(clause.waiver.get("justification", "")),
            "properties": {key: clause.waiver[key] for key in ("approver", "expires_at")
                           if key in clause.waiver}}]
    return entry


def _probe_failures(result: ScanResult) -> Iterator[dict[str, Any]]:
    """A probe that saw nothing on a target, once: its clauses' alerts only point to it."""
    return ({"level": "error", "descriptor": {"id": f"probe.{name}"},
             "message": {"text": f"{target.target}: the {name} probe failed: {error}"},
             "locations": [{"logicalLocations": [{"name": target.target, "kind": "resource"}]}],
             "properties": {"target": target.target, "address": target.address}}
            for target in result.targets for name, error in target.probe_errors().items())


def _expiry_message(clause: ClauseResult) -> str:
    record = clause.attestation or {}
    return (f"attestation by {record.get('attested_by', '?')} ({record.get('role', '?')}) "
            f"expired at {record.get('expires_at', record.get('expires', '?'))}")


def _fingerprint(*parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return f"{digest[:16]}:1"


def _clause_lines(profile_ids: set[str]) -> dict[tuple[str, str], int]:
    """(profile, clause) -> line of the clause's `id:` in the built-in profile file."""
    lines = {}
    for profile_id in profile_ids & set(builtin_profile_ids()):
        doc = load_yaml(profiles_dir() / f"{profile_id}.yaml")
        for i, clause in enumerate(doc.data.get("clauses", [])):
            line = doc.line_of(["clauses", i, "id"])
            if line:
                lines[(profile_id, clause["id"])] = line
    return lines


def _utc(moment: str) -> str:
    """SARIF times are UTC with a Z suffix."""
    parsed = datetime.fromisoformat(moment).astimezone(timezone.utc)
    return parsed.isoformat(timespec="seconds").replace("+00:00", "Z")
