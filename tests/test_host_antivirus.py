"""host.antivirus on sysroot trees: the real clamscan reading crafted ClamAV database headers,
the real dpkg-query reading a dpkg status that lists an engine's package, and a /proc tree
with (or without) the engine's process. Engines this machine cannot run are found by those
traces, as on a real host; systemctl, absent here, is replayed where a test needs it."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hostsys_helpers import collect, cvd, days_ago, judge, local, replay, write_tree
from scanner.hostprobes.antivirus import ENGINES
from scanner.model import Status

DEFENDER = "Microsoft Defender for Endpoint"


def dpkg_status(*packages: str) -> str:
    return "".join(f"Package: {name}\nStatus: install ok installed\nVersion: 1.0\n"
                   "Architecture: amd64\nMaintainer: t <t@example.org>\nDescription: t\n\n"
                   for name in ("base-files",) + packages)


def host_tree(root: Path, packages: tuple[str, ...] = (), processes: tuple[str, ...] = (),
              files: dict | None = None) -> Path:
    """A sysroot with a dpkg status and a complete /proc (init is pid 1)."""
    procs = {f"/proc/{100 + i}/comm": f"{name}\n" for i, name in enumerate(processes)}
    return write_tree(root, {"/var/lib/dpkg/status": dpkg_status(*packages),
                             "/proc/1/comm": "systemd\n", "/proc/99/comm": "sshd\n",
                             **procs, **(files or {})})


def verdict_of(root: Path, real: bool = False, **params):
    """Collected with every real tool (real=True), or with only the read-only ones real and
    no ClamAV binary nor systemd (a host where clamscan is absent)."""
    ctx = local(root) if real else replay({}, root)
    collected = collect("host.antivirus", ctx)
    return judge("host.antivirus", collected, **params), collected


@pytest.fixture
def clamscan():
    if not shutil.which("clamscan"):
        pytest.skip("clamscan not installed (apt-get install clamav)")


@pytest.mark.parametrize("files,limit,status", [
    ({"daily.cld": cvd(days_ago(2)), "main.cvd": cvd(days_ago(400))}, 7, Status.PASS),
    ({"daily.cvd": cvd(days_ago(30)), "main.cvd": cvd(days_ago(400))}, 7, Status.FAIL),
    ({"daily.cvd": cvd(days_ago(30), stime=False)}, 31, Status.PASS),
    ({}, 7, Status.FAIL),
    ({}, None, Status.FAIL),  # no database at all: nothing detected, whatever the age rule
    ({"daily.cvd": cvd(days_ago(300))}, None, Status.PASS),
    ({"daily.cvd": b"\x00garbage" * 100}, 7, Status.ERROR),
])
def test_antivirus_real_clamscan_with_database_headers(tmp_path, clamscan, files, limit, status):
    write_tree(tmp_path, {f"/var/lib/clamav/{name}": data for name, data in files.items()})
    verdict, collected = verdict_of(tmp_path, real=True, max_signature_age_days=limit)
    assert collected.data["clamav"]["binaries"]["clamscan"]["engine"]
    assert verdict.status == status, verdict.reason
    if status == Status.FAIL:
        assert ("30.0 days old (> 7)" if files else "no signature database") in verdict.reason


def test_antivirus_database_directory_from_freshclam_conf(tmp_path, clamscan):
    write_tree(tmp_path, {"/etc/clamav/freshclam.conf": "# x\nDatabaseDirectory /srv/clamav\n",
                          "/srv/clamav/daily.cvd": cvd(days_ago(1))})
    verdict, _ = verdict_of(tmp_path, real=True)
    assert verdict.status == Status.PASS
    assert verdict.observed["ClamAV"]["database_dir"] == "/srv/clamav"


def test_antivirus_recorded_version_line_dates_signatures(tmp_path):
    database = f"{tmp_path}/var/lib/clamav"
    answers = {f"clamscan --database={database} --version":
               (0, "ClamAV 1.0.3/27100/Mon Nov 20 08:12:34 2023\n", "")}
    collected = collect("host.antivirus", replay(answers, tmp_path))
    built = datetime(2023, 11, 20, 8, 12, 34, tzinfo=timezone.utc).timestamp()
    assert collected.data["clamav"]["binaries"]["clamscan"]["built"] == built
    collected.data["now"] = built + 2 * 86400
    assert judge("host.antivirus", collected).status == Status.PASS
    collected.data["now"] = built + 9 * 86400
    assert judge("host.antivirus", collected).status == Status.FAIL


def test_antivirus_defender_running_is_manual_never_a_fail(tmp_path):
    """Today's false fail: Microsoft Defender installed (dpkg) and running (wdavdaemon)."""
    verdict, collected = verdict_of(host_tree(tmp_path, ("mdatp",), ("wdavdaemon",)))
    assert collected.data["engines"]["mdatp"]["packages"] == ["mdatp"]
    assert verdict.status == Status.MANUAL, verdict.reason
    assert f"{DEFENDER} runs; its signature age is kept by its own agent" in verdict.reason
    verdict = judge("host.antivirus", collected, max_signature_age_days=None)
    assert verdict.status == Status.PASS and "not checked" in verdict.expected


