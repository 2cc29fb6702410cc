"""Parse scan targets: IP, hostname, CIDR, `@file` (one target per line), or `local`."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import ConfigError

MAX_CIDR_HOSTS = 4096
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_LOOKS_NUMERIC = re.compile(r"^[0-9.]+$")


LOCAL = "local"


def is_address(text: str) -> bool:
    """An IPv4 or IPv6 address (not a name)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Target:
    name: str      # as the user wrote it (hostname or IP): used for SNI, Host header, name match
    address: str   # the IP address every probe connects to ("local" for this machine)

    @property
    def local(self) -> bool:
        """The machine annexscan runs on: host checks without SSH, no network probes."""
        return self.address == LOCAL


def parse_targets(specs: list[str], resolve=socket.getaddrinfo) -> list[Target]:
    """Expand and validate every target before anything is scanned; duplicates are dropped."""
    targets: list[Target] = []
    for spec in specs:
        if spec.startswith("@"):
            targets += _from_file(Path(spec[1:]), resolve)
        else:
            targets += _one(spec.strip(), f"target '{spec}'", resolve)
    if not targets:
        raise ConfigError("no target given")
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target.address, target)
    return list(seen.values())


def _from_file(path: Path, resolve) -> list[Target]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"target file {path}: cannot read: {exc.strerror or exc}") from None
    out: list[Target] = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line:
            out += _one(line, f"{path}:{number}: target '{line}'", resolve)
    return out


def _one(spec: str, where: str, resolve) -> list[Target]:
    if spec == LOCAL:
        return [Target(LOCAL, LOCAL)]
    if "/" in spec:
        try:
            network = ipaddress.ip_network(spec, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a valid CIDR network ({exc})") from None
        if network.num_addresses > MAX_CIDR_HOSTS:
            raise ConfigError(f"{where}: {network.num_addresses} addresses, more than the "
                              f"{MAX_CIDR_HOSTS} allowed in one CIDR; split it")
        hosts = list(network.hosts()) or [network.network_address]
        return [Target(str(ip), str(ip)) for ip in hosts]
    try:
        return [Target(spec, str(ipaddress.ip_address(spec)))]
    except ValueError:
        pass
    if _LOOKS_NUMERIC.match(spec) or not _HOSTNAME.match(spec):
        raise ConfigError(f"{where}: expected an IP address, a hostname, a CIDR network or @file")
    try:
        infos = resolve(spec, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{where}: hostname does not resolve ({exc})") from None
    return [Target(spec.rstrip("."), infos[0][4][0])]
