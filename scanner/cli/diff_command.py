"""The `diff` command: the changes between two saved results, grouped by target.

Each target gets a heading with its full name and address, then one line per changed clause
(`kind  CLAUSE  old → new  title`), wrapped at word boundaries under the clause: no column is
ever cut short, so the host that regressed and the statuses read whole at 80 columns too.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from scanner.evidence.diff import KINDS, Change, diff_results
from scanner.model import ScanResult, Status
from scanner.reporters.load import load_result
from scanner.reporters.terminal import STYLE, indented, printable

KIND_STYLE = {"regressed": "bold red", "improved": "green", "changed": "yellow",
              "appeared": "cyan", "vanished": "magenta"}
TITLE_MIN = 16  # columns left to a clause's title before the ids and statuses fold too


def add_diff_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "diff", help="compare two saved JSON results, clause by clause",
        description="List per target the clauses that regressed, improved, changed, appeared or "
        "vanished between two JSON results. Worse means, best first: pass/not_applicable, "
        "attested, waived, manual, error, fail/expired.",
        epilog="exit codes:\n  0  compared (no regression, or no --fail-on)\n"
        "  1  --fail-on regression and at least one clause regressed\n"
        "  2  an input is not a readable annexscan JSON result")
    parser.add_argument("old", type=Path, metavar="OLD.json", help="the earlier result")
    parser.add_argument("new", type=Path, metavar="NEW.json", help="the later result")
    parser.add_argument("--fail-on", choices=["regression"], default=None,
                        help="exit 1 when any clause regressed (for CI gates)")


def diff_command(args: argparse.Namespace, console: Console) -> int:
    old, new = load_result(args.old), load_result(args.new)
    console.print(Text(f"{printable(args.old)} ({printable(old.finished_at)}) -> "
                       f"{printable(args.new)} ({printable(new.finished_at)})"))
    if _out_of_order(old, new):
        console.print("note: OLD finished after NEW: regressions are relative to the order "
                      "given", style="yellow")
    changes = diff_results(old, new, str(args.old), str(args.new))
    print_diff(changes, console)
    regressed = any(c.kind == "regressed" for c in changes)
    return 1 if args.fail_on == "regression" and regressed else 0


def print_diff(changes: list[Change], console: Console) -> None:
    """Targets in the order of their worst change (regressions first), then the counts."""
    by_target: dict[str, list[Change]] = {}
    for change in changes:
        if change.kind != "unchanged":
            by_target.setdefault(change.address, []).append(change)
    for listed in by_target.values():
        console.print()
        console.print(_target_block(listed, console.width))
    counts = Counter(c.kind for c in changes)
    console.print()
    console.print("  ".join(f"{kind}={counts[kind]}" for kind in KINDS), highlight=False)


def _target_block(changes: list[Change], width: int) -> Group:
    """The target's full name and address, then a row per change: kind, clause, status move,
    title. Only the title wraps unless the screen is too narrow even for the clause ids (rich
    shrinks every wrapping column alike)."""
    first = changes[0]
    name = first.target if first.target == first.address else f"{first.target} ({first.address})"
    head = Text(printable(name), style="bold")
    if first.whole_target:  # the whole target appeared or vanished: one line, not each clause
        head.append_text(Text.assemble(": ", (first.kind, KIND_STYLE[first.kind]),
                                       f" (whole target: {len(changes)} clauses)"))
        return Group(head)
    cells = [(Text(printable(c.clause_id), style="bold"),
              Text.assemble(_status(c.old), " → ", _status(c.new))) for c in changes]
    fixed = sum(max(len(cell[i]) for cell in cells) for i in (0, 1))
    whole = 2 + len("regressed") + fixed + 3 * 2 + TITLE_MIN <= width
    rows = Table.grid(padding=(0, 2, 0, 0))
    rows.add_column(no_wrap=True)
    for _ in range(2):  # clause, status move: whole when they fit, else folded (never cut)
        rows.add_column(no_wrap=whole, overflow="fold")
    rows.add_column(overflow="fold")
    for change, (clause, move) in zip(changes, cells):
        rows.add_row(Text(change.kind, style=KIND_STYLE[change.kind]), clause, move,
                     Text(printable(change.title), style="dim"))
    return Group(head, indented(rows, 2))


def _status(status: Status | None) -> Text:
    return Text(status.value, style=STYLE[status]) if status else Text("-", style="dim")


def _out_of_order(old: ScanResult, new: ScanResult) -> bool:
    try:
        return datetime.fromisoformat(old.finished_at) > datetime.fromisoformat(new.finished_at)
    except (ValueError, TypeError):  # unparsable, or one naive and one aware
        return False
