"""host.password_policy and host.password_hashing: the real collectors through the real
LocalTransport on sysroot fixtures (login.defs, PAM stacks, pwquality, faillock, /etc/shadow
with real hashes from openssl and mkpasswd); unreadable files as uid nobody."""

from __future__ import annotations

import pytest

from accounts_support import (DATA, E, F, NA, NobodyTransport, P, collect_and_check, dump,
                              need, real_hashes, shadow_file, write_tree)
from accounts_support import open_root  # noqa: F401 - a fixture, used by name


# ---------------------------------------------------------------- host.password_policy

def tree_of(name: str) -> dict[str, str]:
    """A sysroot fixture under tests/data/host_accounts as {relative path: text}."""
    base = DATA / name
    return {str(p.relative_to(base)): p.read_text() for p in base.rglob("*") if p.is_file()}


# Accounts of /etc/shadow: two people within 30 days, and what does not count for the lifetime
# (locked, no password, service account without one); hashes are placeholders, never parsed.
SHADOW_OK = ("root:$y$j9T$salt$hash:19700:0:30:7:::\nalice:$6$salt$hash:19700:0:30:7:::\n"
             "bob:!$6$salt$hash:19700:0:99999:7:::\nsvc:*:19700:0:99999:7:::\n"
             "new:!!:19700:0:::::\n")
# debian: pwquality.conf.d minlen 14 but pwquality.conf (read last) minlen 12, faillock.conf
# deny 5; rhel: minlen=14 and deny=4 as PAM arguments in system-auth and password-auth.
DEBIAN = {**tree_of("debian"), "etc/shadow": SHADOW_OK}
RHEL = {**tree_of("rhel"), "etc/shadow": SHADOW_OK}
RHEL_STACK = RHEL["etc/pam.d/system-auth"]
STRICT = {"max_days": 30, "min_length": 12, "max_failures": 5}


@pytest.mark.parametrize("name", ["debian", "rhel"])
def test_password_policy_passes(catalog, tmp_path, name):
    _, verdict = collect_and_check(catalog, "host.password_policy",
                                   write_tree(tmp_path, {"debian": DEBIAN, "rhel": RHEL}[name]),
                                   **STRICT)
    assert verdict.status == P, verdict.reason
    stack, minlen = ("common-password", 12) if name == "debian" else ("system-auth", 14)
    assert verdict.observed[f"min_length {stack}"]["minlen"] == minlen


LOGIN = "etc/login.defs"
PWQ = "etc/security/pwquality.conf"
FAILLOCK = "etc/security/faillock.conf"
COMMON_PW = "etc/pam.d/common-password"
COMMON_AUTH = "etc/pam.d/common-auth"
FAILING = {
    "no-expiry": ({LOGIN: "PASS_MAX_DAYS 99999\n"},
                  "lifetime login.defs: PASS_MAX_DAYS sets no expiry"),
    "shadow-never-expires": (
        {"etc/shadow": SHADOW_OK + "carol:$y$j9T$salt$hash:19700:0:99999:7:::\n"
                                   "dave:$6$salt$hash:19700:0::7:::\n"},
        "lifetime /etc/shadow: password maximum age over 30 days: carol (no maximum), "
        "dave (no maximum)"),
    "shadow-longer": ({"etc/shadow": SHADOW_OK + "erin:$6$s$h:19700:0:90:7:::\n"},
                      "over 30 days: erin (90)"),
    "unset-expiry": ({LOGIN: "PASS_MIN_DAYS 1\n"}, "no expiry"),
    "long-expiry": ({LOGIN: "PASS_MAX_DAYS 90\n"}, "PASS_MAX_DAYS 90 > 30"),
    "short-minlen": ({PWQ: "minlen = 8\n"}, "minlen 8"),
    "conf-default": ({PWQ: "# nothing\n", "etc/security/pwquality.conf.d/50-annex.conf":
                      "difok = 3\n"}, "minlen 8 (pwquality default)"),
    "pam-arg-overrides-conf": ({COMMON_PW: "password requisite pam_pwquality.so minlen=10\n"},
                               "minlen 10"),
    "pwquality-commented": ({COMMON_PW: "#password requisite pam_pwquality.so\n"
                             "password required pam_unix.so yescrypt\n"}, "not enforced"),
    "lenient-faillock": ({FAILLOCK: "deny=10\n"}, "lockout after 10 failures"),
    "faillock-default-3-but-no-authfail": (
        {COMMON_AUTH: "auth required pam_faillock.so preauth\nauth required pam_unix.so\n"},
        "no authfail line"),
    "no-lockout": ({COMMON_AUTH: "auth required pam_unix.so\n"}, "no pam_faillock"),
    "tally2-never-locks": ({COMMON_AUTH: "auth required pam_tally2.so onerr=fail\n"},
                           "deny=0 never locks"),
}


