"""host.patches: the real apt-get/apt-cache/dpkg-query on sysroot trees built here (sources,
Release and Packages lists, dpkg status, apt.conf.d), so nothing depends on this machine's own
packages; dnf and Ubuntu's apt outputs, which this machine cannot produce, are replayed."""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

import pytest

from hostsys_helpers import (DAY, INSTALLED, apt_root, collect, judge, local, recorded, replay,
                             write_tree)
from scanner.hostprobes.packages import APT_READ_ONLY, parse_apt_config
from scanner.model import Status

@pytest.fixture(autouse=True)
def need_apt():
    if not shutil.which("apt-get"):
        pytest.skip("needs apt-get (a Debian-like machine)")


UP_TO_DATE = {"libfoo1": "1.0-1"}
TWO_PENDING = {"libfoo1": "1.0-2", "libbar1": "2.0-2"}


def patches(root: Path, **params):
    collected = collect("host.patches", local(root))
    return judge("host.patches", collected, **params), collected


def test_patches_up_to_date_fresh_and_automatic_passes(tmp_path):
    verdict, collected = patches(apt_root(tmp_path, UP_TO_DATE))
    assert verdict.status == Status.PASS, verdict.reason
    assert collected.data["lists"]["age_days"] < 0.1
    assert collected.data["automatic"]["unattended_upgrades_installed"] is True


def test_patches_pending_security_updates_fail(tmp_path):
    verdict, collected = patches(apt_root(tmp_path, TWO_PENDING))
    assert verdict.status == Status.FAIL
    assert "2 pending security updates > 0: libbar1, libfoo1" in verdict.reason
    assert judge("host.patches", collected, max_pending=2).status == Status.PASS
    assert judge("host.patches", collected, max_pending=None).status == Status.PASS


def test_patches_stale_lists_are_an_error_never_a_pass(tmp_path):
    verdict, collected = patches(apt_root(tmp_path, UP_TO_DATE, list_age_days=10))
    assert verdict.status == Status.ERROR
    assert "package lists are 10 days old (> 7; newest /var/lib/apt/lists/security" \
           in verdict.reason
    assert judge("host.patches", collected, max_list_age_days=30).status == Status.PASS
    assert judge("host.patches", collected, max_list_age_days=None).status == Status.PASS


def test_patches_pending_on_stale_lists_still_fail(tmp_path):
    verdict, _ = patches(apt_root(tmp_path, TWO_PENDING, list_age_days=10))
    assert verdict.status == Status.FAIL and "2 pending" in verdict.reason
    assert "10 days old" in verdict.reason


def test_patches_fresh_update_stamp_dates_unchanged_lists(tmp_path):
    root = apt_root(tmp_path, UP_TO_DATE, list_age_days=30,
                    files={"/var/lib/apt/periodic/update-success-stamp": ""})
    verdict, collected = patches(root)
    assert verdict.status == Status.PASS, verdict.reason
    assert collected.data["lists"]["newest"].endswith("update-success-stamp")


def _snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in sorted(root.rglob("*"))}


def test_patches_collector_writes_nothing(tmp_path):
    """As root, plain `apt-get -s` writes var/log/apt/eipp.log.xz; the collector writes nothing
    at all in the tree it reads."""
    root = apt_root(tmp_path / "root", TWO_PENDING)
    before = _snapshot(root)
    collect("host.patches", local(root))
    assert _snapshot(root) == before
    if os.geteuid() == 0:  # the contrast, so this test can fail
        os.system(f"apt-get -o Dir={shlex.quote(str(root))} -s dist-upgrade >/dev/null 2>&1")
        assert (root / "var/log/apt/eipp.log.xz").exists()


