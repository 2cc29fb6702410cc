"""A real PostgreSQL server, recognised by its answer to an SSLRequest (not by its port) and
scanned by sslyze after that request: TLS 1.0 accepted fails, TLS 1.2+ passes, and a server
without TLS fails an all-flows clause."""

from __future__ import annotations

import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from scanner.lab.certs import LabCA
from scanner.model import Status
from tls_helpers import judge, needs_netns, observe, wait_accepting

ADDRESS, PORT = "127.0.0.124", 15432  # not 5432: the port number must not matter
# Debian's postgresql package keeps its binaries out of PATH, one directory per major version.
_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent"),
           key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
POSTGRES, INITDB = _BIN / "postgres", _BIN / "initdb"


def _postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
        return True
    except KeyError:
        return False


pytestmark = [pytest.mark.lab, needs_netns, pytest.mark.skipif(
    not (POSTGRES.exists() and INITDB.exists() and _postgres_user()),
    reason="needs PostgreSQL (postgres, initdb) and its postgres user")]


@pytest.fixture(scope="module")
def cluster():
    """An initialised data directory and a certificate, owned by the postgres user (outside
    pytest's root-only temporary tree, which postgres cannot enter)."""
    work = Path(tempfile.mkdtemp(prefix="annexscan-pg-"))
    try:
        yield _init(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _init(work: Path) -> tuple[Path, LabCA, object]:
    ca = LabCA(work)
    files = ca.issue("db", ADDRESS, "valid")
    shutil.chown(work, "postgres")
    for path in (files.cert, files.key):
        shutil.chown(path, "postgres")
    subprocess.run([str(INITDB), "-D", str(work / "data"), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], user="postgres", cwd=work, check=True,
                   capture_output=True, timeout=60)
    return work, ca, files


def run_postgres(cluster, *settings: str) -> subprocess.Popen:
    work, _, files = cluster
    options = ["-c", f"ssl_cert_file={files.cert}", "-c", f"ssl_key_file={files.key}"]
    for setting in settings:
        options += ["-c", setting]
    proc = subprocess.Popen([str(POSTGRES), "-D", str(work / "data"), "-h", ADDRESS,
                             "-p", str(PORT), "-k", str(work), *options],
                            user="postgres", cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_accepting(ADDRESS, PORT, 15)
    return proc


def scan(cluster, *settings: str):
    proc = run_postgres(cluster, *settings)
    try:
        return observe(ADDRESS, [PORT], ca_bundle=cluster[1].ca_bundle)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_postgres_accepting_tls10_fails(cluster):
    obs = scan(cluster, "ssl=on", "ssl_min_protocol_version=TLSv1", "ssl_ciphers=ALL:@SECLEVEL=0")
    assert obs.services()[PORT] | {"detail": ""} == {
        "protocol": "postgres", "starttls": True, "detail": ""}
    verdict = judge("tls.min_version", obs)
    assert verdict.status == Status.FAIL
    assert verdict.reason.startswith(f"{PORT}/postgres+starttls: accepts TLS 1.0")


def test_postgres_with_modern_tls_passes(cluster):
    obs = scan(cluster, "ssl=on")
    verdict = judge("tls.min_version", obs, all_flows=True)
    assert verdict.status == Status.PASS, verdict.reason
    assert judge("tls.certificate", obs).status == Status.PASS


def test_postgres_without_tls_fails_all_flows(cluster):
    obs = scan(cluster, "ssl=off")
    assert obs.services()[PORT]["starttls"] is False
    verdict = judge("tls.min_version", obs, all_flows=True)
    assert (verdict.status, verdict.reason) == \
        (Status.FAIL, f"{PORT}: postgres without STARTTLS in clear text")
