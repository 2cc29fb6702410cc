"""Host checks over a real OpenSSH server and on the local machine, and every way the SSH
transport can go wrong: each a clear `error` (or a configuration error before any probe)."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from conftest import control_result
from scanner.cli.main import main
from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
from scanner.model import Status
from scanner.catalog.profiles import load_profile
from scanner.scope.targets import Target
from scanner.transports.local import LocalTransport
from scanner.transports.ssh import SshAccess, SshTransport

NOSUDO = "annexscan-nosudo"


def keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)],
                   check=True)
    return path


@pytest.fixture(scope="module")
def known_hosts(lab) -> Path:

    return lab.write_known_hosts()


def sshd_profile(tmp_path: Path, lab, host: str) -> Path:
    conf = lab.workdir / f"sshd-{host}.conf"
    path = tmp_path / f"sshd-{host}.yaml"
    path.write_text(f"id: sshd-{host}\ntitle: sshd of {host}\nclauses:\n  - id: H-SSHD\n"
                    "    section: '1'\n    title: sshd\n    requirement: SSH daemon hardened.\n"
                    f"    controls: [{{control: host.sshd_config, parameters: "
                    f"{{config_file: '{conf}'}}}}]\n")
    return path


def host_scan(catalog, profile: Path, target: Target, access: SshAccess | None):
    options = ScanOptions(timeout=2.0, command_timeout=5.0)
    plan = plan_scan([load_profile(str(profile), catalog)], catalog, options)
    return run_scan([ScanJob(target, plan, access)], options)


@pytest.mark.lab
@pytest.mark.parametrize("host,expected", [("good", Status.PASS), ("legacy", Status.FAIL)])
def test_sshd_config_over_ssh(lab, catalog, known_hosts, tmp_path, host, expected):
    address = lab.hosts[host].address
    access = SshAccess(user="root", key_file=lab.ssh_client_key, known_hosts=known_hosts,
                       use_agent=False)
    scan = host_scan(catalog, sshd_profile(tmp_path, lab, host), Target(address, address), access)
    result = control_result(scan, address, "host.sshd_config")
    assert result.status == expected, result.reason
    evidence = scan.targets[0].evidence["host"]["sshd"][0]
    assert evidence["command"].startswith("sshd -T") and "passwordauthentication" in evidence["stdout"]
    if expected == Status.FAIL:
        assert "PasswordAuthentication yes" in result.reason


@pytest.mark.lab
def test_same_check_on_local_target(lab, catalog, tmp_path):
    scan = host_scan(catalog, sshd_profile(tmp_path, lab, "good"), Target("local", "local"), None)
    result = control_result(scan, "local", "host.sshd_config")
    assert result.status == Status.PASS, result.reason
    assert "ports" not in scan.targets[0].probes, "no network probe on the local target"


def test_network_controls_are_not_applicable_on_local(catalog, capsys):
    code = main(["scan", "--profile", "3douest", "--no-progress", "local"])
    target = capsys.readouterr().out
    assert code in (0, 1, 3) and "local" in target


def test_host_checks_without_access_stay_manual(catalog, tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("id: p\ntitle: Probe\nclauses:\n  - id: H-1\n    section: '1'\n"
                       "    title: Firewall\n    requirement: A firewall on every server.\n"
                       "    controls: [{control: host.firewall}]\n")
    scan = host_scan(catalog, profile, Target("127.0.0.9", "127.0.0.9"), None)
    result = control_result(scan, "127.0.0.9", "host.firewall")
    assert result.status == Status.MANUAL and "need SSH access" in result.reason


def transport_error(lab, known_hosts, address: str, **access) -> str:
    from scanner.transports.base import TransportError

    defaults = dict(user="root", key_file=lab.ssh_client_key, known_hosts=known_hosts,
                    use_agent=False)
    with pytest.raises(TransportError) as error:
        SshTransport(address, address, SshAccess(**{**defaults, **access}), 2.0)
    return str(error.value)


@pytest.mark.lab
def test_unreachable_host(lab, known_hosts):
    assert "cannot connect to 127.0.0.8:22" in transport_error(lab, known_hosts, "127.0.0.8")


@pytest.mark.lab
def test_wrong_key(lab, known_hosts, tmp_path):
    other = keygen(tmp_path / "other")
    message = transport_error(lab, known_hosts, lab.hosts["good"].address, key_file=other)
    assert "authentication as root@127.0.0.2 refused" in message


@pytest.mark.lab
def test_host_key_mismatch(lab, tmp_path):
    wrong = keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"{lab.hosts['good'].address} {' '.join(wrong.with_suffix('.pub').read_text().split()[:2])}\n")
    message = transport_error(lab, known, lab.hosts["good"].address)
    assert "host key mismatch" in message


@pytest.mark.lab
def test_unknown_host_key_is_refused_unless_asked(lab, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    message = transport_error(lab, empty, lab.hosts["good"].address)
    assert "not in known_hosts" in message and "--insecure-accept-host-key" in message


def test_wrong_or_missing_passphrase_fails_before_scanning(tmp_path, capsys, monkeypatch):
    key = keygen(tmp_path / "locked", passphrase="correct horse")
    argv = ["scan", "--profile", "3douest", "--ssh-key", str(key), "--no-progress", "127.0.0.9"]
    monkeypatch.delenv("ANNEXSCAN_SSH_PASSPHRASE", raising=False)
    assert main(argv) == 2
    assert "is encrypted: set ANNEXSCAN_SSH_PASSPHRASE" in capsys.readouterr().err
    monkeypatch.setenv("ANNEXSCAN_SSH_PASSPHRASE", "wrong battery")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "wrong passphrase" in err and "wrong battery" not in err


@pytest.mark.lab
def test_command_hanging_past_its_timeout(lab, known_hosts):
    transport = SshTransport("127.0.0.2", lab.hosts["good"].address,
                             SshAccess(user="root", key_file=lab.ssh_client_key,
                                       known_hosts=known_hosts, use_agent=False), 2.0)
    try:
        result = transport.run("sleep 30", timeout=1.0)
    finally:
        transport.close()
    assert result.exit_code is None and "timed out after 1s" in result.error
    assert result.duration_s < 5
    local = LocalTransport().run("sleep 30", timeout=1.0)
    assert local.exit_code is None and "timed out" in local.error


@pytest.fixture
def nosudo_user():
    if os.geteuid() != 0:
        pytest.skip("creating a test user needs root")
    created = subprocess.run(["useradd", "-M", "-p", "*", "-s", "/bin/sh", NOSUDO],
                             capture_output=True).returncode == 0
    try:
        yield pwd.getpwnam(NOSUDO)
    finally:
        if created:
            subprocess.run(["userdel", NOSUDO], capture_output=True)


@pytest.mark.lab
def test_user_without_sudo_gets_an_error_not_a_verdict(lab, catalog, known_hosts, tmp_path,
                                                       nosudo_user):
    address = lab.hosts["good"].address
    access = SshAccess(user=NOSUDO, key_file=lab.ssh_client_key, known_hosts=known_hosts,
                       use_agent=False, sudo=True, sudo_password="s3cret-sudo-pw")
    scan = host_scan(catalog, sshd_profile(tmp_path, lab, "good"), Target(address, address), access)
    result = control_result(scan, address, "host.sshd_config")
    # logged in (the lab's authorized_keys is readable by this user), then sudo said no
    assert result.status == Status.ERROR and "sudo" in result.reason, result.reason
    assert "refused" not in result.reason
    from report_support import text
    from scanner.reporters.json_report import write

    assert "s3cret-sudo-pw" not in text(write, scan), "the sudo password must never reach a report"
    assert "s3cret-sudo-pw" not in repr(access)


@pytest.mark.lab
def test_jump_host(lab, known_hosts):
    """ProxyJump: through the good host's sshd to the legacy host's."""
    access = SshAccess(user="root", key_file=lab.ssh_client_key, known_hosts=known_hosts,
                       use_agent=False, jump=f"root@{lab.hosts['good'].address}:22")
    target = lab.hosts["legacy"].address
    transport = SshTransport(target, target, access, 2.0)
    try:
        result = transport.run("echo via-jump", timeout=5.0)
    finally:
        transport.close()
    assert result.ok and result.stdout.strip() == "via-jump"
    assert transport.describe() == f"ssh://root@{target}:22 via root@127.0.0.2:22"


@pytest.mark.lab
def test_ssh_config_alias(lab, known_hosts, tmp_path, capsys):
    """A target named by its ~/.ssh/config alias: HostName, User and IdentityFile come from it."""
    config = tmp_path / "ssh_config"
    config.write_text(f"Host labgood\n  HostName {lab.hosts['good'].address}\n  User root\n"
                      f"  IdentityFile {lab.ssh_client_key}\n")
    out = tmp_path / "out"
    code = main(["scan", "--profile", str(sshd_profile(tmp_path, lab, "good")), "--ssh",
                 "--no-agent", "--ssh-config", str(config), "--known-hosts", str(known_hosts),
                 "--no-progress", "--format", "json", "-o", str(out), "labgood"])
    assert code == 0, capsys.readouterr().out
    import json

    report = json.loads((out / "annexscan.json").read_text())
    assert report["targets"][0]["address"] == lab.hosts["good"].address
    assert report["targets"][0]["results"][0]["status"] == "pass"
