"""host.password_policy, host.password_hashing, host.authorized_keys, host.listening_services:
real collectors through the real LocalTransport on sysroot fixtures (real hashes from openssl
and mkpasswd, real keys from ssh-keygen, real sockets in a private network namespace)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scanner.checks import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes import Collected, collector_registry
from scanner.hostprobes.keys import parse_key_line
from scanner.hostprobes.sockets import parse_proc_net_tcp, parse_ss
from scanner.model import ProbeResult, Status, to_jsonable
from scanner.transports.base import HostContext
from scanner.transports.local import LocalTransport

DATA = Path(__file__).parent / "data" / "host_accounts"
P, F, E, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE


def need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} installed")


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


class NobodyTransport(LocalTransport):
    """Commands as uid 65534: real `Permission denied` from real files (root sees everything)."""

    def run(self, command, timeout, sudo=False):
        if os.geteuid() == 0:
            command = f"setpriv --reuid=65534 --regid=65534 --clear-groups sh -c " \
                      f"{shlex.quote(command)}"
        return super().run(command, timeout)


def collect_and_check(catalog, control_id: str, root: Path | str = "/", transport=None,
                      **params) -> tuple[Collected, object]:
    """Run the control's real collector, then its check, as the host probe would."""
    control = catalog.get(control_id)
    merged = {**control.defaults(), **params}
    ctx = HostContext(transport or LocalTransport(), timeout=10, root=str(root))
    collected = collector_registry()[control.collector](ctx, [merged])
    obs = Observations({"host": ProbeResult("host", "local", {
        control.collector: {**collected.data, "error": collected.error}})})
    return collected, evaluate(control_id, obs, merged)


def dump(collected: Collected, verdict) -> str:
    """Everything a report would show: data, evidence and verdict."""
    return json.dumps(to_jsonable([collected.data, [c.evidence() for c in collected.commands],
                                   verdict]))


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


@pytest.fixture
def open_root():
    """A sysroot every user may traverse (pytest's tmp_path is root-only), as / is."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file only root can read")
    root = Path(tempfile.mkdtemp(prefix="annexscan-root-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


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

def _hashes() -> dict[str, str]:
    """user -> shadow password field, every hash made by the real tools."""
    need("openssl", "mkpasswd")

    def tool(*cmd: str) -> str:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    return {"sha512": tool("openssl", "passwd", "-6", "s3cret-sha512"),
            "yescrypt": tool("mkpasswd", "-m", "yescrypt", "s3cret-yes"),
            "bcrypt": tool("mkpasswd", "-m", "bcrypt", "s3cret-bc"),
            "md5": tool("openssl", "passwd", "-1", "s3cret-md5"),
            "sha256": tool("openssl", "passwd", "-5", "s3cret-sha256"),
            "des": tool("mkpasswd", "-m", "descrypt", "s3cret"),
            "bsdi": tool("mkpasswd", "-m", "bsdicrypt", "s3cret"),
            "lockedmd5": "!" + tool("openssl", "passwd", "-1", "old"),
            "nopw": "!", "daemon": "*", "rhelnew": "!!", "empty": ""}


def _shadow(hashes: dict[str, str]) -> str:
    return "".join(f"{user}:{field}:19700:0:99999:7:::\n" for user, field in hashes.items())


def test_password_hashing_real_hashes(catalog, tmp_path):
    hashes = _hashes()
    root = write_tree(tmp_path, {"etc/shadow": _shadow(hashes)})
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
    hashes = {k: v for k, v in _hashes().items() if k in ("sha512", "yescrypt", "bcrypt",
                                                         "lockedmd5", "nopw", "daemon")}
    root = write_tree(tmp_path, {"etc/shadow": "# comment\n" + _shadow(hashes)})
    collected, verdict = collect_and_check(catalog, "host.password_hashing", root)
    assert verdict.status == P, verdict.reason
    assert not any(h.lstrip("!") in dump(collected, verdict) for h in hashes.values()
                   if len(h) > 2)


def test_password_hashing_allowed_schemes_parameter(catalog, tmp_path):
    root = write_tree(tmp_path, {"etc/shadow": _shadow({"y": _hashes()["yescrypt"]})})
    _, verdict = collect_and_check(catalog, "host.password_hashing", root,
                                   allowed_schemes=["$6$"])
    assert verdict.status == F and "y ($y$)" in verdict.reason


def test_password_hashing_null_sub_rules_are_not_checked(catalog, tmp_path):
    hashes = _hashes()
    root = write_tree(tmp_path, {"etc/shadow": _shadow({k: hashes[k] for k in ("md5", "empty")})})
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
    root = write_tree(open_root, {"etc/shadow": _shadow({"sha512": _hashes()["sha512"]})})
    (root / "etc/shadow").chmod(0o600)  # as on a real host: root only
    collected, verdict = collect_and_check(catalog, "host.password_hashing", root,
                                           NobodyTransport())
    assert verdict.status == E and "--sudo" in verdict.reason, verdict.reason
    assert collected.commands[0].stdout == ""


# ---------------------------------------------------------------- host.authorized_keys

def _keygen(path: Path, kind: str, comment: str) -> tuple[str, str]:
    """(public key line, fingerprint as `ssh-keygen -lf` prints it) of a new real key."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
                   check=True)
    listed = subprocess.run(["ssh-keygen", "-lf", f"{path}.pub"], check=True,
                            capture_output=True, text=True).stdout.split()
    return Path(f"{path}.pub").read_text().strip(), listed[1]


