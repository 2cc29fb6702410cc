"""Issue 9 part 2 on the real lab: a scan interrupted half-way (SIGINT, SIGTERM) keeps what it
finished and says it is incomplete (exit 4); `--resume DIR` scans only what is missing and ends
with the reports of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA
from hostile_harness import REPO

HOSTS = ["good", "legacy", "expired", "weakkey", "closed"]  # planned order: not the finish order
TIMINGS = {"duration_s", "probe_duration_s", "started_at", "finished_at", "evidence_refs"}


def scan_argv(lab, out_option: list[str], *extra: str) -> list[str]:
    return [sys.executable, "-m", "scanner", "scan", "--profile", str(DATA / "all-network.yaml"),
            "--profile", "3douest", "--no-progress", "--timeout", "2", "--concurrency", "1",
            "--ca-bundle", str(lab.ca_bundle), "--format", "json,junit", *out_option, *extra,
            *(lab.hosts[h].address for h in HOSTS)]


def start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "500", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished_lines(out: Path) -> int:
    try:
        return (out / "journal" / "targets.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def interrupt_after(argv: list[str], out: Path, lines: int, sig: signal.Signals
                    ) -> tuple[int, str, float]:
    """Run the scan, send `sig` once `lines` targets are in the journal; its exit code, its
    output and how long it took to stop after the signal."""
    child = start(argv)
    deadline = time.monotonic() + 120
    while finished_lines(out) < lines and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the scan ended before it could be interrupted"
    child.send_signal(sig)
    sent = time.monotonic()
    stdout, stderr = child.communicate(timeout=120)
    return child.returncode, stdout + stderr, time.monotonic() - sent


def verdicts(report: dict) -> dict:
    """What must be equal between two scans of the same hosts: targets in order, clause and
    control statuses, counts, exit code (no timings, no evidence hashes)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMINGS}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return {"exit_code": report["exit_code"], "summary": report["summary"],
            "complete": report["complete"], "unscanned": report["unscanned"],
            "targets": [{"target": t["target"], "summary": t["summary"],
                         "clauses": [(c["clause_id"], c["status"],
                                      [(k["control_id"], k["status"]) for k in c["controls"]])
                                     for c in t["results"]]} for t in report["targets"]],
            "profiles": strip(report["profiles"])}


@pytest.mark.lab
def test_sigint_half_way_then_resume_equals_an_uninterrupted_scan(lab, tmp_path):
    whole = tmp_path / "whole"
    done = subprocess.run(scan_argv(lab, ["-o", str(whole)]), cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]  # legacy fails
    expected = json.loads((whole / "annexscan.json").read_text())
    assert expected["complete"] is True and expected["unscanned"] == []

    out = tmp_path / "out"
    code, output, stopping = interrupt_after(scan_argv(lab, ["-o", str(out)]), out, 2,
                                             signal.SIGINT)
    assert code == 4, output[-3000:]
    assert stopping < 60  # the running target finished within its budget, none started after
    partial = json.loads((out / "annexscan.json").read_text())
    assert partial["complete"] is False and partial["exit_code"] == 4
    finished = [t["address"] for t in partial["targets"]]
    planned = [lab.hosts[h].address for h in HOSTS]
    assert 2 <= len(finished) < len(planned) and finished == planned[:len(finished)]
    assert partial["unscanned"] == [{"target": a, "address": a} for a in planned[len(finished):]]
    assert "INCOMPLETE SCAN" in output and "SIGINT: stopping" in output
    assert json.loads((out / "journal" / "end.json").read_text())["complete"] is False
    junit = (out / "annexscan.xml").read_text()
    assert all(a in junit for a in finished) and planned[-1] not in junit

    kept = (out / "journal" / "targets.jsonl").read_bytes()
    resumed = subprocess.run(scan_argv(lab, ["--resume", str(out)]), cwd=REPO,
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert resumed.returncode == 1, resumed.stderr[-2000:]
    assert (out / "journal" / "targets.jsonl").read_bytes().startswith(kept)  # appended
    final = json.loads((out / "annexscan.json").read_text())
    assert verdicts(final) == verdicts(expected)
    assert finished_lines(out) == len(planned)  # each target once: nothing scanned twice
    assert final["started_at"] == partial["started_at"]  # one scan, in two runs


@pytest.mark.lab
def test_sigterm_stops_cleanly_and_resume_refuses_another_plan(lab, tmp_path):
    out = tmp_path / "out"
    code, output, _ = interrupt_after(scan_argv(lab, ["-o", str(out)]), out, 1, signal.SIGTERM)
    assert code == 4 and "SIGTERM: stopping" in output, output[-3000:]
    report = json.loads((out / "annexscan.json").read_text())
    assert report["complete"] is False and report["unscanned"]
    other = scan_argv(lab, ["--resume", str(out)])[:-1]  # one target fewer: another scan
    refused = subprocess.run(other, cwd=REPO, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "500"})
    closed = lab.hosts["closed"].address
    assert refused.returncode == 2, refused.stderr
    assert f"differs in: targets (planned by the journal only: '{closed}'; by this command " \
        "only: none)" in " ".join(refused.stderr.split())
    assert finished_lines(out) == len(report["targets"])  # the refused run scanned nothing
