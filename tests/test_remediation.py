"""Remediation on every control: the catalog's templates, the profile's parameters flowing in,
and every format showing how to fix each failing or advisory control.

The snippets themselves are checked by the real programs in test_remediation_configs.py.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from conftest import scan_lab_with
from scanner.catalog.controls import load_catalog
from scanner.catalog.profiles import ControlRef, builtin_profile_ids, load_profile
from scanner.catalog.remediation import render_remediation
from scanner.catalog.resources import controls_dir, report_schema_path
from scanner.checks.base import Observations
from scanner.engine import ScanJob, ScanOptions, judge_control, plan_scan
from scanner.errors import ConfigError
from scanner.evidence import journal
from scanner.evidence.journal import JournalWriter
from scanner.model import ProbeResult, Status, to_jsonable
from scanner.reporters import csv_report, html_report, json_report, sarif
from scanner.reporters.load import load_result
from scanner.reporters.terminal import print_summary
from scanner.scope.targets import Target
from report_support import text as written
from test_sarif_csv import assert_valid

TO_FIX = (Status.FAIL, Status.ADVISORY)


def rendered(control, params) -> str:
    """A remediation's text and snippets as one string."""
    fix = render_remediation(control, params)
    return fix["text"] + "\n" + "".join(s["text"] for s in fix["snippets"])


@pytest.fixture(scope="module")
def refs(catalog) -> list[tuple[str, ControlRef]]:
    """(profile id, control ref) for every automated control of every built-in profile."""
    return [(profile_id, ref) for profile_id in builtin_profile_ids()
            for clause in load_profile(profile_id, catalog).clauses for ref in clause.controls
            if catalog.get(ref.control_id).automated]


# ---------------------------------------------------------------------------- the catalog

def test_every_automated_control_has_a_remediation(catalog):
    automated = [c for c in catalog if c.automated]
    assert len(automated) == 32
    for control in automated:
        fix = render_remediation(control, {})
        assert control.remediation["snippets"], control.id
        assert 20 < len(fix["text"]) <= 400, control.id
        assert all(s["text"].endswith("\n") and s["text"].strip() for s in fix["snippets"])


def catalog_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The built-in catalog in tmp_path with one text of `name` replaced."""
    directory = tmp_path / "controls"
    shutil.copytree(controls_dir(), directory)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return directory


@pytest.mark.parametrize("old, new, message", [
    # a typo in the branch the defaults take, one in a branch they do not, a syntax error
    ("Accept only TLS {{ min }}", "Accept only TLS {{ minimum }}", r"unknown name\(s\) minimum"),
    ("(non_tls_allowed | comma)", "(non_tls_alowed | comma)", r"unknown name\(s\) non_tls_alowed"),
    ("Accept only TLS {{ min }}", "Accept only TLS {{ min }", r"line 1: unexpected '}'"),
])
def test_a_broken_template_fails_the_catalog_load(tmp_path, old, new, message):
    directory = catalog_copy(tmp_path, "tls.yaml", old, new)
    with pytest.raises(ConfigError, match=r"controls/tls\.yaml:\d+: field 'controls\[1\]"
                                          r"\.remediation\.text': control tls\.min_version: "
                                          r"remediation\.text: .*" + message):
        load_catalog(directory)


def test_an_automated_control_without_remediation_is_refused(tmp_path):
    directory = catalog_copy(tmp_path, "http.yaml", "    remediation:\n", "    remediation_:\n")
    with pytest.raises(ConfigError, match=r"http\.yaml:\d+: .*remediation"):
        load_catalog(directory)


def test_a_profile_value_a_template_cannot_take_fails_before_probing(tmp_path):
    """A template indexing a list: the defaults render, a profile's empty list does not."""
    directory = catalog_copy(tmp_path, "ssh.yaml", "Require a second factor after the key:",
                             "Require {{ second_factor_methods[0] }} after the key:")
    catalog = load_catalog(directory)
    profile = tmp_path / "mfa.yaml"
    profile.write_text("id: mfa-test\ntitle: MFA everywhere\nsource: {issuer: tests, title: t}\n"
                       "clauses:\n  - {id: M-1, section: '1', title: Second factor,\n"
                       "     requirement: A second factor after the key.,\n"
                       "     controls: [{control: ssh.mfa, parameters: "
                       "{second_factor_methods: []}}]}\n")
    with pytest.raises(ConfigError, match=r"control ssh\.mfa: remediation\.text: .*"
                                          r"\(parameters of profile mfa-test\)"):
        plan_scan([load_profile(str(profile), catalog)], catalog, ScanOptions())


