"""The Ansible inventory beside the playbook: each target the playbook fixes, logged in to as
the scan was: its report records each target's SSH access (user, port, key file, jump host,
sudo, ssh config alias, known_hosts), and remediate's options override it. It names the private
key's path, never its content; a sudo password is looked up in the environment variable the
scan read it from, and no other secret is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError
from scanner.scope.access import ENV_PASSPHRASE, ENV_SUDO_PASSWORD
from scanner.scope.inventory import check_jump
from scanner.scope.targets import LOCAL, check_host
from scanner.remediation.yamlout import comment, dump

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\Z")
_PATH = re.compile(r"[A-Za-z0-9_./~+-]{1,4096}\Z")  # no space, quote or option a shell splits


@dataclass(frozen=True)
class Login:
    """How the scan logged in to a host (secrets are never held here); None: not given."""
    user: str | None = None
    port: int | None = None
    key: str | None = None
    jump: str | None = None
    sudo: bool | None = None
    alias: str | None = None        # the ssh config Host entry: ssh resolves it as the scan did
    known_hosts: str | None = None
    ssh_config: str | None = None
    trusted_first_use: bool | None = None  # the scan accepted unknown host keys; ssh does not

    @classmethod
    def recorded(cls, access: dict[str, Any]) -> Login:
        """From a report's target `access` (scanner.scope.recorded), validated by its schema."""
        return cls(access.get("user"), access.get("port"), access.get("key_file"),
                   access.get("jump"), access.get("sudo"), access.get("alias"),
                   access.get("known_hosts"), access.get("ssh_config"),
                   access.get("insecure_accept_host_key"))

    def over(self, base: Login) -> Login:
        """This login, with `base`'s value for each field not given here."""
        return replace(self, **{f.name: getattr(base, f.name) for f in fields(self)
                                if getattr(self, f.name) is None})

    def checked(self, where: str) -> Login:
        """Every value safe to hand to ssh through Ansible, or a ConfigError naming it."""
        if self.user is not None and not _USER.match(self.user):
            raise ConfigError(f"{where}: the SSH user must be a user name")
        for what, path in (("key", self.key), ("known_hosts", self.known_hosts),
                           ("ssh config", self.ssh_config)):
            if path is not None and (not _PATH.match(path) or path.startswith("-")):
                raise ConfigError(f"{where}: the {what} path must be a file path without "
                                  "spaces or quotes")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"{where}: the SSH port must be 1-65535")
        if self.jump is not None:
            check_jump(self.jump, f"{where}: jump host")  # as an inventory's annexscan_jump
            user = self.jump.rpartition("@")[0]
            if user and not _USER.match(user):
                raise ConfigError(f"{where}: the jump host's user must be a user name")
        if self.alias is not None:
            check_host(self.alias, f"{where}: ssh config alias")
        return self


def host_vars(address: str, login: Login) -> dict[str, Any]:
    if address == LOCAL:
        return {"ansible_connection": "local"}
    out: dict[str, Any] = {"ansible_host": login.alias or address}
    if login.user:
        out["ansible_user"] = login.user
    if login.port:
        out["ansible_port"] = login.port
    if login.key:
        out["ansible_ssh_private_key_file"] = login.key
    ssh_args = ([f"-F {login.ssh_config}"] if login.ssh_config else []) + \
        ([f"-o UserKnownHostsFile={login.known_hosts}"] if login.known_hosts else []) + \
        ([f"-o ProxyJump={login.jump}"] if login.jump else [])
    if ssh_args:
        out["ansible_ssh_common_args"] = " ".join(ssh_args)
    if login.sudo:
        out["ansible_become"] = True
        out["ansible_become_password"] = \
            f"{{{{ lookup('ansible.builtin.env', '{ENV_SUDO_PASSWORD}') }}}}"
    return out


def inventory_text(hosts: list[tuple[str, str, Login | None]], report: Path) -> str:
    """`hosts`: (target name, address, login; None: the report recorded no SSH access and no
    option gave one). Names are checked like the scan's targets, logins like options."""
    entries: dict[str, Any] = {}
    for name, address, login in hosts:
        if name != LOCAL:
            check_host(name, f"report {report}: target")
            check_host(address, f"report {report}: address of a target")
        login = (login or Login()).checked(f"report {report}: SSH access of target {name}")
        entries[name] = host_vars(address, login)
    header = [f"Ansible inventory written by annexscan remediate from {report}: the targets "
              "its playbook fixes, logged in to as the scan was (the SSH access its report "
              "records, or remediate's --ssh-*, --sudo and --scan-inventory options).",
              "No secret is written here: the private key is named by its path; a key "
              f"passphrase ({ENV_PASSPHRASE}) is for ssh-agent; a sudo password is read from "
              f"{ENV_SUDO_PASSWORD} when the playbook runs."]
    bare = [name for name, address, login in hosts if login is None and address != LOCAL]
    if bare:
        header.append("No SSH access was recorded for (the scan ran no host check over SSH "
                      f"on them, and no option gave one): {', '.join(bare)}. Their entries "
                      "hold only ansible_host: ssh's own config and defaults decide the login.")
    trusted = [name for name, _, login in hosts if login and login.trusted_first_use]
    if trusted:
        header.append("The scan trusted unknown host keys on first use "
                      f"(--insecure-accept-host-key) for: {', '.join(trusted)}. ssh checks "
                      "them here: add their keys to known_hosts first.")
    return comment(header) + dump({"all": {"hosts": entries}})
