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
from scanner.catalog.profiles import builtin_profile_ids
from scanner.scope.targets import check_host
from scanner.catalog.yamldoc import load_yaml, quoted, read_text_capped

ALIASES = {"ansible_host": "host", "ansible_user": "user", "ssh_user": "user",
           "ansible_port": "port", "ssh_port": "port", "ansible_ssh_private_key_file": "key",
           "ssh_key": "key", "annexscan_jump": "jump", "ssh_jump": "jump",
           "annexscan_profiles": "profiles", "profiles": "profiles",
           "ansible_become": "sudo", "sudo": "sudo"}
SECRET_NAMES = ("pass", "password", "passphrase", "secret", "token")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


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
        where = f"inventory {path}: host {quoted(host.name)}"
        if "host" not in host.vars or "." in host.name:  # a dotted alias names the target
            host.name = check_host(host.name, where)
        host.vars = _checked(host.vars, where)
    return hosts


def _checked(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Each understood variable in the type the scan uses, or a ConfigError naming it: an
    inventory is a file other people write, so nothing in it may crash or steer the scan."""
    out = dict(values)
    if "host" in out:
        out["host"] = check_host(out["host"], f"{where}: ansible_host")
    if "port" in out:
        out["port"] = _port(out["port"], f"{where}: ansible_port")
    for name in ("user", "key"):
        if name in out and not _is_text(out[name]):
            raise ConfigError(f"{where}: {name} must be one line of text, without spaces or "
                              "control characters")
    if "jump" in out:
        out["jump"] = check_jump(out["jump"], f"{where}: annexscan_jump")
    if "profiles" in out:
        out["profiles"] = _profiles(out["profiles"], f"{where}: annexscan_profiles")
    if "sudo" in out:
        out["sudo"] = _flag(out["sudo"], f"{where}: ansible_become")
    return out


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 4096 and value.isprintable() \
        and not any(c.isspace() for c in value) and not value.startswith("-")


def _port(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: port must be a number")
    if not 0 < value < 65536:
        raise ConfigError(f"{where}: port must be 1-65535")
    return value


def check_jump(value: Any, where: str) -> str:
    """`[user@]host[:port]`, the host checked like any target."""
    if not _is_text(value):
        raise ConfigError(f"{where}: expected [USER@]HOST[:PORT]")
    user, at, host_port = value.rpartition("@")
    host, colon, port = host_port.partition(":")
    if at and not user:
        raise ConfigError(f"{where}: expected [USER@]HOST[:PORT] (empty user)")
    check_host(host, where)
    if colon:
        _port(port, where)
    return value


def _profiles(value: Any, where: str) -> list[str]:
    """Built-in profile ids or profile files (.yaml): an inventory naming any other file
    (e.g. /etc/shadow) could have its lines echoed by the profile loader's errors."""
    names = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) \
        else value
    if not isinstance(names, list) or not names:
        raise ConfigError(f"{where}: expected a profile id, a comma list or a list of them")
    builtin = builtin_profile_ids()
    for name in names:
        if not _is_text(name) or not (name in builtin or name.endswith((".yaml", ".yml"))):
            raise ConfigError(f"{where}: each profile must be a built-in profile id "
                              f"({', '.join(builtin)}) or a .yaml profile file")
    return names


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ConfigError(f"{where}: expected true or false")


def _normalise(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of variables")
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: variable names must be text")
        if any(word in key.lower() for word in SECRET_NAMES):
            raise ConfigError(f"{where}: variable '{key}' looks like a secret; inventories must "
                              "not hold secrets (use ANNEXSCAN_SSH_PASSPHRASE / "
                              "ANNEXSCAN_SUDO_PASSWORD in the environment)")
        if key in ALIASES:
            out[ALIASES[key]] = value
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
            raise ConfigError(f"{doc.where(path)}: a group must be a mapping of "
                              "hosts/vars/children")
        unknown = set(group) - {"hosts", "vars", "children"}
        if unknown:
            names = ", ".join(sorted(quoted(key) for key in unknown))
            raise ConfigError(f"{doc.where(path)}: unknown key(s) [{names}] in this group "
                              "(expected hosts, vars, children)")
        merged = {**inherited, **_normalise(group.get("vars"), doc.where(path + ["vars"]))}
        for host, host_vars in mapping("hosts", group, path).items():
            entry = hosts.setdefault(str(host), InventoryHost(str(host)))
            entry.vars = {**merged, **entry.vars,
                          **_normalise(host_vars, doc.where(path + ["hosts", host]))}
            entry.groups.append(name)
        for child, child_group in mapping("children", group, path).items():
            walk(str(child), child_group, merged, path + ["children", child])

    def mapping(key: str, group: dict, path: list) -> dict:
        value = group.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{doc.where(path + [key])}: '{key}' must be a mapping by name")
        return value

    for name, group in doc.data.items():
        walk(str(name), group, {}, [name])
    return list(hosts.values())


def _load_ini(path: Path) -> list[InventoryHost]:
    parser = configparser.ConfigParser(allow_no_value=True, delimiters=("=",),
                                       interpolation=None, strict=False)
    parser.optionxform = str  # keep host names' case
    # Ansible reads one line at a time: no continuation lines (configparser's, after a host
    # line without '=', crash it with an AttributeError), so indentation is dropped
    text = "\n".join(line.lstrip() for line in read_text_capped(path).splitlines())
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
                try:
                    name, *assignments = shlex.split(line)
                except ValueError as exc:  # an unclosed quote, or nothing left at all
                    raise ConfigError(f"{path} [{section}]: a host line cannot be split into "
                                      f"a host and variables ({exc})") from None
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
                          **_normalise(pairs, f"{path}: host {quoted(name)}")}
            if group != "ungrouped":
                entry.groups.append(group)
    return list(hosts.values())
