"""Small real network services of this process, shared by the network tests: a UDP service
(answering or silent) and an ICMP echo responder that answers pings after a chosen delay."""

from __future__ import annotations

import socket
import struct
import threading

from scanner.probes.icmp import checksum


class UdpService:
    """A UDP socket that echoes what it gets (a service that answers), or stays silent."""

    def __init__(self, address: str, port: int, answers: bool):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.answers, self.stopped = answers, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            if self.answers:
                self.sock.sendto(b"annexscan-test:" + data[:64], peer)

    def __enter__(self) -> "UdpService":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


class Responder:
    """Answers ICMP echo requests to the addresses of `delays`, each after its delay (seconds).
    The kernel's own answers must be off (net.ipv4.icmp_echo_ignore_all, per namespace)."""

    def __init__(self, delays: dict[str, float]):
        self.delays = delays
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.listener.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                packet, _ = self.listener.recvfrom(2048)
            except socket.timeout:
                continue
            header = (packet[0] & 0x0F) * 4
            source, destination = socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20])
            icmp = packet[header:]
            if icmp[:1] != b"\x08" or destination not in self.delays:
                continue
            reply = b"\x00\x00\x00\x00" + icmp[4:]
            reply = reply[:2] + struct.pack("!H", checksum(reply)) + reply[4:]
            threading.Timer(self.delays[destination], self._send,
                            (destination, source, reply)).start()

    @staticmethod
    def _send(own: str, to: str, reply: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
            sock.bind((own, 0))
            sock.sendto(reply, (to, 0))

    def __enter__(self) -> "Responder":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.listener.close()
