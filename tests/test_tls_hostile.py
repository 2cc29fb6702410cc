"""The STARTTLS dialogues against hostile servers: endless replies and dribbling bytes are cut
by the read caps and the per-dialogue deadline; nothing hangs, nothing crashes the probe."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from scanner.probes.service import identify
from tls_helpers import needs_netns

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
    if handler is _Endless:
        assert (info["protocol"], info["starttls"]) == ("smtp", False)
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
