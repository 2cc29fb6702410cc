"""Hostile input files (issue 8, items 8, 9, 11): attestations that point outside their own
directory, YAML alias bombs and deep nesting, server text full of control characters. Each
case runs on real files and asserts the status, a time bound and, where memory is the
defect, a peak-RSS bound measured in a child process."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner import attestations
from scanner.cli import main
from scanner.errors import ConfigError
from scanner.yamldoc import load_yaml

ROOT = Path(__file__).resolve().parent.parent
IDS = {"P-MANUAL"}
MANUAL_PROFILE = ("id: p\ntitle: Manual only\nclauses:\n  - id: P-MANUAL\n    section: '1'\n"
                  "    title: Breach\n    requirement: Breach notice in 24 h.\n"
                  "    manual: true\n    attest: The breach procedure.\n")
CHILD = ("import resource, sys\nfrom scanner.cli import main\ncode = main(sys.argv[1:])\n"
         "print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
         "sys.exit(code)\n")
MEMORY_CAP = 1024 ** 3  # the child dies of MemoryError past this, instead of taking the machine


def attestation(directory: Path, evidence: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "att.yaml"
    path.write_text("attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne Martin\n"
                    "    role: DPO\n    date: 2026-10-01\n    expires: '2027-10-01'\n"
                    f"    statement: The breach procedure is in force and was tested.\n    evidence: ['{evidence}']\n")
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


def run_child(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float, int]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, preexec_fn=cap,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    elapsed = time.monotonic() - started
    rss = [int(line.split()[1]) for line in done.stderr.splitlines()
           if line.startswith("maxrss_kib")]
    return done, elapsed, rss[0] * 1024 if rss else -1


@pytest.mark.parametrize("option,key", [("--attestations", "attestations"),
                                        ("--waivers", "waivers")])
@pytest.mark.parametrize("make", [alias_bomb, deep_nesting])
def test_yaml_bomb_in_user_file_is_a_clean_error_in_bounded_time_and_memory(
        tmp_path, option, key, make):
    hostile = tmp_path / f"{key}.yaml"
    hostile.write_text(make(key))
    done, elapsed, rss = run_child(["scan", "--profile", "3douest", option, str(hostile),
                                    "--no-progress", "127.0.0.9"], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and f"{key}.yaml" in done.stderr
    assert elapsed < 30 and 0 < rss < 300 * 1024 ** 2, (elapsed, rss)
    print(f"{make.__name__} {option}: {elapsed:.2f} s, peak RSS {rss / 1024 ** 2:.0f} MiB")


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
