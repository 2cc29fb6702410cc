"""Issue 8 item 3, sslyze and the per-target budget: a real TLS server that dribbles its
handshake a byte at a time, just under the per-read timeout, held sslyze for ever (still
running after 150 s with --timeout 1). sslyze now runs in a child process killed at the port's
bound, and each target has a time budget; the hostile target's clauses are errors that say
why, and the other target of the same scan is judged as usual.

Measured on the 2-core test machine with --timeout 1: the previous main was still scanning
when killed at 40 s (no report, peak RSS 91 MB); now the scan of both targets ends in 29-31 s
(the port's bound is 25 s) with its report, peak RSS 79 MB (the scanner; each sslyze child is
a process of its own, about 70 MB resident, mostly shared with its fork server)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from hostile_harness import Run, annexscan, record
from scanner.lab.certs import LabCA
from scanner.probes.base import ProbeRequest
from scanner.probes.tls import bounded_scan, port_bound, scan_port
from scanner.scope.targets import Target
from tls_helpers import needs_netns, wait_accepting

pytestmark = needs_netns
DRIBBLER, HEALTHY, PORT = "127.0.0.176", "127.0.0.177", 443
PROFILE = """\
id: budget-test
title: A TLS clause and a latency clause
source: {issuer: annexscan tests, title: budget}
clauses:
  - {id: B-TLS, section: "1", title: TLS, requirement: TLS 1.2 at least.,
     quote: "Le protocole TLS 1.2 à minima",
     controls: [{control: tls.min_version, basis: annex, parameters: {min: "1.2"}}]}
  - {id: B-LATENCY, section: "2", title: Latency, requirement: Answers within 500 ms.,
     quote: "0,5 seconde",
     controls: [{control: net.latency, basis: annex, parameters: {method: tcp, ports: [443]}}]}