@pytest.mark.parametrize("packages,processes,title", [
    ((), ("falcon-sensor",), "CrowdStrike Falcon"),
    (("ds-agent",), ("ds_agent",), "Trend Micro Deep Security Agent"),
    (("sentinelagent",), ("s1-agent",), "SentinelOne"),
    (("eea",), ("esets_daemon",), "ESET Endpoint/Server Security"),
])
def test_antivirus_other_engines_are_recognised(tmp_path, packages, processes, title):
    verdict, _ = verdict_of(host_tree(tmp_path, packages, processes),
                            max_signature_age_days=None)
    assert verdict.status == Status.PASS and title in verdict.observed, verdict.observed


def test_antivirus_nothing_recognised_is_manual(tmp_path):
    verdict, _ = verdict_of(host_tree(tmp_path, ("openssh-server",), ("nginx",)))
    assert verdict.status == Status.MANUAL
    assert verdict.reason.startswith("no known anti-malware engine found (looked for packages")
    assert "mdatp" in verdict.reason and "wdavdaemon" in verdict.reason


def test_antivirus_installed_engine_whose_state_cannot_be_seen_is_error(tmp_path):
    verdict, _ = verdict_of(host_tree(tmp_path, ("mdatp",)))  # no systemd on a sysroot
    assert verdict.status == Status.ERROR and "whether it runs cannot be seen" in verdict.reason


def test_antivirus_best_engine_decides(tmp_path, clamscan):
    root = host_tree(tmp_path, ("mdatp",), ("wdavdaemon",),
                     {"/var/lib/clamav/daily.cvd": cvd(days_ago(30))})
    verdict, _ = verdict_of(root, real=True)
    assert verdict.status == Status.MANUAL, verdict.reason  # stale ClamAV, Defender running
    assert verdict.observed["ClamAV"]["status"] == "fail"



def _live_host(active: bool, processes: str, minutes: str) -> dict:
    """Recorded answers of a live Debian host with Defender installed, for every command the
    collector runs there (systemctl and mdatp cannot run on this machine)."""
    all_units = [u for e in ENGINES.values() for u in e.units]
    units = "".join("active\n" if active and u == "mdatp.service" else "inactive\n"
                    for u in all_units)
    packages = [p for e in ENGINES.values() for p in e.packages]
    absent = (1, "", "No such file or directory")
    return {f"dpkg-query -W -f='${{Package}} ${{Status}}\\n' {' '.join(packages)}":
            (1, "mdatp install ok installed\n", "dpkg-query: no packages found matching eea\n"),
            "systemctl is-active " + " ".join(all_units): (3, units, ""),
            "cat -- /proc/1/comm": (0, "systemd\n", ""),
            "cat /proc/[0-9]*/comm 2>/dev/null | head -c 1048576": (0, processes, ""),
            "cat -- /etc/clamav/freshclam.conf": absent, "cat -- /etc/freshclam.conf": absent,
            "ls -1A -- /var/lib/clamav": absent,
            "mdatp health --field definitions_updated_minutes_ago": (0, minutes, "")}


@pytest.mark.parametrize("active,processes,minutes,limit,status,reason", [
    (True, "systemd\nwdavdaemon\n", "1003\n", 7, Status.PASS, ""),
    (True, "systemd\nwdavdaemon\n", "20160\n", 7, Status.FAIL,
     f"{DEFENDER} signatures are 14 days old (> 7)"),
    (True, "systemd\nwdavdaemon\n", "", 7, Status.MANUAL, "attest it (at most 7 days)"),
    (False, "systemd\nsshd\n", "1003\n", None, Status.FAIL,
     f"{DEFENDER} is installed but not running (no process, units mdatp.service inactive)"),
])
def test_antivirus_defender_on_a_recorded_live_host(active, processes, minutes, limit, status,
                                                    reason):
    answers = _live_host(active, processes, minutes)
    collected = collect("host.antivirus", replay(answers))
    assert {c.command for c in collected.commands} - set(answers) <= {
        "date +%s", "clamscan --version", "clamdscan --version"}  # nothing read from here
    verdict = judge("host.antivirus", collected, max_signature_age_days=limit)
    assert verdict.status == status and reason in verdict.reason, verdict.reason
