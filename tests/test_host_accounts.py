"""host.authorized_keys, host.listening_services: real collectors through the real
LocalTransport on sysroot fixtures (real keys from ssh-keygen, real sockets in a private network
namespace). The password controls are in test_host_passwords.py."""

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

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes.keys import parse_key_line
from scanner.hostprobes.sockets import parse_proc_net_tcp, parse_ss
from scanner.model import ProbeResult, to_jsonable
from scanner.transports.local import LocalTransport

from accounts_support import DATA, E, F, NobodyTransport, P, collect_and_check, need, write_tree


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
