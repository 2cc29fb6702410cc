"""host.raid on real file trees: a sysroot with /proc/mdstat recorded from real md arrays (this
machine cannot assemble any), through the real LocalTransport."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from scanner.model import Status
from scanner.transports.base import HostContext
from storage_support import DATA, Rewriting, local, run_control


def mdstat_root(tmp_path: Path, fixture: str | None) -> HostContext:
    (tmp_path / "proc").mkdir(exist_ok=True)
    if fixture:
        shutil.copy(DATA / fixture, tmp_path / "proc" / "mdstat")
    return local(str(tmp_path))


@pytest.mark.parametrize("fixture,level,expected,words", [
    ("mdstat-raid1-healthy.txt", "raid1", Status.PASS, ""),
    ("mdstat-raid1-healthy.txt", "RAID1", Status.PASS, ""),
    ("mdstat-raid1-check.txt", "raid1", Status.PASS, ""),
    ("mdstat-imsm.txt", "1", Status.PASS, ""),
    ("mdstat-raid5.txt", None, Status.PASS, ""),
    ("mdstat-raid1-degraded.txt", "raid1", Status.FAIL, "faulty member sdb2"),
    ("mdstat-raid1-recovery.txt", "raid1", Status.FAIL, "recovery 21.4%"),
    ("mdstat-raid1-resync.txt", "raid1", Status.FAIL, "md1: resync DELAYED"),
    ("mdstat-raid0.txt", "raid1", Status.FAIL, "level raid0, not raid1"),
    ("mdstat-raid0.txt", None, Status.FAIL, "level raid0 has no redundancy"),
    ("mdstat-raid5.txt", "raid1", Status.FAIL, "level raid5, not raid1"),
    ("mdstat-inactive.txt", "raid1", Status.FAIL, "md127: inactive"),
    ("mdstat-none.txt", "raid1", Status.FAIL, "no md array"),
])
def test_raid_verdicts(catalog, tmp_path, fixture, level, expected, words):
    verdict, _ = run_control(catalog, "host.raid", mdstat_root(tmp_path, fixture), level=level)
    assert verdict.status == expected, verdict.reason
    assert words in verdict.reason


def test_raid_degraded_observed(catalog, tmp_path):
    ctx = mdstat_root(tmp_path, "mdstat-raid1-degraded.txt")
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.observed["md0"]["status"] == "U_" and "degraded [1/2]" in verdict.reason
    assert verdict.observed["md1"]["members"] == ["sdb2(F)", "sda2"]


def test_raid_missing_mdstat(catalog, tmp_path):
    verdict, _ = run_control(catalog, "host.raid", mdstat_root(tmp_path, None))
    assert verdict.status == Status.ERROR and "not in the sysroot" in verdict.reason
    mdstat_root(tmp_path, "mdstat-raid1-healthy.txt")
    ctx = HostContext(Rewriting(absent=["cat"]), 10, root=str(tmp_path))
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.status == Status.ERROR and "command not found" in verdict.reason
    if os.path.exists("/proc/mdstat"):
        pytest.skip("this kernel has the md driver loaded")
    verdict, _ = run_control(catalog, "host.raid", local())  # live: no md driver, no RAID
    assert verdict.status == Status.FAIL and "md driver is not loaded" in verdict.reason
