"""Compliant and violating hosts for each host control, built for the parameters a profile gives
it (never one profile's numbers): real sysroot trees read by the real collectors and tools, or
rules loaded / daemons started in a private network namespace. Used by test_fidelity_host.py.

A factory takes a ref's parameters and returns its cases: one compliant host, then one violating
host per sub-rule the parameters switch on, each with the words its failure reason must hold.
A sub-rule a factory cannot build yet raises Unsupported, which the suite reports as a failure
(a new parameter in a profile needs a case), never as a pass."""

from __future__ import annotations

import fnmatch
import functools
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from accounts_support import real_hashes, shadow_file
from hostsys_helpers import INSTALLED, apt_root, cvd, days_ago, make_journal, write_tree
from scanner.transports.base import HostContext
from storage_support import DATA, PASSPHRASE, local, mdstat_root

Built = HostContext | dict  # a host to collect from, or the data of a collection already run


class Unsupported(Exception):
    """The parameters switch on a sub-rule this factory has no case for yet."""


@dataclass(frozen=True)
class Case:
    name: str  # "compliant" or what the violating host does wrong
    build: Callable[[Path], Built]  # the host, built in a fresh directory
    fault: str = ""  # words the failure reason must hold; empty for the compliant case

    @property
    def compliant(self) -> bool:
        return not self.fault


def only_rules(params: dict, supported: set[str]) -> None:
    extra = sorted(k for k, v in params.items() if v is not None and v is not False
                   and k not in supported)
    if extra:
        raise Unsupported(f"no case built for sub-rule(s) {', '.join(extra)} yet")


# ---------------------------------------------------------------- host.backups

@functools.cache
def _encrypted() -> bytes:
    """A real openssl-enc file (AES-256-CBC, PBKDF2): an encrypted backup by its header."""
    return subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass",
                           f"pass:{PASSPHRASE}"], input=b"CREATE TABLE t(x int);\n" * 20,
                          capture_output=True, check=True).stdout


def _steps(params: dict) -> list[range]:
    """Days ago of each schedule step's backups, one every every_days over its days (three
    periods for a last step without end)."""
    steps, start = [], 0
    for step in params["schedule"] or []:
        span = step["days"] or 3 * step["every_days"] + 1
        steps.append(range(start, start + span, step["every_days"]))
        start += span
    return steps


def _series(params: dict) -> list[int]:
    """Days ago of the fewest backups meeting every sub-rule: the schedule's steps, then enough
    versions and age."""
    days = sorted({0, *(day for step in _steps(params) for day in step)})
    while len(days) < (params["min_versions"] or 0):
        days.append(days[-1] + 1)
    if params["min_retention_days"] and days[-1] < params["min_retention_days"]:
        days.append(params["min_retention_days"])
    return days


def _backups_tree(params: dict, days: list[int], clear: int | None = None,
                  late_hours: float = 0) -> Callable[[Path], Built]:
    def build(root: Path) -> Built:
        where = root / params["path"].lstrip("/")
        where.mkdir(parents=True)
        now = time.time() - late_hours * 3600
        name = params["pattern"].replace("*", "db-{:04}").replace("?", "x")
        for day in days:
            path = where / name.format(day)
            assert fnmatch.fnmatch(path.name, params["pattern"]), path
            path.write_bytes(b"CREATE TABLE clear(x int);\n" * 20 if day == clear
                             else _encrypted())
            stamp = now - day * 86400 - 60
            os.utime(path, (stamp, stamp))
        return local(str(root))
    return build


def backups(params: dict) -> list[Case]:
    only_rules(params, {"path", "pattern", "schedule", "min_versions", "min_retention_days",
                        "max_age_hours", "require_encryption"})
    days = _series(params)
    cases = [Case("compliant", _backups_tree(params, days))]
    if params["schedule"]:  # a gap: the second backup of the last step holding three or more
        gaps = [step[1] for step in _steps(params) if len(step) >= 3]
        if not gaps:
            raise Unsupported(f"no step of {params['schedule']} holds three backups")
        gap = gaps[-1]
        cases.append(Case("a backup missing from the series",
                          _backups_tree(params, [d for d in days if d != gap]), "no backup on"))
    if params["min_versions"]:
        cases.append(Case("one version too few", _backups_tree(
            params, days[:params["min_versions"] - 1]), "versions (distinct days"))
    if params["min_retention_days"]:
        kept = [d for d in days if d < params["min_retention_days"]]
        cases.append(Case("oldest backup too young", _backups_tree(params, kept),
                          f"< {params['min_retention_days']}"))
    if params["max_age_hours"]:
        cases.append(Case("newest backup too old", _backups_tree(
            params, days, late_hours=params["max_age_hours"] + 2), "newest backup is"))
    if params["require_encryption"]:
        cases.append(Case("one backup in clear", _backups_tree(params, days, clear=days[0]),
                          "in clear"))
    return cases


