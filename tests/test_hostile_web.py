"""Issue 8 item 3, the HTTPS part: the fetch's deadline bounds the whole exchange even after the
socket is wrapped in TLS. A real TLS server that completes the handshake and then dribbles its
HTTP answer one byte at a time held the fetch for ever: each byte reset the per-read timeout,
and the deadline shut down a socket object that wrapping had detached."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from scanner.lab.certs import LabCA
from scanner.probes.web import fetch
from scanner.scope.targets import Target
from tls_helpers import needs_netns

pytestmark = needs_netns

ADDRESS, PORT = "127.0.0.174", 8443


@pytest.fixture
def dribbling_https_server(tmp_path):
    """A real TLS server: after the handshake, an HTTP header that never ends, a byte at a
    time every 0.2 s."""
    files = LabCA(tmp_path).issue("slow", ADDRESS, "valid")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    listener = socket.create_server((ADDRESS, PORT))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(4096)
                    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                        if stop.is_set():
                            break
                        conn.sendall(bytes([byte]))
                        time.sleep(0.2)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_https_fetch_stops_at_its_deadline_when_the_answer_dribbles(dribbling_https_server):
    answers: list[dict] = []
    started = time.monotonic()
    worker = threading.Thread(daemon=True, target=lambda: answers.append(
        fetch(Target(ADDRESS, ADDRESS), PORT, True, "/", timeout=1.5)))
    worker.start()
    worker.join(timeout=10)  # a regression fails here instead of hanging the suite
    elapsed = time.monotonic() - started
    assert answers and elapsed < 3.0, f"the fetch ran {elapsed:.1f} s past a 1.5 s deadline"
    assert answers[0].get("timeout") and "within 1.5s" in answers[0]["error"]
