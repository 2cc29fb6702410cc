"""SLIME §9 "aucune interface d'administration ne doit être accessible directement depuis
Internet": administration interfaces are found by what a port speaks, not by its number.

Real servers on unusual ports inside the test namespace: redis-server and PostgreSQL (the
Debian daemons), a MySQL protocol greeting, and Python web servers serving a phpMyAdmin page,
an /admin login form, and a plain site on 8080 that must not be taken for a console.
"""

from __future__ import annotations

import glob
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import Status
from scanner.probes.base import ProbeRequest
from scanner.probes.fingerprint import FingerprintProbe
from scanner.probes.service import ServiceProbe
from scanner.scope.targets import Target

ADDRESS = "127.0.0.98"
DEFAULTS = load_catalog().get("net.no_admin_exposure").defaults()
PAGES = {
    8090: {"/": "<html><head><title>phpMyAdmin</title></head><body>Welcome</body></html>"},
    8091: {"/": "<html><title>Shop</title><body>hello</body></html>",
           "/admin": "<html><form method=post><input name=u><input type='password' name=p>"
                     "</form></html>"},
    8080: {"/": "<html><title>Town services</title><body>Opening hours</body></html>"},
}
MYSQL_GREETING = b"\x4a\x00\x00\x00\x0a8.0.36\x00" + bytes(64)


def need_root_namespace() -> None:
    if os.environ.get("ANNEXSCAN_NETNS") != "1" or os.geteuid() != 0:
        pytest.skip("needs root inside a private network namespace (python -m scanner.netns)")


def wait_port(port: int, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection((ADDRESS, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ADDRESS}:{port}")


def web_server(port: int, pages: dict[str, str]) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *_args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((ADDRESS, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def mysql_greeter(port: int) -> socket.socket:
    listener = socket.create_server((ADDRESS, port))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(MYSQL_GREETING)
    threading.Thread(target=serve, daemon=True).start()
    return listener


def postgres_binary() -> str | None:
    found = shutil.which("postgres") or sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def admin_host(tmp_path_factory):
    need_root_namespace()
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (make test installs it)")
    tmp = tmp_path_factory.mktemp("admin")
    procs = [subprocess.Popen(["redis-server", "--bind", ADDRESS, "--port", "8081", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    postgres = postgres_binary()
    if postgres:
        # PostgreSQL refuses to run as root: its data lives where `nobody` can reach it
        data = Path(tempfile.mkdtemp(prefix="annexscan-pg-"))
        shutil.chown(data, "nobody", "nogroup")
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        subprocess.run(as_nobody + [str(Path(postgres).parent / "initdb"), "-D", str(data),
                                    "-A", "trust", "-U", "pg"],
                       check=True, capture_output=True)
        procs.append(subprocess.Popen(
            as_nobody + [postgres, "-D", str(data), "-h", ADDRESS, "-p", "8083", "-k", str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    servers = [web_server(port, pages) for port, pages in PAGES.items()]
    greeter = mysql_greeter(8082)
    try:
        for port in [8081, 8082, *PAGES] + ([8083] if postgres else []):
            wait_port(port)
        yield bool(postgres)
    finally:
        greeter.close()
        for server in servers:
            server.shutdown()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        if postgres:
            shutil.rmtree(data, ignore_errors=True)


def fingerprint(ports: list[int]):
    request = ProbeRequest(timeout=2.0, open_ports=ports)
    target = Target(ADDRESS, ADDRESS)
    request.services = ServiceProbe().run(target, request).data["services"]
    result = FingerprintProbe().run(target, request)
    assert result.error is None, result.error
    return result.data["ports"], evaluate("net.no_admin_exposure",
                                          Observations({"fingerprint": result}), DEFAULTS)


@pytest.mark.parametrize("port,service,kind", [
    (8081, "redis", "database"), (8082, "mysql", "database"),
    (8090, "phpmyadmin", "web-console"), (8091, "admin-login", "admin-path")])
def test_an_administration_interface_fails_whatever_its_port(admin_host, port, service, kind):
    ports, verdict = fingerprint([port])
    assert [(f["service"], f["kind"]) for f in ports[port]["identified"]] == [(service, kind)]
    assert verdict.status == Status.FAIL and f"{port}/{service}" in verdict.reason


def test_a_real_postgresql_on_an_unusual_port_fails(admin_host):
    if not admin_host:
        pytest.skip("PostgreSQL server binaries are not installed")
    ports, verdict = fingerprint([8083])
    assert ports[8083]["identified"][0]["service"] == "postgresql"
    assert verdict.status == Status.FAIL


def test_a_plain_site_on_8080_is_not_an_administration_interface(admin_host):
    ports, verdict = fingerprint([8080])
    # Python's server answers a TLS hello with a bare HTML error page: web signatures still run
    assert ports[8080]["identified"] == [] and ports[8080]["complete"]
    assert verdict.status == Status.PASS


def test_an_unidentified_service_on_a_database_port_is_an_error(admin_host):
    silent = socket.create_server((ADDRESS, 3306))  # accepts, never speaks
    try:
        ports, verdict = fingerprint([3306])
    finally:
        silent.close()
    assert ports[3306]["identified"] == []
    assert verdict.status == Status.ERROR and "usually mysql" in verdict.reason
