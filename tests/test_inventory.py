"""Inventories in Ansible's YAML and INI layouts: hosts, groups, vars precedence, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.cli.main import main
from scanner.errors import ConfigError
from scanner.scope.inventory import load_inventory

INI = """web1.example.org ansible_host=127.0.0.2 ansible_user=audit

[web]
127.0.0.3 ansible_port=2222
127.0.0.4

[web:vars]
ansible_ssh_private_key_file=/keys/web
annexscan_profiles=3douest,slime

[prod:children]
web

[prod:vars]
ansible_user=ops
ansible_become=true
"""

YAML = """all:
  vars: {ansible_user: audit, annexscan_profiles: [teranga]}
  hosts:
    127.0.0.5: {}
  children:
    web:
      vars: {ansible_ssh_private_key_file: /keys/web}
      hosts:
        127.0.0.2: {ansible_port: 2222}
        www.lab: {ansible_host: 127.0.0.3, annexscan_profiles: [slime]}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def by_name(path: Path) -> dict:
    return {h.name: h for h in load_inventory(path)}


def test_ini_groups_children_and_precedence(tmp_path):
    hosts = by_name(write(tmp_path, "hosts.ini", INI))
    assert hosts["web1.example.org"].vars == {"host": "127.0.0.2", "user": "audit"}
    web = hosts["127.0.0.3"].vars
    assert web["user"] == "ops" and web["sudo"] is True  # from the parent group
    assert web["port"] == 2222 and web["key"] == "/keys/web"
    assert web["profiles"] == ["3douest", "slime"]
    assert "port" not in hosts["127.0.0.4"].vars


def test_yaml_layout_and_host_override(tmp_path):
    hosts = by_name(write(tmp_path, "hosts.yaml", YAML))
    assert hosts["127.0.0.5"].vars["profiles"] == ["teranga"]
    assert hosts["127.0.0.2"].vars == {"user": "audit", "profiles": ["teranga"],
                                       "key": "/keys/web", "port": 2222}
    assert hosts["www.lab"].vars["profiles"] == ["slime"]
    assert hosts["www.lab"].vars["host"] == "127.0.0.3"


@pytest.mark.parametrize("name,text,expected", [
    ("hosts.yaml", "all:\n  hosts:\n    h1: {ansible_password: hunter2}\n", "looks like a secret"),
    ("hosts.yaml", "all:\n  hostz: {}\n", "unknown key(s) ['hostz']"),
    ("hosts.yaml", "all:\n  hosts:\n    h1: {ansible_port: ssh}\n", "port must be a number"),
    ("hosts.ini", "[web:weird]\nh1\n", "unknown section suffix"),
    ("hosts.ini", "", "no host found"),
])
def test_bad_inventories(tmp_path, name, text, expected):
    with pytest.raises(ConfigError) as error:
        load_inventory(write(tmp_path, name, text))
    assert expected in str(error.value) and name in str(error.value)


def test_secret_never_echoed(tmp_path, capsys):
    path = write(tmp_path, "hosts.yaml", "all:\n  hosts:\n    h1: {ansible_password: hunter2}\n")
    assert main(["scan", "--inventory", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "looks like a secret" in err and "hunter2" not in err


def test_inventory_host_needs_a_profile(tmp_path, capsys):
    path = write(tmp_path, "hosts.ini", "127.0.0.2\n")
    assert main(["scan", "--inventory", str(path), "--no-progress"]) == 2
    assert "has no annexscan_profiles and no --profile" in capsys.readouterr().err