@pytest.mark.parametrize("files,reason", [
    ({}, None),
    ({"/etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Unattended-Upgrade "0";'},
     "Unattended-Upgrade is 0"),
    ({"/etc/apt/apt.conf.d/99off": 'APT { Periodic { Update-Package-Lists "0"; }; };'},
     "Update-Package-Lists is 0"),
    ({"/etc/apt/apt.conf.d/60clear": '#clear Unattended-Upgrade::Origins-Pattern;'},
     "no security origin"),
    ({"/etc/apt/apt.conf.d/99off.dpkg-old": 'APT::Periodic::Unattended-Upgrade "0";'}, None),
])
def test_patches_automatic_apt_settings_from_sysroot(tmp_path, files, reason):
    verdict, _ = patches(apt_root(tmp_path, UP_TO_DATE, files=files))
    assert (verdict.status, reason and reason in verdict.reason) == (
        (Status.PASS, None) if reason is None else (Status.FAIL, True)), verdict.reason
    assert "automatic security updates enabled" in verdict.expected


def test_patches_automatic_is_a_switchable_sub_rule(tmp_path):
    installed = {k: v for k, v in INSTALLED.items() if k != "unattended-upgrades"}
    verdict, collected = patches(apt_root(tmp_path, UP_TO_DATE, installed))
    assert verdict.status == Status.FAIL
    assert "unattended-upgrades is not installed" in verdict.reason
    for off in (None, False):
        verdict = judge("host.patches", collected, require_automatic=off)
        assert verdict.status == Status.PASS and "automatic" not in verdict.expected


def test_patches_no_security_repository_fails(tmp_path):
    verdict, _ = patches(apt_root(tmp_path, UP_TO_DATE, security=False))
    assert verdict.status == Status.FAIL and "no security repository" in verdict.reason


def test_patches_empty_package_lists_is_error(tmp_path):
    root = apt_root(tmp_path, UP_TO_DATE)
    for path in (root / "var/lib/apt/lists").glob("*_*"):
        path.unlink()
    verdict, _ = patches(root)
    assert verdict.status == Status.ERROR and "no package lists" in verdict.reason


def test_patches_ubuntu_security_lines_recorded(tmp_path):
    """Ubuntu's simulation output (jammy-security origin), replayed; the sysroot is real."""
    apt_root(tmp_path, UP_TO_DATE)
    root = f"-o Dir={shlex.quote(str(tmp_path))} {APT_READ_ONLY}"
    admin = shlex.quote(str(tmp_path / "var/lib/dpkg"))
    answers = {"apt-get --version": (0, "apt 2.4.11 (amd64)\n", ""),
               f"apt-cache {root} policy": (
                   0, "     release v=22.04,o=Ubuntu,a=jammy-security,n=jammy\n", ""),
               f"apt-get {root} -s dist-upgrade": (0, recorded("apt-ubuntu-jammy.txt"), ""),
               f"dpkg-query --admindir={admin} -W -f='${{Status}}' unattended-upgrades":
                   (1, "", "dpkg-query: no packages found matching unattended-upgrades")}
    verdict = judge("host.patches", collect("host.patches", replay(answers, tmp_path)))
    assert verdict.status == Status.FAIL
    assert "2 pending security updates > 0: libssl3, openssl" in verdict.reason
    assert "unattended-upgrades is not installed" in verdict.reason


def test_patches_no_package_manager_is_not_applicable():
    verdict = judge("host.patches", collect("host.patches", replay({})))
    assert verdict.status == Status.NOT_APPLICABLE


DNF_ANSWERS = {
    "dnf -q -C updateinfo list --security": (0, recorded("dnf-updateinfo-security.txt"), ""),
    "systemctl is-enabled dnf-automatic-install.timer": (
        1, "", "Failed to get unit file state for dnf-automatic-install.timer: No such file or "
               "directory")}


@pytest.mark.parametrize("timer,max_pending,cache_age,status,reason", [
    ((0, "enabled\n", ""), 3, 1, Status.PASS, ""),
    ((0, "enabled\n", ""), 0, 1, Status.FAIL, "3 pending security updates > 0: curl"),
    ((0, "enabled\n", ""), 3, 9, Status.ERROR, "package lists are 9 days old"),
    ((1, "disabled\n", ""), 3, 1, Status.FAIL, "not scheduled: dnf-automatic.timer disabled"),
    ((1, "", "System has not been booted with systemd"), 3, 1, Status.ERROR, "booted"),
])
def test_patches_dnf_recorded(tmp_path, timer, max_pending, cache_age, status, reason):
    repomd = "/var/cache/dnf/baseos-0123/repodata/repomd.xml"
    write_tree(tmp_path, {"/etc/dnf/automatic.conf": recorded("dnf-automatic.conf"),
                          repomd: "<repomd/>\n"})
    os.utime(tmp_path / repomd.lstrip("/"), (time.time() - cache_age * DAY,) * 2)
    answers = {**DNF_ANSWERS, "systemctl is-enabled dnf-automatic.timer": timer}
    collected = collect("host.patches", replay(answers, tmp_path))
    assert collected.data["manager"] == "dnf"
    assert collected.data["automatic"]["apply_updates"] == "yes"
    verdict = judge("host.patches", collected, max_pending=max_pending)
    assert verdict.status == status and reason in verdict.reason, verdict.reason


def test_apt_config_parser_scopes_lists_and_comments():
    config: dict[str, list[str]] = {}
    parse_apt_config('# hash comment\nAPT { Periodic { Unattended-Upgrade "7"; }; };\n'
                     'Unattended-Upgrade::Allowed-Origins { "${distro_id}:${distro_codename}'
                     '-security"; // http://x\n "o=x"; };', config)
    assert config["apt::periodic::unattended-upgrade"] == ["7"]
    assert config["unattended-upgrade::allowed-origins"] == [
        "${distro_id}:${distro_codename}-security", "o=x"]
