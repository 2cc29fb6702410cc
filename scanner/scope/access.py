"""SSH access for host checks, from flags, environment and inventory; checked before any probe.

Secrets (key passphrase, sudo password) come only from the environment, so they never appear
in a command line, a shell history, an inventory file or a report.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import paramiko

from scanner.errors import ConfigError
from scanner.scope.pemfiles import pem_labels, read_capped
from scanner.scope.targets import check_host
from scanner.transports.ssh import SshAccess, load_key, resolve_login

ENV_PASSPHRASE = "ANNEXSCAN_SSH_PASSPHRASE"
ENV_SUDO_PASSWORD = "ANNEXSCAN_SUDO_PASSWORD"
MAX_KEY_BYTES = 1024 * 1024  # an RSA 16384-bit key is about 12 KB
KEY_FORMATS = ("OpenSSH (-----BEGIN OPENSSH PRIVATE KEY-----) or PEM (-----BEGIN RSA/EC "
               "PRIVATE KEY-----) form")
# an OpenSSH public key or certificate line: "ssh-ed25519 AAAA...", "ecdsa-sha2-nistp256 AAAA..."
_PUBLIC = re.compile(rb"\s*(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ +AAAA|\s*---- BEGIN SSH2 PUBLIC KEY")


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
    hostname = resolve_login(spec, access).hostname
    if hostname == spec:
        return spec, access
    # the HostName is re-parsed as a target: one host only, checked like any target
    hostname = check_host(hostname, f"ssh config HostName of alias {spec[:80]!r}")
    return hostname, replace(access, alias=spec)


def check_access(access: SshAccess, checked: set[Path], where: str = "--ssh-key") -> None:
    """Key readable, a private key and decryptable, known_hosts present: fail in a second, not
    after a scan. `where` names the option or inventory entry that gave the key."""
    if access.known_hosts and not access.known_hosts.is_file():
        raise ConfigError(f"--known-hosts: file not found: {access.known_hosts}")
    key = access.key_file
    if key is None or key in checked:
        return
    checked.add(key)
    problem = _not_a_private_key(key, read_capped(key, MAX_KEY_BYTES, where))
    if problem:
        raise ConfigError(f"{where}: {key}: {problem}")
    try:
        load_key(key, access.passphrase)
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError for a protected OpenSSH key loaded without a password
        raise ConfigError(f"{where}: {key}: the key is encrypted: set {ENV_PASSPHRASE} to its "
                          "passphrase") from None
    except (paramiko.SSHException, ValueError) as exc:
        reason = "wrong passphrase" if access.passphrase else str(exc)
        raise ConfigError(f"{where}: {key}: cannot load it ({reason}); expected a private key "
                          f"in {KEY_FORMATS}") from None
    except OSError as exc:
        raise ConfigError(f"{where}: {key}: cannot read it ({exc.strerror or exc})") from None


def _not_a_private_key(key: Path, data: bytes) -> str | None:
    """What the file is instead of a private key paramiko reads, or None when it may be one."""
    labels = pem_labels(data)
    private = [label for label in labels if label.endswith("PRIVATE KEY")]
    if not data.strip():
        return f"the file is empty; expected a private key in {KEY_FORMATS}"
    if not private and (_PUBLIC.match(data) or any("PUBLIC KEY" in lb for lb in labels)):
        sibling = key.with_suffix("") if key.suffix == ".pub" else None
        hint = f" (probably {sibling})" if sibling and sibling.is_file() else ""
        return f"this is a public key; the private key is needed{hint}"
    if data.startswith(b"PuTTY-User-Key-File-"):
        return (f"a PuTTY key; expected {KEY_FORMATS} (convert it: puttygen {key} -O "
                "private-openssh -o KEYFILE)")
    pkcs8 = [label for label in private if label in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")]
    if pkcs8:  # paramiko does not read PKCS#8
        return f"a PKCS#8 private key (-----BEGIN {pkcs8[0]}-----); expected {KEY_FORMATS}"
    if not private:
        found = f"it holds {', '.join(dict.fromkeys(labels))} (PEM) and no private key" \
            if labels else "no private key in it"
        return f"{found}; expected a private key in {KEY_FORMATS}"
    return None


def check_options(args: argparse.Namespace) -> None:
    if not 0 < args.command_timeout < float("inf"):  # nan too: it compares false
        raise ConfigError(f"--command-timeout must be a positive number of seconds, "
                          f"got {args.command_timeout}")
    if args.ssh_port is not None and not 0 < args.ssh_port < 65536:
        raise ConfigError(f"--ssh-port must be 1-65535, got {args.ssh_port}")
    if args.ssh_config and not args.ssh_config.is_file():
        raise ConfigError(f"--ssh-config: file not found: {args.ssh_config}")
    if args.sysroot != "/" and not Path(args.sysroot).is_dir():
        raise ConfigError(f"--sysroot: not a directory: {args.sysroot}")
