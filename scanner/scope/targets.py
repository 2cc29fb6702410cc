"""Parse scan targets: IP, hostname, CIDR, `@file` (one target per line), or `local`; each
reduced to a canonical address, and duplicates scanned once (`scanned_once`)."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from scanner.errors import ConfigError
from scanner.catalog.yamldoc import read_text_capped

MAX_CIDR_HOSTS = 4096
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z")
_LOOKS_NUMERIC = re.compile(r"[0-9.]+\Z")
# an interface name as Linux allows it (IFNAMSIZ 16, so 15 characters): never an nmap option
_ZONE_ID = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")  # \Z: "$" would let a final newline in
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


LOCAL = "local"
T = TypeVar("T")


def is_address(text: str) -> bool:
    """An IPv4 or IPv6 address (not a name)."""
    try:
        canonical_address(text)
    except ValueError:
        return False
    return True


def canonical_address(text: str) -> str:
    """The canonical text of an IP address; an IPv6 zone id must be an interface name, so the
    result can never carry a space, a quote or a leading dash to a command line."""
    address = ipaddress.ip_address(text)
    zone = getattr(address, "scope_id", None)
    if zone is not None and not _ZONE_ID.match(zone):
        raise ValueError("an IPv6 zone id must be an interface name ([A-Za-z0-9_.-], "
                         "at most 15 characters)")
    return str(address)


def check_host(text: object, where: str) -> str:
    """One host as an inventory or an ssh_config HostName names it: an IP address or a host
    name, never a file, a network or this machine. The error never quotes the value."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: expected an IP address or a host name")
    spec = text.strip()
    if spec.startswith("@"):
        raise ConfigError(f"{where}: a host value cannot name a target file ('@'); "
                          "give an IP address or a host name")
    if spec == LOCAL:
        raise ConfigError(f"{where}: 'local' here would audit the scanning machine; "
                          "give the audited host's IP address or host name")
    if "/" in spec and not _URL.match(spec):
        raise ConfigError(f"{where}: a CIDR network is not one host; list its hosts one by "
                          "one, or give the network as a command-line target")
    _check_syntax(spec, where, "an IP address or a host name")
    return spec


@dataclass(frozen=True)
class Target:
    name: str      # as the user wrote it (hostname or IP): used for SNI, Host header, name match
    address: str   # the IP address every probe connects to ("local" for this machine)
    unresolved: str | None = None  # why the name has no address: every probe is an error

    @property
    def local(self) -> bool:
        """The machine annexscan runs on: host checks without SSH, no network probes."""
        return self.address == LOCAL


def parse_targets(specs: list[str], resolve=socket.getaddrinfo,
                  strict: bool = True) -> list[Target]:
    """Expand and validate every target before anything is scanned. A host name that does not
    resolve is a ConfigError when `strict`, else a target whose probes all report why."""
    if not strict:
        resolve = _lenient(resolve)
    targets: list[Target] = []
    for spec in specs:
        if spec.startswith("@"):
            targets += _from_file(Path(spec[1:]), resolve)
        else:
            targets += _one(spec.strip(), f"target {spec[:80]!r}", resolve)
    if not targets:
        raise ConfigError("no target given")
    return targets


class _Unresolved(Exception):
    """Raised by a lenient resolver: the name becomes a target in error, not an abort."""


def _lenient(resolve):
    def wrapped(*args, **kwargs):
        try:
            return resolve(*args, **kwargs)
        except (socket.gaierror, UnicodeError) as exc:
            raise _Unresolved(str(exc)) from None
    return wrapped


def scanned_once(items: list[T], target: Callable[[T], Target],
                 same: Callable[[T, T], bool]) -> tuple[list[T], list[str]]:
    """Items whose targets share an address are scanned once (under a host name rather than a
    bare address), with a note; the same address asked with other settings is an error."""
    kept: dict[str, T] = {}
    notes: list[str] = []
    for item in items:
        address = target(item).address  # an unresolved name stands as its own address
        first = kept.get(address)
        if first is None:
            kept[address] = item
            continue
        names = sorted({target(first).name, target(item).name})
        if not same(first, item):
            raise ConfigError(f"{' and '.join(names)}: the same address {address} is asked for "
                              "twice with different profiles or access; list it once")
        if is_address(target(first).name) and not is_address(target(item).name):
            kept[address] = item
        notes.append(f"{names[0]} given twice: scanned once" if len(names) == 1 else
                     f"{' and '.join(names)} are the same address {address}: scanned once, "
                     f"as {target(kept[address]).name}")
    return list(kept.values()), notes


def _from_file(path: Path, resolve) -> list[Target]:
    lines = read_text_capped(path).splitlines()
    out: list[Target] = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line:  # the line is not echoed: @FILE may name a file that is not a target list
            out += _one(line, f"{path}:{number}: target", resolve)
    if not out:
        raise ConfigError(f"target file {path}: no target in it (one per line, # comments)")
    return out


def _one(spec: str, where: str, resolve) -> list[Target]:
    if spec == LOCAL:
        return [Target(LOCAL, LOCAL)]
    if "/" in spec and not _URL.match(spec) and "%" not in spec:
        try:
            network = ipaddress.ip_network(spec, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a valid CIDR network ({exc})") from None
        if network.num_addresses > MAX_CIDR_HOSTS:
            raise ConfigError(f"{where}: {network.num_addresses} addresses, more than the "
                              f"{MAX_CIDR_HOSTS} allowed in one CIDR; split it")
        hosts = list(network.hosts()) or [network.network_address]
        return [Target(str(ip), str(ip)) for ip in hosts]
    if _check_syntax(spec, where):
        address = canonical_address(spec)
        return [Target(address, address)]
    try:
        infos = resolve(spec, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{where}: hostname does not resolve ({exc}); without "
                          "--strict-targets it is reported as an error and the scan goes on"
                          ) from None
    except _Unresolved as exc:
        name = spec.rstrip(".")
        return [Target(name, name, unresolved=f"host name {name} does not resolve ({exc})")]
    try:
        address = canonical_address(infos[0][4][0])
    except ValueError:
        raise ConfigError(f"{where}: the resolver answered something that is not an IP "
                          "address") from None
    return [Target(spec.rstrip("."), address)]


def _check_syntax(spec: str, where: str,
                  expected: str = "an IP address, a hostname, a CIDR network or @file") -> bool:
    """True for an IP address, False for a valid host name; anything else is a ConfigError."""
    if _URL.match(spec):
        raise ConfigError(f"{where}: a URL is not a target; give the host name alone "
                          "(e.g. web.example.org for https://web.example.org/login)")
    try:
        canonical_address(spec)
        return True
    except ValueError as exc:
        if "%" in spec and ":" in spec:
            raise ConfigError(f"{where}: not a valid IPv6 address ({exc})") from None
    if _LOOKS_NUMERIC.match(spec) or not _HOSTNAME.match(spec):
        raise ConfigError(f"{where}: expected {expected}")
    return False