@pytest.fixture
def keyed_sysroot(tmp_path):
    """Two users with real keys: alice's with options, bob's in authorized_keys2."""
    need("ssh-keygen")
    keys = tmp_path / "keys"
    keys.mkdir()
    alice, alice_fp = _keygen(keys / "alice", "ed25519", "alice@laptop")
    vendor, vendor_fp = _keygen(keys / "vendor", "ecdsa", "vendor support access")
    root = write_tree(tmp_path / "root", {
        "etc/passwd": "root:x:0:0:root:/root:/bin/bash\n"
                      "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
                      "bob:x:1001:1001:Bob:/home/bob:/usr/sbin/nologin\n"
                      "nohome:x:1002:1002::/nonexistent:/usr/sbin/nologin\n",
        "home/alice/.ssh/authorized_keys":
            f"# alice's keys\n\nfrom=\"10.0.0.0/8\",command=\"echo hi there\",no-pty {alice}\n"
            "this line is not a key\n",
        "home/bob/.ssh/authorized_keys2": vendor + "\n"})
    return root, {"alice": alice_fp, "vendor": vendor_fp}


def test_fingerprints_match_ssh_keygen(catalog, keyed_sysroot):
    root, fps = keyed_sysroot
    collected, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                           allowed_fingerprints=list(fps.values()))
    assert verdict.status == P, verdict.reason
    files = collected.data["files"]
    alice = files["/home/alice/.ssh/authorized_keys"]
    assert alice["users"] == ["alice"] and alice["invalid_lines"] == [4]
    assert alice["keys"][0]["fingerprint"] == fps["alice"]
    assert alice["keys"][0]["options"] == 'from="10.0.0.0/8",command="echo hi there",no-pty'
    assert files["/home/bob/.ssh/authorized_keys2"]["keys"][0]["fingerprint"] == fps["vendor"]
    assert "AAAA" not in json.dumps(to_jsonable([c.evidence() for c in collected.commands]))


def test_unlisted_vendor_key_fails(catalog, keyed_sysroot):
    root, fps = keyed_sysroot
    _, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                   allowed_fingerprints=[fps["alice"] + "="])
    assert verdict.status == F
    assert fps["vendor"] in verdict.reason and "vendor support access" in verdict.reason
    assert fps["alice"] not in verdict.reason


def test_empty_allowlist_fails_any_key_passes_no_key(catalog, keyed_sysroot, tmp_path):
    root, _ = keyed_sysroot
    assert collect_and_check(catalog, "host.authorized_keys", root)[1].status == F
    bare = write_tree(tmp_path / "bare", {"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n"})
    assert collect_and_check(catalog, "host.authorized_keys", bare)[1].status == P


