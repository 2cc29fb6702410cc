"""host.log_retention on real file trees: logrotate configurations (checked against logrotate's
own debug run), real journal files written by systemd-journal-remote with chosen entry times,
rotated archives and auditd logs with set modification times, and a /proc tree. Ages are taken
on the host's clock (`date`), journal heads from the real `journalctl --header`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from accounts_support import NobodyTransport
from accounts_support import open_root  # noqa: F401 - a fixture, used by name
from hostsys_helpers import DAY, MACHINE, collect, judge, local, make_journal, replay, write_tree
from scanner.hostprobes import Collected
from scanner.hostprobes.filetimes import running_processes
from scanner.hostprobes.logs import rotation_days, timespan_days
from scanner.model import Status
from scanner.transports.base import HostContext
from scanner.transports.local import LocalTransport

COMPLIANT_LOGS = Path(__file__).parent / "data" / "host_system" / "logs-compliant"
def aged(root: Path, files: dict[str, float]) -> Path:
    """Files (relative path -> age in days) with their modification time set that far back."""
    for rel, age in files.items():
        path = write_tree(root, {rel: "old log lines\n"}) / rel.lstrip("/")
        stamp = time.time() - age * DAY
        os.utime(path, (stamp, stamp))
    return root


PROC_AUDITD = {"/proc/1/comm": "systemd\n", "/proc/812/comm": "auditd\n"}


@pytest.fixture
def logs_root(tmp_path) -> Path:
    """The compliant tree (rotate 53 weekly, MaxRetentionSec=1year, keep_logs), a journal
    reaching back 400 days and a running auditd in its /proc."""
    root = Path(shutil.copytree(COMPLIANT_LOGS, tmp_path / "root"))
    make_journal(root, [400, 30, 1])
    return write_tree(root, PROC_AUDITD)


def logs_verdict(root: Path, **params):
    collected = collect("host.log_retention", local(root))
    return judge("host.log_retention", collected, **params), collected


def test_logs_compliant_tree_passes(logs_root):
    verdict, collected = logs_verdict(logs_root)
    assert verdict.status == Status.PASS, verdict.reason
    blocks = {b["patterns"][0]: b for b in collected.data["logrotate"]["blocks"]}
    assert blocks["/var/log/syslog"]["days_kept"] == 371  # the script's "rotate 1" is skipped
    assert blocks["/var/log/my app/*.log"]["days_kept"] == 371  # inherited globals
    assert blocks["/var/log/wtmp"]["days_kept"] == 365 + 28  # 13 months: 12 + a February
    assert blocks["/var/log/archive.log"]["limit"] == "none"
    assert "/var/log/old.log" not in blocks  # *.dpkg-old is ignored, as logrotate does
    journal = collected.data["journald"]
    assert journal["max_retention_days"] == 365.25
    assert journal["evidence"]["horizon_days"] == pytest.approx(400, abs=0.01)
    assert verdict.observed["journald"]["journal"]["horizon_source"].startswith("journalctl")


def test_logs_journal_younger_than_required_is_not_a_pass(logs_root):
    """Today's false pass: MaxRetentionSec=1year, SystemMaxUse=50M, 10 days of journal."""
    shutil.rmtree(logs_root / "var" / "log" / "journal" / MACHINE)
    make_journal(logs_root, [10, 2])  # one 8 MiB journal file
    conf = "[Journal]\nStorage=persistent\nMaxRetentionSec=1year\nSystemKeepFree=1M\n"
    write_tree(logs_root, {"/etc/systemd/journald.conf": conf + "SystemMaxUse=50M\n"})
    verdict, _ = logs_verdict(logs_root)
    assert verdict.status == Status.ERROR, verdict.reason
    assert "journald: the journal reaches back 10 days" in verdict.reason
    assert "about 62 days" in verdict.reason  # 8 MiB in 10 days, 50 MiB cap
    write_tree(logs_root, {"/etc/systemd/journald.conf": conf + "SystemMaxUse=8M\n"})
    verdict, _ = logs_verdict(logs_root)
    assert verdict.status == Status.FAIL and "pruned by size (uses 8 MiB of SystemMaxUse 8 " \
                                              "MiB)" in verdict.reason, verdict.reason


