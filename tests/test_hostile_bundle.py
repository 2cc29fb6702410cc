"""Issue 8: hostile bundles, paths and server text against `verify`, `scan` and `report`.

Every case runs the real CLI in a child process and bounds its time (and its peak RSS where
the defect is about memory): zip bombs, entry names that redraw the terminal, a forger's
re-signed bundle, a bundle zipped again with stock `zip -r`, symlinks planted at output paths,
output paths that cannot be written (checked before a single packet), and a real HTTP server
whose headers look like private keys."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import sample_result
from hostile_bundle_support import lie_about_size, loopback_packets, replace_entry
from hostile_harness import Run, annexscan, record
from test_bundle import bundled, pem_key

from scanner.errors import ConfigError
from scanner.reporters.registry import write_all

EVIDENCE = "evidence/127.0.0.2/tls.json.gz"
SCANNED = "127.0.0.175"  # not a lab address: the lab may be up in the same namespace
HEALTHY = "127.0.0.198"  # a plain redirecting web server scanned beside the hostile one
BOMB = 512 << 20  # inflated bytes from about half a megabyte of deflate
CLI_SECONDS = 15.0  # a child Python importing annexscan on 2 busy cores: generous
PEAK_MB = 160.0  # the CLI alone stays well under this; reading the bomb whole goes past 512


@pytest.fixture
def signed(tmp_path) -> tuple[Path, Path]:
    private, public = pem_key(tmp_path)
    result = sample_result()
    return bundled(result, tmp_path / "bundle.zip", [], private), public


def verify_bounded(bundle: Path, public: Path) -> Run:
    """`verify` of a hostile bundle, within the time and memory bounds."""
    run = annexscan("verify", str(bundle), "--pubkey", str(public))
    assert run.seconds < CLI_SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    return run


def test_zip_bomb_with_honest_header_is_refused_before_inflating(signed):
    bundle, public = signed
    replace_entry(bundle, EVIDENCE, BOMB)
    run = verify_bounded(bundle, public)
    assert run.code == 1, run.err
    assert f"altered  {EVIDENCE}" in run.out and "not inflated" in run.out
    record("6", "zip bomb, honest header (512 MiB inflated)", run, status=f"exit {run.code}")


def test_zip_bomb_lying_about_its_size_is_read_no_further(signed):
    bundle, public = signed
    with zipfile.ZipFile(bundle) as archive:
        size = json.loads(archive.read("manifest.json"))["files"]
    size = next(f["size"] for f in size if f["name"] == EVIDENCE)
    replace_entry(bundle, EVIDENCE, BOMB)
    lie_about_size(bundle, EVIDENCE, size)
    run = verify_bounded(bundle, public)
    assert run.code == 1, run.err
    assert f"altered  {EVIDENCE}" in run.out and "zip bomb" in run.out
    record("6", "zip bomb lying about its size", run, status=f"exit {run.code}")


def test_manifest_bomb_is_not_read(signed):
    bundle, public = signed
    replace_entry(bundle, "manifest.json", BOMB)
    run = verify_bounded(bundle, public)
    assert run.code == 2 and "manifest.json declares" in run.err, run.err
    record("6", "manifest.json bomb", run, status=f"exit {run.code}")


def test_entry_name_cannot_redraw_the_terminal(signed):
    bundle, public = signed
    name = "evidence/\x1b[2K\r\x1b[1;32mintact: 27 files match the manifest\x1b[0m\u202e.json"
    with zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr(name, "{}")
    run = annexscan("verify", str(bundle), "--pubkey", str(public))
    assert run.code == 1 and "TAMPERED" in run.out
    assert "\x1b" not in run.out and "\r" not in run.out and "\u202e" not in run.out
    assert "added  evidence/\\x1b[2K\\x0d\\x1b[1;32mintact" in run.out
    assert run.seconds < CLI_SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    record("9", "zip entry name redrawing the terminal (verify)", run, status=f"exit {run.code}")


def test_forged_signature_without_pubkey_is_not_called_authentic(signed, tmp_path):
    bundle, public = signed
    forger, _ = pem_key(tmp_path, "forger.pem")
    result = sample_result()
    result.targets[0].evidence["tls"] = {"forged": True}
    forged = bundled(result, tmp_path / "forged.zip", [], forger)
    run = annexscan("verify", str(forged))
    assert run.code == 3, run.out
    assert "authenticity NOT checked" in run.out and "intact:" not in run.out
    assert run.seconds < CLI_SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    record("15", "bundle re-signed by a forger, verify without --pubkey", run,
           status=f"exit {run.code}")
    assert annexscan("verify", str(forged), "--pubkey", str(public)).code == 1
    assert annexscan("verify", str(bundle), "--pubkey", str(public)).code == 0


@pytest.mark.skipif(not (shutil.which("zip") and shutil.which("unzip")), reason="needs zip, unzip")
def test_unzipped_and_zipped_again_with_zip_r_still_verifies(signed, tmp_path):
    bundle, public = signed
    tree, again = tmp_path / "tree", tmp_path / "again.zip"
    subprocess.run(["unzip", "-q", str(bundle), "-d", str(tree)], check=True)
    subprocess.run(["zip", "-q", "-r", str(again), "."], cwd=tree, check=True)
    assert any(n.endswith("/") for n in zipfile.ZipFile(again).namelist())
    run = annexscan("verify", str(again), "--pubkey", str(public))
    assert run.code == 0, run.out
    (tree / "evidence" / "127.0.0.2" / "tls.json.gz").write_bytes(gzip.compress(b"{}"))
    again.unlink()
    subprocess.run(["zip", "-q", "-r", str(again), "."], cwd=tree, check=True)
    run = annexscan("verify", str(again), "--pubkey", str(public))
    assert run.code == 1 and f"altered  {EVIDENCE}" in run.out


def _saved_result(tmp_path: Path) -> Path:
    return write_all(sample_result(), ["json"], tmp_path / "saved")[0]


def test_report_refuses_a_symlink_planted_at_its_output(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "annexscan.json").symlink_to(victim)
    run = annexscan("report", str(_saved_result(tmp_path)), "--format", "json,csv",
                    "-o", str(out))
    assert run.code == 2 and "symbolic link" in run.err, run.err
    assert run.seconds < CLI_SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    record("7", "symlink planted at a report output", run, status=f"exit {run.code}, refused")
    assert victim.read_text() == "precious\n" and not (out / "annexscan.csv").exists()
    linked = tmp_path / "linked"
    linked.symlink_to(out)
    run = annexscan("report", str(_saved_result(tmp_path)), "--format", "csv", "-o", str(linked))
    assert run.code == 2 and "symbolic link" in run.err, run.err
    (out / "annexscan.json").unlink()
    assert annexscan("report", str(_saved_result(tmp_path)), "--format", "json",
                     "-o", str(out)).code == 0
    assert json.loads((out / "annexscan.json").read_text())["targets"]
    assert victim.read_text() == "precious\n" and not list(out.glob(".*"))


def test_bundle_never_written_through_a_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    bundle = tmp_path / "evidence.zip"
    bundle.symlink_to(victim)
    result = sample_result()
    with pytest.raises(ConfigError, match="symbolic link"):
        bundled(result, bundle)
    bundle.unlink()
    (tmp_path / "evidence.zip.partial").symlink_to(victim)  # the old fixed temporary name
    bundled(result, bundle)
    assert victim.read_text() == "precious\n" and zipfile.is_zipfile(bundle)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evidence-out", "evidence.zip", "evidence.zip.partial", "victim.txt"]


def _scan(tmp_path: Path, *args: str, prefix: tuple[str, ...] = ()):
    """A scan of SCANNED that must stop before probing: the loopback counters say if a single
    packet was sent."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    before = loopback_packets()
    run = annexscan("scan", "--profile", str(profile), "--no-progress", "--timeout", "1",
                    *args, SCANNED, prefix=prefix)
    return run, loopback_packets() - before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root in a private network namespace")