def test_authorized_keys_file_from_sshd_config(catalog, keyed_sysroot):
    """sshd -T refuses to run without /run/sshd (its privilege separation directory), which
    only exists on this machine after some sshd ran: each command gets a private /run."""
    need("/usr/sbin/sshd", "ssh-keygen")
    root, fps = keyed_sysroot
    hostkey = root / "etc/ssh/ssh_host_ed25519_key"
    hostkey.parent.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
    (root / "etc/ssh/sshd_config").write_text(
        f"HostKey {hostkey}\nAuthorizedKeysFile /etc/ssh/keys/%u .ssh/authorized_keys\n"
        "Match User bob\n  AuthorizedKeysFile /etc/ssh/bob-extra\n")
    write_tree(root, {"etc/ssh/keys/bob": (root / "home/bob/.ssh/authorized_keys2").read_text(),
                      "etc/ssh/bob-extra": "# none yet\n"})
    if os.geteuid() != 0:
        _, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                       allowed_fingerprints=[fps["alice"]])
        assert verdict.status == E and "root" in verdict.reason
        return
    from test_ssh_config import PrivateRunTransport

    collected, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                           PrivateRunTransport(),
                                           allowed_fingerprints=[fps["alice"]])
    assert verdict.status == F and "/etc/ssh/keys/bob" in verdict.reason, verdict.reason
    assert collected.data["source"] == "sshd -T (2 Match contexts)"
    assert collected.data["patterns"] == ["/etc/ssh/keys/%u", ".ssh/authorized_keys",
                                          "/etc/ssh/bob-extra"]
    assert set(collected.data["files"]) == {"/etc/ssh/keys/bob", "/home/alice/.ssh/authorized_keys",
                                            "/etc/ssh/bob-extra"}
    (root / "etc/ssh/sshd_config").write_text(
        f"HostKey {hostkey}\nAuthorizedKeysCommand /usr/bin/ldap-keys\n"
        "AuthorizedKeysCommandUser nobody\n")
    _, verdict = collect_and_check(catalog, "host.authorized_keys", root, PrivateRunTransport(),
                                   allowed_fingerprints=list(fps.values()))
    assert verdict.status == E and "AuthorizedKeysCommand" in verdict.reason


def test_authorized_keys_without_privsep_directory_is_error(catalog, keyed_sysroot):
    """The machine-dependent failure made explicit: no /run/sshd, sshd -T fails: `error`."""
    need("/usr/sbin/sshd", "ssh-keygen", "unshare")
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace with an empty /run")
    root, fps = keyed_sysroot
    hostkey = root / "etc/ssh/ssh_host_ed25519_key"
    hostkey.parent.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
    (root / "etc/ssh/sshd_config").write_text(f"HostKey {hostkey}\n")

    class EmptyRunTransport(LocalTransport):
        def run(self, command, timeout, sudo=False):
            inner = f"mount -t tmpfs none /run && exec sh -c {shlex.quote(command)}"
            return super().run(f"unshare -m sh -c {shlex.quote(inner)}", timeout)

    collected, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                           EmptyRunTransport(),
                                           allowed_fingerprints=list(fps.values()))
    assert verdict.status == E and "Missing privilege separation directory" in verdict.reason
    assert "source" not in collected.data


def test_authorized_keys_missing_passwd_or_unreadable_home(catalog, keyed_sysroot, tmp_path):
    _, verdict = collect_and_check(catalog, "host.authorized_keys", tmp_path / "empty")
    assert verdict.status == E and "/etc/passwd" in verdict.reason
    need("setpriv")
    if os.geteuid() != 0:
        pytest.skip("the unreadable-file case needs root to hand files to nobody")
    # a world-traversable copy (pytest's tmp is private) where only alice's .ssh is closed
    public = Path(tempfile.mkdtemp(prefix="annexscan-keys-"))
    try:
        public.chmod(0o755)
        shutil.copytree(keyed_sysroot[0], public / "root")
        (public / "root/home/alice/.ssh").chmod(0o700)
        collected, verdict = collect_and_check(catalog, "host.authorized_keys", public / "root",
                                               NobodyTransport())
    finally:
        shutil.rmtree(public)
    assert collected.commands[0].ok  # /etc/passwd was readable: the key files were not
    assert verdict.status == E and "/home/alice/.ssh/authorized_keys: " in verdict.reason
    assert "Permission denied" in verdict.reason and "--sudo" in verdict.reason


