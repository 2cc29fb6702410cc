"""How the HTML report shows a value: escaped text, collapsible JSON, attestation and waiver
records (every value from the result is text, never markup)."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

from scanner.evidence.layout import attestation_path

SUMMARY_CHARS = 110  # compact JSON shown in a collapsed <details> summary
TEXT_CHARS = 400     # longer text is collapsed too


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def json_block(value: Any) -> str:
    """Short text as is; anything else collapsed: compact JSON (or the text's start) in the
    summary, the pretty JSON (or the whole text) when opened."""
    if value is None:
        return '<span class="zero">—</span>'
    if isinstance(value, str):
        if len(value) <= TEXT_CHARS and "\n" not in value:
            return esc(value)
        short, full = value.replace("\n", " "), value
    else:
        short = compact(value)
        full = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    short = short if len(short) <= SUMMARY_CHARS else short[:SUMMARY_CHARS] + " …"
    return f"<details><summary><code>{esc(short)}</code></summary><pre>{esc(full)}</pre></details>"


ATTESTATION = (("attested_by", "Attested by"), ("role", "Role"), ("date", "Date"),
               ("statement", "Statement"), ("evidence", "Evidence references"),
               ("targets", "Targets"))
WAIVER = (("clause", "Clause"), ("control", "Control"), ("justification", "Justification"),
          ("approver", "Approver"), ("targets", "Targets"))
SHOWN_APART = ("clause", "expires", "expires_at", "expired", "expiry_note")


def record_box(title: str, kind: str, record: dict[str, Any]) -> str:
    """An attestation or waiver: its known fields, its expiry, then any other field as is
    (the clause is the article's own, unless the kind's fields name it)."""
    fields = ATTESTATION if kind == "attestation" else WAIVER
    rows = [(label, _evidence_refs(record[key]) if key == "evidence" else _value(record[key]))
            for key, label in fields if key in record]
    expiry = esc(record.get("expires", ""))
    if record.get("expires_at") and record.get("expires_at") != record.get("expires"):
        expiry += f' <span class="note">(= {esc(record["expires_at"])})</span>'
    if record.get("expiry_note"):
        expiry += f' <span class="note">{esc(record["expiry_note"])}</span>'
    lapsed = bool(record.get("expired"))
    if lapsed:
        expiry += (' <span class="warn">EXPIRED: '
                   + ("counts as a failure" if kind == "attestation" else "no longer applies")
                   + "</span>")
    rows.append(("Expires", expiry))
    known = {key for key, _ in fields} | set(SHOWN_APART)
    rows += [(key, _value(value)) for key, value in record.items() if key not in known]
    items = "".join(f"<dt>{esc(label)}</dt><dd>{value}</dd>" for label, value in rows)
    return (f'<div class="box {kind}{" lapsed" if lapsed else ""}"><span class="label">'
            f"{esc(title)}</span><dl>{items}</dl></div>")


def _evidence_refs(refs: list[str]) -> str:
    """Local evidence files link to their copy in the bundle; URLs stay plain text."""
    return "<br>".join(f"<code>{esc(ref)}</code>" if "://" in ref else
                       f'<a href="{esc(quote(attestation_path(ref)))}"><code>{esc(ref)}</code></a>'
                       for ref in refs)


def _value(value: Any) -> str:
    """A record field as text; URLs stay plain text (the page links to nothing outside)."""
    if isinstance(value, list):
        return "<br>".join(f"<code>{esc(v)}</code>" for v in value)
    return esc(value) if isinstance(value, str) else json_block(value)


