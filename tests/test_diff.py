"""`annexscan diff` on two results derived from the real lab report by editing statuses, both
written by the JSON reporter and read back through load_result (schema-validated)."""

from __future__ import annotations

import argparse
import copy
import itertools
from pathlib import Path

import pytest
from rich.console import Console

from report_support import text
from scanner.cli.diff_command import add_diff_parser, diff_command
from scanner.evidence.diff import RANK, diff_results, judge
from scanner.errors import ConfigError
from scanner.model import CLAUSE_STATUSES, ScanResult, Status, combine
from scanner.reporters.base import subjects
from scanner.reporters.json_report import write
from conftest import sample_result


def render(result: ScanResult) -> str:
    return text(write, result)


def clause(result: ScanResult, address: str, status: Status, skip: int = 0):
    target = next(t for t in result.targets if t.address == address)
    return [c for c in target.results if c.status is status][skip]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[ScanResult, ScanResult, dict[str, str]]:
    """OLD is the lab report; NEW regresses, improves, changes and drops clauses of 127.0.0.2
    and adds a target. Returns both and the expected kind per edited clause id."""
    old = sample_result()
    new = copy.deepcopy(old)
    edits = [(Status.PASS, 0, Status.FAIL, "regressed"),
             (Status.PASS, 1, Status.MANUAL, "regressed"),
             (Status.FAIL, 0, Status.PASS, "improved"),
             (Status.MANUAL, 0, Status.ATTESTED, "improved"),
             (Status.FAIL, 1, Status.EXPIRED, "changed")]
    picked = [(clause(new, "127.0.0.2", was, skip), now, kind) for was, skip, now, kind in edits]
    expected = {}
    for found, now, kind in picked:
        found.status = now
        expected[found.clause_id] = kind
    gone = clause(new, "127.0.0.2", Status.ERROR)
    new.targets[0].results.remove(gone)
    expected[gone.clause_id] = "vanished"
    extra = copy.deepcopy(new.targets[1])
    extra.target = extra.address = "127.0.0.9"
    new.targets.append(extra)
    new.finished_at = "2027-02-23T10:00:00+00:00"
    return old, new, expected


def run_diff(tmp_path: Path, old: ScanResult, new: ScanResult, *extra: str) -> tuple[int, str]:
    paths = []
    for name, result in (("old.json", old), ("new.json", new)):
        paths.append(tmp_path / name)
        paths[-1].write_text(render(result), encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_diff_parser(parser.add_subparsers())
    console = Console(record=True, width=250)
    args = parser.parse_args(["diff", *map(str, paths), *extra])
    return diff_command(args, console), console.export_text()


def test_rank_agrees_with_the_model_precedence():
    assert set(RANK) == set(CLAUSE_STATUSES)
    for better, worse in itertools.permutations(CLAUSE_STATUSES, 2):
        if RANK[better] < RANK[worse]:
            assert combine([better, worse]) is worse, (better, worse)
            assert judge(better, worse) == "regressed" and judge(worse, better) == "improved"


def test_kinds_per_clause(pair):
    old, new, expected = pair
    changes = diff_results(old, new)
    edited = {c.clause_id: c.kind for c in changes if c.address == "127.0.0.2"
              and c.kind != "unchanged"}
    assert edited == expected
    added = [c for c in changes if c.address == "127.0.0.9"]
    assert len(added) == len(new.targets[2].results)
    assert all(c.kind == "appeared" and c.whole_target and c.old is None for c in added)
    total = sum(len(t.results) for t in subjects(old))  # the contract's clauses too
    unchanged = sum(c.kind == "unchanged" for c in changes)
    assert unchanged == total - len(expected)
    assert changes[0].kind == "regressed"  # regressions first


def test_command_table_and_ci_gate(pair, tmp_path):
    old, new, expected = pair
    code, out = run_diff(tmp_path, old, new)
    assert code == 0
    for clause_id in expected:
        assert clause_id in out
    assert "(whole target: " in out and "127.0.0.9" in out
    assert "regressed=2  improved=2  changed=1" in out
    code, _ = run_diff(tmp_path, old, new, "--fail-on", "regression")
    assert code == 1
    code, out = run_diff(tmp_path, new, old, "--fail-on", "regression")
    clauses = len(old.targets[0].results)
    assert code == 1 and f"vanished={clauses}" in out and "OLD finished after NEW" in out


def test_identical_results(pair, tmp_path):
    old = pair[0]
    code, out = run_diff(tmp_path, old, old, "--fail-on", "regression")
    assert code == 0 and "regressed=0" in out
    assert f"unchanged={sum(len(t.results) for t in subjects(old))}" in out


def test_bad_inputs(pair, tmp_path):
    old = pair[0]
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_diff_parser(parser.add_subparsers())
    with pytest.raises(ConfigError, match="broken.json:1: not JSON"):
        diff_command(parser.parse_args(["diff", str(broken), str(broken)]), Console())
    twice = copy.deepcopy(old)
    twice.targets.append(copy.deepcopy(old.targets[0]))
    with pytest.raises(ConfigError, match="NEW: target address 127.0.0.2 appears twice"):
        diff_results(old, twice)
