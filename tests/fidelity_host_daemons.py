"""Compliant and violating hosts for the host controls read from running software: sshd -T on
configuration trees (each sshd in a private mount namespace), nftables rules and chronyd time
servers in a private network namespace, and dm-crypt stacks replayed from recorded output
(this kernel has no device-mapper). The cases follow fidelity_host_support.Case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from accounts_support import PrivateRunTransport, debian_root, need_root_sshd, ssh_key
from fidelity_host_support import Built, Case, Unsupported, only_rules
from hostsys_helpers import NFT_DROP, collect_in_netns, nft_setup, write_tree
from scanner.checks.host_ssh import METHOD_SWITCHES
from scanner.transports.base import HostContext
from storage_support import crypt_host, luks_file


# ---------------------------------------------------------------- host.sshd_config

def _sshd(lines: str) -> Callable[[Path], Built]:
    def build(root: Path) -> Built:
        need_root_sshd()
        hostkey = root / "hostkey"
        ssh_key(hostkey, "ed25519")
        write_tree(root, {"/etc/ssh/sshd_config": f"HostKey {hostkey}\n{lines}"})
        return HostContext(PrivateRunTransport(), timeout=10, root=str(root))
    return build


def sshd_config(params: dict) -> list[Case]:
    only_rules(params, {"config_file", "forbidden_methods", "allowed_root_login",
                        "max_auth_tries", "idle_timeout_max"})
    if params["config_file"] != "/etc/ssh/sshd_config":
        raise Unsupported(f"config_file {params['config_file']}")
    off = {m: switches for m, switches in METHOD_SWITCHES.items()
           if m in (params["forbidden_methods"] or [])}
    base = "".join(f"{s} no\n" for switches in off.values() for s in switches[:1])
    root_ok, tries, idle = (params["allowed_root_login"], params["max_auth_tries"],
                            params["idle_timeout_max"])
    base += f"PermitRootLogin {root_ok[0]}\n" if root_ok else ""
    base += f"MaxAuthTries {tries}\n" if tries else ""
    base += f"ClientAliveInterval {idle // 3}\nClientAliveCountMax 3\n" if idle else ""
    cases = [Case("compliant", _sshd(base))]
    for method, switches in off.items():
        cases.append(Case(f"{method} login on", _sshd(base.replace(
            f"{switches[0]} no", f"{switches[0]} yes")), f"{method} login without a key"))
    if root_ok and "yes" not in root_ok:
        cases.append(Case("root login with a password", _sshd(base.replace(
            f"PermitRootLogin {root_ok[0]}", "PermitRootLogin yes")), "PermitRootLogin yes"))
    if tries:
        cases.append(Case("one more try", _sshd(base.replace(
            f"MaxAuthTries {tries}", f"MaxAuthTries {tries + 1}")), f"{tries + 1}"))
    if idle:
        cases.append(Case("idle a few seconds too long", _sshd(base.replace(
            f"ClientAliveInterval {idle // 3}", f"ClientAliveInterval {idle // 3 + 1}")),
            f"s > {idle}s"))
    return cases


# ---------------------------------------------------------------- ssh.key_types

KEYGEN = {"ssh-rsa": "rsa", "ssh-ed25519": "ed25519", "ecdsa-sha2-nistp256": "ecdsa"}


def _keys_tree(kind: str, drop_in: str = "", other: str | None = None
               ) -> Callable[[Path], Built]:
    """Debian's stock sshd_config with a key-only drop-in; alice holds a `kind` key, bob an
    `other` one if given."""
    def build(root: Path) -> Built:
        need_root_sshd()
        keys = {"host": str(root / "host"), "host.pub": ssh_key(root / "host", "ed25519"),
                "rsa": ssh_key(root / "alice", KEYGEN[kind])}
        bob = ssh_key(root / "bob", KEYGEN[other]) if other else None
        tree = debian_root(root, keys, drop_in, bob)
        return HostContext(PrivateRunTransport(), timeout=10, root=str(tree))
    return build


def key_types(params: dict) -> list[Case]:
    only_rules(params, {"allowed_key_types", "required_algorithms"})
    allowed, required = params["allowed_key_types"], params["required_algorithms"]
    kind = (allowed or ["ssh-ed25519"])[0]
    if kind not in KEYGEN:
        raise Unsupported(f"no ssh-keygen type for {kind}")
    cases = [Case("compliant", _keys_tree(kind))]
    if allowed:
        other = next(k for k in KEYGEN if k not in allowed)
        cases.append(Case(f"an {other} key", _keys_tree(kind, other=other),
                          f"/home/bob/.ssh/authorized_keys: {other} key SHA256:"))
    if required:
        refused = next(a for a in ("ssh-ed25519", "rsa-sha2-512") if a not in required)
        cases.append(Case(f"only {refused} accepted", _keys_tree(
            kind, f"PubkeyAcceptedAlgorithms {refused}\n"),
            f"none of {', '.join(required)} accepted"))
    return cases


# ---------------------------------------------------------------- host.firewall

def _nft(policy: str) -> Callable[[Path], Built]:
    def build(root: Path) -> Built:
        seen = collect_in_netns(nft_setup(root, NFT_DROP % policy))
        return {**seen["data"], "error": seen["error"]}
    return build


def firewall(params: dict) -> list[Case]:
    only_rules(params, set())
    return [Case("compliant", _nft("drop")),
            Case("input accepted by default", _nft("accept"), "accepted by default")]


# ---------------------------------------------------------------- host.time_sync

CHRONY_SERVER = """# a time server on 127.0.0.2 for the namespace, serving its own clock
bindaddress 127.0.0.2
local stratum 8
allow 127.0.0.0/8
cmdport 0
bindcmdaddress /
pidfile /run/chrony/server.pid
"""
CHRONY_CLIENT = """server {server} iburst minpoll -4 maxpoll -4
port 0
pidfile /run/chrony/client.pid
"""


def _chrony(server: str | None, synced: bool = False) -> Callable[[Path], Built]:
    """A time server and a client chronyd (-x: neither ever sets the clock) asking `server`,
    started in the collector's namespaces with a private /run where chronyc finds the client's
    socket; `server` None: no chronyd at all."""
    def build(root: Path) -> Built:
        if not shutil.which("chronyd"):
            pytest.skip("needs chronyd (apt-get install chrony)")
        (root / "server.conf").write_text(CHRONY_SERVER)
        (root / "client.conf").write_text(CHRONY_CLIENT.format(server=server))
        setup = "ip link set lo up && mount -t tmpfs none /run && mkdir -p /run/chrony"
        if server:
            setup += (f" && chronyd -x -u root -f {root}/server.conf"
                      f" && chronyd -x -u root -f {root}/client.conf")
        if synced:
            setup += " && chronyc -n waitsync 40 0 0 0.25 >/dev/null"
        seen = collect_in_netns(setup, collector="time", tools=("chronyd", "ip"), daemons=True)
        return {**seen["data"], "error": seen["error"]}
    return build


def time_sync(params: dict) -> list[Case]:
    only_rules(params, set())
    return [Case("compliant", _chrony("127.0.0.2", synced=True)),
            Case("no chronyd running", _chrony(None), "the chrony daemon is not running"),
            Case("chronyd without a reachable server", _chrony("127.0.0.3"),
                 "Not synchronised")]


# ---------------------------------------------------------------- host.disk_encryption

def _luks_host(status: str, plain_mount: bool = False) -> Callable[[Path], Built]:
    """/ on LVM on a LUKS2 mapping whose `cryptsetup status` is the recorded `status` (a real
    header dumped by the real luksDump behind it), /boot and /boot/efi plain, and /srv/archive
    on a plain partition if `plain_mount`."""
    def build(root: Path) -> Built:
        ctx = crypt_host(root, status, luks_file(root / "b.img", "luks2"))
        pattern = r"findmnt -J -l "
        code, listing, err = ctx.transport.recorded[pattern]
        if not plain_mount:
            mounts = json.loads(listing)
            mounts["filesystems"] = [m for m in mounts["filesystems"]
                                     if m["target"] != "/srv/archive"]
            listing = json.dumps(mounts)
        ctx.transport.recorded[pattern] = (code, listing, err)
        return ctx
    return build


def disk_encryption(params: dict) -> list[Case]:
    only_rules(params, {"cipher", "min_key_bits", "exclude_mounts"})
    if params["mounts"] is not None or "/boot" not in (params["exclude_mounts"] or []):
        raise Unsupported("recorded stacks are for every mount but /boot")
    cipher, bits = params["cipher"], params["min_key_bits"]
    if cipher not in (None, "aes") or (bits or 0) > 256:
        raise Unsupported(f"recorded stack is AES with a 256-bit effective key: {params}")
    cases = [Case("compliant", _luks_host("status-luks2-xts512.txt")),
             Case("a plain data partition", _luks_host("status-luks2-xts512.txt", True),
                  "/srv/archive: not encrypted: /dev/sdc1 (part)")]
    if cipher:
        cases.append(Case("a serpent volume", _luks_host("status-plain-serpent.txt"),
                          f"serpent-xts-plain64, not {cipher}"))
    if bits and bits > 128:
        cases.append(Case("a 128-bit effective key", _luks_host("status-luks2-xts256.txt"),
                          f"128-bit effective key < {bits}"))
    return cases