def test_logs_journal_without_max_retention_passes_on_its_entries(logs_root):
    write_tree(logs_root, {"/etc/systemd/journald.conf.d/retention.conf": "# removed\n"})
    assert logs_verdict(logs_root)[0].status == Status.PASS


def test_logs_persistent_journal_without_files_is_error(logs_root):
    shutil.rmtree(logs_root / "var" / "log" / "journal")  # Storage=persistent, nothing written
    verdict, _ = logs_verdict(logs_root)
    assert verdict.status == Status.ERROR
    assert "journald: the persistent journal has no file in /var/log/journal" in verdict.reason


def test_logs_journal_unreadable_without_root_is_error(open_root):
    """journald's files are root-only (0700 here): listing them as nobody is an error that
    names --sudo, never a pass on what little could be seen."""
    root = Path(shutil.copytree(COMPLIANT_LOGS, open_root / "root"))
    open_root.chmod(0o755)
    make_journal(root, [400])
    write_tree(root, PROC_AUDITD)
    (root / "var" / "log" / "journal").chmod(0o700)
    ctx = HostContext(NobodyTransport(), timeout=30, root=str(root))
    verdict = judge("host.log_retention", collect("host.log_retention", ctx))
    assert verdict.status == Status.ERROR and "Permission denied" in verdict.reason
    assert "/var/log/journal" in verdict.reason and "--sudo" in verdict.reason


def test_logs_journal_file_times_are_a_lower_bound_without_journalctl(logs_root):
    path = logs_root / "var" / "log" / "journal" / MACHINE / "system.journal"
    os.utime(path, (time.time() - 20 * DAY,) * 2)
    ctx = replay({"journalctl --version": (127, "", "sh: 1: journalctl: not found")}, logs_root)
    verdict = judge("host.log_retention", collect("host.log_retention", ctx))
    assert verdict.status == Status.ERROR and "reaches back 20 days" in verdict.reason
    assert "modification time" in verdict.observed["journald"]["journal"]["horizon_source"]


@pytest.mark.parametrize("period,count,days", [
    ("daily", 365, 365), ("weekly", 52, 364), ("weekly", 53, 371), ("monthly", 12, 365),
    ("monthly", 1, 28), ("monthly", 6, 181), ("monthly", 25, 2 * 365 + 28), ("yearly", 1, 365),
    ("hourly", 48, 2)])
def test_rotation_days_are_calendar_minima(period, count, days):
    assert rotation_days(period, count) == days


@pytest.mark.parametrize("files,reason", [
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  rotate 52\n  weekly\n}\n"},
     "/var/log/syslog: keeps 364 days (rotate 52 weekly) < 365"),
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  rotate 11\n  monthly\n}\n"},
     "keeps 334 days (rotate 11 monthly) < 365"),
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  daily\n  rotate 400\n  maxage 30\n}"},
     "keeps 30 days (maxage 30) < 365"),
    ({"/etc/systemd/journald.conf.d/retention.conf": "[Journal]\nMaxRetentionSec=1month\n"},
     "journald: MaxRetentionSec=1month deletes entries after 30.44 days < 365"),
    ({"/usr/lib/systemd/journald.conf.d/zz-vendor.conf": "[Journal]\nMaxRetentionSec=2w\n"},
     "after 14 days"),
])
def test_logs_each_short_store_fails(logs_root, files, reason):
    verdict, _ = logs_verdict(write_tree(logs_root, files))
    assert verdict.status == Status.FAIL and reason in verdict.reason, verdict.reason


