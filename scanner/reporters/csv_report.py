"""CSV for spreadsheets: one row per target x clause (RFC 4180 quoting, UTF-8, CRLF rows).

Multi-valued cells (controls, reasons, remediation) hold one item per line inside the quoted
cell.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

from scanner.model import ClauseResult, ControlResult, ScanResult
from scanner.reporters.base import subjects
from scanner.reporters.terminal import printable

FORMAT = "csv"
EXTENSION = "csv"
COLUMNS = ["target", "address", "profile", "clause_id", "section", "title", "status", "controls",
           "reasons", "advisories", "attestation", "waiver", "requirement", "quote",
           "remediation"]
# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write(result: ScanResult, out: TextIO) -> None:
    """Row by row, as each target is read."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for target in subjects(result):
        for clause in target.results:
            row = {"target": target.target, "address": target.address,
                   **_clause_cells(clause, target.probe_errors())}
            writer.writerow({key: _cell(value) for key, value in row.items()})


def _clause_cells(clause: ClauseResult, probe_errors: dict[str, str]) -> dict[str, str]:
    """A row stands alone in a spreadsheet: a failed probe's error is spelt out in it."""
    def reason(control: ControlResult) -> str:
        failed = control.evidence.get("failed_probe")
        return f"the {failed} probe failed: {probe_errors[failed]}" \
            if failed in probe_errors else control.reason
    return {
        "profile": clause.profile, "clause_id": clause.clause_id, "section": clause.section,
        "title": clause.title, "status": clause.status.value,
        "controls": "\n".join(f"{c.control_id}:{c.status.value}"
                              + (" (advice)" if c.basis == "advice" else "")
                              for c in clause.controls),
        "reasons": "\n".join(f"{c.control_id}: {reason(c)}" for c in clause.controls if c.reason),
        "advisories": "\n".join(f"{c.control_id}: {c.reason}" for c in clause.advisories()),
        "attestation": _record(clause.attestation, "attested_by", "role"),
        "waiver": _record(clause.waiver, "approver", "justification"),
        "requirement": clause.requirement,
        "quote": "\n".join(clause.quote),
        # what to change for each failing or advisory control; the snippets are in JSON, HTML
        "remediation": "\n".join(f"{c.control_id}: {c.remediation['text']}"
                                 for c in clause.controls if c.remediation),
    }


def _record(record: dict[str, Any] | None, who: str, detail: str) -> str:
    """`who (detail), expires X` plus `EXPIRED` when the record no longer applies."""
    if not record:
        return ""
    expiry = record.get("expires_at") or record.get("expires", "")
    return (f"{record.get(who, '')} ({record.get(detail, '')}), expires {expiry}"
            + (" EXPIRED" if record.get("expired") else ""))


def _cell(value: str) -> str:
    """Control characters from a server escaped (a `cat` of the file must not drive the
    terminal; lone surrogates cannot even be encoded), then formula starts neutralised."""
    value = printable(value, keep="\n")
    return "'" + value if value.startswith(_FORMULA_START) else value
