"""ICMP echo ("ping") round trips, IPv4 and IPv6, on a raw socket (root) or the kernel's
unprivileged ping socket where the system allows it.

Each echo is bounded by one deadline for the whole wait, not per recv: a host flooding us with
unrelated ICMP cannot hold the probe past it.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time

MAX_PACKET = 2048  # one ICMP message with its IP header; anything longer is cut by recv
_ECHO = {socket.AF_INET: (8, 0), socket.AF_INET6: (128, 129)}  # (request, reply) types


class IcmpUnavailable(Exception):
    """No socket can send ICMP here (not root, and unprivileged ping sockets are off)."""


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_packet(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    kind = _ECHO[family][0]
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    # ICMPv6 checksums cover a pseudo-header: the kernel fills them in on raw and ping sockets.
    value = checksum(header + payload) if family == socket.AF_INET else 0
    return struct.pack("!BBHHH", kind, 0, value, ident, seq) + payload


def open_socket(family: int) -> tuple[socket.socket, bool]:
    """(socket, raw?): a raw socket as root, else an unprivileged ping socket."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    kinds = [socket.SOCK_RAW, socket.SOCK_DGRAM] if os.geteuid() == 0 else [socket.SOCK_DGRAM]
    errors = []
    for kind in kinds:
        try:
            return socket.socket(family, kind, proto), kind == socket.SOCK_RAW
        except OSError as exc:
            errors.append(f"{'raw' if kind == socket.SOCK_RAW else 'ping'} socket: "
                          f"{exc.strerror or exc}")
    raise IcmpUnavailable("; ".join(errors))


def _reply_matches(packet: bytes, family: int, raw: bool, ident: int, seq: int) -> bool:
    if family == socket.AF_INET and raw:
        packet = packet[(packet[0] & 0x0F) * 4:] if packet else b""  # skip the IPv4 header
    if len(packet) < 8:
        return False
    kind, _code, _sum, got_ident, got_seq = struct.unpack("!BBHHH", packet[:8])
    # A ping socket rewrites the identifier to its own port: only the sequence is ours there.
    return kind == _ECHO[family][1] and got_seq == seq and (got_ident == ident or not raw)


def echo_ms(address: str, seq: int, timeout: float, ident: int | None = None) -> float | None:
    """Milliseconds to an echo reply from `address`, None when none came within `timeout`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    ident = (os.getpid() & 0xFFFF) if ident is None else ident
    sock, raw = open_socket(family)
    with sock:
        sock.setblocking(False)
        deadline = time.monotonic() + timeout
        start = time.perf_counter()
        sock.sendto(echo_packet(family, ident, seq, b"annexscan-latency"), (address, 0))
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            try:
                packet, sender = sock.recvfrom(MAX_PACKET)
            except BlockingIOError:
                continue
            if sender[0] == address and _reply_matches(packet, family, raw, ident, seq):
                return (time.perf_counter() - start) * 1000
    return None