@pytest.mark.parametrize("line,options,comment", [
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVY3/F3aYJ4hDf3Wl0m6rSvF3zLDaaKpiJ8P3HckYXk",
     "", ""),
    ('restrict,command="a b \\"c\\"" ssh-ed25519 '
     "AAAAC3NzaC1lZDI1NTE5AAAAIGVY3/F3aYJ4hDf3Wl0m6rSvF3zLDaaKpiJ8P3HckYXk me@x y",
     'restrict,command="a b \\"c\\""', "me@x y"),
])
def test_key_line_parsing(line, options, comment):
    key = parse_key_line(line)
    assert key["type"] == "ssh-ed25519" and key["options"] == options
    assert key["comment"] == comment and key["fingerprint"].startswith("SHA256:")
    assert parse_key_line("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGVY3") is None  # blob type differs


# ---------------------------------------------------------------- host.listening_services

# Recorded `ss -Htlnp` output (Debian 12 and RHEL 9 hosts): %lo zones, *, [::], mapped IPv4.
SS_RECORDED = (DATA / "ss_recorded.txt").read_text()


def test_parse_recorded_ss():
    sockets = {(s["address"], s["port"]): s for s in parse_ss(SS_RECORDED)}
    resolver = sockets[("127.0.0.53", 53)]
    assert resolver["loopback"] and resolver["interface"] == "lo"
    assert sockets[("*", 8080)]["processes"] == ["java"] and not sockets[("*", 8080)]["loopback"]
    assert not sockets[("::", 443)]["loopback"] and sockets[("::1", 631)]["loopback"]
    assert sockets[("::ffff:127.0.0.1", 9000)]["loopback"]
    assert sockets[("fe80::1", 2222)]["interface"] == "eth0"
    assert not sockets[("192.168.1.10", 5432)]["loopback"]


def test_parse_recorded_proc_net_tcp():
    text = (DATA / "proc_net_tcp").read_text()
    text6 = (DATA / "proc_net_tcp6").read_text()
    found = {(s["address"], s["port"], s["loopback"])
             for s in parse_proc_net_tcp(text) + parse_proc_net_tcp(text6)}
    assert found == {("0.0.0.0", 22, False), ("127.0.0.1", 5432, True), ("::", 443, False),
                     ("::1", 631, True)}


def test_listening_services_check_and_external_view(catalog):
    sockets = parse_ss(SS_RECORDED)
    params = {**catalog.get("host.listening_services").defaults(), "allowed": [22, 443]}
    obs = Observations({"host": ProbeResult("host", "x", {"sockets": {
        "sockets": sockets, "source": "ss", "error": None}}),
        "ports": ProbeResult("ports", "x", {"open_ports": [22, 443, 25]})})
    verdict = evaluate("host.listening_services", obs, params)
    assert verdict.status == F
    assert "8080 on * (java)" in verdict.reason and "5432 on 192.168.1.10" in verdict.reason
    assert "2222 on fe80::1%eth0" in verdict.reason and "631" not in verdict.reason
    assert verdict.observed["loopback_only"] == [53, 631, 3306, 9000]
    assert verdict.observed["external_scan"]["open_outside_not_listening_inside"] == [25]


def test_listening_services_real_sockets_in_netns(tmp_path):
    """Real listeners on 0.0.0.0 and 127.0.0.1 in a private network namespace, seen by ss and,
    with ss hidden, through /proc/net/tcp."""
    need("unshare", "ip", "ss")
    if os.geteuid() != 0:
        pytest.skip("needs root for a private network namespace (unshare -n)")
    script = DATA / "listen_and_check.py"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "-",
                           sys.executable, str(script), str(tmp_path)],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for source in ("ss", "proc"):
        allowed, default = results[source]["allowed"], results[source]["default"]
        assert allowed["status"] == "pass", allowed
        assert default["status"] == "fail" and "18081" in default["reason"], default
        assert "15432" not in default["reason"]
        assert 15432 in default["observed"]["loopback_only"]
    assert results["ss"]["default"]["observed"]["source"] == "ss"
    assert results["proc"]["default"]["observed"]["source"].startswith("/proc/net/tcp")
    assert "python" in " ".join(results["ss"]["default"]["observed"]["listening"]["18081"])
