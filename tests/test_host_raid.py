"""host.raid on real file trees: a sysroot with /proc/mdstat recorded from real md arrays (this
machine cannot assemble any) and a sysfs PCI driver tree laid out like the kernel's, through the
real LocalTransport."""

from __future__ import annotations

import os

import pytest

from scanner.model import Status
from scanner.transports.base import HostContext
from storage_support import DATA, Rewriting, local, mdstat_root, run_control


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
    ("mdstat-none.txt", "raid1", Status.FAIL, "no md array in /proc/mdstat, so no software "
     "RAID, and no PCI device is bound to a hardware RAID driver"),
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
    assert "no PCI device is bound to a hardware RAID driver" in verdict.reason


HW_RAID = {"0000:00:1f.2": "ahci", "0000:03:00.0": "megaraid_sas"}


def test_hardware_raid_is_manual(catalog, tmp_path):
    """A MegaRAID controller and no md array: not a failure, an attestation naming it."""
    verdict, collected = run_control(catalog, "host.raid",
                                     mdstat_root(tmp_path, "mdstat-none.txt", HW_RAID))
    assert verdict.status == Status.MANUAL, verdict.reason
    assert "hardware RAID controller megaraid_sas at 0000:03:00.0: its arrays" in verdict.reason
    assert verdict.observed["hardware_controllers"] == [
        {"driver": "megaraid_sas", "slot": "0000:03:00.0", "model": None}]
    assert not any("lspci" in c.command for c in collected.commands)  # sysroot: not the live PCI


def test_hardware_raid_does_not_hide_md_arrays(catalog, tmp_path):
    ctx = mdstat_root(tmp_path, "mdstat-raid1-degraded.txt", HW_RAID)
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.status == Status.FAIL and "degraded [1/2]" in verdict.reason


def test_hardware_raid_unknowable_is_error(catalog, tmp_path):
    ctx = mdstat_root(tmp_path, "mdstat-none.txt", sysfs=False)
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.status == Status.ERROR
    assert "hardware RAID controllers cannot be seen" in verdict.reason


def test_hardware_raid_named_by_lspci_on_live_host(catalog):
    """Recorded output of a host without md, with an HPE Smart Array bound to hpsa."""
    ctx = HostContext(Rewriting(recorded={
        r"cat -- /proc/mdstat$": (1, "", "cat: /proc/mdstat: No such file or directory"),
        r"find /sys/bus/pci/drivers ": (0, "ahci/0000:00:1f.2\0hpsa/0000:5c:00.0\0"
                                           "hpsa/bind\0evil/0000:5c:00.0 -o\0", ""),
        r"lspci -D$": (0, "0000:00:1f.2 SATA controller: Intel Corporation C620 AHCI\n"
                          "0000:5c:00.0 RAID bus controller: Hewlett-Packard Company Smart "
                          "Array Gen9 Controllers (rev 01)\n", "")}), timeout=10)
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.status == Status.MANUAL, verdict.reason
    assert "no /proc/mdstat" in verdict.reason
    assert "hpsa at 0000:5c:00.0 (RAID bus controller: Hewlett-Packard Company Smart Array " \
           "Gen9 Controllers (rev 01))" in verdict.reason
    assert len(verdict.observed["hardware_controllers"]) == 1
