"""Listening TCP sockets seen from inside the host: `ss -Htlnp`, else /proc/net/tcp{,6}.

`ss` runs on the live host (a sysroot does not change it); the /proc fallback reads through the
sysroot like any file. Each socket is marked loopback when only the host itself can reach it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, read_optional
from scanner.transports.base import HostContext

PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def split_address(local: str) -> tuple[str, str | None, int]:
    """`ss` local address -> (address, interface or None, port).

    Forms: 0.0.0.0:22, *:22, [::]:443, [fe80::1%eth0]:22, 127.0.0.53%lo:53."""
    host, _, port = local.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host, _, zone = host.partition("%")
    return host, zone or None, int(port)


def is_loopback(address: str, interface: str | None) -> bool:
    """Reachable only from the host: a 127/8 or ::1 (also IPv4-mapped) address, or bound to lo."""
    if interface == "lo":
        return True
    if address == "*":
        return False
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _socket(address: str, interface: str | None, port: int,
            processes: list[str]) -> dict[str, Any]:
    return {"address": address, "interface": interface, "port": port, "processes": processes,
            "loopback": is_loopback(address, interface)}


def parse_ss(text: str) -> list[dict[str, Any]]:
    """`ss -Htln[p]` lines: State Recv-Q Send-Q Local Peer [users:(("name",pid=..,fd=..))]."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "LISTEN":
            continue
        address, interface, port = split_address(fields[3])
        processes = sorted(set(re.findall(r'\("([^"]+)",pid=', line)))
        sockets.append(_socket(address, interface, port, processes))
    return sockets


def _proc_address(hex_address: str) -> str:
    """/proc/net/tcp addresses are 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def parse_proc_net_tcp(text: str) -> list[dict[str, Any]]:
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == _LISTEN:
            hex_address, _, hex_port = fields[1].partition(":")
            sockets.append(_socket(_proc_address(hex_address), None, int(hex_port, 16), []))
    return sockets


@collector("sockets")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    """sockets: [{address, interface, port, processes, loopback}]; source: ss or /proc."""
    out = Collected(data={"sockets": [], "source": "ss"})
    for command in ("ss -Htlnp", "ss -tlnp"):  # ss of iproute2 before 4.x has no -H
        result = out.run(ctx, command, sudo=True)
        if result.ok:
            out.data["sockets"] = parse_ss(result.stdout)  # a header line is not LISTEN
            return out
        if result.missing_tool or result.error:
            break
    if not result.missing_tool:
        out.error = result.explain()
        return out
    out.data["source"] = "/proc/net/tcp (ss not installed)"
    try:
        tables = [read_optional(out, ctx, table) for table in PROC_TABLES]
    except Unreadable as exc:
        out.error = str(exc)
        return out
    if tables[0] is None:
        out.error = "ss is not installed and /proc/net/tcp is absent: no socket list"
        return out
    out.data["sockets"] = [s for text in tables if text for s in parse_proc_net_tcp(text)]
    return out