# ---------------------------------------------------------------------------- parameters

def test_every_builtin_profile_renders_its_own_values(catalog, refs):
    """With each profile's parameters: no `None`, no template left, and every number or text
    that differs from the catalog default and that a template names shows in the output."""
    for profile_id, ref in refs:
        control = catalog.get(ref.control_id)
        out = rendered(control, ref.parameters)
        assert "None" not in out and "{{" not in out and "{%" not in out, (profile_id, out)
        sources = json.dumps(control.remediation)
        for name, value in ref.parameters.items():
            default = control.parameters[name].default
            if isinstance(value, (int, str)) and not isinstance(value, bool) \
                    and value != default and re.search(rf"\b{name}\b", sources):
                assert str(value) in out, (profile_id, ref.control_id, name)


def nullable(control) -> list[str]:
    return [name for name, p in control.parameters.items()
            if "null" in str(p.schema.get("type", "")) or p.default is None]


def test_every_rule_switched_off_still_renders_plain_text(catalog):
    """A profile may set any threshold to null (not checked): one at a time and all at once,
    the text stays a sentence and no `None` shows."""
    for control in (c for c in catalog if c.automated):
        names = nullable(control)
        for off in [[name] for name in names] + [names]:
            fix = render_remediation(control, {name: None for name in off})
            out = fix["text"] + "".join(s["text"] for s in fix["snippets"])
            assert "None" not in out and fix["text"].endswith("."), (control.id, off, out)


def profile_fix(catalog, refs, profile_id: str, control_id: str, **params) -> str:
    """The remediation of the profile's first ref of control_id whose parameters include
    `params`."""
    for pid, ref in refs:
        if pid == profile_id and ref.control_id == control_id and \
                params.items() <= ref.parameters.items():
            return rendered(catalog.get(control_id), ref.parameters)
    raise AssertionError(f"{profile_id} has no {control_id} with {params}")


def test_profile_values_replace_the_catalog_defaults(catalog, refs):
    ports = profile_fix(catalog, refs, "slime", "net.allowed_ports", allowed=[80, 443])
    assert "Close every TCP and UDP port but 80, 443:" in ports and "tcp dport { 80, 443 } accept" in ports
    assert "22" not in ports.replace("SSH port", "")  # the default allowlist is 22, 80, 443

    tls = profile_fix(catalog, refs, "3douest", "tls.min_version", min="1.0")
    assert "Accept only TLS 1.0 and newer" in tls
    assert "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;" in tls and "ssl-min-ver TLSv1.0" in tls
    assert "TLS below 1.2" not in tls and "ssl-min-ver TLSv1.2" not in tls
    assert " among ports 443," in profile_fix(catalog, refs, "zenlocassur", "tls.min_version",
                                              min="1.0")

    daily = profile_fix(catalog, refs, "teranga", "host.backups",
                        schedule=[{"every_days": 1, "days": 365}])
    assert "daily for 365 days, keeping 365 days" in daily and "-mtime +365 -delete" in daily
    week = profile_fix(catalog, refs, "sistec", "host.backups", min_versions=7)
    assert "keeping 7 days and at least 7 versions" in week and "-mtime +7 -delete" in week
    # an open-ended schedule gives no pruning: it would delete what the clause needs
    assert "-delete" not in profile_fix(catalog, refs, "zenlocassur", "host.backups",
                                        schedule=[{"every_days": 1, "days": None}])

    expiry = profile_fix(catalog, refs, "zenlocassur", "host.password_policy", max_days=31)
    assert "PASS_MAX_DAYS 31" in expiry and "chage --maxdays 31" in expiry
    assert "minlen" not in expiry and "deny =" not in expiry  # their rules are off (null)
    assert "deny = 10" in profile_fix(catalog, refs, "slime", "host.password_policy",
                                      max_failures=10)

    logs = catalog.get("host.log_retention")
    assert "rotate 53" in rendered(logs, {})  # 53 weeks: 52 would be 364 days
    shorter = rendered(logs, {"min_days": 180, "require_auditd": None})
    assert "at least 180 days" in shorter and "rotate 26" in shorter and "365" not in shorter
    assert "run auditd" not in shorter and "run auditd" in rendered(logs, {})


# ---------------------------------------------------------------------------- the engine

