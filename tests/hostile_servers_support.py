"""Real servers for the scan-level hostile cases (issue 8 part 3) and the two-target scan they
are checked with: real OpenSSH sshds on addresses of their own (scanner.lab's sshd), raw TCP
servers with a scripted behaviour, and the real CLI in a measured child process."""

from __future__ import annotations

import json
import shutil
import socket
import socketserver
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from hostile_harness import Run, annexscan
from scanner.lab import sshd
from scanner.lab.hosts import MODERN_SSH, HostSpec
from scanner.lab.procs import Proc
from tls_helpers import wait_accepting


MEMORY_CAP_MB = 3072  # address space, not RSS: threads reserve much more than they touch


@contextmanager
def tcp_server(address: str, port: int,
               handle: Callable[[socket.socket], None]) -> Iterator[None]:
    """A threaded TCP server on address:port running `handle` on every connection."""
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                handle(self.request)
            except OSError:  # the scanner hung up: expected from a hostile server's view
                pass

    server = socketserver.ThreadingTCPServer((address, port), Handler, bind_and_activate=False)
    server.daemon_threads = server.allow_reuse_address = True
    server.server_bind()
    server.server_activate()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class SshHosts:
    """Real OpenSSH sshds on port 22 of given addresses, one client key authorized on all
    (unless a host is started with `authorize=False`), and a known_hosts naming them."""

    def __init__(self, workdir: Path) -> None:
        if not sshd.SSHD.exists() or not shutil.which("ssh-keygen"):
            pytest.skip("needs OpenSSH's sshd and ssh-keygen")
        self.workdir = workdir
        self.client_key = workdir / "client"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(self.client_key)], check=True)
        self.authorized = workdir / "authorized_keys"
        shutil.copy(self.client_key.with_suffix(".pub"), self.authorized)
        self.known_hosts = workdir / "known_hosts"
        self.known_hosts.write_text("")
        self._procs: list[Proc] = []

    def start(self, name: str, address: str, authorize: bool = True, **options: str) -> Path:
        """An sshd with the lab's modern options and `options`, accepting the client key if
        `authorize`; returns its config file."""
        spec = HostSpec(name, address, name, ssh={**MODERN_SSH, **options})
        keygen = sshd.KeyGen()
        keys = sshd.host_keys(self.workdir, spec, keygen)
        keygen.wait()
        authorized = self.authorized if authorize else self.workdir / "nobody_authorized"
        conf = sshd.render(self.workdir, spec, keys, authorized)
        self._procs.append(sshd.start(self.workdir, spec, conf))
        with self.known_hosts.open("a") as known:
            for key in keys:
                kind, blob = key.with_suffix(".pub").read_text().split()[:2]
                known.write(f"{address} {kind} {blob}\n")
        wait_accepting(address, 22, seconds=15)
        return conf

    def access(self) -> list[str]:
        """The scan options that log in to these hosts."""
        return ["--ssh-user", "root", "--ssh-key", str(self.client_key),
                "--known-hosts", str(self.known_hosts)]

    def stop(self) -> None:
        for proc in self._procs:
            proc.stop()


def two_target_scan(tmp_path: Path, profile: str, targets: list[str], *args: str,
                    timeout: float = 180) -> tuple[Run, dict | None]:
    """`annexscan scan` of `targets` with `profile` (YAML text), JSON and JUnit written to
    tmp_path/out; returns the measured run and the JSON report (None if none was written).
    Its address space is capped: the old unbounded reads took 10 GB of this shared machine."""
    path = tmp_path / "profile.yaml"
    path.write_text(profile)
    out = tmp_path / "out"
    run = annexscan("scan", "--profile", str(path), "--no-progress", "--timeout", "1",
                    "--format", "json,junit", "-o", str(out), *args, *targets, timeout=timeout,
                    memory_cap_mb=MEMORY_CAP_MB)
    report = out / "annexscan.json"
    return run, (json.loads(report.read_text()) if report.exists() else None)


def target(report: dict, address: str) -> dict:
    return next(t for t in report["targets"] if t["address"] == address)


def clause(report: dict, address: str, clause_id: str) -> dict:
    """The clause result of one target of a JSON report."""
    return next(r for r in target(report, address)["results"] if r["clause_id"] == clause_id)


def reasons(result: dict) -> str:
    return " | ".join(str(c.get("reason")) for c in result["controls"])
