"""`annexscan remediate`'s inventory from the SSH access a report records for each target
(scanner.scope.recorded): as recorded, overridden by the options, absent (an older report, a
target the scan did not log in to), hostile, and the access round-tripped by the JSON report
and the Dask wire. The real scan that records it, secrets left out, is in
test_remediate_loop.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from scanner.fleet import wire
from scanner.reporters import json_report
from scanner.reporters.load import load_result
from test_remediate import ANSIBLE, RECORDED, _ansible, recorded, remediate


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
