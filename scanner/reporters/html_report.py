"""The HTML report: one self-contained page an auditor opens in a browser.

Rendered from the Jinja2 templates in templates/ (html_template: sandboxed, autoescaped, a
team's --template-dir first). The page is streamed: each part is a lazy pass over the targets,
so one target's view (html_values) at a time is in memory. A Content-Security-Policy forbids
every fetch and runs only the page's own filter script, pinned by its hash, so the page loads
nothing from the network even if opened online. Evidence links are relative to the bundle root,
where this file sits as report.html: evidence/<address>/<probe>.json.gz.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO
from urllib.parse import quote

from markupsafe import Markup

from scanner import __version__
from scanner.errors import ConfigError
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult
from scanner.reporters.base import subjects
from scanner.reporters.html_template import (PAGE, SCRIPT, environment, template_error,
                                             user_templates)
from scanner.reporters.html_values import ORDER, anchor, target_view

FORMAT = "html"
EXTENSION = "html"
TEMPLATED = True     # write() takes template_dir (scanner.reporters.registry)

LABEL_CHARS = 46     # section names on the chart's axis (the full name is in a tooltip)
COUNTED = (*ORDER, Status.ADVISORY.value)


def section_group(section: str) -> str:
    """The annex section a clause is charted under: its first reference without qualifiers,
    e.g. "Art. 11.8 table, row 'X'; Art. 4.5" -> "Art. 11.8", "Annexe 2 §8, 3rd paragraph" ->
    "Annexe 2 §8", "Annexe I §VIII (traçabilité)" -> "Annexe I §VIII"."""
    first = re.split(r" \(|, (?=[a-z0-9¶])| table\b", section.split(";")[0])[0].strip()
    return first or "(no section)"


def _clauses(target: TargetResult, profile_id: str) -> list[ClauseResult]:
    return [c for c in target.results if c.profile == profile_id]


def _header(result: ScanResult) -> dict[str, Any]:
    failing = sum(result.summary()[s.value] for s in (Status.FAIL, Status.EXPIRED))
    targets, clauses = 0, len(result.contract)
    for target in result.targets:
        targets, clauses = targets + 1, clauses + len(target.results)
    meta = [("Started", result.started_at), ("Finished", result.finished_at),
            ("Targets", targets), ("Clause results", clauses), ("Failing", failing)]
    for key, value in result.options.items():
        if value not in (None, "", []):
            meta.append((re.sub(r"_s$", " (s)", key).replace("_", " "),
                         ", ".join(map(str, value)) if isinstance(value, list) else value))
    return {"version": __version__, "exit_code": result.exit_code(),
            "started_at": result.started_at, "meta": [(k, str(v)) for k, v in meta],
            "profile_ids": ", ".join(p.get("id", "") for p in result.profiles),
            "profiles": [{"id": p.get("id", ""), "title": p.get("title", ""),
                          **{key: (p.get("source") or {}).get(key, "")
                             for key in ("issuer", "version", "date", "document")},
                          "source_title": (p.get("source") or {}).get("title", "")}
                         for p in result.profiles]}


def _row(target: str, address: str, profile: str, counts: Counter) -> dict[str, Any]:
    total = sum(counts[s] for s in ORDER)
    return {"all": not target, "target": target, "address": address, "profile": profile,
            "counts": {s: counts[s] for s in COUNTED}, "total": total,
            "dist": [{"status": s, "count": counts[s],
                      "width": f"{100 * counts[s] / (total or 1):.2f}"}
                     for s in ORDER if counts[s]]}


def summary_rows(result: ScanResult) -> Iterator[dict[str, Any]]:
    """One row per target and profile (clause counts per status, and advisories), then the
    totals of all targets when there is more than one row."""
    rows, totals = 0, Counter()
    for target in subjects(result):
        for profile in result.profiles:
            clauses = _clauses(target, profile["id"])
            counts = Counter(c.status.value for c in clauses)
            counts[Status.ADVISORY.value] = sum(len(c.advisories()) for c in clauses)
            totals += counts
            rows += 1
            yield _row(target.target, "" if target.address == target.target else
                       target.address, profile["id"], counts)
    if rows > 1:
        yield _row("", "", "", totals)


def chart(result: ScanResult, profile: dict[str, Any]) -> dict[str, Any]:
    """Horizontal stacked bars, as geometry: clause results per annex section (all targets)."""
    groups: dict[str, Counter] = {}
    for target in subjects(result):
        for clause in _clauses(target, profile["id"]):
            groups.setdefault(section_group(clause.section), Counter())[clause.status.value] += 1
    view: dict[str, Any] = {"id": profile["id"], "title": profile.get("title", ""), "rows": []}
    if not groups:
        return view
    longest = max(len(name) for name in groups)
    label_w, bar_w, row_h, top = min(330, 16 + 7 * min(longest, LABEL_CHARS)), 760, 24, 26
    most = max(sum(c.values()) for c in groups.values())
    scale, height = bar_w / most, top + row_h * len(groups) + 8
    view.update(width=label_w + bar_w + 50, height=height, label_x=label_w - 8,
                bar_h=row_h - 6, tick_top=top - 6, tick_bottom=height - 6, tick_y=top - 10,
                ticks=[{"x": f"{label_w + tick * scale:.1f}", "value": tick}
                       for tick in range(0, int(bar_w / scale) + 1, max(1, round(most / 8)))])
    for row, (name, counts) in enumerate(groups.items()):
        y, x, segments = top + row * row_h, float(label_w), []
        for status in (s for s in ORDER if counts[s]):
            width = counts[status] * scale
            segments.append({"status": status, "count": counts[status], "x": f"{x:.1f}",
                             "width": f"{width:.1f}", "inside": width >= 16,
                             "middle": f"{x + width / 2:.1f}"})
            x += width
        view["rows"].append({
            "name": name, "segments": segments, "total": sum(counts.values()),
            "label": name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…",
            "bar_y": y + 3, "text_y": y + 15, "total_x": f"{x + 6:.1f}"})
    return view


def matrix(result: ScanResult, profile: dict[str, Any]) -> dict[str, Any]:
    """Clause x target grid of verdicts, each linking to the clause's details: one pass keeps
    only each target's name and each clause's status per target."""
    names: list[str] = []
    rows: dict[str, tuple[str, dict[int, str]]] = {}  # clause -> title, column -> status
    for column, target in enumerate(subjects(result)):
        names.append(target.target)
        for clause in _clauses(target, profile["id"]):
            rows.setdefault(clause.clause_id, (clause.title, {}))[1].setdefault(
                column, clause.status.value)
    return {"id": profile["id"], "names": names, "rows": [
        {"id": clause_id, "title": title, "cells": [
            {"status": statuses[column],
             "href": quote(anchor(name, clause_id), safe="/:@")} if column in statuses else None
            for column, name in enumerate(names)]}
        for clause_id, (title, statuses) in rows.items()]}


def _lazy(make: Any, items: Iterable[Any]) -> Iterator[Any]:
    """make(item) for each item, when the template reaches it."""
    return (make(item) for item in items)


def context(result: ScanResult, script: str) -> dict[str, Any]:
    """What report.html.j2 renders: the page's header values, then lazy passes over the
    targets (each an iterator the page walks once)."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    profiles = [p["id"] for p in result.profiles]
    return {"page": _header(result), "statuses": list(ORDER),
            "csp": f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
                   "img-src data:; base-uri 'none'; form-action 'none'",
            "script": Markup(script),  # the template's own output, no value from the result
            "summary": summary_rows(result),
            "charts": _lazy(lambda p: chart(result, p), result.profiles),
            "matrices": _lazy(lambda p: matrix(result, p), result.profiles),
            "target_names": (t.target for t in subjects(result)),
            "targets": (target_view(i, t, profiles) for i, t in enumerate(subjects(result)))}


