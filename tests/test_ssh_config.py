"""host.sshd_config in every Match context: real `sshd -T [-C]` on config trees built here
(with Includes), each sshd command in a mount namespace with a private /run (sshd -T needs
/run/sshd; the machine's own /run is neither needed nor touched)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from accounts_support import (PrivateRunTransport, collect_and_check, need, need_root_sshd,
                              write_tree)
from scanner.hostprobes.sshd_match import FILLER, MatchBlock, connection_for, parse_match
from scanner.model import Status

P, F, E = Status.PASS, Status.FAIL, Status.ERROR
KEY_ONLY = "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
# host.sshd_config with every hardening sub-rule off: only "no login without a key" is left
CORE = {"max_auth_tries": None, "idle_timeout_max": None, "allowed_root_login": None,
        "forbidden": None}


@pytest.fixture(scope="module")
def hostkey(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def sshd_config(catalog, tmp_path: Path, hostkey: Path, text: str,
                files: dict[str, str] | None = None, **params):
    """host.sshd_config on `tmp_path/sshd_config` = HostKey + text (`@D@` is tmp_path)."""
    need_root_sshd()
    tree = {"sshd_config": f"HostKey {hostkey}\n" + text, **(files or {})}
    write_tree(tmp_path, {k: v.replace("@D@", str(tmp_path)) for k, v in tree.items()})
    return collect_and_check(catalog, "host.sshd_config", "/", PrivateRunTransport(),
                             config_file=str(tmp_path / "sshd_config"), **params)


def test_match_user_reenabling_passwords_fails(catalog, tmp_path, hostkey):
    """The false pass of plain `sshd -T`: its global view says PasswordAuthentication no."""
    text = KEY_ONLY + "Match User deploy\n  PasswordAuthentication yes\n"
    collected, verdict = sshd_config(catalog, tmp_path, hostkey, text, **CORE)
    assert verdict.status == F
    assert "Match User deploy (" in verdict.reason and "sshd_config:4)" in verdict.reason
    assert "PasswordAuthentication yes: password login without a key" in verdict.reason
    assert "any other connection" not in verdict.reason
    commands = [c.command for c in collected.commands]
    assert any(c.endswith("-C user=deploy,host=annexscan-other.invalid,addr=192.0.2.1,"
                          "laddr=192.0.2.2,lport=22") for c in commands)
    contexts = verdict.observed["contexts"]
    assert contexts["any other connection to port 22"]["passwordauthentication"] == "no"


def test_match_user_without_password_passes(catalog, tmp_path, hostkey):
    text = KEY_ONLY + "Match User deploy\n  X11Forwarding no\n"
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, **CORE)
    assert verdict.status == P, verdict.reason
    assert len(verdict.observed["contexts"]) == 2
    assert "not checked: allowed_root_login, max_auth_tries" in verdict.expected


def test_match_in_included_file_fails(catalog, tmp_path, hostkey):
    text = "Include @D@/sshd_config.d/*.conf\n" + KEY_ONLY
    drop_in = "Match Address 10.0.0.0/8,!10.9.9.9\n  KbdInteractiveAuthentication yes\n"
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, {
        "sshd_config.d/50-lan.conf": drop_in, "sshd_config.d/README": "Match User x\n"}, **CORE)
    assert verdict.status == F
    assert "Match Address 10.0.0.0/8,!10.9.9.9" in verdict.reason and "50-lan.conf:1" in \
        verdict.reason and "keyboard-interactive login without a key" in verdict.reason
    assert verdict.observed["files"] == [str(tmp_path / "sshd_config"),
                                         str(tmp_path / "sshd_config.d/50-lan.conf")]


def test_match_in_a_file_included_within_a_match_block(catalog, tmp_path, hostkey):
    """The included block applies only to connections matching the enclosing block too."""
    text = KEY_ONLY + "Match User deploy\n  Include @D@/deploy.conf\n"
    drop_in = "Match Address 10.0.0.0/8\n  PasswordAuthentication yes\n"
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, {"deploy.conf": drop_in}, **CORE)
    assert verdict.status == F and "Match Address 10.0.0.0/8 (" in verdict.reason
    spec = verdict.observed["contexts"][f"Match Address 10.0.0.0/8 ({tmp_path}/deploy.conf:1)"]
    assert spec["spec"].startswith("user=deploy,") and "addr=10.0.0.1," in spec["spec"]
    _, verdict = sshd_config(catalog, tmp_path / "ok", hostkey, text,
                             {"deploy.conf": "Match Address 10.0.0.0/8\n  X11Forwarding no\n"},
                             **CORE)
    assert verdict.status == P, verdict.reason


def test_wildcard_and_negation_contexts(catalog, tmp_path, hostkey):
    text = KEY_ONLY + ("Match User !root\n  PasswordAuthentication yes\n"  # matches nobody
                       "Match User *,!root Host *.example.org\n  GSSAPIAuthentication yes\n")
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, **CORE)
    assert verdict.status == F and "gssapi-with-mic login without a key" in verdict.reason
    assert "password login" not in verdict.reason
    spec = verdict.observed["contexts"][
        f"Match User *,!root Host *.example.org ({tmp_path}/sshd_config:6)"]["spec"]
    assert spec.startswith("user=annexscan,host=annexscan.example.org,")
    assert "Match User !root" in verdict.observed["never_matching_blocks"][0]


def test_match_group_uses_the_hosts_members(catalog, tmp_path, hostkey):
    """root's primary group is root on every Linux: its block is evaluated as user root."""
    text = KEY_ONLY + "Match Group root\n  PasswordAuthentication yes\n"
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, **CORE)
    assert verdict.status == F and "Match Group root" in verdict.reason
    text = KEY_ONLY + "Match Group annexscan-no-such-group\n  PasswordAuthentication yes\n"
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, **CORE)
    assert verdict.status == E and "no user name (or group member" in verdict.reason


