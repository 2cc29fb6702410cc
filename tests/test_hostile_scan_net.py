"""Issue 8 items 2 and 3 at scan level, on the network side: one `annexscan scan` of a hostile
server and a healthy one of the same kind, in a measured child process. An SMTP server whose
greeting is one endless line without a newline, and an HTTPS server that completes the TLS
handshake and then dribbles its answer a byte at a time: each run finishes within a time and a
peak-RSS bound, writes the report, judges the healthy server normally and the hostile one
without a pass. (sslyze against a dribbled handshake: tests/test_tls_budget.py.)"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Callable

from hostile_harness import record
from hostile_servers_support import clause, reasons, tcp_server, two_target_scan
from scanner.lab.certs import LabCA
from tls_helpers import needs_netns

pytestmark = needs_netns

ENDLESS_SMTP, HEALTHY_SMTP = "127.0.0.194", "127.0.0.195"
DRIBBLING_HTTPS, HEALTHY_HTTPS = "127.0.0.196", "127.0.0.197"
SECONDS = 45.0  # measured 2-4 s; the old HTTPS fetch never ended (killed at 180 s)
PEAK_MB = 200.0  # measured about 80 MB; the defect: everything the server sends, kept
PROFILE = """id: hostile-net
title: Hostile network servers
source: {{issuer: annexscan tests, title: hostile network servers}}
clauses:
  - id: N-1
    section: "1"
    title: {title}
    requirement: {title}, on every flow of the host.
    controls: [{{control: {control}{parameters}}}]
"""


def endless_smtp(conn: socket.socket) -> None:
    """An SMTP greeting that never ends: no newline, ever, as fast as the reader takes it."""
    conn.sendall(b"220 hostile ESMTP ")
    chunk = b"X" * 65536
    while True:
        conn.sendall(chunk)


def healthy_smtp(conn: socket.socket) -> None:
    """Greets, offers STARTTLS to EHLO, says goodbye."""
    conn.settimeout(5)
    conn.sendall(b"220 healthy.annexscan.test ESMTP\r\n")
    while data := conn.recv(1024):
        if data.upper().startswith(b"EHLO"):
            conn.sendall(b"250-healthy.annexscan.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        elif data.upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return


def test_smtp_greeting_without_end_is_cut(tmp_path):
    with tcp_server(ENDLESS_SMTP, 25, endless_smtp), tcp_server(HEALTHY_SMTP, 25, healthy_smtp):
        run, report = two_target_scan(
            tmp_path, PROFILE.format(title="No clear-text service",
                                     control="net.no_cleartext_services",  # 25 in the scope:
                                     parameters=", parameters: {usual_ports: "
                                                "[{port: 25, service: smtp}]}"),
            [ENDLESS_SMTP, HEALTHY_SMTP])
    assert run.seconds < SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    assert report is not None and "Traceback" not in run.err, run.err[-3000:]
    healthy = clause(report, HEALTHY_SMTP, "N-1")
    assert healthy["status"] == "pass", reasons(healthy)
    hostile = clause(report, ENDLESS_SMTP, "N-1")
    assert hostile["status"] != "pass" and "25/smtp" in reasons(hostile), hostile
    record("2", "SMTP endless greeting line on :25 (+ healthy SMTP)", run,
           status=hostile["status"])


def https_server(context: ssl.SSLContext,
                 answer: Callable[[ssl.SSLSocket], None]) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(5)
            tls.recv(4096)
            answer(tls)
    return handle


def dribble(tls: ssl.SSLSocket) -> None:
    """An HTTP header that never ends, a byte every 0.2 s: each read succeeds, none completes."""
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
        tls.sendall(bytes([byte]))
        time.sleep(0.2)


def hsts_page(tls: ssl.SSLSocket) -> None:
    tls.sendall(b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=31536000\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\nok")


def test_https_answer_dribbled_after_the_handshake_is_cut(tmp_path):
    ca = LabCA(tmp_path)
    contexts = []
    for name, address in (("dribbling", DRIBBLING_HTTPS), ("healthy", HEALTHY_HTTPS)):
        files = ca.issue(name, address, "valid")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        contexts.append(context)
    with tcp_server(DRIBBLING_HTTPS, 443, https_server(contexts[0], dribble)), \
            tcp_server(HEALTHY_HTTPS, 443, https_server(contexts[1], hsts_page)):
        run, report = two_target_scan(
            tmp_path, PROFILE.format(title="HSTS", control="http.hsts", parameters=""),
            [DRIBBLING_HTTPS, HEALTHY_HTTPS], "--ca-bundle", str(ca.ca_bundle))
    assert run.seconds < SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    assert report is not None and "Traceback" not in run.err, run.err[-3000:]
    healthy = clause(report, HEALTHY_HTTPS, "N-1")
    assert healthy["status"] == "pass", reasons(healthy)
    hostile = clause(report, DRIBBLING_HTTPS, "N-1")
    assert hostile["status"] == "error" and "within 1s" in reasons(hostile), hostile
    record("3", "HTTPS answer dribbled after the handshake (+ healthy HTTPS)", run,
           status=hostile["status"])
