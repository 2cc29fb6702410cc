"""The scan journal (scanner/evidence/journal.py) on real file trees: written target by target, read
back in planned order one target at a time, resumed after a crash, and read as hostile input."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from conftest import SAMPLE_1_1, sample_result
from scanner.evidence import journal
from scanner.evidence.bundle_keys import REDACTED
from scanner.errors import ConfigError
from scanner.evidence.journal import Journal, JournalWriter
from scanner.reporters.load import load_result
from scanner.model import INTERRUPTED, TargetResult

KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
       "-----END OPENSSH PRIVATE KEY-----")


def targets(count: int = 3) -> list[TargetResult]:
    """Real lab results (reports/samples), copied under distinct addresses."""
    sample = list(sample_result().targets)
    made = []
    for index in range(count):
        target = copy.deepcopy(sample[index % len(sample)])
        target.target = target.address = f"127.0.9.{index + 1}"
        made.append(target)
    return made


def header(planned: list[TargetResult]) -> dict:
    return {"journal_version": journal.VERSION, "started_at": "2026-11-30T10:00:00+00:00",
            "profiles": [{"id": "3douest", "title": "3D Ouest", "source": {}}],
            "options": {"timeout_s": 2.0}, "inputs": {"plan": "x", "attestations": None},
            "targets": [{"name": t.target, "address": t.address} for t in planned]}


def lines_path(directory: Path) -> Path:
    return directory / "journal" / "targets.jsonl"


def test_targets_stream_back_in_planned_order_with_evidence_stored_once(tmp_path):
    planned = targets(3)
    planned[1].evidence["http"] = {"headers": "X-Leak: " + KEY, "raw": "caf\udce9"}
    writer = JournalWriter(tmp_path, header(planned))
    for target in (planned[2], planned[0], planned[1]):  # finishing order, not planned order
        writer.append(copy.deepcopy(target))
    writer.close(True, [])
    result = journal.load(tmp_path)
    assert result.complete and result.unscanned == [] and result.exit_code() != INTERRUPTED
    assert [t.address for t in result.targets] == [t.address for t in planned]
    assert [t.address for t in result.targets] == [t.address for t in planned]  # re-iterable
    for got, sent in zip(result.targets, planned):
        assert got.evidence == {} and set(got.evidence_refs) == set(sent.evidence)
        assert [c.status for c in got.results] == [c.status for c in sent.results]
        for probe, ref in got.evidence_refs.items():
            packed = (tmp_path / ref["path"]).read_bytes()
            assert ref["path"] == f"evidence/{sent.address}/{probe}.json.gz"
            assert len(packed) == ref["bytes"]
            assert hashlib.sha256(packed).hexdigest() == ref["sha256"]
            stored = json.loads(gzip.decompress(packed))
            if probe != "http" or sent is not planned[1]:
                assert stored == json.loads(json.dumps(sent.evidence[probe]))
    packed = (tmp_path / "evidence/127.0.9.2/http.json.gz").read_bytes()
    leaked = json.loads(gzip.decompress(packed))
    assert leaked["headers"] == "X-Leak: " + REDACTED and leaked["raw"] == "caf\\udce9"
    assert b"PRIVATE KEY" not in lines_path(tmp_path).read_bytes()


def test_a_1_1_report_reads_as_a_complete_scan():
    assert json.loads(SAMPLE_1_1.read_text())["schema_version"] == "1.1"
    result = load_result(SAMPLE_1_1)  # before interrupted scans
    assert result.complete and result.unscanned == [] and result.exit_code() == 1


def test_each_line_is_written_as_its_target_finishes(tmp_path):
    planned = targets(2)
    writer = JournalWriter(tmp_path, header(planned))
    writer.append(planned[0])
    assert lines_path(tmp_path).read_bytes().count(b"\n") == 1  # on disk before close
    assert Journal(tmp_path).done() == {("127.0.9.1", "127.0.9.1")}
    writer.close(False, [{"target": "127.0.9.2", "address": "127.0.9.2"}])


def test_interrupted_journal_is_incomplete_and_names_the_unscanned(tmp_path):
    planned = targets(3)
    writer = JournalWriter(tmp_path, header(planned))
    writer.append(planned[1])
    writer.close(False, [])
    result = journal.load(tmp_path)
    assert not result.complete and result.exit_code() == INTERRUPTED
    assert result.unscanned == [{"target": "127.0.9.1", "address": "127.0.9.1"},
                                {"target": "127.0.9.3", "address": "127.0.9.3"}]
    assert [t.address for t in result.targets] == ["127.0.9.2"]


def test_a_crash_without_end_is_incomplete(tmp_path):
    planned = targets(2)
    JournalWriter(tmp_path, header(planned)).append(planned[0])  # never closed: a crash
    result = journal.load(tmp_path)
    assert not result.complete and [u["address"] for u in result.unscanned] == ["127.0.9.2"]


def test_truncated_last_line_is_ignored_with_a_note_and_cut_at_resume(tmp_path):
    planned = targets(3)
    writer = JournalWriter(tmp_path, header(planned))
    writer.append(planned[0])
    writer.append(planned[1])
    whole = lines_path(tmp_path).read_bytes()
    first_line = whole.index(b"\n") + 1
    with open(lines_path(tmp_path), "r+b") as lines:  # a crash in the middle of line 2
        lines.truncate(first_line + 100)
    read = Journal(tmp_path)
    assert read.done() == {("127.0.9.1", "127.0.9.1")}
    assert any("targets.jsonl:2: incomplete last line" in n for n in read.notes)
    resumed = JournalWriter(tmp_path, header(planned), resume=True)
    assert resumed.done() == {("127.0.9.1", "127.0.9.1")} and resumed.notes
    resumed.append(planned[1])
    resumed.append(planned[2])
    resumed.close(True, [])
    result = journal.load(tmp_path)
    assert result.complete and [t.address for t in result.targets] == [
        "127.0.9.1", "127.0.9.2", "127.0.9.3"]
    assert lines_path(tmp_path).read_bytes().count(b"\n") == 3


def test_resume_refuses_another_plan(tmp_path):
    planned = targets(3)
    JournalWriter(tmp_path, header(planned)).close(False, [])
    other = header(planned[:2])
    other["options"] = {"timeout_s": 5.0}
    with pytest.raises(ConfigError, match=r"differs in: targets \(planned by the journal only: "
                       r"'127\.0\.9\.3'; by this command only: none\); options\."):
        JournalWriter(tmp_path, other, resume=True)
    swapped = header(planned[::-1])
    with pytest.raises(ConfigError, match=r"differs in: the order of the targets\."):
        JournalWriter(tmp_path, swapped, resume=True)
    waived = header(planned)
    waived["inputs"]["waivers"] = "f" * 64
    with pytest.raises(ConfigError, match=r"differs in: the waivers\."):
        JournalWriter(tmp_path, waived, resume=True)
    JournalWriter(tmp_path, header(planned), resume=True).close(True, [])  # the same plan
    with pytest.raises(ConfigError, match="no readable journal"):
        JournalWriter(tmp_path / "elsewhere", header(planned), resume=True)


def _line(target: TargetResult, **changes) -> bytes:
    data = {"target": target.target, "address": target.address, "probes": {}, "results": [],
            "evidence_refs": {}, **changes}
    return json.dumps(data).encode() + b"\n"


@pytest.mark.parametrize("bad, message", [
    (b"{not json\n", "targets.jsonl:2: not JSON"),
    (b"\xff\xfe\n", "targets.jsonl:2: not UTF-8"),
    (b"[1, 2]\n", "targets.jsonl:2: not a journal line"),
    (b"[" * 20000 + b"\n", "targets.jsonl:2: JSON nested too deeply"),
    ("planned2", "targets.jsonl:2: not a journal line at results"),
    ("stranger", "targets.jsonl:2: target '10.9.9.9' (10.9.9.9) is not among the planned"),
    ("escape", "targets.jsonl:2: evidence of 'tls' at '../../../etc/shadow'"),
    ("dotdot", "targets.jsonl:2: evidence of 'tls' at 'evidence/../tls.json.gz'"),
    ("long", "targets.jsonl:2: line longer than"),
])
def test_hostile_journal_lines_are_clean_errors_naming_file_and_line(tmp_path, monkeypatch,
                                                                     bad, message):
    planned = targets(2)
    writer = JournalWriter(tmp_path, header(planned))
    writer.append(planned[0])
    writer.close(False, [])
    ref = {"sha256": "0" * 64, "bytes": 1}
    first = len(lines_path(tmp_path).read_bytes())
    monkeypatch.setattr(journal, "MAX_LINE", first + 1000)  # line 1 fits, "long" does not
    made = {"planned2": _line(planned[1], results="all"),
            "stranger": _line(TargetResult("10.9.9.9", "10.9.9.9")),
            "escape": _line(planned[1], evidence_refs={
                "tls": {**ref, "path": "../../../etc/shadow"}}),
            "dotdot": _line(TargetResult("..", ".."), evidence_refs={
                "tls": {**ref, "path": "evidence/../tls.json.gz"}}),
            "long": _line(planned[1], probes={"x" * (first + 2000): {}})}
    planned_dots = header(planned + [TargetResult("..", "..")])
    (tmp_path / "journal" / "scan.json").write_text(json.dumps(planned_dots))
    with open(lines_path(tmp_path), "ab") as lines:
        lines.write(made.get(bad, bad) if isinstance(bad, str) else bad)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        list(journal.load(tmp_path).targets)
    assert str(tmp_path / "journal" / "targets.jsonl") in str(caught.value)
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize("name", ["scan.json", "end.json"])
def test_hostile_header_and_end_are_clean_errors(tmp_path, name):
    planned = targets(1)
    JournalWriter(tmp_path, header(planned)).close(True, [])
    (tmp_path / "journal" / name).write_text('{"journal_version": 1, "complete": "yes"}')
    with pytest.raises(ConfigError, match=f"journal/{name}: not a journal file"):
        journal.load(tmp_path)


def test_symlink_planted_at_the_lines_file_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    (out / "journal").mkdir(parents=True)
    lines_path(out).symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link"):
        JournalWriter(out, header(targets(1)))
    assert victim.read_text() == "precious\n"


def test_symlink_planted_at_the_header_is_refused_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    (out / "journal").mkdir(parents=True)
    (out / "journal" / "scan.json").symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link; refusing to write"):
        JournalWriter(out, header(targets(1)))
    assert victim.read_text() == "precious\n"
    assert (out / "journal" / "scan.json").is_symlink(), "left as found, for the audit trail"


def test_symlinked_journal_directory_is_refused_both_ways(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="symbolic link"):
        JournalWriter(out, header(targets(1)))
    with pytest.raises(ConfigError, match="no readable journal"):
        journal.load(out)
    assert list(elsewhere.iterdir()) == []


def test_a_fifo_as_the_lines_file_is_refused_without_blocking(tmp_path):
    planned = targets(1)
    JournalWriter(tmp_path, header(planned)).close(True, [])
    lines_path(tmp_path).unlink()
    os.mkfifo(lines_path(tmp_path))
    with pytest.raises(ConfigError, match="not a regular file"):
        journal.load(tmp_path)


def test_a_line_changed_after_it_was_checked_is_refused(tmp_path):
    """Lines are checked once, when indexed, then recognised by their hash: the reports read
    every line several times, and must not read one that changed in between."""
    planned = targets(2)
    writer = JournalWriter(tmp_path, header(planned))
    for target in planned:
        writer.append(copy.deepcopy(target))
    writer.close(True, [])
    result = journal.load(tmp_path)
    assert [t.address for t in result.targets] == ["127.0.9.1", "127.0.9.2"]
    path = lines_path(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"pass"', b'"fail"', 1))
    with pytest.raises(ConfigError, match=r"targets.jsonl:1: changed while the reports"):
        list(result.targets)
