"""Every command's --help at 80 columns says what it does, its defaults and exit codes; the CI
examples install annexscan from its source and only use options the parser knows."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from scanner.cli.helpfmt import parsers
from scanner.cli.main import REPORT_FORMATS, build_parser
from scanner.reporters.registry import reporters

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Commands whose exit status means more than "done" (0) or "bad input" (2).
WITH_EXIT_CODES = {"annexscan", "annexscan scan", "annexscan demo", "annexscan report",
                   "annexscan verify", "annexscan diff", "annexscan remediate",
                   "annexscan lab up", "annexscan lab down", "annexscan lab status",
                   "annexscan lab exec"}


@pytest.fixture(scope="module")
def every_parser(monkeypatch_module) -> dict[str, argparse.ArgumentParser]:
    return {p.prog: p for p in parsers(build_parser())}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "80")
        yield patch


def test_every_help_fits_80_columns_and_says_what_the_command_does(every_parser):
    assert len(every_parser) >= 20, sorted(every_parser)
    for prog, parser in every_parser.items():
        text = parser.format_help()
        wide = [line for line in text.splitlines() if len(line) > 80]
        assert not wide, f"{prog} --help is wider than 80 columns: {wide}"
        assert parser.description and len(parser.description) > 20, f"{prog}: no description"
        if prog in WITH_EXIT_CODES:
            assert "exit codes" in text, f"{prog} --help does not list its exit codes"


def test_every_subcommand_is_listed_with_a_summary(every_parser):
    for prog, parser in every_parser.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                summaries = {a.dest: a.help for a in action._choices_actions}
                assert set(summaries) == set(action.choices)
                assert all(summaries.values()), f"{prog}: a subcommand without a summary"


def test_options_of_scan_demo_profiles_controls_lab_say_what_they_are(every_parser):
    for prog, parser in every_parser.items():
        if prog.split()[1:2] not in (["scan"], ["demo"], ["profiles"], ["controls"], ["lab"]):
            continue
        for action in parser._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                assert action.help, f"{prog} {action.option_strings or action.metavar}: no help"


def test_the_formats_named_in_help_are_the_reporters():
    assert REPORT_FORMATS.split(", ") == sorted(reporters(), key=REPORT_FORMATS.find)
    assert set(REPORT_FORMATS.split(", ")) == set(reporters())


def test_demo_help_states_what_it_writes(every_parser):
    demo = every_parser["annexscan demo"]
    text = " ".join(demo.format_help().split())
    for name in reporters():
        assert name in text
    assert "DIR/evidence.zip" in text and "demo-signing-key.pub" in text
    assert "(default: reports/demo)" in text and "(default: all of them)" in text
    assert "--ssh-key" not in text and "--inventory" not in text, "options the demo ignores"
    args = build_parser().parse_args(["demo"])
    assert args.format is None and args.output_dir is None  # demo_command fills them in
    scan = build_parser().parse_args(["scan"])
    only_scan = {"targets", "resume", "strict_targets", "dask_scheduler"}
    assert set(vars(scan)) - only_scan <= set(vars(args)), "the scan code reads them all"


def test_profiles_export_defaults_to_oscal(every_parser):
    assert build_parser().parse_args(["profiles", "export", "3douest"]).format == "oscal"
    text = " ".join(every_parser["annexscan profiles export"].format_help().split())
    assert "(default: oscal)" in text


def _example_commands(path: Path) -> list[str]:
    """Each shell command of the CI file's `run:` / `script:` / `before_script:` steps."""
    doc = yaml.safe_load(path.read_text())
    scripts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script") and isinstance(value, (str, list)):
                    scripts.extend([value] if isinstance(value, str) else value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(doc)
    commands = []
    for script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            commands += [part.strip() for part in re.split(r"&&|;", line) if part.strip()]
    return commands


@pytest.mark.parametrize("example", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_install_from_source_and_parse(example):
    commands = _example_commands(EXAMPLES / example)
    installs = [c for c in commands if c.startswith("pip install")]
    assert installs and all(re.fullmatch(r"pip install \./[\w.-]+", c) for c in installs), \
        f"{example}: annexscan is installed from its source tree, not an index: {installs}"
    assert any(re.search(r"apt-get install -y nmap\b", c) for c in commands)
    runs = [c for c in commands if c.startswith("annexscan ")]
    assert {shlex.split(c)[1] for c in runs} >= {"scan", "verify"}
    parser = build_parser()
    for command in runs:
        command = re.sub(r"\$\{\{[^}]*\}\}", "VALUE", command)
        argv = shlex.split(command)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{example}: the parser refuses `{command}`")
