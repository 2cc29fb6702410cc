"""`annexscan remediate`'s inventory from the SSH access a report records for each target
(scanner.scope.recorded): as recorded, overridden by the options, absent (an older report, a
target the scan did not log in to), hostile, and the access round-tripped by the JSON report
and the Dask wire; a real scan recording the user and port it resolved (ssh config, then root
and 22), which the inventory then carries. The real scan that records it, secrets left out, is
in test_remediate_loop.py."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from scanner.cli.main import main
from scanner.errors import ConfigError
from scanner.fleet import wire
from scanner.lab import lab_available, sshd
from scanner.lab.hosts import HostSpec
from scanner.reporters import json_report
from scanner.reporters.load import load_result
from scanner.scope.recorded import recorded_access
from scanner.transports.ssh import SshAccess, resolve_login
from test_remediate import ANSIBLE, RECORDED, _ansible, recorded, remediate
from tls_helpers import wait_accepting


ACCESS = {"user": "audit", "port": 2222, "key_file": "/keys/audit", "jump": "hop@10.0.0.1:22",
          "sudo": True, "known_hosts": "/etc/annexscan/known_hosts", "use_agent": False,
          "insecure_accept_host_key": False}
BECOME = "{{ lookup('ansible.builtin.env', 'ANNEXSCAN_SUDO_PASSWORD') }}"


def with_access(access: dict) -> dict:
    data = recorded()
    data["targets"][0]["access"] = access
    return data


def test_inventory_logs_in_as_the_report_records(tmp_path, capsys):
    """No login option: the inventory is the scan's recorded access (key path, known_hosts)."""
    code, _, _, inventory = remediate(tmp_path, with_access(ACCESS))
    assert code == 0
    assert yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"] == {
        "ansible_host": "127.0.0.220", "ansible_user": "audit", "ansible_port": 2222,
        "ansible_ssh_private_key_file": "/keys/audit",
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/etc/annexscan/known_hosts "
                                   "-o ProxyJump=hop@10.0.0.1:22",
        "ansible_become": True, "ansible_become_password": BECOME}
    assert "No SSH access was recorded" not in inventory and "first use" not in inventory
    assert "hold only" not in capsys.readouterr().out


def test_an_ssh_config_alias_is_resolved_by_ssh_with_the_scans_config(tmp_path):
    """A target named by an ssh config alias: ssh resolves the alias (HostName, User, ...)
    from the config file the scan read; a host key trusted on first use is said."""
    access = {"alias": "web-prod", "ssh_config": "/etc/annexscan/ssh_config",
              "insecure_accept_host_key": True, "use_agent": True}
    code, _, _, inventory = remediate(tmp_path, with_access(access))
    assert code == 0
    assert yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"] == {
        "ansible_host": "web-prod", "ansible_ssh_common_args": "-F /etc/annexscan/ssh_config"}
    assert "trusted unknown host keys on first use (--insecure-accept-host-key) for: " \
        "127.0.0.220" in " ".join(inventory.replace("#", " ").split())


def test_options_override_the_recorded_access_field_by_field(tmp_path):
    scan_inventory = tmp_path / "hosts.yml"
    scan_inventory.write_text("all:\n  hosts:\n    127.0.0.220:\n      ansible_user: deploy\n"
                              "      ansible_become: false\n")
    code, _, _, inventory = remediate(tmp_path, with_access(ACCESS), "--ssh-port", "2200",
                                      "--ssh-key", "/keys/other")
    assert code == 0
    host = yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"]
    assert (host["ansible_user"], host["ansible_port"], host["ansible_ssh_private_key_file"],
            host["ansible_become"]) == ("audit", 2200, "/keys/other", True)
    code, _, _, inventory = remediate(tmp_path, with_access(ACCESS), "--scan-inventory",
                                      str(scan_inventory), "--ssh-user", "other")
    host = yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"]
    assert code == 0 and host["ansible_user"] == "deploy" and host["ansible_port"] == 2222
    assert "ansible_become" not in host  # the scan inventory's own `become: false` wins


def test_a_report_without_recorded_access(tmp_path, capsys):
    """before.json records no access (the field is optional): the entry holds ansible_host
    only, and the inventory and the command say why."""
    assert "access" not in recorded()["targets"][0]
    code, _, _, inventory = remediate(tmp_path, None)
    assert code == 0
    assert yaml.safe_load(inventory)["all"]["hosts"] == {"127.0.0.220": {
        "ansible_host": "127.0.0.220"}}
    assert "No SSH access was recorded for (the scan ran no host check over SSH on them, " \
        "and no option gave one): 127.0.0.220." in " ".join(inventory.replace("#", " ").split())
    assert "1 target(s) with no SSH access recorded" in capsys.readouterr().out
    code, _, _, inventory = remediate(tmp_path, None, "--ssh-user", "root")
    assert code == 0 and "No SSH access was recorded" not in inventory
    assert yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"]["ansible_user"] == "root"