@pytest.mark.parametrize("case", ["existing file", "missing parent", "bundle inside a file",
                                  "symlinked -o", "bundle is a directory"])
def test_bad_output_paths_stop_the_scan_before_any_packet(tmp_path, case):
    afile = tmp_path / "afile"
    afile.write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "adir")
    args = {"existing file": ["-o", str(afile)],
            "missing parent": ["-o", str(tmp_path / "no" / "such" / "out")],
            "bundle inside a file": ["--bundle", str(afile / "evidence.zip")],
            "symlinked -o": ["-o", str(tmp_path / "link")],
            "bundle is a directory": ["--bundle", str(tmp_path / "adir")]}[case]
    run, packets = _scan(tmp_path, *args)
    assert run.code == 2, (run.code, run.err)
    lines = [line for line in run.err.splitlines() if line.startswith("annexscan: error:")]
    assert len(lines) == 1 and "Traceback" not in run.err, run.err
    assert packets == 0 and run.seconds < CLI_SECONDS


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare for a read-only mount")
def test_read_only_output_directory_stops_scan_and_report(tmp_path):
    """Root writes anywhere except on a read-only file system: a real read-only bind mount."""
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    prefix = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
              f"mount --bind {frozen} {frozen} && mount -o remount,bind,ro {frozen} && "
              'exec "$@"', "sh")
    run, packets = _scan(tmp_path, "-o", str(frozen / "out"), prefix=prefix)
    assert run.code == 2 and "not writable" in run.err, run.err
    assert packets == 0 and run.seconds < CLI_SECONDS
    run = annexscan("report", str(_saved_result(tmp_path)), "-o", str(frozen), prefix=prefix)
    assert run.code == 2 and "not writable" in run.err, run.err


