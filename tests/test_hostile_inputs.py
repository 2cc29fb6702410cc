"""Hostile input files (issue 8, items 8, 9, 11): attestations that point outside their own
directory, YAML alias bombs and deep nesting, server text full of control characters. Each
case runs on real files and asserts the status, a time bound and, where memory is the
defect, a peak-RSS bound measured in a child process."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from hostile_harness import annexscan, record

from scanner.evidence import attestations
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.cli.main import main
from scanner.cli.diff_command import print_diff
from scanner.evidence.diff import diff_results
from scanner.errors import ConfigError
from scanner.model import (ClauseResult, ControlResult, ProbeResult, ScanResult, Status,
                           TargetResult)
from scanner.probes.ssh import _probe_port
from scanner.reporters.registry import write_all
from scanner.reporters.terminal import print_summary
from scanner.catalog.yamldoc import load_yaml
from test_ssh_network import FULL, kexinit_server  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parent.parent
IDS = {"P-MANUAL"}
MANUAL_PROFILE = ("id: p\ntitle: Manual only\nclauses:\n  - id: P-MANUAL\n    section: '1'\n"
                  "    title: Breach\n    requirement: Breach notice in 24 h.\n"
                  "    manual: true\n    attest: The breach procedure.\n")
MEMORY_CAP_MB = 1024  # the child dies of MemoryError past this, instead of taking the machine


def attestation(directory: Path, evidence: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "att.yaml"
    path.write_text("attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne Martin\n"
                    "    role: DPO\n    date: 2026-10-01\n    expires: '2027-10-01'\n"
                    "    statement: The breach procedure is in force and was tested.\n"
                    f"    evidence: ['{evidence}']\n")
    return path


# --- item 8: evidence paths stay inside the attestation file's directory -------------------

def test_evidence_inside_the_directory_is_accepted_and_bundled(tmp_path):
    (tmp_path / "att" / "docs").mkdir(parents=True)
    (tmp_path / "att" / "docs" / "procedure.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "att" / "link.pdf").symlink_to("docs/procedure.pdf")
    for ref in ("docs/procedure.pdf", "link.pdf", "./docs/../docs/procedure.pdf"):
        path = attestation(tmp_path / "att", ref)
        records = attestations.load_attestations(path, IDS)
        assert attestations.evidence_files(path, records) == [
            (tmp_path / "att" / "docs" / "procedure.pdf").resolve()]


@pytest.mark.parametrize("ref", ["/etc/passwd", "../secret.txt", "docs/../../secret.txt",
                                 "escape.txt", "escape_dir/secret.txt"])
def test_evidence_leaving_the_directory_is_refused(tmp_path, ref):
    (tmp_path / "secret.txt").write_text("root:x:0:0\n")
    (tmp_path / "att" / "docs").mkdir(parents=True)
    (tmp_path / "att" / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "att" / "escape_dir").symlink_to(tmp_path)
    path = attestation(tmp_path / "att", ref)
    with pytest.raises(ConfigError) as error:
        attestations.load_attestations(path, IDS)
    message = str(error.value)
    assert "att.yaml" in message and "attestations[0].evidence[0]" in message
    assert "leaves the directory" in message and "root:x" not in message


def test_evidence_symlink_swapped_after_loading_is_refused_at_bundle_time(tmp_path):
    (tmp_path / "secret.txt").write_text("root:x:0:0\n")
    (tmp_path / "att").mkdir()
    (tmp_path / "att" / "proof.pdf").write_bytes(b"%PDF-1.4")
    path = attestation(tmp_path / "att", "proof.pdf")
    records = attestations.load_attestations(path, IDS)
    (tmp_path / "att" / "proof.pdf").unlink()
    (tmp_path / "att" / "proof.pdf").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ConfigError, match="leaves the directory"):
        attestations.evidence_files(path, records)


def test_scan_with_shadow_evidence_exits_2_before_any_probe_and_writes_no_bundle(tmp_path,
                                                                                 capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text(MANUAL_PROFILE)
    path = attestation(tmp_path / "att", "/etc/shadow")
    bundle = tmp_path / "evidence.zip"
    started = time.monotonic()
    code = main(["scan", "--profile", str(profile), "--attestations", str(path), "--no-progress",
                 "--bundle", str(bundle), "127.0.0.9"])
    assert code == 2 and time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "att.yaml" in err and "evidence[0]" in err and not bundle.exists()


# --- item 11: YAML bombs and deep nesting ----------------------------------------------------

def alias_bomb(key: str) -> str:
    """The billion laughs: 10 levels of 10 aliases each, 10**10 nodes once expanded."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines) + f"\n{key}:\n  - clause: *a9\n"


