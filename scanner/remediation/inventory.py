"""The Ansible inventory beside the playbook: each target the playbook fixes, logged in to as
the scan was (user, port, key file, jump host, sudo). It names the private key's path, never
its content; a sudo password is looked up in the environment variable the scan read it from,
and no other secret is written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError
from scanner.scope.access import ENV_PASSPHRASE, ENV_SUDO_PASSWORD
from scanner.scope.targets import LOCAL, check_host
from scanner.remediation.yamlout import comment, dump

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\Z")
_PATH = re.compile(r"[A-Za-z0-9_./~+-]{1,4096}\Z")  # no space, quote or option a shell splits


@dataclass(frozen=True)
class Login:
    """How the scan logged in to a host (secrets are never held here)."""
    user: str | None = None
    port: int | None = None
    key: str | None = None
    jump: str | None = None
    sudo: bool = False

    def checked(self, where: str) -> Login:
        """Every value safe to hand to ssh through Ansible, or a ConfigError naming it."""
        if self.user is not None and not _USER.match(self.user):
            raise ConfigError(f"{where}: the SSH user must be a user name")
        if self.key is not None and (not _PATH.match(self.key) or self.key.startswith("-")):
            raise ConfigError(f"{where}: the key path must be a file path without spaces or "
                              "quotes")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"{where}: the SSH port must be 1-65535")
        if self.jump is not None:
            user, at, host_port = self.jump.rpartition("@")
            host, colon, port = host_port.partition(":")
            if (at and not _USER.match(user)) or (colon and not (port.isdigit() and
                                                                  0 < int(port) < 65536)):
                raise ConfigError(f"{where}: the jump host must be [USER@]HOST[:PORT]")
            check_host(host, f"{where}: jump host")
        return self


def host_vars(address: str, login: Login) -> dict[str, Any]:
    if address == LOCAL:
        return {"ansible_connection": "local"}
    out: dict[str, Any] = {"ansible_host": address}
    if login.user:
        out["ansible_user"] = login.user
    if login.port:
        out["ansible_port"] = login.port
    if login.key:
        out["ansible_ssh_private_key_file"] = login.key
    if login.jump:
        out["ansible_ssh_common_args"] = f"-o ProxyJump={login.jump}"
    if login.sudo:
        out["ansible_become"] = True
        out["ansible_become_password"] = \
            f"{{{{ lookup('ansible.builtin.env', '{ENV_SUDO_PASSWORD}') }}}}"
    return out


def inventory_text(hosts: list[tuple[str, str, Login]], report: Path) -> str:
    """`hosts`: (target name, address, login). Names are checked like the scan's targets."""
    entries: dict[str, Any] = {}
    for name, address, login in hosts:
        if name != LOCAL:
            check_host(name, f"report {report}: target")
            check_host(address, f"report {report}: address of a target")
        entries[name] = host_vars(address, login)
    header = [f"Ansible inventory written by annexscan remediate from {report}: the targets "
              "its playbook fixes, logged in to as the scan was.",
              "No secret is written here: the private key is named by its path; a key "
              f"passphrase ({ENV_PASSPHRASE}) is for ssh-agent; a sudo password is read from "
              f"{ENV_SUDO_PASSWORD} when the playbook runs."]
    return comment(header) + dump({"all": {"hosts": entries}})
