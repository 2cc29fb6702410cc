"""SSH access for host checks, from flags, environment and inventory; checked before any probe.

Secrets (key passphrase, sudo password) come only from the environment, so they never appear
in a command line, a shell history, an inventory file or a report.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import paramiko

from scanner.errors import ConfigError
from scanner.targets import check_host
from scanner.transports.ssh import SshAccess, host_config, load_key

ENV_PASSPHRASE = "ANNEXSCAN_SSH_PASSPHRASE"
ENV_SUDO_PASSWORD = "ANNEXSCAN_SUDO_PASSWORD"


def add_access_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "host checks over SSH", f"Secrets come from the environment only: {ENV_PASSPHRASE} "
        f"(key passphrase) and {ENV_SUDO_PASSWORD} (sudo password).")
    group.add_argument("--ssh", action="store_true",
                       help="run host checks over SSH with ~/.ssh/config and the agent")
    group.add_argument("--ssh-user", metavar="USER", help="login user (default: ssh config, root)")
    group.add_argument("--ssh-key", type=Path, metavar="FILE", help="private key file")
    group.add_argument("--ssh-port", type=int, metavar="N", help="SSH port (default 22)")
    group.add_argument("--ssh-jump", metavar="[USER@]HOST[:PORT]", help="jump host (ProxyJump)")
    group.add_argument("--ssh-config", type=Path, metavar="FILE",
                       help="OpenSSH client config for host aliases (default ~/.ssh/config)")
    group.add_argument("--known-hosts", type=Path, metavar="FILE",
                       help="known_hosts file (default ~/.ssh/known_hosts)")
    group.add_argument("--insecure-accept-host-key", action="store_true",
                       help="trust unknown host keys (first use); never on by default")
    group.add_argument("--no-agent", action="store_true", help="do not use the SSH agent")
    group.add_argument("--sudo", action="store_true",
                       help="run root-only commands (sshd -T, /etc/shadow, cryptsetup) via sudo")
    group.add_argument("--sysroot", metavar="DIR", default="/",
                       help="read host files under DIR instead of / (golden images, fixtures)")
    group.add_argument("--command-timeout", type=float, default=30.0, metavar="S",
                       help="timeout of each host command, in seconds (default: 30)")
    group.add_argument("--inventory", type=Path, metavar="FILE",
                       help="hosts with per-host access and profiles (Ansible YAML or INI)")


def build_access(args: argparse.Namespace, host_vars: dict[str, Any] | None = None
                 ) -> SshAccess | None:
    """The access for one target; None when nothing asks for SSH (host checks stay manual)."""
    host_vars = host_vars or {}
    wanted = args.ssh or args.ssh_user or args.ssh_key or args.ssh_jump or \
        any(k in host_vars for k in ("user", "key", "port", "jump"))
    if not wanted:
        return None
    key = host_vars.get("key") or args.ssh_key
    return SshAccess(
        user=host_vars.get("user") or args.ssh_user, port=host_vars.get("port") or args.ssh_port,
        key_file=Path(key).expanduser() if key else None,
        passphrase=os.environ.get(ENV_PASSPHRASE), use_agent=not args.no_agent,
        jump=host_vars.get("jump") or args.ssh_jump, known_hosts=args.known_hosts,
        insecure_accept_host_key=args.insecure_accept_host_key,
        sudo_password=os.environ.get(ENV_SUDO_PASSWORD), ssh_config=args.ssh_config,
        sudo=bool(host_vars.get("sudo", args.sudo)))


def ssh_alias_target(spec: str, access: SshAccess | None) -> tuple[str, SshAccess | None]:
    """A target named by a ~/.ssh/config alias is scanned at its HostName (TLS names, DNS) and
    logged in to with the alias's settings; any other target is left as it is."""
    if access is None or spec.startswith("@") or "/" in spec:
        return spec, access
    hostname = host_config(spec, access.ssh_config).get("hostname")
    if not hostname or hostname == spec:
        return spec, access
    # the HostName is re-parsed as a target: one host only, checked like any target
    hostname = check_host(hostname, f"ssh config HostName of alias {spec[:80]!r}")
    return hostname, replace(access, alias=spec)


def check_access(access: SshAccess, checked: set[Path]) -> None:
    """Key readable and decryptable, known_hosts present: fail in a second, not after a scan."""
    if access.known_hosts and not access.known_hosts.is_file():
        raise ConfigError(f"--known-hosts: file not found: {access.known_hosts}")
    key = access.key_file
    if key is None or key in checked:
        return
    checked.add(key)
    if not key.is_file():
        raise ConfigError(f"SSH key {key}: file not found")
    try:
        load_key(key, access.passphrase)
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError for a protected OpenSSH key loaded without a password
        raise ConfigError(f"SSH key {key} is encrypted: set {ENV_PASSPHRASE}") from None
    except (paramiko.SSHException, ValueError) as exc:
        reason = "wrong passphrase" if access.passphrase else str(exc)
        raise ConfigError(f"SSH key {key}: cannot load it ({reason})") from None
    except OSError as exc:
        raise ConfigError(f"SSH key {key}: cannot read it ({exc.strerror or exc})") from None


def check_options(args: argparse.Namespace) -> None:
    if args.command_timeout <= 0:
        raise ConfigError(f"--command-timeout must be positive, got {args.command_timeout}")
    if args.ssh_port is not None and not 0 < args.ssh_port < 65536:
        raise ConfigError(f"--ssh-port must be 1-65535, got {args.ssh_port}")
    if args.ssh_config and not args.ssh_config.is_file():
        raise ConfigError(f"--ssh-config: file not found: {args.ssh_config}")
    if args.sysroot != "/" and not Path(args.sysroot).is_dir():
        raise ConfigError(f"--sysroot: not a directory: {args.sysroot}")
