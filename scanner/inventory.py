"""Inventories: the hosts to scan with their access and profiles, in Ansible's layout.

YAML (`all: {vars, hosts, children}`) and INI (`[group]`, `[group:vars]`, `[group:children]`,
`host key=value ...`) are both read. Variables, from lowest to highest precedence: `all`'s vars,
group vars (parents before children), host vars. Understood variables, Ansible's name or ours:
ansible_host, ansible_user/ssh_user, ansible_port/ssh_port,
ansible_ssh_private_key_file/ssh_key, annexscan_jump/ssh_jump, annexscan_profiles/profiles,
ansible_become/sudo. Secrets are never read from an inventory: passphrases and sudo passwords
come from the environment only.
"""

from __future__ import annotations

import configparser
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError
from scanner.targets import check_host
from scanner.yamldoc import load_yaml

ALIASES = {"ansible_host": "host", "ansible_user": "user", "ssh_user": "user",
           "ansible_port": "port", "ssh_port": "port", "ansible_ssh_private_key_file": "key",
           "ssh_key": "key", "annexscan_jump": "jump", "ssh_jump": "jump",
           "annexscan_profiles": "profiles", "profiles": "profiles",
           "ansible_become": "sudo", "sudo": "sudo"}
SECRET_NAMES = ("pass", "password", "passphrase", "secret", "token")


@dataclass
class InventoryHost:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.vars.get(key, default)


def load_inventory(path: Path) -> list[InventoryHost]:
    if not path.is_file():
        raise ConfigError(f"inventory {path}: file not found")
    hosts = _load_yaml(path) if path.suffix in (".yaml", ".yml") else _load_ini(path)
    if not hosts:
        raise ConfigError(f"inventory {path}: no host found")
    for host in hosts:
        # validated like a command-line target, but one host only: never '@file', 'local'
        # (this machine) or a CIDR; the error names the host, never the value's target
        where = f"inventory {path}: host {host.name[:80]!r}"
        if "host" in host.vars:
            host.vars["host"] = check_host(host.vars["host"], f"{where}: ansible_host")
        else:
            check_host(host.name, where)
    return hosts


def _normalise(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in (raw or {}).items():
        if any(word in key.lower() for word in SECRET_NAMES):
            raise ConfigError(f"{where}: variable '{key}' looks like a secret; inventories must "
                              "not hold secrets (use ANNEXSCAN_SSH_PASSPHRASE / "
                              "ANNEXSCAN_SUDO_PASSWORD in the environment)")
        if key in ALIASES:
            out[ALIASES[key]] = value
    if "port" in out:
        try:
            out["port"] = int(out["port"])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: port must be a number, got {out['port']!r}") from None
    if isinstance(out.get("profiles"), str):
        out["profiles"] = [p.strip() for p in out["profiles"].split(",") if p.strip()]
    if isinstance(out.get("sudo"), str):
        out["sudo"] = out["sudo"].lower() in ("1", "true", "yes", "on")
    return out


def _load_yaml(path: Path) -> list[InventoryHost]:
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.where([])}: expected a mapping with 'all:' (Ansible layout)")
    hosts: dict[str, InventoryHost] = {}

    def walk(name: str, group: Any, inherited: dict[str, Any], path: list) -> None:
        if group is None:
            return
        if not isinstance(group, dict):
            raise ConfigError(f"{doc.where(path)}: group '{name}' must be a mapping of "
                              "hosts/vars/children")
        unknown = set(group) - {"hosts", "vars", "children"}
        if unknown:
            raise ConfigError(f"{doc.where(path)}: unknown key(s) {sorted(unknown)} in group "
                              f"'{name}' (expected hosts, vars, children)")
        merged = {**inherited, **_normalise(group.get("vars"), doc.where(path + ["vars"]))}
        for host, host_vars in (group.get("hosts") or {}).items():
            entry = hosts.setdefault(str(host), InventoryHost(str(host)))
            entry.vars = {**merged, **entry.vars,
                          **_normalise(host_vars, doc.where(path + ["hosts", host]))}
            entry.groups.append(name)
        for child, child_group in (group.get("children") or {}).items():
            walk(str(child), child_group, merged, path + ["children", child])

    for name, group in doc.data.items():
        walk(str(name), group, {}, [name])
    return list(hosts.values())


def _load_ini(path: Path) -> list[InventoryHost]:
    parser = configparser.ConfigParser(allow_no_value=True, delimiters=("=",),
                                       interpolation=None, strict=False)
    parser.optionxform = str  # keep host names' case
    text = path.read_text(encoding="utf-8")
    try:
        parser.read_string("[ungrouped]\n" + text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"inventory {path}: not an INI inventory: {exc}") from None
    members: dict[str, dict[str, str]] = {}
    group_vars: dict[str, dict[str, Any]] = {}
    children: dict[str, list[str]] = {}
    for section in parser.sections():
        group, _, kind = section.partition(":")
        items = parser.items(section, raw=True)
        if kind == "vars":
            group_vars[group] = _normalise(dict(items), f"{path} [{section}]")
        elif kind == "children":
            children[group] = [name for name, _ in items]
        elif kind:
            raise ConfigError(f"{path} [{section}]: unknown section suffix ':{kind}'")
        else:
            for key, value in items:  # "host a=1 b=2" parses as key "host a", value "1 b=2"
                line = key if value is None else f"{key}={value}"
                name, *assignments = shlex.split(line)
                pairs = dict(a.split("=", 1) for a in assignments if "=" in a)
                members.setdefault(group, {})[name] = pairs  # type: ignore[assignment]
    parents = {child: group for group, kids in children.items() for child in kids}
    hosts: dict[str, InventoryHost] = {}
    for group, group_hosts in members.items():
        chain, cursor = [], group
        while cursor in parents and cursor not in chain:
            chain.insert(0, parents[cursor])
            cursor = parents[cursor]
        inherited: dict[str, Any] = {**group_vars.get("all", {})}
        for ancestor in chain + [group]:
            inherited.update(group_vars.get(ancestor, {}))
        for name, pairs in group_hosts.items():
            entry = hosts.setdefault(name, InventoryHost(name))
            entry.vars = {**inherited, **entry.vars,
                          **_normalise(pairs, f"{path}: host {name}")}
            if group != "ungrouped":
                entry.groups.append(group)
    return list(hosts.values())