@pytest.mark.parametrize("field,value,said", [
    ("key_file", "{{ lookup('pipe', 'id') }}", "the key path must be"),
    ("key_file", "-oProxyCommand=id", "the key path must be"),
    ("known_hosts", "/k\nansible_become_exe: id", "the known_hosts path must be"),
    ("ssh_config", "/c -oProxyCommand=id", "the ssh config path must be"),
    ("user", "-oProxyCommand=id", "the SSH user must be a user name"),
    ("user", "root\n  ansible_shell_executable: id", "the SSH user must be a user name"),
    ("jump", "x@-oProxyCommand=id", "jump host"),
    ("alias", "-oProxyCommand=id", "ssh config alias"),
])
def test_hostile_recorded_access_is_refused(tmp_path, capsys, field, value, said):
    assert remediate(tmp_path, with_access({**ACCESS, field: value}))[0] == 2
    err = capsys.readouterr().err
    assert "SSH access of target 127.0.0.220" in err and said in err
    assert not (tmp_path / "fix.inventory.yml").exists()


def test_a_secret_in_the_recorded_access_is_not_a_report(tmp_path, capsys):
    """The schema holds the access's fields only: a report carrying a passphrase or a sudo
    password is refused, not copied."""
    for secret in ({"passphrase": "s3cret"}, {"sudo_password": "s3cret"}, {"port": "22"}):
        assert remediate(tmp_path, with_access({**ACCESS, **secret}))[0] == 2
        assert "not an annexscan report" in capsys.readouterr().err


def test_the_json_report_round_trips_the_access(tmp_path):
    """Written by the JSON reporter, read back by load_result, and back from a Dask worker:
    the same access; a target without one has no `access` key (not null)."""
    result = load_result(RECORDED)
    (target,) = result.targets
    target.access = dict(ACCESS)
    result.targets = [target, replace(target, target="127.0.0.221", address="127.0.0.221",
                                      access=None)]
    with (tmp_path / "r.json").open("w") as out:
        json_report.write(result, out)
    written = json.loads((tmp_path / "r.json").read_text())["targets"]
    assert written[0]["access"] == ACCESS and "access" not in written[1]
    assert [t.access for t in load_result(tmp_path / "r.json").targets] == [ACCESS, None]
    assert wire.result_from_wire(wire.result_to_wire(target)).access == ACCESS  # Dask's way


@pytest.mark.skipif(not ANSIBLE.exists(), reason="ansible-core is not installed (test extra)")
def test_an_inventory_using_every_recorded_field_passes_ansible_syntax_check(tmp_path):
    access = {**ACCESS, "alias": "web-prod", "ssh_config": "/etc/annexscan/ssh_config"}
    assert remediate(tmp_path, with_access(access))[0] == 0
    run = _ansible(tmp_path, "--syntax-check")
    assert run.returncode == 0, run.stdout + run.stderr


# One real sshd on two addresses: 127.0.0.250:2222 is named by an ssh config (User, Port),
# 127.0.0.251:22 by nothing (the scan's defaults).
CONFIGURED, PLAIN, CONFIG_PORT = "127.0.0.250", "127.0.0.251", 2222
CONFIG_USER = "annexscan-cfguser"  # a user of this machine, logged in to with the lab's key


class Sshd:
    def __init__(self, workdir: Path) -> None:
        self.workdir, self.key = workdir, workdir / "client"
        keygen = sshd.KeyGen()
        host_key = keygen.add("ed25519", workdir / "host", comment="resolved")
        keygen.add("ed25519", self.key, comment="resolved client")
        keygen.wait()
        authorized = workdir / "authorized_keys"
        shutil.copyfile(self.key.with_suffix(".pub"), authorized)
        authorized.chmod(0o644)  # sshd reads it as the user logging in
        workdir.chmod(0o711)
        self.conf = workdir / "sshd.conf"
        self.conf.write_text(
            f"HostKey {host_key}\nListenAddress {CONFIGURED}:{CONFIG_PORT}\n"
            f"ListenAddress {PLAIN}:22\nPidFile {workdir}/sshd.pid\n"
            f"AuthorizedKeysFile {authorized}\nStrictModes no\nUsePAM no\nLogLevel VERBOSE\n")
        public = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
        self.known_hosts = workdir / "known_hosts"
        self.known_hosts.write_text(f"[{CONFIGURED}]:{CONFIG_PORT} {public}\n{PLAIN} {public}\n")
        spec = HostSpec("resolved", PLAIN, "sshd for the resolved login", ssh={})
        self.proc = sshd.start(workdir, spec, self.conf)
        self.log = workdir / "sshd-resolved.log"

    def logins(self) -> list[tuple[str, str, str]]:
        """(user, listen address, listen port) of each accepted login, from sshd's log."""
        text = self.log.read_text()
        ports = dict(re.findall(r"Connection from \S+ port (\d+) on (\S+ port \d+)", text))
        return [(user, *ports[port].split(" port "))
                for user, port in re.findall(r"Accepted publickey for (\S+) from \S+ port (\d+)",
                                             text)]