PROFILE = """
id: hostile-bundle
title: HTTP redirect only
source: {issuer: annexscan tests, title: hostile bundle}
clauses:
  - id: T-HTTPS
    section: "1"
    title: HTTPS only
    requirement: Plain HTTP redirects to HTTPS.
    quote: "Le protocole TLS 1.2 à minima sur tous les flux"
    controls:
      - {control: http.https_redirect, basis: annex}
"""
PEM = "-----BEGIN PRIVATE KEY-----"
PGP = "-----BEGIN PGP PRIVATE KEY BLOCK-----"


class _KeyHeaders(http.server.BaseHTTPRequestHandler):
    """Answers every GET with headers that look like private keys (PEM and PGP)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(301)
        self.send_header("Location", f"http://{SCANNED}/{PEM}")
        self.send_header("Server", f"{PGP} lQOYBGV")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


class _Redirect(_KeyHeaders):
    """A healthy server: every GET redirected to its HTTPS site."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(301)
        self.send_header("Location", f"https://{HEALTHY}/")
        self.end_headers()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root in a private network namespace")
def test_server_sending_key_text_cannot_block_the_bundle(tmp_path):
    servers = [http.server.ThreadingHTTPServer((SCANNED, 80), _KeyHeaders),
               http.server.ThreadingHTTPServer((HEALTHY, 80), _Redirect)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "out"
        run, _ = _scan(tmp_path, "--format", "json,junit", "-o", str(out),
                       "--bundle", str(out / "evidence.zip"), HEALTHY)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert run.code == 1, run.err  # the hostile server's redirect goes to http://: a failure
    assert run.seconds < 60 and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    statuses = {t["address"]: t["results"][0]["status"]
                for t in json.loads((out / "annexscan.json").read_text())["targets"]}
    assert statuses == {HEALTHY: "pass", SCANNED: "fail"}, statuses
    record("10", "HTTP headers holding PEM and PGP private-key text (+ healthy server)", run,
           status=f"{statuses[SCANNED]}, redacted, bundle written")
    assert "chain head " in run.out
    with zipfile.ZipFile(out / "evidence.zip") as archive:
        texts = {n: (gzip.decompress(archive.read(n)) if n.endswith(".gz")
                     else archive.read(n)).decode() for n in archive.namelist()}
    head = json.loads(texts["manifest.json"])["chain"]["head"]
    assert f"chain head {head}" in run.out
    http_evidence = texts[f"evidence/{SCANNED}/http.json.gz"]
    assert "redacted by annexscan" in http_evidence
    for name, text in [*texts.items(), *((p.name, p.read_text()) for p in out.glob("*.*")
                                         if p.suffix != ".zip")]:
        assert "PRIVATE KEY" not in text, name
    verify = annexscan("verify", str(out / "evidence.zip"))
    assert verify.code == 3 and "authenticity NOT checked" in verify.out