def tls_observations(versions: list[str]) -> Observations:
    """Recorded observations of one TLS port accepting `versions`."""
    suites = {"TLS 1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
              "TLS 1.3": ["TLS_AES_128_GCM_SHA256"], "TLS 1.0": ["TLS_RSA_WITH_AES_128_CBC_SHA"]}
    port = {"versions": {v: {"accepted": v in versions, "cipher_suites": suites.get(v, [])
                             if v in versions else []}
                         for v in ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2",
                                   "TLS 1.3")}, "errors": {}}
    return Observations({
        "ports": ProbeResult("ports", "x", {"open_ports": [443], "scanned": "1-65535"}),
        "service": ProbeResult("service", "x", {"services": {443: {"protocol": "tls"}}}),
        "tls": ProbeResult("tls", "x", {"ports": {443: port}})})


@pytest.mark.parametrize("versions, basis, status", [
    (["TLS 1.2"], "annex", Status.FAIL), (["TLS 1.2"], "advice", Status.ADVISORY),
    (["TLS 1.2", "TLS 1.3"], "annex", Status.PASS)])
def test_the_engine_attaches_remediation_to_fail_and_advisory_only(catalog, versions, basis,
                                                                   status):
    params = {**catalog.get("tls.latest_version").defaults(), "ports": "443"}
    job = ScanJob(Target("127.0.9.9", "127.0.9.9"), plan_scan([], catalog, ScanOptions()))
    result = judge_control(ControlRef("tls.latest_version", params, basis), job,
                           tls_observations(versions))
    assert result.status == status
    if status in TO_FIX:
        assert result.remediation["text"].startswith("Offer TLS 1.3 on every TLS port among "
                                                     "ports 443:")
        assert "ssl_protocols TLSv1.2 TLSv1.3;" in result.remediation["snippets"][0]["text"]
    else:
        assert result.remediation is None and "remediation" not in to_jsonable(result)


# ---------------------------------------------------------------------------- the formats

PROFILE = """
id: fix-test
title: Remediation in every format
source: {issuer: annexscan tests, title: remediation yardstick}
clauses:
  - id: F-TLS
    section: "1"
    title: TLS 1.2 at least, HTTPS served
    requirement: HTTPS on 443, TLS 1.2 at least.
    controls:
      - {control: tls.required, basis: annex, parameters: {ports: [443]}}
      - {control: tls.min_version, basis: annex, parameters: {min: "1.2", ports: "443"}}
      - {control: tls.latest_version, basis: advice, parameters: {ports: "443"}}
  - id: F-HSTS
    section: "2"
    title: HSTS for two years
    requirement: Strict-Transport-Security for two years.
    controls:
      - {control: http.hsts, basis: annex, parameters: {min_max_age: 63072000}}
  - id: F-PORTS
    section: "3"
    title: SSH and HTTPS only
    requirement: Only SSH and HTTPS are reachable.
    controls:
      - {control: net.allowed_ports, basis: annex,
         parameters: {allowed: [22, 443], ports: "1-9000", udp_ports: null}}
"""
FAILING = {"tls.min_version", "http.hsts", "net.allowed_ports"}


@pytest.fixture(scope="module")
def legacy(lab, catalog, tmp_path_factory):
    """The lab's legacy host (TLS 1.0, no TLS 1.3, no HSTS, FTP and MySQL open) scanned, its
    result written to a journal and every format, and read back as `annexscan report` does."""
    directory = tmp_path_factory.mktemp("fix")
    scan = scan_lab_with(lab, catalog, PROFILE, directory, ["legacy"])
    writer = JournalWriter(directory, {
        "journal_version": journal.VERSION, "started_at": scan.started_at, "profiles": [],
        "options": {}, "inputs": {}, "targets": [{"name": t.target, "address": t.address}
                                                for t in scan.targets]})
    for target in scan.targets:
        writer.append(target)
    writer.close(True, [])
    back = journal.load(directory)
    scan.targets = list(back.targets)
    report = directory / "annexscan.json"
    report.write_text(written(json_report.write, scan), encoding="utf-8")
    return load_result(report), json.loads(report.read_text(encoding="utf-8"))


def controls_of(report: dict) -> dict[str, dict]:
    return {c["control_id"]: c for clause in report["targets"][0]["results"]
            for c in clause["controls"]}