@pytest.mark.parametrize("case", FAILING)
def test_password_policy_each_rule_fails(catalog, tmp_path, case):
    changes, reason = FAILING[case]
    tree = {**DEBIAN, **changes}
    _, verdict = collect_and_check(catalog, "host.password_policy", write_tree(tmp_path, tree),
                                   **STRICT)
    assert verdict.status == F and reason in verdict.reason, verdict.reason


def test_password_policy_rhel_weakest_stack_counts(catalog, tmp_path):
    weak = RHEL_STACK.replace(" deny=4", "").replace("pam_faillock", "pam_env")
    tree = {**RHEL, "etc/pam.d/password-auth": weak}
    _, verdict = collect_and_check(catalog, "host.password_policy", write_tree(tmp_path, tree),
                                   **STRICT)
    assert verdict.status == F and "lockout password-auth: no pam_faillock" in verdict.reason


def test_password_policy_null_rules_are_not_checked(catalog, tmp_path):
    tree = {**DEBIAN, LOGIN: "PASS_MAX_DAYS 99999\n", COMMON_AUTH: "auth required pam_unix.so\n",
            PWQ: "minlen = 6\n"}
    root = write_tree(tmp_path, tree)
    collected, verdict = collect_and_check(catalog, "host.password_policy", root,
                                           max_days=None, max_failures=None)
    assert verdict.status == F and set(verdict.observed) == {"min_length common-password"}
    assert not collected.data["shadow_read"]  # no lifetime rule: /etc/shadow is not read
    _, verdict = collect_and_check(catalog, "host.password_policy", root, max_days=None,
                                   max_failures=None, min_length=None)
    assert verdict.status == NA and "every rule is null" in verdict.reason
    assert "not checked: password lifetime at most, minimum length at least" in \
        verdict.expected


def test_password_policy_shadow_overrides_a_strict_login_defs(catalog, tmp_path):
    """Today's false pass: login.defs says 30, an account's shadow maximum age is 99999."""
    shadow = SHADOW_OK + "mallory:$y$j9T$realistic$hash:19700:0:99999:7:::\n"
    collected, verdict = collect_and_check(catalog, "host.password_policy", write_tree(
        tmp_path, {**DEBIAN, "etc/shadow": shadow}), **STRICT)
    assert verdict.status == F and "mallory (no maximum)" in verdict.reason
    assert verdict.observed["lifetime login.defs"] == 30
    seen = verdict.observed["lifetime /etc/shadow"]
    assert seen["accounts_with_password"] == ["alice", "mallory", "root"]
    assert seen["over_limit"] == {"mallory": 99999}
    assert "$hash" not in dump(collected, verdict) and "realistic" not in dump(collected, verdict)


def test_password_policy_unreadable_shadow_is_error(catalog, open_root):
    """Only the lifetime rule needs /etc/shadow: the others are still judged without root."""
    need("setpriv")
    root = write_tree(open_root, DEBIAN)
    (root / "etc/shadow").chmod(0o600)
    collected, verdict = collect_and_check(catalog, "host.password_policy", root,
                                           NobodyTransport(), **STRICT)
    assert verdict.status == E and verdict.reason.startswith("lifetime /etc/shadow: `cat")
    assert "Permission denied (needs root: use --sudo)" in verdict.reason
    assert verdict.observed["min_length common-password"]["minlen"] == 12
    assert all(c.stdout == "" for c in collected.commands if "shadow" in c.command)


def test_password_policy_missing_files_are_errors(catalog, tmp_path):
    _, verdict = collect_and_check(catalog, "host.password_policy",
                                   write_tree(tmp_path, {"etc/hostname": "x\n"}), **STRICT)
    assert verdict.status == E
    assert "login.defs is absent" in verdict.reason and "no PAM" in verdict.reason
    assert "/etc/shadow is absent" in verdict.reason


