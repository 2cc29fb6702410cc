"""The end-of-scan summary table on the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from scanner.model import ScanResult, Status

STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.ERROR: "yellow",
         Status.MANUAL: "cyan", Status.NOT_APPLICABLE: "dim"}


def print_summary(result: ScanResult, console: Console, max_listed: int = 8) -> None:
    table = Table(title="annexscan summary (clauses per target)", show_lines=False)
    table.add_column("target")
    for status in (Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL, Status.NOT_APPLICABLE):
        table.add_column(status.value.replace("_", " "), justify="right", style=STYLE[status])
    table.add_column("failing / erroring clauses")
    for target in result.targets:
        counts = target.counts()
        bad = [f"{c.clause_id}{' (error)' if c.status == Status.ERROR else ''}"
               for c in target.results if c.status in (Status.FAIL, Status.ERROR)]
        listed = ", ".join(bad[:max_listed]) + (f" +{len(bad) - max_listed} more"
                                                 if len(bad) > max_listed else "")
        name = target.target if target.target == target.address else \
            f"{target.target} ({target.address})"
        table.add_row(name, *(str(counts[s.value]) for s in (
            Status.PASS, Status.FAIL, Status.ERROR, Status.MANUAL, Status.NOT_APPLICABLE)),
            listed or "-")
    console.print(table)
    total = result.summary()
    console.print(" ".join(f"[{STYLE[Status(k)]}]{k}={v}[/]" for k, v in total.items())
                  + f"  exit code {result.exit_code()}")
