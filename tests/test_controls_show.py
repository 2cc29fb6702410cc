"""`annexscan controls show ID` through the real command line at 80 columns (COLUMNS=80, as in a
CI log): verdicts, parameters, the remediation rendered with the defaults or with a profile's
values, the automated fix or why there is none, the profiles using it; an unknown id; a hostile
profile's control characters shown escaped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from scanner.catalog.controls import load_catalog
from scanner.catalog.profiles import builtin_profile_ids, load_profile
from scanner.catalog.remediation import render_remediation
from scanner.remediation.fixes import load_fixes

ROOT = Path(__file__).resolve().parent.parent
REPR = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\{'\w+': |\['[^']*', '")
SNIPPET_INDENT = " " * 8


@lru_cache(maxsize=1)
def snippet_lines() -> frozenset[str]:
    """Every configuration line a remediation renders, with the defaults or a built-in profile's
    parameters: the only lines that may pass 80 columns (code is not re-wrapped)."""
    catalog = load_catalog()
    params = [(control, {}) for control in catalog] + [
        (catalog.get(ref.control_id), ref.parameters) for pid in builtin_profile_ids()
        for clause in load_profile(pid, catalog).clauses for ref in clause.controls]
    return frozenset(line for control, given in params
                     for snippet in (render_remediation(control, given) or {}).get("snippets", [])
                     for line in snippet["text"].splitlines())


def show(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "scanner", "controls", "show", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def shown(*args: str) -> str:
    done = show(*args)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    too_long = [line.rstrip() for line in out.splitlines() if len(line.rstrip()) > 80]
    assert all(line.startswith(SNIPPET_INDENT) and line[len(SNIPPET_INDENT):] in snippet_lines()
               for line in too_long), too_long
    assert "…" not in out and not REPR.search(out), REPR.search(out)
    return out


def flat(text: str) -> str:
    return " ".join(text.split())


def section(out: str, heading: str) -> str:
    """The lines from a heading (a line starting with it) to the next blank line."""
    match = re.search(rf"^{re.escape(heading)}.*?(?=\n\s*\n|\Z)", out, re.M | re.S)
    assert match, (heading, out)
    return match.group()


def test_defaults_show_tls_1_2_the_fix_and_where_it_is_used():
    out = shown("tls.min_version")
    words = flat(out)
    assert "tls.min_version automated, probe tls, severity high" in words
    assert "not applicable the target has no TLS service" in words
    assert "min one of '1.0', '1.1', '1.2', '1.3' default: '1.2' oldest accepted TLS" in words
    remediation = section(out, "remediation, with the catalog's defaults")
    assert "Accept only TLS 1.2 and newer" in flat(remediation)
    # snippets are code: each line whole, on a line of its own, never re-wrapped
    assert "\n        ssl_protocols TLSv1.2 TLSv1.3;\n" in remediation
    assert "\n        SSLProtocol -all +TLSv1.2 +TLSv1.3\n" in remediation
    fix = load_fixes(load_catalog()).fixes["tls.min_version"]
    assert f"annexscan remediate can fix this: {fix.tasks[0]['name']}." in words
    assert flat(fix.safe) in words and flat(fix.leaves) in words
    used = flat(section(out, "in the built-in profiles"))
    assert "3douest 3DOUEST-A1.VIII-FLOWS, 3DOUEST-A1.VIII-FLOWS (advice)" in used
    assert "slime SLIME-AN2.6-CRYPTO-TRANSIT" in used


def test_a_profile_shows_its_own_values_and_renders_the_remediation_with_them():
    catalog = load_catalog()
    uses = [(c.id, r) for c in load_profile("3douest", catalog).clauses for r in c.controls
            if r.control_id == "tls.min_version"]
    annex = next(ref for _, ref in uses if ref.binding)
    assert annex.parameters["min"] == "1.0"  # what the annex allows, not the catalog's 1.2
    out = shown("tls.min_version", "--profile", "3douest")
    words = flat(out)
    assert "in 3douest: 3DOUEST-A1.VIII-FLOWS '1.0' 3DOUEST-A1.VIII-FLOWS (advice) '1.2'" in words
    annex_part = flat(section(out, "remediation in 3douest for 3DOUEST-A1.VIII-FLOWS\n"))
    assert "Accept only TLS 1.0 and newer" in annex_part
    assert "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;" in annex_part
    advice_part = flat(section(out, "remediation in 3douest for 3DOUEST-A1.VIII-FLOWS (advice)"))
    assert "Accept only TLS 1.2 and newer" in advice_part and "ssh excepted" in advice_part
    assert "catalog's defaults" not in out


def test_clauses_with_the_same_parameters_share_one_remediation(tmp_path):
    profile = tmp_path / "twice.yaml"
    profile.write_text(
        "id: twice\ntitle: Two clauses alike\nclauses:\n" + "".join(
            f"  - id: T-{n}\n    section: '{n}'\n    title: TLS\n    requirement: Only TLS 1.3 is accepted.\n"
            "    controls: [{control: tls.min_version, parameters: {min: '1.3'}}]\n"
            for n in (1, 2)))
    out = shown("tls.min_version", "-p", str(profile))
    assert out.count("remediation in twice") == 1
    assert "remediation in twice for T-1, T-2" in out and "ssl-min-ver TLSv1.3" in out


def test_a_control_without_automated_fix_says_why():
    out = shown("host.firewall")
    reason = load_fixes(load_catalog()).not_automated["host.firewall"]
    assert f"no automated fix: {flat(reason)}" in flat(section(out, "automated fix"))
    assert "annexscan remediate can fix this" not in out
    manual = shown("org.mfa")
    assert "no automated fix: a manual control" in flat(manual)


def test_an_unknown_id_exits_2_naming_the_closest():
    done = show("tls.min_versoin")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "unknown control id 'tls.min_versoin'" in done.stderr
    assert "closest: tls.min_version" in done.stderr
    hostile = show("no\x1b[2Jsuch")
    assert hostile.returncode == 2 and "\x1b" not in hostile.stderr
    assert "no\\x1b[2Jsuch" in hostile.stderr


def test_a_hostile_profile_puts_no_escape_on_the_terminal(tmp_path):
    profile = tmp_path / "hostile.yaml"
    profile.write_text(
        'id: hostile\ntitle: "Hostile \\e]0;owned\\a"\nclauses:\n'
        "  - id: H-1\n    section: '1'\n    title: TLS\n    requirement: All flows.\n"
        "    controls:\n      - control: tls.min_version\n"
        '        parameters: {all_flows: true, non_tls_allowed: ["ssh\\e[2J\\e[31m"]}\n')
    out = shown("tls.min_version", "--profile", str(profile))
    assert "\x1b" not in out and "\x07" not in out
    assert "(ssh\\x1b[2J\\x1b[31m excepted)" in flat(out)  # the rendered remediation
    assert 'in hostile: H-1 ["ssh\\e[2J\\e[31m"]' in flat(out)  # the value, as YAML writes it


def test_every_control_reads_at_80_columns_and_says_whether_it_can_be_fixed(monkeypatch, capsys):
    from scanner.cli import control_show
    from scanner.cli.main import main
    # the same catalog and profiles for each control: loaded once, not 41 times
    monkeypatch.setattr(control_show, "load_catalog", lru_cache(load_catalog))
    monkeypatch.setattr(control_show, "load_profile", lru_cache(load_profile))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    for control in load_catalog():
        assert main(["controls", "show", control.id]) == 0
        out = capsys.readouterr().out
        too_long = [line.rstrip() for line in out.splitlines() if len(line.rstrip()) > 80]
        assert all(line[len(SNIPPET_INDENT):] in snippet_lines() for line in too_long), too_long
        assert not REPR.search(out), (control.id, REPR.search(out))
        fix = flat(section(out, "automated fix"))
        assert ("annexscan remediate can fix this:" in fix) != ("no automated fix:" in fix)


def test_a_snippet_line_wider_than_the_terminal_is_printed_whole():
    out = shown("ssh.algorithms")
    macs = next(line for line in snippet_lines() if line.startswith("MACs -") and len(line) > 80)
    assert f"\n{SNIPPET_INDENT}{macs}\n" in out


def test_controls_list_points_to_controls_show():
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "scanner", "controls", "list"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120).stdout
    assert "`annexscan controls show ID`" in flat(out.split("\n\n")[0])