def test_logs_year_of_months_or_years_passes(logs_root):
    for rule in ("rotate 12\n  monthly", "rotate 1\n  yearly", "rotate 365\n  daily"):
        files = {"/etc/logrotate.d/rsyslog": f"/var/log/syslog {{\n  {rule}\n}}\n"}
        verdict, _ = logs_verdict(write_tree(logs_root, files))
        assert verdict.status == Status.PASS, (rule, verdict.reason)


SIZE_ROTATED = {"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  rotate 4\n  size 100M\n}\n"}


@pytest.mark.parametrize("archives,status,reason", [
    ({"/var/log/syslog.1": 2, "/var/log/syslog.2.gz": 100, "/var/log/syslog.3.gz": 400},
     Status.PASS, ""),
    ({f"/var/log/syslog.{n}.gz": 5 * n for n in range(1, 5)}, Status.FAIL,
     "/var/log/syslog keeps 4 archives, the oldest 20 days old < 365, and deletes the next"),
    ({"/var/log/syslog.1": 3, "/var/log/syslog.2.gz": 20}, Status.ERROR,
     "/var/log/syslog has 2 archives, the oldest 20 days old, not yet 365"),
    ({"/var/log/other.1": 500}, Status.ERROR, "no archive on disk shows the days kept"),
])
def test_logs_size_rotation_judged_on_its_archives(logs_root, archives, status, reason):
    root = aged(write_tree(logs_root, SIZE_ROTATED), {"/var/log/syslog": 0, **archives})
    verdict, _ = logs_verdict(root)
    assert verdict.status == status and reason in verdict.reason, verdict.reason


def test_logs_maxsize_with_period_and_dateext_archives(logs_root):
    files = {"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n weekly\n rotate 60\n maxsize 1G\n"
             " olddir /var/log/old\n}\n"}
    root = aged(write_tree(logs_root, files), {"/var/log/old/syslog-20250101.gz": 390})
    verdict, collected = logs_verdict(root)
    assert verdict.status == Status.PASS, verdict.reason
    block = next(b for b in collected.data["logrotate"]["blocks"] if b["maxsize"])
    assert block["archives"][0]["log"] == "/var/log/syslog"


AUDIT_ROTATE = {"/etc/audit/auditd.conf": "max_log_file_action = ROTATE\nnum_logs = 5\n"
                                          "max_log_file = 8\n"}


@pytest.mark.parametrize("oldest,status", [(20, Status.FAIL), (400, Status.PASS)])
def test_logs_auditd_rotate_judged_on_its_archives(logs_root, oldest, status):
    archives = {f"/var/log/audit/audit.log.{n}": oldest * n / 4 for n in range(1, 5)}
    verdict, _ = logs_verdict(aged(write_tree(logs_root, AUDIT_ROTATE), archives))
    assert verdict.status == status, verdict.reason
    if status == Status.FAIL:
        assert "auditd logs: max_log_file_action = rotate deletes the oldest of 5" in \
            verdict.reason


def test_logs_auditd_must_run_when_required(logs_root):
    (logs_root / "proc" / "812" / "comm").write_text("rsyslogd\n")
    verdict, _ = logs_verdict(logs_root)
    assert verdict.status == Status.FAIL and "auditd is not running" in verdict.reason
    assert logs_verdict(logs_root, require_auditd=False)[0].status == Status.PASS
    assert logs_verdict(logs_root, require_auditd=None)[0].status == Status.PASS
    (logs_root / "etc" / "audit" / "auditd.conf").unlink()
    assert "not installed" in logs_verdict(logs_root)[0].reason
    shutil.rmtree(logs_root / "proc")  # a golden image: whether auditd runs is unknown
    verdict, _ = logs_verdict(logs_root)
    assert verdict.status == Status.ERROR and "cannot tell whether auditd runs" in verdict.reason