# ---------------------------------------------------------------- host.antivirus

def _clamav(files: dict[str, bytes]) -> Callable[[Path], Built]:
    def build(root: Path) -> Built:
        write_tree(root, {"/var/lib/clamav": None} | {f"/var/lib/clamav/{name}": data
                                                        for name, data in files.items()})
        return local(str(root))
    return build


def antivirus(params: dict) -> list[Case]:
    only_rules(params, {"max_signature_age_days"})
    limit = params["max_signature_age_days"]
    fresh = limit / 2 if limit else 300  # any age when the annex sets none
    cases = [Case("compliant", _clamav({"daily.cvd": cvd(days_ago(fresh)),
                                        "main.cvd": cvd(days_ago(400))})),
             Case("ClamAV without signatures", _clamav({}), "no signature database")]
    if limit:
        cases.append(Case("signatures too old", _clamav({"daily.cvd": cvd(days_ago(limit + 1))}),
                          f"(> {limit})"))
    return cases


# ---------------------------------------------------------------- host.log_retention

def _logs(rotate: int, journal_days: int, auditd: bool | None) -> Callable[[Path], Built]:
    def build(root: Path) -> Built:
        files = {"/etc/logrotate.conf": f"/var/log/syslog {{\n  daily\n  rotate {rotate}\n}}\n",
                 "/etc/systemd/journald.conf":
                     f"[Journal]\nStorage=persistent\nMaxRetentionSec={journal_days}d\n",
                 "/proc/1/comm": "systemd\n"}
        if auditd is not None:
            files |= {"/etc/audit/auditd.conf": "max_log_file_action = keep_logs\n"}
            files |= {"/proc/812/comm": "auditd\n"} if auditd else {}
        write_tree(root, files)
        make_journal(root, [journal_days + 5, 1])
        return local(str(root))
    return build


def log_retention(params: dict) -> list[Case]:
    only_rules(params, {"min_days", "require_auditd"})
    days, auditd = params["min_days"] or 30, params["require_auditd"]
    cases = [Case("compliant", _logs(days, days, True if auditd else None))]
    if params["min_days"]:
        short = days - 1
        cases += [Case("logrotate keeps a day too few", _logs(short, days, auditd or None),
                       f"keeps {short} days (rotate {short} daily) < {days}"),
                  Case("journald deletes a day too early", _logs(days, short, auditd or None),
                       f"journald: MaxRetentionSec={short}d")]
    if auditd:
        cases.append(Case("auditd not running", _logs(days, days, False), "auditd is not running"))
    return cases


# ---------------------------------------------------------------- passwords

def _tree(files: dict[str, str]) -> Callable[[Path], Built]:
    return lambda root: local(str(write_tree(root, files)))


# users of real_hashes() and the scheme of each one's hash (checked when the tree is built)
SCHEMES = {"sha512": "$6$", "yescrypt": "$y$", "bcrypt": "$2b$", "md5": "$1$", "sha256": "$5$",
           "des": "DES"}
LOCKED = ("lockedmd5", "nopw", "daemon", "rhelnew")  # no usable password: never judged weak
_real_hashes = functools.cache(real_hashes)  # made once, when a tree first needs them


def _shadow(users: list[str]) -> Callable[[Path], Built]:
    def build(root: Path) -> Built:
        hashes = _real_hashes()
        for user in set(users) & set(SCHEMES):
            field = hashes[user]
            assert (f"${field.split('$')[1]}$" if field[:1] == "$" else "DES") == \
                SCHEMES[user], user
        return _tree({"/etc/shadow": shadow_file({user: hashes[user] for user in users})})(root)
    return build


def password_hashing(params: dict) -> list[Case]:
    only_rules(params, {"allowed_schemes", "forbid_empty"})
    allowed = params["allowed_schemes"]
    strong = [u for u, scheme in SCHEMES.items() if allowed is None or scheme in allowed]
    cases = [Case("compliant", _shadow(strong + list(LOCKED)))]
    if allowed is not None:
        weak = next(u for u, scheme in SCHEMES.items() if scheme not in allowed)
        cases.append(Case(f"a {weak} hash", _shadow(strong + [weak]),
                          f"weak hash: {weak} ({SCHEMES[weak]})"))
    if params["forbid_empty"]:
        cases.append(Case("an empty password", _shadow(strong + ["empty"]),
                          "empty password: empty"))
    return cases


COMMON_PASSWORD = ("password requisite pam_pwquality.so retry=3\n"
                   "password [success=1 default=ignore] pam_unix.so obscure use_authtok yescrypt\n"
                   "password requisite pam_deny.so\npassword required pam_permit.so\n")