"""
# A ServerHello in a record declared 16 KiB long: a client waits for every byte of it.
HELLO = (b"\x16\x03\x03\x40\x00" + b"\x02\x00\x3f\xfc\x03\x03" + bytes(range(32)) + b"\x00"
         + b"\xc0\x2f\x00" + bytes(16_000))


class Servers:
    """The dribbler (a byte of its handshake every `gap` s, on every connection) and a
    healthy Python TLS server, each on its own address."""

    def __init__(self, workdir: Path, gap: float, dribbling_ports: tuple[int, ...] = (PORT,)):
        self.gap, self.stop = gap, threading.Event()
        self.threads: list[threading.Thread] = []
        files = LabCA(workdir).issue("healthy", HEALTHY, "valid")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(files.cert, files.key)
        self.listeners = [self._listen(DRIBBLER, port, self._dribble) for port in dribbling_ports]
        self.listeners.append(self._listen(HEALTHY, PORT, self._serve))
        for address, port in [(DRIBBLER, p) for p in dribbling_ports] + [(HEALTHY, PORT)]:
            wait_accepting(address, port)

    def _listen(self, address: str, port: int, handler) -> socket.socket:
        listener = socket.create_server((address, port))
        listener.settimeout(0.2)

        def accept() -> None:
            while not self.stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

        self.threads.append(threading.Thread(target=accept, daemon=True))
        self.threads[-1].start()
        return listener

    def _dribble(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(16384)  # the ClientHello
                for byte in HELLO:
                    if self.stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.gap)
            except OSError:
                return

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1024)
        except OSError:
            conn.close()

    def close(self) -> None:
        """Stop and wait for the accept loops: a listener closed while a thread polls it
        listens on until the poll returns."""
        self.stop.set()
        for thread in self.threads:
            thread.join()
        for listener in self.listeners:
            listener.close()


@pytest.fixture
def servers(tmp_path):
    running = Servers(tmp_path, gap=0.8)  # just under --timeout 1
    yield running
    running.close()


def _scan(tmp_path: Path, *options: str, profile: str = PROFILE) -> tuple[Run, dict]:
    (tmp_path / "profile.yaml").write_text(profile)
    run = annexscan("scan", "--profile", str(tmp_path / "profile.yaml"), "--timeout", "1",
                    "--no-progress", "--format", "json", "-o", str(tmp_path / "out"), *options,
                    DRIBBLER, HEALTHY, timeout=90)
    report = json.loads((tmp_path / "out" / "annexscan.json").read_text())
    return run, report


def _clauses(report: dict, address: str) -> dict[str, dict]:
    target = next(t for t in report["targets"] if t["address"] == address)
    return {c["clause_id"]: c for c in target["results"]} | {"probes": target["probes"]}


def test_a_dribbled_handshake_ends_at_the_port_bound_and_spares_the_other_target(
        servers, tmp_path):
    run, report = _scan(tmp_path)
    record("3", "TLS handshake dribbled under --timeout 1, beside a healthy TLS server", run)
    bound = port_bound(1.0)
    assert run.seconds < bound + 20, f"the scan took {run.seconds:.1f} s"
    assert run.peak_mb < 200, f"peak RSS {run.peak_mb:.0f} MB"
    assert run.code == 3, run.err  # no failure, the dribbler's TLS clause is an error
    healthy, hostile = _clauses(report, HEALTHY), _clauses(report, DRIBBLER)
    assert healthy["B-TLS"]["status"] == "pass"
    assert healthy["B-LATENCY"]["status"] == "pass"
    tls = hostile["B-TLS"]
    assert tls["status"] == "error"
    reason = tls["controls"][0]["reason"]
    assert f"did not finish within {bound:g} s" in reason, reason
    assert "the bound of one TLS port at a 1 s timeout" in reason, reason
    # its other probes ran as usual: the budget was not spent
    assert hostile["B-LATENCY"]["status"] == "pass"
    assert report["options"]["target_budget_s"] > bound


def test_a_spent_budget_makes_the_probes_left_errors_and_spares_the_other_target(
        servers, tmp_path):
    run, report = _scan(tmp_path, "--target-budget", "8")
    record("3", "dribbled TLS handshake, --target-budget 8, beside a healthy TLS server", run)
    assert run.seconds < 8 + 10, f"the scan took {run.seconds:.1f} s"
    assert report["options"]["target_budget_s"] == 8
    healthy, hostile = _clauses(report, HEALTHY), _clauses(report, DRIBBLER)
    assert healthy["B-TLS"]["status"] == healthy["B-LATENCY"]["status"] == "pass"
    tls_reason = hostile["B-TLS"]["controls"][0]["reason"]
    assert hostile["B-TLS"]["status"] == "error"
    assert "what was left of the target's time budget of 8 s" in tls_reason, tls_reason
    # the latency probe comes after TLS: never run, an error that says why
    assert hostile["B-LATENCY"]["status"] == "error"
    assert hostile["probes"]["latency"]["error"] == \
        "not run: the target's time budget of 8 s was spent"


def test_a_probe_overrunning_the_budget_is_abandoned_at_its_end(tmp_path):
    """Twelve dribbling ports: the service probe keeps to its own bound on each (2 s at
    --timeout 1), 24 s in all; with a budget of 6 s it is left behind at 7 s (the budget and a
    timeout), and the probes after it are not run."""
    running = Servers(tmp_path, gap=0.8, dribbling_ports=(PORT, *range(4400, 4411)))
    try:
        profile = PROFILE.replace('{min: "1.2"}', '{min: "1.2", ports: "443,4400-4410"}')
        run, report = _scan(tmp_path, "--target-budget", "6", profile=profile)
    finally:
        running.close()
    record("3", "12 dribbling TLS ports, --target-budget 6, beside a healthy TLS server", run)
    assert run.seconds < 6 + 1 + 8, f"the scan took {run.seconds:.1f} s"
    healthy, hostile = _clauses(report, HEALTHY), _clauses(report, DRIBBLER)
    assert healthy["B-TLS"]["status"] == healthy["B-LATENCY"]["status"] == "pass"
    assert hostile["B-TLS"]["status"] == hostile["B-LATENCY"]["status"] == "error"
    spent = "the target's time budget of 6 s was spent"
    assert hostile["probes"]["service"]["error"] == f"stopped waiting: {spent}"
    assert hostile["probes"]["tls"]["error"] == hostile["probes"]["latency"]["error"] == \
        f"not run: {spent}"


def test_a_normal_port_observed_through_the_child_as_directly(servers):
    target, stores = Target(HEALTHY, HEALTHY), ["mozilla"]
    direct, _ = scan_port(target, PORT, 1.0, None, stores)
    through, raw = bounded_scan(target, PORT, ProbeRequest(timeout=1.0), None, stores)
    assert through == json.loads(json.dumps(direct))
    assert through["versions"]["TLS 1.2"]["accepted"] and raw["scan_status"] == "COMPLETED"


def test_the_child_keeps_to_what_is_left_of_the_budget(servers):
    request = ProbeRequest(timeout=1.0, budget_s=30, deadline=time.monotonic() + 2)
    started = time.monotonic()
    observed, _ = bounded_scan(Target(DRIBBLER, DRIBBLER), PORT, request, None, ["mozilla"])
    assert time.monotonic() - started < 4
    assert "what was left of the target's time budget of 30 s" in observed["error"]
    request.deadline = time.monotonic()
    observed, _ = bounded_scan(Target(DRIBBLER, DRIBBLER), PORT, request, None, ["mozilla"])
    assert observed["error"] == "sslyze was not run: the target's time budget of 30 s was spent"