def test_logs_null_min_days_checks_auditd_only(logs_root):
    files = {"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  rotate 4\n  weekly\n}\n"}
    verdict, _ = logs_verdict(write_tree(logs_root, files), min_days=None)
    assert verdict.status == Status.PASS and list(verdict.observed) == ["auditd running"]
    assert "keeps" not in verdict.expected and "auditd running" in verdict.expected
    assert logs_verdict(logs_root, min_days=365)[0].status == Status.FAIL


def test_running_processes_sees_a_real_process(tmp_path):
    binary = tmp_path / "annexscan-probe"
    shutil.copy(shutil.which("sleep"), binary)
    proc = subprocess.Popen([str(binary), "60"])
    try:
        names = running_processes(Collected(), HostContext(LocalTransport(), timeout=10))
        assert names is not None and "annexscan-probe" in names
    finally:
        proc.kill()
        proc.wait()


def test_logs_etc_dropin_masks_usr_lib_one(logs_root):
    files = {"/usr/lib/systemd/journald.conf.d/retention.conf": "[Journal]\nMaxRetentionSec=1d"}
    assert logs_verdict(write_tree(logs_root, files))[0].status == Status.PASS


def test_logs_volatile_journal_alone_fails_and_nothing_is_error(tmp_path):
    write_tree(tmp_path, {"/etc/systemd/journald.conf": "[Journal]\nStorage=volatile\n"})
    verdict, _ = logs_verdict(tmp_path, require_auditd=False)
    assert verdict.status == Status.FAIL and "memory only" in verdict.reason
    verdict, _ = logs_verdict(tmp_path / "empty", require_auditd=False)
    assert verdict.status == Status.ERROR and "no log store found" in verdict.reason


def test_logs_unreadable_auditd_conf_is_error(logs_root):
    path = f"{logs_root}/etc/audit/auditd.conf"
    ctx = replay({f"cat -- {path}": (1, "", f"cat: {path}: Permission denied")}, logs_root)
    verdict = judge("host.log_retention", collect("host.log_retention", ctx))
    assert verdict.status == Status.ERROR and "--sudo" in verdict.reason


def test_logs_include_loop_is_read_once(logs_root):
    files = {"/etc/logrotate.d/zz-loop": "include /etc/logrotate.d\n"}
    verdict, collected = logs_verdict(write_tree(logs_root, files))
    assert verdict.status == Status.PASS and len(collected.data["logrotate"]["blocks"]) == 4


def test_logs_parse_matches_real_logrotate(logs_root):
    """logrotate's own debug run on the same tree reports the same periods and counts."""
    if not shutil.which("logrotate"):
        pytest.skip("logrotate not installed (apt-get install logrotate)")
    conf = logs_root.parent / "logrotate.conf"  # outside the sysroot: includes rewritten
    conf.write_text((logs_root / "etc" / "logrotate.conf").read_text().replace(
        "/etc/logrotate.d", f"{logs_root}/etc/logrotate.d"))
    debug = subprocess.run(["logrotate", "-d", "-s", str(logs_root.parent / "state"), str(conf)],
                           capture_output=True, text=True).stderr
    theirs = {m[1].strip('"'): (m[2], int(m[3]) if m[3] else -1) for m in re.finditer(
        r"rotating pattern: (\"[^\"]+\"|\S+).*?(hourly|daily|weekly|monthly|yearly)\s*"
        r"(?:\((\d+) rotations\))?", debug, re.S)}
    _, collected = logs_verdict(logs_root)
    ours = {b["patterns"][0]: (b["period"], b["rotate"]) for b in
            collected.data["logrotate"]["blocks"]}
    assert ours == theirs and len(ours) == 4


@pytest.mark.parametrize("span,days", [("1year", 365.25), ("52w 1d", 365), ("3600", 1 / 24),
                                       ("12month", 365.28), ("1M", 30.44), ("90min", 0.0625),
                                       ("forever", None)])
def test_systemd_time_spans(span, days):
    assert timespan_days(span) == pytest.approx(days) if days else timespan_days(span) is None
