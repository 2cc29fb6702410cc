"""The `diff` command: what changed, clause by clause and target by target, between two scans.

Targets are matched by address and clauses by id. A change is judged by this order, best first
(a status change within one rank is reported as `changed`, neither better nor worse):

  0  pass, not_applicable   verified by a probe, or not concerned
  1  attested               vouched for by a person, not verified by a probe
  2  waived                 failing, under an accepted exception
  3  manual                 unanswered: nobody verified or attested it
  4  error                  could not be evaluated
  5  fail, expired          failing (an expired attestation counts as a failure)

It agrees with the model's worst-wins precedence (scanner.model.combine). A move to a higher
rank is a regression (pass -> manual included: a clause verified before is no longer), to a lower
rank an improvement. Clauses or targets only in NEW appeared; only in OLD, vanished. The
contract's clauses (judged once per scan) are compared as those of a target named `contract`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scanner.errors import ConfigError
from scanner.model import ClauseResult, ScanResult, Status, TargetResult
from scanner.reporters.base import subjects
from scanner.reporters.load import load_result
from scanner.reporters.terminal import STYLE, shown

RANK = {Status.PASS: 0, Status.NOT_APPLICABLE: 0, Status.ATTESTED: 1, Status.WAIVED: 2,
        Status.MANUAL: 3, Status.ERROR: 4, Status.FAIL: 5, Status.EXPIRED: 5}
KINDS = ("regressed", "improved", "changed", "appeared", "vanished", "unchanged")
KIND_STYLE = {"regressed": "bold red", "improved": "green", "changed": "yellow",
              "appeared": "cyan", "vanished": "magenta"}


@dataclass(frozen=True)
class Change:
    kind: str
    target: str
    address: str
    clause_id: str
    title: str
    old: Status | None
    new: Status | None
    whole_target: bool = False  # the whole target appeared or vanished


def judge(old: Status, new: Status) -> str:
    if RANK[new] > RANK[old]:
        return "regressed"
    if RANK[new] < RANK[old]:
        return "improved"
    return "changed" if new != old else "unchanged"


def _index(result: ScanResult, source: str) -> dict[str, tuple[TargetResult,
                                                               dict[str, ClauseResult]]]:
    index = {}
    for target in subjects(result):  # the contract's clauses too, as the subject `contract`
        if target.address in index:
            raise ConfigError(f"{source}: target address {target.address} appears twice; "
                              "diff matches targets by address")
        clauses = {}
        for clause in target.results:
            if clause.clause_id in clauses:
                raise ConfigError(f"{source}: target {target.address}: clause "
                                  f"{clause.clause_id} appears twice")
            clauses[clause.clause_id] = clause
        index[target.address] = (target, clauses)
    return index


def diff_results(old: ScanResult, new: ScanResult, old_source: str = "OLD",
                 new_source: str = "NEW") -> list[Change]:
    """Every clause of either scan with its change, regressions first."""
    before, after = _index(old, old_source), _index(new, new_source)
    changes = []
    for address in sorted(before.keys() | after.keys()):
        old_target, old_clauses = before.get(address, (None, {}))
        new_target, new_clauses = after.get(address, (None, {}))
        name = (new_target or old_target).target
        for clause_id in sorted(old_clauses.keys() | new_clauses.keys()):
            was, now = old_clauses.get(clause_id), new_clauses.get(clause_id)
            if was and now:
                kind = judge(was.status, now.status)
            else:
                kind = "appeared" if now else "vanished"
            changes.append(Change(kind, name, address, clause_id, (now or was).title,
                                  was and was.status, now and now.status,
                                  old_target is None or new_target is None))
    return sorted(changes, key=lambda c: (KINDS.index(c.kind), c.address, c.clause_id))


def _status(status: Status | None) -> str:
    return f"[{STYLE[status]}]{status.value}[/]" if status else "[dim]-[/]"


def print_diff(changes: list[Change], console: Console) -> None:
    listed = [c for c in changes if c.kind != "unchanged"]
    table = Table(title="annexscan diff: clauses that changed")
    for column in ("change", "target", "clause", "title", "old", "new"):
        table.add_column(column, no_wrap=column in ("change", "clause"))
    whole: Counter[tuple[str, str]] = Counter()
    for change in listed:
        if change.whole_target:
            whole[change.kind, change.address] += 1
            continue
        table.add_row(f"[{KIND_STYLE[change.kind]}]{change.kind}[/]", shown(change.target),
                      shown(change.clause_id), shown(change.title), _status(change.old),
                      _status(change.new))
    for (kind, address), count in sorted(whole.items(), key=lambda i: KINDS.index(i[0][0])):
        table.add_row(f"[{KIND_STYLE[kind]}]{kind}[/]", shown(address),
                      f"(whole target: {count} clauses)", "", "", "")
    if listed:
        console.print(table)
    counts = Counter(c.kind for c in changes)
    console.print("  ".join(f"{kind}={counts[kind]}" for kind in KINDS), highlight=False)


def add_diff_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "diff", help="compare two saved JSON results, clause by clause",
        description="List per target the clauses that regressed, improved, changed, appeared or "
        "vanished between two JSON results. Worse means, best first: pass/not_applicable, "
        "attested, waived, manual, error, fail/expired.",
        epilog="exit codes:\n  0  compared (no regression, or no --fail-on)\n"
        "  1  --fail-on regression and at least one clause regressed\n"
        "  2  an input is not a readable annexscan JSON result",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, metavar="OLD.json", help="the earlier result")
    parser.add_argument("new", type=Path, metavar="NEW.json", help="the later result")
    parser.add_argument("--fail-on", choices=["regression"], default=None,
                        help="exit 1 when any clause regressed (for CI gates)")


def diff_command(args: argparse.Namespace, console: Console) -> int:
    old, new = load_result(args.old), load_result(args.new)
    console.print(f"{shown(args.old)} ({shown(old.finished_at)}) -> "
                  f"{shown(args.new)} ({shown(new.finished_at)})", highlight=False)
    if _out_of_order(old, new):
        console.print("note: OLD finished after NEW: regressions are relative to the order "
                      "given", style="yellow")
    changes = diff_results(old, new, str(args.old), str(args.new))
    print_diff(changes, console)
    regressed = any(c.kind == "regressed" for c in changes)
    return 1 if args.fail_on == "regression" and regressed else 0


def _out_of_order(old: ScanResult, new: ScanResult) -> bool:
    try:
        return datetime.fromisoformat(old.finished_at) > datetime.fromisoformat(new.finished_at)
    except (ValueError, TypeError):  # unparsable, or one naive and one aware
        return False
