"""The end-of-scan summary on the terminal: counts per target, then what failed and why."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from scanner.catalog.remediation import first_sentence
from scanner.model import ClauseResult, ControlResult, ScanResult, Status
from scanner.reporters.base import subjects

ORDER = (Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL, Status.ATTESTED, Status.EXPIRED,
         Status.WAIVED, Status.NOT_APPLICABLE, Status.ADVISORY)
STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.ERROR: "yellow",
         Status.MANUAL: "cyan", Status.NOT_APPLICABLE: "dim", Status.ATTESTED: "green",
         Status.EXPIRED: "bold red", Status.WAIVED: "magenta", Status.ADVISORY: "blue"}
SHOWN = (Status.FAIL, Status.EXPIRED, Status.ERROR, Status.WAIVED)
# What a hostile server could use to rewrite the screen or a report: C0/C1 controls (ESC, BEL,
# CR, backspace...), bidi overrides, lone surrogates (unencodable) and the non-characters
# U+FFFE/U+FFFF. This set covers every character XML 1.0 forbids, so JUnit uses it too.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff\ufffe\uffff]")


def printable(text: Any, keep: str = "") -> str:
    """`text` with each unsafe character shown as a visible \\xNN or \\uNNNN escape; the
    characters in `keep` (e.g. a newline inside a CSV cell) are left as they are."""
    def visible(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _UNSAFE.sub(visible, str(text))


def shown(text: Any) -> str:
    """Text from a server, a host or an input file, safe to print with rich markup on."""
    return escape(printable(text))


def indented(renderable: RenderableType, left: int) -> Padding:
    """`renderable` with every line, the wrapped ones too, `left` columns in."""
    return Padding(renderable, (0, 0, 0, left), expand=False)


def labelled(rows: list[tuple[RenderableType, RenderableType]], label_style: str = "",
             gap: int = 2) -> Table:
    """Rows of a label and its text, each text's wrapped lines aligned under its first line
    (a hanging indent). A word wider than the text column is folded, never cut off."""
    grid = Table.grid(padding=(0, gap, 0, 0))
    grid.add_column(no_wrap=True, style=label_style)
    grid.add_column(overflow="fold")
    for label, text in rows:
        grid.add_row(label, text)
    return grid


def print_summary(result: ScanResult, console: Console, max_listed: int = 12,
                  max_reason: int = 160) -> None:
    table = Table(title="annexscan summary: clauses per target")
    table.add_column("target", overflow="fold")  # a long name wraps, whole; never cut off
    # One pass for the counts, one for the details: each pass re-reads a fleet's journal.
    rows = [((t.target, t.address), t.counts()) for t in subjects(result)]  # names, not targets
    columns = [s for s in ORDER if s in (Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL,
                                         Status.NOT_APPLICABLE)
               or any(counts[s.value] for _, counts in rows)]
    for status in columns:
        table.add_column(status.value.replace("_", " "), justify="right", style=STYLE[status],
                         no_wrap=True)
    for (name, address), counts in rows:  # the address on a line of its own: it wraps less
        lines = [name] + ([f"({address})"] if address != name else [])
        table.add_row(Text("\n".join(map(printable, lines))),
                      *(str(counts[s.value]) for s in columns))
    console.print(table)
    total = {s.value: sum(counts[s.value] for _, counts in rows) for s in Status}
    if total[Status.ADVISORY.value]:
        console.print("advisory: hardening advice the annex does not state, not met; it never "
                      "fails a clause nor changes the exit code", highlight=False, style="blue")
    for target in subjects(result):
        explained = {id(c) for c in _print_probe_failures(target, console, max_listed)}
        bad = [c for c in target.results if c.status in SHOWN and id(c) not in explained]
        _print_advisories(target, console, max_listed, max_reason)
        if not bad:
            continue
        console.print(f"[bold]{shown(_name(target))}[/]: {len(bad)} clause(s) failing, "
                      "in error or waived", highlight=False)
        for clause in bad[:max_listed]:
            _print_clause(clause, console, max_reason)
        if len(bad) > max_listed:
            console.print(f"  ... and {len(bad) - max_listed} more (see the JSON report)")
    console.print("total: " + " ".join(f"[{STYLE[Status(k)]}]{k}={v}[/]" for k, v in total.items())
                  + f"  -> exit code {result.exit_code(total)}", highlight=False)
    if not result.complete:
        _print_incomplete(result, console, max_listed)


def _print_clause(clause: ClauseResult, console: Console, max_reason: int) -> None:
    """A clause failing, in error or waived: its status and id, then, indented, the annex's
    words, the waiver or expired attestation, and each failing control."""
    console.print(Text.assemble(
        "  ", (clause.status.value.ljust(5), STYLE[clause.status]),
        f" {printable(clause.clause_id)} ({printable(clause.section)})"))
    lines = []
    if clause.quote:
        words = _short(" ".join(clause.quote[0].split()), max_reason)
        lines.append(Text(f"« {printable(words)} »", style="italic"))
    if clause.waiver:
        lines.append(Text(printable(f"waiver: {clause.waiver.get('justification', '')}")))
    if clause.status == Status.EXPIRED and clause.attestation:
        lines.append(Text(printable(f"attestation expired {clause.attestation.get('expires')}")))
    for control in clause.binding():
        if control.status in (Status.FAIL, Status.ERROR):
            lines += _control_lines(control, max_reason)
    if lines:
        console.print(indented(Group(*lines), 4))


def _control_lines(control: ControlResult, max_reason: int) -> list[Text]:
    """What a failing or erroring control says under its clause: `control_id: reason`, then
    `fix: ` and the first sentence of its remediation (the snippets are in the reports)."""
    return [Text(printable(f"{control.control_id}: {_short(control.reason, max_reason)}"))] \
        + _fix_line(control)


def _fix_line(control: ControlResult) -> list[Text]:
    if not control.remediation:
        return []
    return [Text(printable(f"fix: {first_sentence(control.remediation['text'])}"), "green")]


def _print_incomplete(result: ScanResult, console: Console, max_listed: int) -> None:
    """The banner of an interrupted scan: what it lacks, and how to finish it."""
    missing = result.unscanned
    names = ", ".join(shown(t["target"] if t["target"] == t["address"] else
                            f"{t['target']} ({t['address']})") for t in missing[:max_listed])
    more = f", ... and {len(missing) - max_listed} more" if len(missing) > max_listed else ""
    console.print(f"[bold red]INCOMPLETE SCAN[/]: interrupted before every target was scanned; "
                  f"{len(missing)} target(s) not scanned: {names}{more}. These reports cover "
                  "the finished targets only; run the same command with --resume DIR (its -o "
                  "directory) to finish it.", highlight=False, overflow="fold")


def _print_probe_failures(target, console: Console, max_listed: int,
                          max_error: int = 400) -> list[ClauseResult]:
    """One line per failed probe (probes failing alike share it) with the clauses in error
    because of it, so a host without SSH is said once, not on each of its clauses. Returns
    those clauses: nothing else is wrong with them, so they are not listed again."""
    by_error: dict[str, list[str]] = {}
    for name, info in target.probes.items():
        if info.get("error"):
            by_error.setdefault(info["error"], []).append(name)
    failed = {name for names in by_error.values() for name in names}
    explained = [c for c in target.results if c.status == Status.ERROR and all(
        ctl.evidence.get("failed_probe") in failed for ctl in c.binding()
        if ctl.status in (Status.FAIL, Status.ERROR))]
    for error, names in by_error.items():
        caused = [c for c in explained if any(ctl.evidence.get("failed_probe") in names
                                              for ctl in c.binding())]
        line = f"[bold]{shown(_name(target))}[/]: {shown(', '.join(names))} " \
            f"probe{'s' if len(names) > 1 else ''}: {shown(_short(error, max_error))}"
        if caused:
            ids = ", ".join(c.clause_id for c in caused[:max_listed])
            more = f", ... and {len(caused) - max_listed} more" if len(caused) > max_listed else ""
            line += f"; [{STYLE[Status.ERROR]}]{len(caused)} clause(s) in error[/] because of " \
                f"it: {shown(ids + more)}"
        console.print(line, highlight=False, overflow="fold")
    return explained


def _print_advisories(target, console: Console, max_listed: int, max_reason: int) -> None:
    advisories = [(clause, control) for clause in target.results
                  for control in clause.advisories()]
    if not advisories:
        return
    console.print(f"[bold]{shown(_name(target))}[/]: {len(advisories)} advisory(ies)",
                  highlight=False)
    console.print(indented(labelled(
        [("advice", Group(Text(printable(f"{clause.clause_id} {control.control_id}: "
                                         f"{_short(control.reason, max_reason)}")),
                          *_fix_line(control)))
         for clause, control in advisories[:max_listed]], "blue", gap=1), 2))
    if len(advisories) > max_listed:
        console.print(f"  ... and {len(advisories) - max_listed} more (see the JSON report)")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _name(target) -> str:
    return target.target if target.target == target.address else \
        f"{target.target} ({target.address})"
