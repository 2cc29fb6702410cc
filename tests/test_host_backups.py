"""host.backups through the real LocalTransport on real file trees: a sysroot built here, real
encrypted files made with gpg/age/openssl/7z/zip, mtimes set day by day with os.utime."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from datetime import datetime, time as clock, timedelta
from pathlib import Path

import pytest

from scanner.hostprobes import backups as backups_module
from scanner.hostprobes.backups import split_heads
from scanner.model import Status
from scanner.transports.base import HostContext
from storage_support import PASSPHRASE, Rewriting, as_root, local, need, run_control, sh


def _gpg(*args: str) -> list[str]:
    return ["gpg", "--homedir", "{home}", "--batch", "--quiet", "--pinentry-mode", "loopback",
            "--passphrase", PASSPHRASE, "--trust-model", "always", *args, "-o", "{out}", "{sql}"]


SAMPLES = {  # each made from {sql}, a small SQL dump, into {out}
    "gpg": _gpg("--symmetric"), "gpg-armor": _gpg("--symmetric", "--armor"),
    "gpg-pubkey": _gpg("--encrypt", "-r", "annexscan-test@example.org"),
    "gpg-cast5": _gpg("--symmetric", "--cipher-algo", "CAST5"), "gpg-signed": _gpg("--sign"),
    "sig": _gpg("--detach-sign"), "openssl": ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass",
                                             f"pass:{PASSPHRASE}", "-in", "{sql}", "-out", "{out}"],
    "age": ["age", "-r", "{age}", "-o", "{out}", "{sql}"],
    "age-armor": ["age", "-a", "-r", "{age}", "-o", "{out}", "{sql}"],
    "7z-mhe": ["7z", "a", "-t7z", f"-p{PASSPHRASE}", "-mhe=on", "{out}", "{sql}"],
    "zip-aes": ["7z", "a", "-tzip", "-mem=AES256", f"-p{PASSPHRASE}", "{out}", "{sql}"],
    "7z-clear": ["7z", "a", "-t7z", "-mhc=off", "{out}", "{sql}"],
    "7z-packed": ["7z", "a", "-t7z", f"-p{PASSPHRASE}", "{out}", "{tables}"],  # LZMA header
    "zip-crypto": ["zip", "-q", "-j", "-P", PASSPHRASE, "{out}", "{sql}"],
    "zip": ["zip", "-q", "-j", "{out}", "{sql}"], "tar.gz": ["tar", "czf", "{out}", "{sql}"],
    "tar": ["tar", "cf", "{out}", "{sql}"]}


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    """One real file per format, made by the real tools."""
    need("gpg", "openssl", "age", "age-keygen", "7z", "zip", "tar")
    base = tmp_path_factory.mktemp("samples")
    (base / "home").mkdir(mode=0o700)
    (base / "tables").mkdir()  # enough entries that 7z packs its header with LZMA
    for i in range(40):
        (base / "tables" / f"table_{i}.sql").write_text(f"row {i}\n")
    sql = base / "dump.sql"
    sql.write_text("CREATE TABLE clients(name text, iban text);\n" * 20)
    sh("gpg", "--homedir", base / "home", "--batch", "--quiet", "--passphrase", "",
       "--quick-gen-key", "annexscan-test@example.org", "future-default", "default", "never")
    sh("age-keygen", "-o", base / "age.key")
    names = {"home": base / "home", "sql": sql, "tables": base / "tables",
             "age": re.search(r"age1\w+", (base / "age.key").read_text())[0]}
    for name, command in SAMPLES.items():
        sh(*[arg.format(**names, out=base / f"{name}.sample") for arg in command])
    return {"sql": sql} | {name: base / f"{name}.sample" for name in SAMPLES}


NOW = time.time()


def backup_dir(root: Path, samples: dict[str, Path], files: dict[str, tuple[str, float]],
               path: str = "var/backups/annexscan") -> HostContext:
    """files: name under the backup dir -> (sample, age in hours); mtimes set with os.utime."""
    where = root / path
    where.mkdir(parents=True, exist_ok=True)
    for name, (sample, hours) in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples[sample], where / name)
        os.utime(where / name, (NOW - hours * 3600, NOW - hours * 3600))
    return local(str(root))


TODAY = datetime.fromtimestamp(NOW).date()  # find prints the host's local dates


def written(days_ago: int, minute: int = 1) -> float:
    """Age in hours of a file written at 00:MM on the day `days_ago` days before today."""
    stamp = datetime.combine(TODAY - timedelta(days_ago), clock(0, minute)).timestamp()
    return (NOW - stamp) / 3600


def ago(days: int) -> str:
    return str(TODAY - timedelta(days))


ENCRYPTED = ["gpg", "gpg-armor", "gpg-pubkey", "openssl", "age", "age-armor", "7z-mhe", "zip-aes"]


def daily(sample: str, days, name: str = "db", minute: int = 1,
          start_hours: float | None = None) -> dict:
    """One backup a day at 00:MM, today's the newest (or `start_hours` old, 24 h apart); `days`
    is a count or the list of days ago."""
    days = range(days) if isinstance(days, int) else days
    return {f"{name}-{d:03}.sql.gpg": (sample, written(d, minute) if start_hours is None
                                       else start_hours + 24 * d) for d in days}


DAILY_99_THEN_WEEKLY = [{"every_days": 1, "days": 99}, {"every_days": 7, "days": None}]


# ---------------------------------------------------------------- formats and encryption

def test_backups_every_encrypted_format_passes(catalog, tmp_path, samples):
    files = {f"{i}/{name}.bak": (name, 1 + i) for i, name in enumerate(ENCRYPTED)}
    files |= {"SHA256SUMS": ("sql", 1), "db.sql.gpg.sig": ("sig", 1),  # sidecars, not backups
              "a/b/too-deep.sql": ("sql", 1)}
    verdict, collected = run_control(catalog, "host.backups", backup_dir(tmp_path, samples, files))
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed["files"] == len(ENCRYPTED)
    assert set(verdict.observed["formats"]) == {
        "openpgp-symmetric", "openpgp-pubkey-encrypted", "openssl-enc", "age", "7z", "zip-aes"}
    listed = [f["path"] for f in collected.data["locations"]["/var/backups/annexscan"]["files"]]
    assert "/var/backups/annexscan/0/gpg.bak" in listed and not any("too-deep" in p for p in listed)


def test_backups_clear_and_weak_files_fail(catalog, tmp_path, samples):
    clear = ["sql", "tar.gz", "tar", "zip", "7z-clear", "gpg-signed"]
    files = daily("gpg", 2) | {f"clear-{n}": (n, 3) for n in clear}
    files |= {"weak.zip": ("zip-crypto", 3), "weak.gpg": ("gpg-cast5", 3)}
    verdict, collected = run_control(catalog, "host.backups", backup_dir(tmp_path, samples, files))
    assert verdict.status == Status.FAIL
    assert f"{len(clear)} file(s) in clear" in verdict.reason
    kept = json.dumps([c.evidence() for c in collected.commands]) + json.dumps(collected.data)
    assert "CREATE TABLE" not in kept and PASSPHRASE not in kept
    assert all("not kept" in c.stdout for c in collected.commands if "head -v" in c.command)
    assert sorted(verdict.observed["clear"]) == sorted(f"/var/backups/annexscan/clear-{n}"
                                                       for n in clear)
    assert "ZipCrypto" in verdict.reason and "OpenPGP cipher CAST5" in verdict.reason
    for switched_off in (False, None):
        verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)),
                                 require_encryption=switched_off)
        assert verdict.status == Status.PASS, verdict.reason
        assert verdict.expected.endswith("min_versions, require_encryption]")


def test_backups_unverifiable_7z_is_error(catalog, tmp_path, samples):
    ctx = backup_dir(tmp_path, samples, daily("gpg", 1) | {"tables.7z": ("7z-packed", 5)})
    verdict, _ = run_control(catalog, "host.backups", ctx)
    assert verdict.status == Status.ERROR and "7z -mhe=on" in verdict.reason


def test_backups_glob_excludes_other_files(catalog, tmp_path, samples):
    """Only files named like backups count: a clear log beside them is not a backup, and a file
    of another kind written on a missing day does not fill the gap."""
    files = daily("gpg", [0, 1, 3]) | {"cron.log": ("sql", written(2)), "README": ("sql", 1),
                                       "db-002.sql.gpg.part": ("gpg", written(2))}
    ctx = backup_dir(tmp_path, samples, files)
    pattern = "db-*.sql.gpg"
    verdict, _ = run_control(catalog, "host.backups", ctx, pattern=pattern, min_versions=3)
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed["files"] == 3 and verdict.observed["other_files"] == 3
    verdict, _ = run_control(catalog, "host.backups", ctx, pattern=pattern,
                             schedule=[{"every_days": 1, "days": 4}])
    assert verdict.status == Status.FAIL and f"no backup on {ago(2)}" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", ctx)  # "*": the log is a clear "backup"
    assert verdict.status == Status.FAIL and "/var/backups/annexscan/cron.log" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", ctx, pattern="*.tar.gz")
    assert verdict.status == Status.FAIL
    assert "no backup file named *.tar.gz" in verdict.reason and "6 other file(s)" in verdict.reason


# ---------------------------------------------------------------- the series

@pytest.mark.parametrize("annex,params,days,start,expected,words", [
    ("Teranga", {"schedule": [{"every_days": 1, "days": 365}]}, 366, 2, Status.PASS, ""),
    ("Teranga", {"schedule": [{"every_days": 1, "days": 365}]}, 300, 2, Status.FAIL,
     f"has no backup on {ago(364)} to {ago(300)} (65 days)"),
    ("Teranga", {"schedule": [{"every_days": 1, "days": 365}]}, 366, 30, Status.FAIL,
     "newest backup is 30."),  # 30.0 h, or a little more on a slow machine; > 26 h
    ("SISTEC", {"schedule": [{"every_days": 1, "days": 7}], "min_versions": 7}, 7, 2,
     Status.PASS, ""),
    ("SISTEC", {"schedule": [{"every_days": 1, "days": 7}], "min_versions": 7}, 6, 2,
     Status.FAIL, "6 versions (distinct days, 6 files) < 7"),
    ("3D OUEST", {"min_retention_days": 99}, 100, 2, Status.PASS, ""),
    ("3D OUEST", {"min_retention_days": 99}, 90, 2, Status.FAIL, "< 99"),
])
def test_backups_annex_thresholds(catalog, tmp_path, samples, annex, params, days, start,
                                  expected, words):
    ctx = backup_dir(tmp_path, samples, daily("gpg", days, start_hours=start))
    verdict, _ = run_control(catalog, "host.backups", ctx, **params)
    assert verdict.status == expected, f"{annex}: {verdict.reason}"
    assert words in verdict.reason


def test_backups_one_missing_day_fails_today(catalog, tmp_path, samples):
    """Both ends of the series are fine (newest 2 h old, oldest 99 days): only judging every
    day finds the hole, and the reason names the missing date."""
    ctx = backup_dir(tmp_path, samples, daily("gpg", [d for d in range(100) if d != 40]))
    rules = {"min_retention_days": 99, "schedule": [{"every_days": 1, "days": 99}]}
    verdict, _ = run_control(catalog, "host.backups", ctx, **rules)
    assert verdict.status == Status.FAIL
    assert verdict.reason == f"daily series ({ago(98)} to {ago(0)}) has no backup on {ago(40)}"
    backup_dir(tmp_path, samples, {"late.sql.gpg": ("age", written(40, minute=59))})
    verdict, _ = run_control(catalog, "host.backups", ctx, **rules)
    assert verdict.status == Status.PASS, verdict.reason  # the day is there now


def test_backups_same_night_counted_once(catalog, tmp_path, samples):
    """Three databases dumped every night for five nights: five versions, not fifteen."""
    files = {}
    for db in ("clients", "compta", "paie"):
        files |= daily("age", 5, name=db, minute=len(files) + 10)
    ctx = backup_dir(tmp_path, samples, files)
    verdict, _ = run_control(catalog, "host.backups", ctx, min_versions=7)
    assert verdict.status == Status.FAIL
    assert "5 versions (distinct days, 15 files) < 7" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", ctx, min_versions=5)
    assert verdict.status == Status.PASS and verdict.observed["days"] == 5


def test_backups_daily_then_weekly(catalog, tmp_path, samples):
    """3D Ouest: the last 99 days daily, one a week beyond (no end date)."""
    weekly = range(99, 250, 7)
    ctx = backup_dir(tmp_path, samples, daily("gpg", list(range(99)) + list(weekly)))
    verdict, _ = run_control(catalog, "host.backups", ctx, schedule=DAILY_99_THEN_WEEKLY)
    assert verdict.status == Status.PASS, verdict.reason
    assert "daily for 99 days, then weekly back to the oldest kept (from day 99)" in \
        verdict.expected
    os.unlink(tmp_path / "var/backups/annexscan/db-162.sql.gpg")  # one week dropped
    verdict, _ = run_control(catalog, "host.backups", ctx, schedule=DAILY_99_THEN_WEEKLY)
    assert verdict.status == Status.FAIL
    assert verdict.reason == (f"weekly series ({ago(246)} to {ago(99)}) has no backup on "
                              f"{ago(168)} to {ago(156)} (13 days)")
    for d in weekly:  # nothing kept beyond 99 days: the weekly step is not met
        (tmp_path / f"var/backups/annexscan/db-{d:03}.sql.gpg").unlink(missing_ok=True)
    verdict, _ = run_control(catalog, "host.backups", ctx, schedule=DAILY_99_THEN_WEEKLY)
    assert verdict.status == Status.FAIL and "weekly series" in verdict.reason
    assert "daily series" not in verdict.reason


def test_backups_stale_series_names_the_missing_days(catalog, tmp_path, samples):
    ctx = backup_dir(tmp_path, samples, daily("gpg", range(3, 20)))
    verdict, _ = run_control(catalog, "host.backups", ctx, max_age_hours=None,
                             schedule=[{"every_days": 1, "days": 10}])
    assert verdict.status == Status.FAIL
    assert f"no backup on {ago(2)} to {ago(0)} (3 days)" in verdict.reason
    assert "max_age_hours" in verdict.expected.split("not checked:")[1]


def test_backups_every_threshold_off(catalog, tmp_path, samples):
    ctx = backup_dir(tmp_path, samples, {"old.sql": ("sql", 24 * 400)})
    off = dict(max_age_hours=None, schedule=None, min_retention_days=None, min_versions=None,
               require_encryption=None)
    verdict, _ = run_control(catalog, "host.backups", ctx, **off)
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.expected.endswith("at least one backup file [not checked: max_age_hours, "
                                     "schedule, min_retention_days, min_versions, "
                                     "require_encryption]")
    verdict, _ = run_control(catalog, "host.backups", ctx, **off | {"pattern": "*.gpg"})
    assert verdict.status == Status.FAIL and "no backup file named *.gpg" in verdict.reason


def test_backups_misordered_schedule_is_error(catalog, tmp_path, samples):
    ctx = backup_dir(tmp_path, samples, daily("gpg", 3))
    verdict, _ = run_control(catalog, "host.backups", ctx, schedule=[
        {"every_days": 7, "days": None}, {"every_days": 30, "days": 365}])
    assert verdict.status == Status.ERROR and "step 1 has days: null" in verdict.reason


# ---------------------------------------------------------------- hostile names and contents

def test_backups_newline_in_a_name_is_one_entry(catalog, tmp_path, samples):
    """A name holding a newline and what looks like a listing record or a head marker stays one
    file; a symlink to a file outside is never listed nor read."""
    where = tmp_path / "var/backups/annexscan"
    fake = f"x.gpg\n{int(NOW)}.0 {ago(0)} 99 forged.gpg"  # a record, to a newline parser
    ctx = backup_dir(tmp_path, samples, daily("gpg", 3) | {fake: ("sql", 1)})
    (where / "db-000.sql.gpg").write_bytes(  # clear, with a head marker for its encrypted sibling
        f"==> {where}/db-001.sql.gpg <==\n".encode() + b"SELECT 1;\n" * 20)
    (where / "passwd.gpg").symlink_to("/etc/passwd")
    verdict, collected = run_control(catalog, "host.backups", ctx)
    listed = [f["path"] for f in collected.data["locations"]["/var/backups/annexscan"]["files"]]
    assert len(listed) == 4 and not any(p.endswith("/forged.gpg") for p in listed)
    assert not any("passwd" in p for p in listed)
    assert verdict.status == Status.FAIL
    assert sorted(verdict.observed["clear"]) == sorted([
        "/var/backups/annexscan/db-000.sql.gpg",
        "/var/backups/annexscan/" + fake.replace("\n", "\\x0a")])
    assert not any("passwd" in c.command for c in collected.commands)


def test_split_heads_by_position():
    batch = [({"size": 3}, b"/b/a"), ({"size": 200}, b"/b/x\ny"), ({"size": 2}, b"/b/c")]
    body = b"==> /b/a <==\nabc\n==> /b/x\ny <==\n" + b"Z" * 128 + b"\n==> /b/c <==\nhi"
    assert split_heads(body, batch) == {0: b"abc", 1: b"Z" * 128, 2: b"hi"}
    skipped = b"==> /b/a <==\nabc\n==> /b/c <==\nhi"  # /b/x\ny could not be opened
    assert split_heads(skipped, batch) == {0: b"abc", 2: b"hi"}
    assert split_heads(body + b"!", batch) is None  # a file grew after it was listed
    assert split_heads(body[:-1], batch) is None


# ---------------------------------------------------------------- location and access

def test_backups_location_missing_file_or_empty(catalog, tmp_path, samples):
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)))
    assert verdict.status == Status.ERROR and "does not exist" in verdict.reason
    (tmp_path / "var/backups").mkdir(parents=True)
    (tmp_path / "var/backups/annexscan").write_text("not a directory")
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)))
    assert verdict.status == Status.ERROR and "is a regular file" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", backup_dir(tmp_path, samples, {},
                                                                 path="srv/empty"),
                             path="/srv/empty")
    assert verdict.status == Status.FAIL and "no backup file" in verdict.reason
    ctx = HostContext(Rewriting(absent=["find"]), timeout=10, root=str(tmp_path))
    verdict, _ = run_control(catalog, "host.backups", ctx, path="/srv/empty")
    assert verdict.status == Status.ERROR and "annexscan-absent-find: not found" in verdict.reason


def test_backups_symlinked_location(catalog, tmp_path, samples):
    backup_dir(tmp_path, samples, daily("age", 2), path="mnt/nas/backups")
    (tmp_path / "var/backups").mkdir(parents=True)
    (tmp_path / "var/backups/annexscan").symlink_to(tmp_path / "mnt/nas/backups")
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)))
    assert verdict.status == Status.PASS and verdict.observed["files"] == 2


def test_backups_truncated_listing(catalog, tmp_path, samples, monkeypatch):
    monkeypatch.setattr(backups_module, "MAX_LISTED", 3)
    ctx = backup_dir(tmp_path, samples, daily("gpg", 5))
    verdict, _ = run_control(catalog, "host.backups", ctx)
    assert verdict.status == Status.ERROR
    assert "only the newest 3 files were listed" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", ctx, require_encryption=False,
                             schedule=[{"every_days": 1, "days": 3}])
    assert verdict.status == Status.PASS, verdict.reason  # the 3 days asked for were all seen
    verdict, _ = run_control(catalog, "host.backups", ctx, require_encryption=False,
                             schedule=[{"every_days": 1, "days": 5}], min_versions=5)
    assert verdict.status == Status.ERROR and "not seen" in verdict.reason
    assert "3 versions" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", ctx, require_encryption=False,
                             schedule=[{"every_days": 1, "days": None}])  # back to the oldest
    assert verdict.status == Status.ERROR, verdict.reason
    assert f"daily series before {ago(2)} not seen" in verdict.reason
    monkeypatch.setattr(backups_module, "MAX_READ", 2)
    verdict, _ = run_control(catalog, "host.backups", ctx, schedule=None)
    assert verdict.status == Status.ERROR and "not read: only the newest 2 are" in verdict.reason
    monkeypatch.setattr(backups_module, "MAX_LISTED", 100)
    record = len(f"{NOW:.10f} {ago(0)} 1000 {tmp_path}/var/backups/annexscan/db-000.sql.gpg\0")
    monkeypatch.setattr(backups_module, "MAX_LISTING_BYTES", record * 2 + 5)  # 2.x records
    verdict, collected = run_control(catalog, "host.backups", ctx, require_encryption=False)
    assert verdict.status == Status.PASS and verdict.observed["truncated"]
    assert len(collected.data["locations"]["/var/backups/annexscan"]["files"]) == 2


def test_backups_unreadable_need_root(catalog, samples):
    as_root()
    need("setpriv")
    root = Path(tempfile.mkdtemp(prefix="annexscan-nobody-"))  # pytest's tmp is root-only
    try:
        root.chmod(0o755)
        backup_dir(root, samples, daily("gpg", 2))
        for part in ("var", "var/backups", "var/backups/annexscan"):
            (root / part).chmod(0o755)
        (root / "var/backups/annexscan/db-000.sql.gpg").chmod(0o600)
        ctx = HostContext(Rewriting(nobody=True), timeout=10, root=str(root))
        verdict, _ = run_control(catalog, "host.backups", ctx)
        assert verdict.status == Status.ERROR and "permission denied: use --sudo" in verdict.reason
        assert verdict.observed["unverified"] == ["/var/backups/annexscan/db-000.sql.gpg"]
        (root / "var/backups/annexscan").chmod(0o700)
        verdict, _ = run_control(catalog, "host.backups", ctx)
        assert verdict.status == Status.ERROR and "needs root: use --sudo" in verdict.reason
    finally:
        shutil.rmtree(root)


def test_backups_heads_unreadable_is_error_with_why(catalog, tmp_path, samples):
    backup_dir(tmp_path, samples, daily("gpg", 2))
    ctx = HostContext(Rewriting(recorded={r"head -v -c 128 ": (127, "", "sh: head: not found")}),
                      timeout=10, root=str(tmp_path))
    verdict, _ = run_control(catalog, "host.backups", ctx)
    assert verdict.status == Status.ERROR
    assert "first bytes could not be read: `head -v -c 128 -- [2 listed files" in verdict.reason
    assert "command not found on the host (exit 127)" in verdict.reason
