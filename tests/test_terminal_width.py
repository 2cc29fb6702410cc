"""Every table of the terminal at 80 columns, through the real command line (`python -m scanner`
with COLUMNS=80, as in a CI log): nothing cut short, no word split, no Python repr."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from conftest import sample_result
from report_support import text
from scanner.catalog.controls import load_catalog
from scanner.catalog.profiles import load_profile
from scanner.cli.show import schema_text, value_text
from scanner.model import Status
from scanner.reporters.json_report import write
from scanner.reporters.terminal import print_summary

ROOT = Path(__file__).resolve().parent.parent
HOST = "payroll-frontend-01.datacenter-paris.example"  # 44 characters
IPV6 = "2001:db8:4a7f:1c00:ffff:ffff:ffff:fffe"
# Python's reprs: YAML writes null/true/false and quotes a string only when it must ('no')
REPR = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\{'\w+': |\['[^']*', '")


def cli(*args: str, columns: int = 80) -> str:
    """The real command's standard output at that width; it must succeed."""
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "scanner", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def fits(out: str, columns: int = 80) -> None:
    too_long = [line for line in out.splitlines() if len(line) > columns]
    assert not too_long, too_long
    assert "…" not in out


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> tuple[Path, Path, str]:
    """Two real reports (the lab sample, written by the JSON reporter) whose second target is
    renamed to a long host name on an IPv6 address; NEW turns one of its manual clauses to
    fail. Returns both paths and that clause's id."""
    old = sample_result()
    target = old.targets[1]
    target.target, target.address = HOST, IPV6
    new = copy.deepcopy(old)
    changed = next(c for c in new.targets[1].results if c.status is Status.MANUAL)
    changed.status = Status.FAIL
    directory = tmp_path_factory.mktemp("diff")
    paths = []
    for name, result in (("old.json", old), ("new.json", new)):
        paths.append(directory / name)
        paths[-1].write_text(text(write, result), encoding="utf-8")
    return paths[0], paths[1], changed.clause_id


def test_diff_names_the_target_and_statuses_whole_at_80_columns(reports):
    old, new, clause_id = reports
    out = cli("diff", str(old), str(new))
    fits(out)
    words = out.split()
    assert HOST in words and f"({IPV6})" in words
    assert re.search(rf"regressed\s+{re.escape(clause_id)}\s+manual\s+→\s+fail\b", out), out
    assert "regressed=1" in out


def test_diff_reads_on_one_line_per_change_at_200_columns(reports):
    old, new, clause_id = reports
    out = cli("diff", str(old), str(new), columns=200)
    fits(out, 200)
    assert f"{HOST} ({IPV6})" in out.splitlines()
    line = next(line for line in out.splitlines() if clause_id in line)
    assert re.search(r"regressed\s+\S+\s+manual → fail\s+\S", line)  # the title follows


def test_scan_summary_keeps_a_long_target_whole():
    result = sample_result()
    result.targets[1].target, result.targets[1].address = HOST, IPV6
    console = Console(record=True, width=80, color_system=None)
    print_summary(result, console)
    out = console.export_text()
    fits(out)
    targets = "".join(line.split("│")[1] for line in out[:out.index("└")].splitlines()
                      if line.startswith("│"))  # the first column, wrapped lines rejoined
    assert squeezed(targets) == f"contract127.0.0.2{HOST}({IPV6})"  # the contract row first
    assert f"{HOST} ({IPV6}): 11 advisory(ies)" in " ".join(out.split())
    assert re.search(r"\n  fail  3DOUEST-11.2-RAID1 \(Art. 11.2\)\s*\n    « Chaque", out)


def test_profile_show_wraps_at_word_boundaries():
    out = cli("profiles", "show", "3douest")
    fits(out)
    assert not REPR.search(out), REPR.search(out)
    profile = load_profile("3douest", load_catalog())
    words = set(out.split())
    for clause in profile.clauses:
        for word in clause.requirement.split() + [w for q in clause.quote for w in q.split()]:
            assert word in words, (clause.id, word)
    assert "{region: France}" in out  # a profile's own parameter values, as YAML
    assert "document: sources/3douest.txt" in " ".join(out.split())


def test_controls_list_shows_each_parameter_type_and_default():
    out = cli("controls", "list")
    fits(out)
    assert not REPR.search(out), REPR.search(out)
    flat, catalog = squeezed(out), load_catalog()
    for control in catalog:
        assert control.id in out.split()
        for param in control.parameters.values():
            shown = f"{param.name}{schema_text(param.schema)}default:{value_text(param.default)}"
            assert squeezed(shown) in flat, (control.id, param.name)
    lines = " ".join(out.split())
    for expected in ("min one of '1.0', '1.1', '1.2', '1.3' default: '1.2'",
                     "require_encryption boolean or null default: true",
                     "schedule list of mapping (every_days, days) or null default: null",
                     "allowed list of integer from 1 to 65535 default: [22, 80, 443]",
                     "max_signature_age_days number >= 0 or null default: 7"):
        assert expected in lines, expected


def test_values_read_as_yaml():
    assert [value_text(v) for v in (None, True, [443], {"file": "x"}, "1.2", "a\x1b[2J")] == \
        ["null", "true", "[443]", "{file: x}", "'1.2'", '"a\\e[2J"']
    assert schema_text({"type": ["array", "null"], "items": {"enum": ["a", "b"]}}) == \
        "list of (one of a, b) or null"


def test_profile_show_escapes_a_hostile_profile(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text('id: evil\ntitle: "Evil \\e[2J"\nsource: {issuer: "\\e]0;pwned\\a", title: T}\n'
                    "clauses:\n  - id: P-1\n    section: '1'\n    title: Breach\n"
                    '    requirement: "Breach notice \\e[31m in 24 h."\n    manual: true\n'
                    "    attest: The breach procedure.\n", encoding="utf-8")
    out = cli("profiles", "show", str(path))
    assert "\x1b" not in out and "\x07" not in out
    assert "Evil \\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out and "\\x1b[31m" in out
