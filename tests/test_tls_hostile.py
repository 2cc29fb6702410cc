"""The STARTTLS dialogues against hostile servers: endless replies and dribbling bytes are cut
by the read caps and the per-dialogue deadline; nothing hangs, nothing crashes the probe."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status
from scanner.probes.service import identify
from tls_helpers import judge, needs_netns

pytestmark = needs_netns
ADDRESS = "127.0.0.125"


class _Endless(socketserver.BaseRequestHandler):
    """SMTP greeting, then an endless '250-' capability list once anything is received."""

    def handle(self) -> None:
        self.request.sendall(b"220 hostile ESMTP\r\n")
        try:
            self.request.recv(1024)
            while True:
                self.request.sendall(b"250-" + b"X" * 200 + b"\r\n")
        except OSError:
            pass


class _Dribble(socketserver.BaseRequestHandler):
    """Says nothing to a ClientHello and closes; to anything else, one byte every 0.2 s."""

    def handle(self) -> None:
        first = self.request.recv(1024)
        if first[:1] == b"\x16":
            return
        try:
            while True:
                self.request.sendall(b"<")
                time.sleep(0.2)
        except OSError:
            pass


def _serve(handler, port):
    server = socketserver.ThreadingTCPServer((ADDRESS, port), handler, bind_and_activate=False)
    server.daemon_threads = True
    server.allow_reuse_address = True
    server.server_bind()
    server.server_activate()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("handler", [_Endless, _Dribble])
def test_hostile_dialogues_are_bounded(handler):
    server = _serve(handler, 2500)
    try:
        started = time.monotonic()
        info = identify(ADDRESS, 2500, ADDRESS, 1.0)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    # 1 s timeout: the ClientHello exchange (2 s at most) then at most three dialogues of 3 s
    assert elapsed < 12, elapsed
    if handler is _Endless:  # the capability list never ended: STARTTLS unknown, not absent
        assert (info["protocol"], info["starttls"]) == ("smtp", None)
    else:
        assert info["protocol"] == "unknown" and "starttls" not in info


def test_unanswered_capability_request_is_unknown_not_false():
    """A banner that never answers EHLO: STARTTLS unknown (None), which an all-flows clause
    reports as an error, never as a pass or a clear-text fail."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ADDRESS, 2121))
    listener.listen()
    held = []

    def accept() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.sendall(b"220 silent after the banner\r\n")
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        info = identify(ADDRESS, 2121, ADDRESS, 1.0)
    finally:
        for conn in held:
            conn.close()
        listener.close()
    assert (info["protocol"], info["starttls"]) == ("ftp", None)


@pytest.mark.parametrize("reply,starttls,status", [
    (b"502 5.5.1 EHLO not implemented\r\n", False, Status.FAIL),  # HELO only: no STARTTLS
    (b"\x00\xff garbage\r\n", None, Status.ERROR),  # no SMTP reply: nobody can tell
])
def test_smtp_without_a_capability_list(reply, starttls, status):
    """Only a real SMTP refusal of EHLO rules STARTTLS out; an unreadable reply leaves it
    unknown, which net.no_cleartext_services reports as an error, never a clear-text fail."""
    listener = socket.create_server((ADDRESS, 2526))

    def answer() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.sendall(b"220 mail ESMTP\r\n")
            conn.recv(1024)
            conn.sendall(reply)
            time.sleep(0.5)
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        info = identify(ADDRESS, 2526, ADDRESS, 1.0)
    finally:
        listener.close()
    assert (info["protocol"], info["starttls"]) == ("smtp", starttls)
    verdict = judge("net.no_cleartext_services", Observations(
        {"service": ProbeResult("service", ADDRESS, data={"services": {2526: info}})}))
    assert verdict.status == status, verdict.reason