def test_password_policy_unreadable_is_error(catalog, tmp_path):
    need("setpriv")
    root = write_tree(tmp_path / "root", DEBIAN)
    (root / LOGIN).chmod(0o600)
    _, verdict = collect_and_check(catalog, "host.password_policy", root,
                                   NobodyTransport(), **STRICT)
    assert verdict.status == E and "Permission denied" in verdict.reason \
        and "--sudo" in verdict.reason


# ---------------------------------------------------------------- host.password_hashing

def test_password_hashing_real_hashes(catalog, tmp_path):
    hashes = real_hashes()
    root = write_tree(tmp_path, {"etc/shadow": shadow_file(hashes)})
    collected, verdict = collect_and_check(catalog, "host.password_hashing", root)
    assert verdict.status == F
    assert verdict.observed["schemes"] == {"sha512": "$6$", "yescrypt": "$y$", "bcrypt": "$2b$",
                                           "md5": "$1$", "sha256": "$5$", "des": "DES",
                                           "bsdi": "BSDI-DES"}
    assert verdict.observed["locked"] == ["daemon", "lockedmd5", "nopw", "rhelnew"]
    assert "weak hash: bsdi (BSDI-DES), des (DES), md5 ($1$), sha256 ($5$)" in verdict.reason
    assert "empty password: empty" in verdict.reason
    text = dump(collected, verdict)
    for field in hashes.values():
        if len(field) > 2:
            assert field.lstrip("!") not in text  # no hash anywhere in data or evidence
    assert collected.commands[0].stdout.startswith("sha512:hash:$6$:99999\n")


def test_password_hashing_passes_with_strong_or_locked(catalog, tmp_path):
    hashes = {k: v for k, v in real_hashes().items() if k in ("sha512", "yescrypt", "bcrypt",
                                                         "lockedmd5", "nopw", "daemon")}
    root = write_tree(tmp_path, {"etc/shadow": "# comment\n" + shadow_file(hashes)})
    collected, verdict = collect_and_check(catalog, "host.password_hashing", root)
    assert verdict.status == P, verdict.reason
    assert not any(h.lstrip("!") in dump(collected, verdict) for h in hashes.values()
                   if len(h) > 2)


def test_password_hashing_allowed_schemes_parameter(catalog, tmp_path):
    root = write_tree(tmp_path, {"etc/shadow": shadow_file({"y": real_hashes()["yescrypt"]})})
    _, verdict = collect_and_check(catalog, "host.password_hashing", root,
                                   allowed_schemes=["$6$"])
    assert verdict.status == F and "y ($y$)" in verdict.reason


def test_password_hashing_null_sub_rules_are_not_checked(catalog, tmp_path):
    hashes = real_hashes()
    root = write_tree(tmp_path, {"etc/shadow": shadow_file({k: hashes[k] for k in ("md5", "empty")})})
    _, verdict = collect_and_check(catalog, "host.password_hashing", root, allowed_schemes=None)
    assert verdict.status == F and verdict.reason == "empty password: empty"
    assert "hash schemes not checked" in verdict.expected
    _, verdict = collect_and_check(catalog, "host.password_hashing", root, forbid_empty=None)
    assert verdict.status == F and verdict.reason == "weak hash: md5 ($1$)"
    _, verdict = collect_and_check(catalog, "host.password_hashing", root,
                                   allowed_schemes=None, forbid_empty=False)
    assert verdict.status == NA


def test_password_hashing_missing_shadow_is_error(catalog, tmp_path):
    root = write_tree(tmp_path, {"etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
    _, verdict = collect_and_check(catalog, "host.password_hashing", root)
    assert verdict.status == E and "absent" in verdict.reason


def test_password_hashing_without_root_is_error(catalog, open_root):
    need("setpriv")
    root = write_tree(open_root, {"etc/shadow": shadow_file({"sha512": real_hashes()["sha512"]})})
    (root / "etc/shadow").chmod(0o600)  # as on a real host: root only
    collected, verdict = collect_and_check(catalog, "host.password_hashing", root,
                                           NobodyTransport())
    assert verdict.status == E and "--sudo" in verdict.reason, verdict.reason
    assert collected.commands[0].stdout == ""