def write(result: ScanResult, out: TextIO, template_dir: Path | None = None) -> None:
    """The page, streamed to out; a template's error is a ConfigError naming its file and line."""
    env = environment(template_dir)
    try:
        script = env.get_template(SCRIPT).render()
        for chunk in env.get_template(PAGE).generate(context(result, script)):
            out.write(chunk)
    except ConfigError:
        raise
    except Exception as exc:  # a template's error (its own code), or ours: re-raised
        error = template_error(exc, template_dir)
        if error is None:
            raise
        raise error from None


def check_templates(template_dir: Path) -> None:
    """Before anything is scanned: every template of template_dir compiles, and the page renders
    a small result (so an override naming an undefined value fails now, with its file)."""
    env = environment(template_dir)
    for name in user_templates(template_dir):
        try:
            env.get_template(name)
        except Exception as exc:
            error = template_error(exc, template_dir)
            if error is None:
                raise
            raise error from None
    write(_SAMPLE, io.StringIO(), template_dir)


_CONTROL = ControlResult("sample.control", "Sample control", "high", Status.FAIL, {}, "1.2",
                         {"port": 443}, "sample reason", {"probes": ["tls"]}, 0.1, 0.2, "advice",
                         {"text": "t", "snippets": [{"implementation": "i", "language": "l",
                                                     "text": "s"}]})
_RECORD = {"clause": "S-1", "attested_by": "A", "expires": "2000-01-01", "expired": True,
           "evidence": ["a.pdf", "https://x"], "targets": ["*"], "note": "n", "expiry_note": "n"}
_SAMPLE = ScanResult("2000-01-01T00:00:00+00:00", "2000-01-01T00:00:01+00:00",
                     [{"id": "sample", "title": "Sample", "source": {"issuer": "I"}}],
                     [TargetResult("sample", "127.0.0.1", [ClauseResult(
                         "S-1", "sample", "Art. 1", "Sample", "Sample requirement.", Status.FAIL,
                         [_CONTROL], "to attest", _RECORD, _RECORD, ["quote"])],
                         {"tls": {"duration_s": 0.1, "error": "sample error"}})],
                     {"timeout_s": 5.0},
                     contract=[ClauseResult("S-2", "sample", "Art. 2", "Sample", "Req.",
                                            Status.MANUAL)])