@pytest.mark.lab
def test_json_carries_the_remediation_of_failing_and_advisory_controls(legacy):
    result, report = legacy
    jsonschema.validate(report, json.loads(report_schema_path().read_text("utf-8")))
    assert report["schema_version"] == "1.3"
    controls = controls_of(report)
    assert {c["status"] for c in controls.values()} == {"pass", "fail", "advisory"}
    for control_id, control in controls.items():
        assert ("remediation" in control) == (control["status"] in ("fail", "advisory"))
    assert set(controls) - {"tls.required"} == FAILING | {"tls.latest_version"}
    # the profile's parameters, never the catalog's defaults (443 alone, 2 years, 22 and 443)
    assert "among ports 443" in controls["tls.min_version"]["remediation"]["text"]
    hsts = controls["http.hsts"]["remediation"]
    assert "max-age=63072000" in hsts["snippets"][0]["text"] and "15552000" not in json.dumps(hsts)
    nft = controls["net.allowed_ports"]["remediation"]["snippets"][0]
    assert nft["implementation"] == "nftables" and "tcp dport { 22, 443 } accept" in nft["text"]
    # read back (journal, then `annexscan report`): the same remediation in the model
    loaded = {c.control_id: c for t in result.targets for cl in t.results for c in cl.controls}
    assert loaded["http.hsts"].remediation == hsts and loaded["tls.required"].remediation is None


@pytest.mark.lab
def test_sarif_shows_the_fix_in_the_rule_help_and_the_result(legacy):
    result, _ = legacy
    log = json.loads(written(sarif.write, result))
    assert_valid(log)
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    hsts = rules["http.hsts"]["help"]
    assert "How to fix: Send Strict-Transport-Security with a max-age of at least 63072000" \
        in hsts["text"]
    assert "```nginx\nadd_header Strict-Transport-Security \"max-age=63072000\" always;\n```" \
        in hsts["markdown"]
    assert "How to fix" not in rules["tls.required"]["help"]["text"]  # it passed
    fixed = {r["ruleId"]: r["properties"].get("remediation") for r in run["results"]}
    assert set(fixed) == FAILING | {"tls.latest_version"} and all(fixed.values())
    assert "fixes" not in json.dumps(run["results"])


@pytest.mark.lab
def test_csv_has_a_remediation_column(legacy):
    result, _ = legacy
    rows = {r["clause_id"]: r for r in csv.DictReader(io.StringIO(written(csv_report.write,
                                                                          result)))}
    tls = rows["F-TLS"]["remediation"].splitlines()
    assert [line.split(":")[0] for line in tls] == ["tls.min_version", "tls.latest_version"]
    assert rows["F-HSTS"]["remediation"].startswith("http.hsts: Send Strict-Transport-Security")
    assert "```" not in rows["F-PORTS"]["remediation"]  # text only, no snippet


@pytest.mark.lab
def test_terminal_gives_one_fix_line_per_failing_control(legacy):
    result, _ = legacy
    console = Console(record=True, width=80, color_system=None)
    print_summary(result, console)
    lines = console.export_text().splitlines()
    fixes = [line.strip() for line in lines if line.strip().startswith("fix:")]
    assert len(fixes) == len(FAILING) + 1, lines  # + the advisory's
    assert all(len(line) <= 80 for line in lines)
    assert any(f.startswith("fix: Send Strict-Transport-Security with a max-age of") for f in fixes)
    assert not any("ssl_protocols" in line for line in lines)  # no snippet on the terminal


@pytest.mark.lab
def test_html_has_an_expandable_fix_per_failing_control_escaped(legacy):
    result = copy.deepcopy(legacy[0])
    page = written(html_report.write, result)
    assert page.count('<tr class="fix">') == len(FAILING) + 1  # + the advisory; none passing
    assert page.count("<details><summary><span class=\"label\">How to fix</span>") == 4
    assert "add_header Strict-Transport-Security &#34;max-age=63072000&#34; always;" in page
    assert "<pre><code># /etc/nftables.conf, loaded by: nft -f /etc/nftables.conf\n" \
           "table inet annexscan_filter {" in page
    # a profile's values are text: a hostile one is shown, never run
    control = next(c for t in result.targets for cl in t.results for c in cl.controls
                   if c.control_id == "http.hsts")
    control.remediation = {"text": "Send <script>alert(1)</script>\x1b[2J now.", "snippets": [
        {"implementation": "nginx", "language": "nginx", "text": "</code></pre><img src=x>\n"}]}
    hostile = written(html_report.write, result)
    assert "<script>alert(1)" not in hostile and "<img src=x>" not in hostile
    assert "Send &lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J now." in hostile
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;img src=x&gt;" in hostile