COMMON_AUTH = ("auth required pam_faillock.so preauth\n"
               "auth [success=1 default=ignore] pam_unix.so nullok\n"
               "auth [default=die] pam_faillock.so authfail\n"
               "auth requisite pam_deny.so\nauth required pam_permit.so\n")


def _policy(login_days: int | None, shadow_days: int | None, minlen: int | None,
            deny: int | None) -> Callable[[Path], Built]:
    """A Debian tree setting only what is given: login.defs and /etc/shadow lifetimes, a
    pam_pwquality stack with its minlen, a pam_faillock stack with its deny."""
    files = {}
    if login_days is not None:
        files["/etc/login.defs"] = f"PASS_MAX_DAYS {login_days}\n"
        files["/etc/shadow"] = (f"root:$y$j9T$salt$hash:19700:0:{shadow_days}:7:::\n"
                                f"alice:$6$salt$hash:19700:0:{shadow_days}:7:::\n"
                                "svc:*:19700:0:99999:7:::\n")
    if minlen is not None:
        files |= {"/etc/pam.d/common-password": COMMON_PASSWORD,
                  "/etc/security/pwquality.conf": f"minlen = {minlen}\n"}
    if deny is not None:
        files |= {"/etc/pam.d/common-auth": COMMON_AUTH,
                  "/etc/security/faillock.conf": f"deny = {deny}\n"}
    return _tree(files)


def password_policy(params: dict) -> list[Case]:
    only_rules(params, {"max_days", "min_length", "max_failures"})
    days, length, tries = params["max_days"], params["min_length"], params["max_failures"]
    rules = (days, days, length, tries)
    cases = [Case("compliant", _policy(*rules))]
    if days is not None:
        cases += [Case("login.defs a day too long", _policy(days + 1, days, length, tries),
                       f"PASS_MAX_DAYS {days + 1} > {days}"),
                  Case("an account a day too long", _policy(days, days + 1, length, tries),
                       f"({days + 1})")]
    if length is not None:
        cases.append(Case("one character too short", _policy(days, days, length - 1, tries),
                          f"minlen {length - 1}"))
    if tries is not None:
        cases.append(Case("one failure too many", _policy(days, days, length, tries + 1),
                          f"lockout after {tries + 1} failures"))
    return cases


# ---------------------------------------------------------------- host.patches

AUTO_OFF = {"/etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Unattended-Upgrade "0";\n'}


def _apt(pending: int, list_age_days: float, files: dict | None = None) -> Callable[[Path], Built]:
    """Packages lib0.. installed at 1.0-1, the first `pending` of them with a 1.0-2 update."""
    def build(root: Path) -> Built:
        installed = {f"lib{i}": "1.0-1" for i in range(pending + 1)} | {
            "unattended-upgrades": INSTALLED["unattended-upgrades"]}
        available = {f"lib{i}": "1.0-2" if i < pending else "1.0-1" for i in range(pending + 1)}
        return local(str(apt_root(root, available, installed, list_age_days=list_age_days,
                                  files=files)))
    return build


def patches(params: dict) -> list[Case]:
    only_rules(params, {"max_list_age_days", "max_pending", "require_automatic"})
    most, age = params["max_pending"], params["max_list_age_days"]
    lists = age - 1 if age else 30  # as old as the annex allows
    cases = [Case("compliant", _apt(2 if most is None else most, lists))]
    if most is not None:
        cases.append(Case("one security update too many", _apt(most + 1, lists),
                          f"{most + 1} pending security update"))
    if params["require_automatic"]:
        cases.append(Case("automatic updates off", _apt(0, lists, AUTO_OFF),
                          "Unattended-Upgrade is 0"))
    return cases


# ---------------------------------------------------------------- host.raid

HEALTHY = {"raid1": "mdstat-raid1-healthy.txt", "raid5": "mdstat-raid5.txt"}  # recorded arrays
DEGRADED = {"raid1": "mdstat-raid1-degraded.txt"}


def raid(params: dict) -> list[Case]:
    level = str(params["level"] or "raid5").lower()  # null: any level with redundancy
    level = level if level.startswith("raid") else f"raid{level}"
    if level not in HEALTHY:
        raise Unsupported(f"no recorded healthy {level} array in {DATA}")
    cases = [Case("compliant", lambda root: mdstat_root(root, HEALTHY[level])),
             Case("a raid0 array", lambda root: mdstat_root(root, "mdstat-raid0.txt"),
                  f"level raid0, not {level}" if params["level"] else "has no redundancy")]
    if level in DEGRADED:
        cases.append(Case("a degraded array", lambda root: mdstat_root(root, DEGRADED[level]),
                          "degraded"))
    return cases