@pytest.fixture(scope="module")
def resolved_sshd():
    ok, why = lab_available()
    if not ok:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("creating a test user needs root")
    created = subprocess.run(["useradd", "-M", "-p", "*", "-s", "/bin/sh", CONFIG_USER],
                             capture_output=True).returncode == 0
    pwd.getpwnam(CONFIG_USER)
    workdir = Path(tempfile.mkdtemp(prefix="annexscan-resolved-"))  # traversable by the user
    server = None
    try:
        server = Sshd(workdir)
        wait_accepting(CONFIGURED, CONFIG_PORT, 10)
        wait_accepting(PLAIN, 22, 10)
        yield server
    finally:
        if server is not None:
            server.proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if created:
            subprocess.run(["userdel", CONFIG_USER], capture_output=True)


def test_the_report_records_the_user_and_port_the_scan_resolved(resolved_sshd, tmp_path):
    """No --ssh-user nor --ssh-port: 127.0.0.250's ssh config User and Port, and root on 22
    for 127.0.0.251 (no entry), are what the scan logged in with (sshd's log says so) and what
    the report records; remediate's inventory then logs in with them, not ssh's defaults."""
    config = tmp_path / "ssh_config"
    config.write_text(f"Host {CONFIGURED}\n  User {CONFIG_USER}\n  Port {CONFIG_PORT}\n")
    profile = tmp_path / "p.yaml"
    profile.write_text("id: p\ntitle: Resolved login\nclauses:\n  - id: H-SSHD\n    section: '1'\n"
                       "    title: sshd\n    requirement: SSH daemon hardened.\n    controls: "
                       f"[{{control: host.sshd_config, parameters: {{config_file: "
                       f"'{resolved_sshd.conf}'}}}}]\n")
    out = tmp_path / "out"
    code = main(["scan", "--profile", str(profile), "--ssh", "--no-agent", "--ssh-key",
                 str(resolved_sshd.key), "--ssh-config", str(config), "--known-hosts",
                 str(resolved_sshd.known_hosts), "--no-progress", "--format", "json", "-o",
                 str(out), CONFIGURED, PLAIN])
    assert code in (0, 1, 3), code  # not 2: a configuration error
    assert sorted(resolved_sshd.logins()) == [(CONFIG_USER, CONFIGURED, str(CONFIG_PORT)),
                                              ("root", PLAIN, "22")]
    targets = {t["target"]: t for t in json.loads((out / "annexscan.json").read_text())["targets"]}
    given = {"key_file": str(resolved_sshd.key), "ssh_config": str(config), "sudo": False,
             "known_hosts": str(resolved_sshd.known_hosts), "use_agent": False,
             "insecure_accept_host_key": False}
    assert targets[CONFIGURED]["access"] == {**given, "user": CONFIG_USER, "port": CONFIG_PORT}
    assert targets[PLAIN]["access"] == {**given, "user": "root", "port": 22}
    for address, user, port in ((CONFIGURED, CONFIG_USER, CONFIG_PORT), (PLAIN, "root", 22)):
        _, _, _, inventory = remediate(tmp_path, with_access(targets[address]["access"]))
        host = yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"]
        assert (host["ansible_user"], host["ansible_port"]) == (user, port)


def test_resolution_order_and_a_hostile_port(tmp_path):
    """The access's values, then the ssh config's (for its alias, else the name), then root on
    22; a Port the schema would refuse is a configuration error, not a crash or a record."""
    config = tmp_path / "ssh_config"
    config.write_text("Host web\n  HostName 127.0.0.252\n  User deploy\n  Port 2200\n"
                      "  IdentityFile /keys/web\n  ProxyJump hop@127.0.0.253\n"
                      "Host bad\n  Port 70000\nHost worse\n  Port -oProxyCommand=id\n")
    login = resolve_login("127.0.0.252", SshAccess(ssh_config=config, alias="web"))
    assert (login.hostname, login.user, login.port, login.key_file, login.jump) == (
        "127.0.0.252", "deploy", 2200, Path("/keys/web"), "hop@127.0.0.253")
    login = resolve_login("web", SshAccess(ssh_config=config, user="audit", port=22))
    assert (login.user, login.port) == ("audit", 22)
    login = resolve_login("127.0.0.254", SshAccess(ssh_config=config))
    assert (login.hostname, login.user, login.port, login.key_file, login.jump) == (
        "127.0.0.254", "root", 22, None, None)
    for host in ("bad", "worse"):
        with pytest.raises(ConfigError, match="is not a port number 1-65535"):
            resolve_login(host, SshAccess(ssh_config=config))
    # recorded as given: the scan could not log in either (its host probe said why)
    assert recorded_access(SshAccess(ssh_config=config, user="audit"), "bad") == {
        "user": "audit", "ssh_config": str(config), "use_agent": True, "sudo": False,
        "insecure_accept_host_key": False}
    assert recorded_access(SshAccess(ssh_config=config), "web")["user"] == "deploy"
