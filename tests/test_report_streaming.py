"""Reports and the bundle hold one target at a time (issue 9): written from a stream of targets
made on the fly, as the scan's journal yields them, no format and not the bundle keeps more
than a couple of targets (or of their clause results) alive."""

from __future__ import annotations

import copy
import json
import os
import weakref
import zipfile
from pathlib import Path
from typing import Iterator

from conftest import sample_result

from scanner.evidence.bundle import write_bundle
from scanner.evidence.bundle_verify import verify_bundle
from scanner.model import ScanResult, TargetResult
from scanner.reporters.registry import reporters, write_all

TARGETS = 8
HEAVY = 1 << 18  # bytes of random text in each target's results and in its raw evidence


class Fleet:
    """A re-iterable of targets built when asked for, counting how many targets, and how many
    of their clause results (shared by any copy a reporter makes), are alive at once."""

    def __init__(self, count: int):
        self.count, self.templates = count, sample_result().targets
        self.alive = {"targets": 0, "clauses": 0}
        self.most = dict(self.alive)

    def __iter__(self) -> Iterator[TargetResult]:
        for index in range(self.count):
            target = copy.deepcopy(self.templates[index % len(self.templates)])
            target.target = target.address = f"10.9.0.{index + 1}"
            target.evidence["tls"] = {"raw": os.urandom(HEAVY // 2).hex()}
            checked = next(c for c in target.results if c.controls)
            checked.controls[0].observed = {"raw": os.urandom(HEAVY // 2).hex()}
            self._track(target, "targets")
            self._track(checked, "clauses")
            del checked
            yield target
            del target

    def _track(self, thing: object, kind: str) -> None:
        self.alive[kind] += 1
        self.most[kind] = max(self.most[kind], self.alive[kind])
        weakref.finalize(thing, self._gone, kind)

    def _gone(self, kind: str) -> None:
        self.alive[kind] -= 1


def test_every_format_and_the_bundle_stream_one_target_at_a_time(tmp_path: Path):
    fleet, sample = Fleet(TARGETS), sample_result()
    result = ScanResult(sample.started_at, sample.finished_at, sample.profiles, fleet,
                        sample.options)
    reports = write_all(result, list(reporters()), tmp_path / "out")
    bundle = write_bundle(result, tmp_path / "evidence.zip", tmp_path / "out", reports, [], None)
    # the one being written and the next; SARIF's rule descriptions keep the first target's
    # clauses that cite each control (their annex words), whatever the number of targets
    assert fleet.most == {"targets": 2, "clauses": 3}, fleet.most
    assert verify_bundle(bundle).intact
    with zipfile.ZipFile(bundle) as archive:
        report = json.loads(archive.read("result.json"))
        stored = [n for n in archive.namelist() if n.endswith("/tls.json.gz")]
    assert [t["address"] for t in report["targets"]] == [
        f"10.9.0.{i + 1}" for i in range(TARGETS)]
    assert len(stored) == TARGETS
    assert all("evidence" not in t for t in report["targets"])  # referenced, not embedded