def test_local_port_block_and_unknown_criterion(catalog, tmp_path, hostkey):
    """A Match LocalPort block makes a plain `sshd -T` refuse; each port is a context."""
    text = "Port 22\nPort 2222\n" + KEY_ONLY + "Match LocalPort 2222\n  MaxAuthTries 9\n"
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, **{**CORE, "max_auth_tries": 4})
    assert verdict.status == F and "Match LocalPort 2222" in verdict.reason
    assert "any other connection to port 2222" in verdict.observed["contexts"]
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, **CORE)
    assert verdict.status == P, verdict.reason


@pytest.mark.parametrize("text,status,words", [
    ("GSSAPIAuthentication yes\n", F, "GSSAPIAuthentication yes: gssapi-with-mic"),
    ("KbdInteractiveAuthentication yes\n", F, "KbdInteractiveAuthentication yes"),
    ("ChallengeResponseAuthentication yes\n", F, "KbdInteractiveAuthentication yes"),
    ("KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
     P, ""),
    ("PasswordAuthentication yes\nAuthenticationMethods publickey,password publickey\n", P, ""),
    ("PasswordAuthentication yes\nAuthenticationMethods publickey password\n", F,
     "AuthenticationMethods password: logs in without a key"),
    ("GSSAPIAuthentication no\n", P, ""),
])
def test_methods_that_log_in_without_a_key(catalog, tmp_path, hostkey, text, status, words):
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text + KEY_ONLY, **CORE)
    assert verdict.status == status, verdict.reason
    assert words in verdict.reason


@pytest.mark.parametrize("param,value,text", [
    ("max_auth_tries", 4, "MaxAuthTries 10\n"),
    ("idle_timeout_max", 900, "ClientAliveInterval 0\n"),
    ("allowed_root_login", ["no"], "PermitRootLogin prohibit-password\n"),
    ("forbidden", {"macs": ["hmac-sha1"]}, "MACs hmac-sha1,hmac-sha2-256\n"),
])
def test_each_sub_rule_fails_when_set_and_is_skipped_when_null(catalog, tmp_path, hostkey,
                                                               param, value, text):
    _, verdict = sshd_config(catalog, tmp_path, hostkey, KEY_ONLY + text,
                             **{**CORE, param: value})
    assert verdict.status == F, verdict.reason
    _, verdict = sshd_config(catalog, tmp_path, hostkey, KEY_ONLY + text, **CORE)
    assert verdict.status == P, verdict.reason
    assert param in verdict.expected and "not checked" in verdict.expected


def test_stock_debian_config_key_only_passes_core_and_fails_hardening(catalog, tmp_path,
                                                                      hostkey):
    """Debian's own sshd_config (as shipped in openssh-server) plus a drop-in turning passwords
    off: the annex part passes, the hardening defaults (MaxAuthTries 6, no idle timeout) fail."""
    stock = Path("/usr/share/openssh/sshd_config")
    if not stock.exists():
        pytest.skip("needs Debian's openssh-server (/usr/share/openssh/sshd_config)")
    text = stock.read_text().replace("Include /etc/ssh/sshd_config.d/*.conf",
                                     "Include @D@/sshd_config.d/*.conf")
    assert "Include @D@" in text
    drop_in = {"sshd_config.d/50-key-only.conf": "PasswordAuthentication no\n"}
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, drop_in, **CORE)
    assert verdict.status == P, verdict.reason
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text, drop_in)
    assert verdict.status == F and "MaxAuthTries 6 > 4" in verdict.reason
    _, verdict = sshd_config(catalog, tmp_path / "stock", hostkey, text, {}, **CORE)
    assert verdict.status == F and "PasswordAuthentication yes" in verdict.reason


def test_unreadable_include_is_error(catalog, tmp_path, hostkey):
    text = "Include @D@/big.conf\n" + KEY_ONLY
    _, verdict = sshd_config(catalog, tmp_path, hostkey, text,
                             {"big.conf": "# padding\n" * 30000}, **CORE)
    assert verdict.status == E and "larger than 262144 bytes" in verdict.reason


def test_values_from_the_file_never_reach_the_command_line():
    """Names that are options, criteria separators or shell text give no connection."""
    for hostile in ("-oProxyCommand", "-x,!a", "$(reboot)", "a b", "a;b", "x\ny"):
        block = parse_match("f:1", ["User", hostile])
        assert isinstance(block, MatchBlock)
        assert isinstance(connection_for(block, {}, "22"), str), hostile
    assert isinstance(parse_match("f:1", ["User", "a,addr=1.2.3.4"]), str)
    block = parse_match("f:1", ["Address", "10.1.*"])
    assert connection_for(block, {}, "22") == {**FILLER, "addr": "10.1.1.1"}
    assert isinstance(parse_match("f:1", ["User", "a", "Frobnicate", "b"]), str)