def deep_nesting(key: str) -> str:
    return f"{key}: " + "[" * 50_000 + "]" * 50_000 + "\n"


@pytest.mark.parametrize("option,key", [("--attestations", "attestations"),
                                        ("--waivers", "waivers")])
@pytest.mark.parametrize("make", [alias_bomb, deep_nesting])
def test_yaml_bomb_in_user_file_is_a_clean_error_in_bounded_time_and_memory(
        tmp_path, option, key, make):
    hostile = tmp_path / f"{key}.yaml"
    hostile.write_text(make(key))
    run = annexscan("scan", "--profile", "3douest", option, str(hostile), "--no-progress",
                    "127.0.0.9", cwd=tmp_path, memory_cap_mb=MEMORY_CAP_MB)
    assert run.code == 2, run.err[-2000:]
    assert "Traceback" not in run.err and f"{key}.yaml" in run.err
    assert run.seconds < 30 and 0 < run.peak_mb < 300, (run.seconds, run.peak_mb)
    record("11", f"{make.__name__} in {option}", run, status=f"exit {run.code}, file named")


def test_yaml_bounds_name_the_file_for_every_loader(tmp_path):
    for make, expected in ((alias_bomb, "alias bomb"), (deep_nesting, "nested deeper")):
        path = tmp_path / "inventory.yaml"
        path.write_text(make("all"))
        with pytest.raises(ConfigError, match=expected) as error:
            load_yaml(path)
        assert str(path) in str(error.value)


def test_legitimate_aliases_still_load(tmp_path):
    """The catalog itself shares its weak-algorithm lists through anchors."""
    doc = load_yaml(ROOT / "controls" / "ssh.yaml")
    assert "&weak_ssh_algorithms" in (ROOT / "controls" / "ssh.yaml").read_text()
    assert doc.data and doc.root is not None
    path = tmp_path / "shared.yaml"
    path.write_text("base: &b [x, y]\nleft: *b\nright: *b\n")
    assert load_yaml(path).data == {"base": ["x", "y"], "left": ["x", "y"], "right": ["x", "y"]}


def test_oversized_yaml_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024 ** 2)
    with pytest.raises(ConfigError, match="huge.yaml: larger than"):
        load_yaml(path)


# --- item 9: control characters from a server in every output -------------------------------

EVIL = "SSH-2.0-x\x1b[2J\x1b]0;pwned\x07\x00\rOK\x08\x85\u202e\ufffe"
SURROGATES = "\ud800\udcff"
FORMATS = ["json", "junit", "sarif", "csv", "html", "oscal"]


def hostile_result(text: str) -> ScanResult:
    control = ControlResult("ssh.banner", "Banner", "high", Status.FAIL, {"p": text},
                            f"no {text}", {"banner": text, text: [text]}, f"banner {text}",
                            {"raw": text})
    advice = ControlResult("ssh.advice", "Advice", "low", Status.FAIL, {}, None, text,
                           f"advice {text}", basis="advice")
    failing = ClauseResult(f"P-1{text}", "p", f"§1{text}", f"T{text}", f"R{text}", Status.FAIL,
                           [control, advice], quote=[f"q{text}"])
    error = ClauseResult("P-2", "p", "§2", "T", "R", Status.ERROR, [ControlResult(
        "x.y", "t", "low", Status.ERROR, {}, None, None, f"error {text}")])
    target = TargetResult(f"host{text}", "127.0.0.1", [failing, error],
                          {"ssh": {"duration_s": 1.0, "error": text}}, {"ssh": {"banner": text}})
    return ScanResult("2026-11-30T08:00:00+00:00", "2026-11-30T08:00:01+00:00",
                      [{"id": "p", "title": f"P{text}", "source": {}}], [target])


