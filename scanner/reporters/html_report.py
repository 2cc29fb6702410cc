"""The HTML report: one self-contained page an auditor opens in a browser.

Every value from the result is escaped (a hostile server's banner is text, never markup), and a
Content-Security-Policy forbids every fetch and runs only the page's own filter script (pinned by
hash), so the page loads nothing from the network even if opened online. Evidence links are
relative to the bundle root, where this file sits as report.html:
evidence/<address>/<probe>.json.gz.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from typing import Any, Iterable, TextIO
from urllib.parse import quote

from scanner import __version__
from scanner.evidence.layout import evidence_path
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult
from scanner.reporters.base import Contract, subjects
from scanner.reporters.html_template import COLORS, CSS, MEANING, ORDER, SCRIPT, status_css
from scanner.reporters.html_values import esc, json_block, record_box

FORMAT = "html"
EXTENSION = "html"

LABEL_CHARS = 46     # section names on the chart's axis (the full name is in a tooltip)
OUTCOME = {1: "Non-compliant: at least one clause fails or has an expired attestation",
           3: "Incomplete: no failure, but some clauses could not be checked (error)",
           0: "No failing clause: automated controls pass; see manual clauses below"}


def badge(status: Status, text: str | None = None) -> str:
    label = status.value.replace("_", " ") if text is None else text
    return (f'<span class="badge b-{status.value}" title="{esc(MEANING[status])}">'
            f"{esc(label)}</span>")


def evidence_href(address: str, probe: str) -> str:
    return quote(evidence_path(address, probe))


def target_name(target: TargetResult) -> str:
    """Name, and the address when it differs (escaped)."""
    if target.target == target.address:
        return esc(target.target)
    return f'{esc(target.target)} <span class="addr mono">{esc(target.address)}</span>'


def anchor(target: TargetResult, clause: ClauseResult) -> str:
    return _anchor(target.target, clause.clause_id)


def _anchor(target: str, clause_id: str) -> str:
    return re.sub(r"\s", "_", f"{target}/{clause_id}")


def section_group(section: str) -> str:
    """The annex section a clause is charted under: its first reference without qualifiers,
    e.g. "Art. 11.8 table, row 'X'; Art. 4.5" -> "Art. 11.8", "Annexe 2 §8, 3rd paragraph" ->
    "Annexe 2 §8", "Annexe I §VIII (traçabilité)" -> "Annexe I §VIII"."""
    first = re.split(r" \(|, (?=[a-z0-9¶])| table\b", section.split(";")[0])[0].strip()
    return first or "(no section)"


def table(head: str, rows: list[str], css: str = "") -> str:
    css = f' class="{css}"' if css else ""
    return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _profile_clauses(target: TargetResult, profile_id: str) -> list[ClauseResult]:
    return [c for c in target.results if c.profile == profile_id]


def _counts(clauses: Iterable[ClauseResult]) -> Counter:
    return Counter(c.status for c in clauses)


def _dist(counts: Counter) -> str:
    total = sum(counts[s] for s in ORDER) or 1
    parts = "".join(f'<span style="width:{100 * counts[s] / total:.2f}%;background:{COLORS[s]}" '
                    f'title="{esc(s.value)}: {counts[s]}"></span>' for s in ORDER if counts[s])
    return f'<div class="dist">{parts}</div>'


def legend(explained: bool = True) -> str:
    items = "".join(f"<span>{badge(s)}{esc(MEANING[s]) if explained else ''}</span>"
                    for s in (*ORDER, Status.ADVISORY) if explained or s in ORDER)
    return f'<div class="legend">{items}</div>'


def header(result: ScanResult) -> str:
    code = result.exit_code()
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
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in meta)
    return (f'<header class="top"><div class="inner"><div class="brand">annexscan '
            f'{esc(__version__)} · compliance evidence report</div>'
            f'<h1>Contract annex compliance report</h1>'
            f'<div class="outcome o-{code}">{esc(OUTCOME.get(code, f"exit code {code}"))}'
            f' (exit code {code})</div><dl class="meta">{items}</dl></div></header>')


def profiles_table(result: ScanResult) -> str:
    rows = []
    for profile in result.profiles:
        source = profile.get("source") or {}
        rows.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
            profile.get("id", ""), profile.get("title", ""), source.get("issuer", ""),
            source.get("title", ""), source.get("version", ""), source.get("date", ""),
            source.get("document", ""))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("Profile", "Title", "Issuer", "Source document",
                                             "Version", "Date", "Source file"))
    return (f'<section class="card" id="profiles"><h2>Profiles and their source documents</h2>'
            f"{table(head, rows)}</section>")


def summary_table(result: ScanResult, out: TextIO) -> None:
    head = ("<th>Target</th><th>Profile</th>"
            + "".join(f'<th class="n">{badge(s)}</th>' for s in ORDER)
            + '<th class="n">Total</th><th>Distribution</th>'
            + f'<th class="n">{badge(Status.ADVISORY, "advisories")}</th>')
    out.write(f'<section class="card" id="summary"><h2>Summary per target and profile</h2>'
              f"<p class=\"note\">Clause verdicts. A clause takes the worst status of the controls "
              f"its annex requires; fail and expired count as failures. Advisories are advice "
              f"controls (hardening the annex does not state) that were not met: shown, never "
              f"failing a clause.</p>{legend()}<table><thead><tr>{head}</tr></thead><tbody>")
    rows = 0
    totals: Counter = Counter()
    for target in subjects(result):
        for profile in result.profiles:
            clauses = _profile_clauses(target, profile["id"])
            counts = _counts(clauses) + Counter(
                {Status.ADVISORY: sum(len(c.advisories()) for c in clauses)})
            totals += counts
            rows += 1
            out.write(_summary_row(target_name(target), esc(profile["id"]), counts))
    if rows > 1:
        out.write(_summary_row("<strong>All targets</strong>", "", totals))
    out.write("</tbody></table></section>")


def _summary_row(target_cell: str, profile_cell: str, counts: Counter) -> str:
    def cell(s: Status) -> str:
        return f'<td class="n">{badge(s, str(counts[s]))}</td>' if counts[s] else \
            '<td class="n zero">0</td>'
    return (f"<tr><td>{target_cell}</td><td>{profile_cell}</td>{''.join(map(cell, ORDER))}"
            f'<td class="n">{sum(counts[s] for s in ORDER)}</td><td>{_dist(counts)}</td>'
            f"{cell(Status.ADVISORY)}</tr>")


def chart(result: ScanResult, profile: dict[str, Any]) -> str:
    """Horizontal stacked bars: clause results per annex section (all targets), worst first."""
    groups: dict[str, Counter] = {}
    for target in subjects(result):
        for clause in _profile_clauses(target, profile["id"]):
            groups.setdefault(section_group(clause.section), Counter())[clause.status] += 1
    if not groups:
        return ""
    longest = max(len(name) for name in groups)
    label_w, bar_w, row_h, top = min(330, 16 + 7 * min(longest, LABEL_CHARS)), 760, 24, 26
    scale = bar_w / max(sum(c.values()) for c in groups.values())
    height = top + row_h * len(groups) + 8
    parts = [f'<svg class="chart" role="img" '
             f'viewBox="0 0 {label_w + bar_w + 50} {height}" '
             f'aria-label="Statuses per annex section, profile {esc(profile["id"])}">']
    step = max(1, round(max(sum(c.values()) for c in groups.values()) / 8))
    for tick in range(0, int(bar_w / scale) + 1, step):
        x = label_w + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 6}"/>'
                     f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle">{tick}</text>')
    for row, (name, counts) in enumerate(groups.items()):
        y = top + row * row_h
        label = name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                     f"<title>{esc(name)}</title>{esc(label)}</text>")
        x = float(label_w)
        for status in ORDER:
            if not counts[status]:
                continue
            width = counts[status] * scale
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
                         f'fill="{COLORS[status]}"><title>{esc(name)}: {counts[status]} '
                         f"{esc(status.value)}</title></rect>")
            if width >= 16:
                dark = " dk" if status in (Status.MANUAL, Status.NOT_APPLICABLE) else ""
                parts.append(f'<text class="in{dark}" x="{x + width / 2:.1f}" y="{y + 15}" '
                             f'text-anchor="middle">{counts[status]}</text>')
            x += width
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}">{sum(counts.values())}</text>')
    parts.append("</svg>")
    return "".join(parts)


def charts(result: ScanResult) -> str:
    body = "".join(f"<h3>{esc(p['id'])}: {esc(p.get('title', ''))}</h3>{chart(result, p)}"
                   for p in result.profiles)
    return (f'<section class="card" id="chart"><h2>Statuses per annex section</h2>'
            f'<p class="note">Clause results of all targets, grouped by the first section each '
            f"clause cites (hover a bar for its name and count).</p>{legend(False)}{body}"
            "</section>")


def matrix(result: ScanResult, out: TextIO) -> None:
    """Clause x target grid of verdicts, each linking to the clause's details. One pass per
    profile keeps only each target's name and each clause's status per target."""
    out.write('<section class="card" id="matrix"><h2>Verdict matrix</h2>'
              "<p class=\"note\">Every clause against every target; a verdict links to its "
              "details below.</p>")
    for profile in result.profiles:
        names: list[str] = []
        rows: dict[str, tuple[str, dict[int, Status]]] = {}  # clause -> title, column -> status
        for column, target in enumerate(subjects(result)):
            names.append(target.target)
            for clause in _profile_clauses(target, profile["id"]):
                rows.setdefault(clause.clause_id, (clause.title, {}))[1].setdefault(
                    column, clause.status)
        head = "<th>Clause</th><th>Title</th>" + "".join(f"<th>{esc(n)}</th>" for n in names)
        out.write(f'<h3>{esc(profile["id"])}</h3><table class="matrix"><thead><tr>{head}</tr>'
                  "</thead><tbody>")
        for clause_id, (title, statuses) in rows.items():
            cells = "".join(
                f'<td><a href="#{esc(quote(_anchor(name, clause_id), safe="/:@"))}">'
                f"{badge(statuses[column])}</a></td>" if column in statuses else "<td></td>"
                for column, name in enumerate(names))
            out.write(f'<tr><td class="mono">{esc(clause_id)}</td><td>{esc(title)}</td>'
                      f"{cells}</tr>")
        out.write("</tbody></table>")
    out.write("</section>")


def filters(result: ScanResult, out: TextIO) -> None:
    boxes = "".join(f'<label><input type="checkbox" name="status" value="{s.value}" checked> '
                    f"{badge(s)}</label>" for s in ORDER)
    out.write(f'<div class="filters" id="filters" hidden><strong>Filter</strong>{boxes}'
              f'<label>target <select><option value="">all targets</option>')
    for target in subjects(result):
        out.write(f'<option value="{esc(target.target)}">{esc(target.target)}</option>')
    out.write('</select></label><span id="shown" class="note"></span></div>')


def target_section(index: int, target: TargetResult, result: ScanResult) -> str:
    probes = "".join(
        f'<tr><td class="mono">{esc(name)}</td>'
        f'<td class="n">{esc(info.get("duration_s", ""))} s</td>'
        f"<td>{esc(info['error']) if info.get('error') else 'ok'}</td>"
        f'<td><a href="{esc(evidence_href(target.address, name))}">'
        f"{esc(evidence_href(target.address, name))}</a></td></tr>"
        for name, info in target.probes.items())
    body = [f'<section class="card target" id="target-{index}" data-target="{esc(target.target)}">'
            + ("<h2>The contract: clauses no probe answers, judged once for every target</h2>"
               if isinstance(target, Contract) else f"<h2>Target {target_name(target)}</h2>")]
    if probes:
        body.append(table('<th>Probe</th><th class="n">Duration</th><th>Outcome</th>'
                          "<th>Raw evidence</th>", [probes], "probes"))
    for profile in result.profiles:
        clauses = _profile_clauses(target, profile["id"])
        body.append(f"<h3>{esc(profile['id'])}: {len(clauses)} clause(s)</h3>")
        body.extend(clause_article(target, clause) for clause in clauses)
    body.append("</section>")
    return "".join(body)


def clause_article(target: TargetResult, clause: ClauseResult) -> str:
    parts = [f'<article class="clause s-{clause.status.value}" id="{esc(anchor(target, clause))}" '
             f'data-status="{clause.status.value}" data-target="{esc(target.target)}"><header>'
             f'{badge(clause.status)}<span class="cid">{esc(clause.clause_id)}</span>'
             f'<span class="ctitle">{esc(clause.title)}</span>'
             f'<span class="section">{esc(clause.section)}</span></header>'
             f'<div class="req"><span class="label">Requirement</span>'
             f"{esc(clause.requirement)}</div>"]
    if clause.quote:
        parts.append('<blockquote class="quote" lang="fr"><span class="label">'
                     "The annex's words</span>"
                     + "".join(f"<p>« {esc(q)} »</p>" for q in clause.quote) + "</blockquote>")
    if clause.controls:
        parts.append(controls_table(target, clause.controls))
    if clause.attest:
        parts.append(f'<div class="box attest"><span class="label">To attest</span>'
                     f"{esc(clause.attest)}</div>")
    if clause.attestation:
        parts.append(record_box("Attestation", "attestation", clause.attestation))
    if clause.waiver:
        parts.append(record_box("Waiver", "waiver", clause.waiver))
    parts.append("</article>")
    return "".join(parts)


def controls_table(target: TargetResult, controls: list[ControlResult]) -> str:
    rows = []
    for control in controls:
        links = " ".join(f'<a href="{esc(evidence_href(target.address, p))}">{esc(p)}</a>'
                         for p in control.evidence.get("probes", []))
        took = control.duration_s + control.probe_duration_s
        rows.append(f'<tr><td><span class="mono">{esc(control.control_id)}</span><br>'
                    f'{esc(control.title)}<br><span class="sev">severity {esc(control.severity)}'
                    + (f" · {took:.2f} s" if took else "") + "</span>"
                    + ('<br><span class="basis" title="hardening the profile adds; it never '
                       'fails the clause">advice</span>' if control.basis == "advice" else "")
                    + "</td>"
                    f"<td>{badge(control.status)}</td><td>{json_block(control.expected)}</td>"
                    f"<td>{json_block(control.observed)}</td><td>{esc(control.reason)}</td>"
                    f"<td>{links}</td></tr>")
    return ('<table class="controls"><colgroup><col style="width:20%"><col style="width:11%">'
            '<col style="width:20%"><col style="width:24%"><col style="width:18%">'
            '<col style="width:7%"></colgroup><thead><tr><th>Control</th><th>Status</th>'
            "<th>Expected</th><th>Observed</th><th>Reason</th><th>Evidence</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def write(result: ScanResult, out: TextIO) -> None:
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; "
              "img-src data:; base-uri 'none'; form-action 'none'")
    names = ", ".join(p.get("id", "") for p in result.profiles)
    out.write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
              f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
              '<meta name="viewport" content="width=device-width, initial-scale=1">'
              f"<title>annexscan report: {esc(names)} ({esc(result.started_at)})</title>"
              f"<style>{CSS}{status_css()}</style></head><body>{header(result)}<main>"
              f"{profiles_table(result)}")
    summary_table(result, out)
    out.write(charts(result))
    matrix(result, out)
    filters(result, out)
    for index, target in enumerate(subjects(result)):
        out.write(target_section(index, target, result))
    out.write(f"<footer>Generated by annexscan {esc(__version__)}. Times are ISO 8601 as "
              "recorded by the scanner; an expiry given without a time is the end of that day, "
              "UTC. Raw "
              "evidence links are relative to the bundle root (evidence/&lt;address&gt;/"
              "&lt;probe&gt;.json.gz); this page loads nothing from the network.</footer></main>"
              f"<script>{SCRIPT}</script></body></html>\n")
