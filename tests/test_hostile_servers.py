"""Hostile or broken servers: every probe returns within a bound of its timeout, with an error
that says why, and the checks answer `error`, never `pass`. Servers run here on loopback."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Iterator

import pytest

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import Status
from scanner.probes.base import ProbeRequest
from scanner.probes.web import fetch
from scanner.probes.service import ServiceProbe, identify
from scanner.probes.ssh import SshProbe
from scanner.scope.targets import Target

TIMEOUT = 1.0
BOUND = 4 * TIMEOUT  # generous: the point is "bounded", not fast


def serve(behaviour: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:  # listener closed at teardown
                return
            threading.Thread(target=_run, args=(behaviour, conn, stop), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _run(behaviour, conn: socket.socket, stop: threading.Event) -> None:
    try:
        behaviour(conn, stop)
    except OSError:
        pass
    finally:
        conn.close()


def dribble(prefix: bytes) -> Callable[[socket.socket, threading.Event], None]:
    """Send `prefix` then one byte every 0.3 s, for ever: each read succeeds, none completes."""
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(prefix)
        while not stop.wait(0.3):
            conn.sendall(b"x")
    return behaviour


def garbage(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(bytes(range(256)) * 4)
    stop.wait(5)


def slam(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(16)


@pytest.fixture
def dribbling_http():
    yield from serve(dribble(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"))


@pytest.fixture
def dribbling_ssh():
    yield from serve(dribble(b"SSH-2.0-slow\r\n\x00\x00"))


@pytest.fixture
def garbage_server():
    yield from serve(garbage)


@pytest.fixture
def slamming_server():
    yield from serve(slam)


LOCAL = Target("127.0.0.1", "127.0.0.1")


def bounded(fn):
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND, f"took {elapsed:.1f}s, more than {BOUND}s"
    return result


def test_dribbling_http_body_is_cut_at_the_timeout(dribbling_http):
    answer = bounded(lambda: fetch(LOCAL, dribbling_http, False, "/", TIMEOUT))
    assert answer["timeout"] and "within 1s" in answer["error"]


def test_http_response_time_fails_on_a_page_that_never_completes(dribbling_http):
    obs = Observations({"http": _http_result({"/": fetch(LOCAL, dribbling_http, False, "/",
                                                           TIMEOUT)})})
    params = {**load_catalog().get("http.response_time").defaults(), "max_seconds": 0.5}
    verdict = evaluate("http.response_time", obs, params)
    assert verdict.status == Status.FAIL and "no complete answer" in verdict.reason


def test_dribbling_ssh_is_an_error_within_bound(dribbling_ssh):
    request = ProbeRequest(timeout=TIMEOUT, services={dribbling_ssh: {"protocol": "ssh"}})
    result = bounded(lambda: SshProbe().run(LOCAL, request))
    observed = result.data["ports"][dribbling_ssh]
    assert "error" in observed
    verdicts = [evaluate(c, Observations({"ssh": result}), load_catalog().get(c).defaults())
                for c in ("ssh.key_only", "ssh.algorithms")]
    assert [v.status for v in verdicts] == [Status.ERROR, Status.ERROR]


@pytest.mark.parametrize("server", ["garbage_server", "slamming_server", "dribbling_http"])
def test_service_probe_survives(request, server):
    port = request.getfixturevalue(server)
    info = bounded(lambda: identify("127.0.0.1", port, "127.0.0.1", TIMEOUT))
    assert info["protocol"] in ("unknown", "http")


def test_ssh_probe_on_garbage_is_an_error(garbage_server):
    request = ProbeRequest(timeout=TIMEOUT, services={garbage_server: {"protocol": "ssh"}})
    result = bounded(lambda: SshProbe().run(LOCAL, request))
    assert result.error is None and "error" in result.data["ports"][garbage_server]


def test_tls_checks_error_on_a_silent_usual_tls_port():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    port = listener.getsockname()[1]
    try:
        request = ProbeRequest(timeout=TIMEOUT, open_ports=[port])
        service = bounded(lambda: ServiceProbe().run(LOCAL, request))
        assert service.data["services"][port]["protocol"] == "silent"
    finally:
        listener.close()


def _http_result(pages):
    from scanner.model import ProbeResult

    return ProbeResult("http", "127.0.0.1", {"plain": {}, "https": {}, "pages": pages})