def parse(name: str, data: bytes) -> None:
    """Each format read back by a strict reader of its kind."""
    text = data.decode("utf-8")
    if name in ("json", "sarif", "oscal"):
        json.loads(text)
    elif name == "junit":
        ET.fromstring(data)
    elif name == "csv":
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) == 3 and all(len(r) == len(rows[0]) for r in rows)
    else:
        HTMLParser().feed(text)


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_parses_with_control_characters(tmp_path, name):
    [path] = write_all(hostile_result(EVIL), [name], tmp_path / "out")
    data = path.read_bytes()
    parse(name, data)
    if name in ("junit", "csv"):  # shown as text, not as raw bytes that drive a terminal
        assert not CONTROL.search(data.decode().replace("\r\n", "\n"))
        assert b"\\x1b[2J" in data


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_survives_lone_surrogates(tmp_path, name):
    [path] = write_all(hostile_result(EVIL + SURROGATES), [name], tmp_path / "out")
    parse(name, path.read_bytes())


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\ufffe]")
SGR = re.compile("\x1b\\[[0-9;]*m")  # rich's own colours, the only escapes allowed through


def terminal(render) -> str:
    out = io.StringIO()
    render(Console(file=out, force_terminal=True, width=400, color_system="standard"))
    return out.getvalue()


def test_summary_escapes_server_text_on_the_terminal():
    text = terminal(lambda console: print_summary(hostile_result(EVIL + SURROGATES), console))
    assert "\x1b" in text  # rich's colours: the console is a terminal, so the test can fail
    assert not CONTROL.search(SGR.sub("", text).replace("\n", ""))
    assert "\\x1b[2J" in text and "\\x1b]0;pwned\\x07" in text and "\\ud800" in text
    text.encode("utf-8")  # a lone surrogate would crash the write to stdout


def test_diff_escapes_server_text_on_the_terminal(tmp_path, capsys):
    old, new = hostile_result(EVIL), hostile_result(EVIL)
    new.targets[0].results[1].status = Status.PASS
    paths = [write_all(r, ["json"], tmp_path / n)[0]
             for r, n in ((old, "old"), (new, "new"))]
    new.targets[0].results[1].title = f"T{EVIL}{SURROGATES}"
    text = terminal(lambda console: print_diff(diff_results(old, new), console))
    assert "improved" in text and "\\x1b[2J" in text and "\\ud800" in text
    assert not CONTROL.search(SGR.sub("", text).replace("\n", ""))
    assert main(["diff", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "\\x1b[2J" in out and "\x07" not in out


@pytest.fixture
def hostile_ssh(kexinit_server):
    """A loopback server whose version line and KEXINIT names carry terminal escapes."""
    return kexinit_server({**FULL, "kex": "curve25519-sha256,evil\x1b[2J\x07"},
                          banner=b"SSH-\x1b[2J\x1b]0;pwned\x07-x")


def test_real_server_escapes_reach_no_terminal_and_no_junit(tmp_path, catalog, hostile_ssh):
    started = time.monotonic()
    obs = Observations({"ssh": ProbeResult("ssh", "127.0.0.1", {
        "ports": {hostile_ssh: _probe_port("127.0.0.1", hostile_ssh, 2.0)}})})
    verdict = evaluate("ssh.key_only", obs, catalog.get("ssh.key_only").defaults())
    assert time.monotonic() - started < 10
    assert verdict.status == Status.ERROR and "\x1b[2J" in verdict.reason  # the defect's input
    control = ControlResult("ssh.key_only", "Keys", "high", verdict.status, {}, verdict.expected,
                            verdict.observed, verdict.reason)
    result = hostile_result("")
    result.targets[0].results[1].controls = [control]
    result.targets[0].evidence = {"ssh": obs.data("ssh")}
    for path in write_all(result, FORMATS, tmp_path / "out"):
        parse(path.suffix.lstrip(".").replace("xml", "junit"), path.read_bytes())
    text = terminal(lambda console: print_summary(result, console))
    assert "\\x1b[2J" in text and not CONTROL.search(SGR.sub("", text).replace("\n", ""))
