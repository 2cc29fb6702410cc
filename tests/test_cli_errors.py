"""Bad input: a clear message naming file, line or field, exit code 2, nothing scanned."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA
from scanner.checks.base import probe_failed
from scanner.cli.main import main
from scanner.lab import in_private_netns

GOOD_PROFILE = DATA / "all-network.yaml"


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


HEADER = "id: bad\ntitle: Bad profile\nclauses:\n"


@pytest.mark.parametrize("body,expected", [
    ("  - id: B-1\n    section: '1'\n    title: x: y\n", "malformed YAML"),
    ("  - id: B-1\n    section: '1'\n    title: Ports\n    requirement: Only the web ports.\n"
     "    controls:\n      - control: net.no_such_thing\n", "unknown control id 'net.no_such_thing'"),
    ("  - id: B-1\n    section: '1'\n    title: Ports\n    requirement: Only the web ports.\n"
     "    controls:\n      - control: net.allowed_ports\n        parameters: {allow: [80]}\n",
     "unknown parameter 'allow'"),
    ("  - id: B-1\n    section: '1'\n    title: Ports\n    requirement: Only the web ports.\n"
     "    controls:\n      - control: net.allowed_ports\n        parameters: {allowed: [http]}\n",
     "'http' is not of type 'integer'"),
    ("  - id: B-1\n    section: '1'\n    titel: Ports\n    requirement: Only the web ports.\n"
     "    manual: true\n    attest: A signed statement.\n", "'titel' was unexpected"),
    ("  - id: B-1\n    section: '1'\n    title: Ports\n    requirement: Only the web ports.\n"
     "    controls:\n      - control: tls.min_version\n        parameters: {min: '1.4'}\n",
     "parameter 'min' of tls.min_version"),
])
def test_bad_profile_is_named_with_line(tmp_path, capsys, body, expected):
    path = write(tmp_path, HEADER + body)
    code, out = run(["profiles", "validate", str(path)], capsys)
    assert code == 2
    assert expected in out
    assert f"{path}:" in out, "the message names the file and line"


def test_error_points_at_the_offending_line(tmp_path, capsys):
    body = ("  - id: B-1\n    section: '1'\n    title: Ports\n    requirement: Only the web ports.\n"
            "    controls:\n      - control: net.allowed_ports\n"
            "        parameters: {allowed: [80, 99999]}\n")
    path = write(tmp_path, HEADER + body)
    code, out = run(["profiles", "validate", str(path)], capsys)
    assert code == 2 and f"{path}:10" in out and "allowed[1]" in out


def test_scan_refuses_unknown_profile_before_scanning(capsys):
    code, out = run(["scan", "--profile", "nope", "127.0.0.1"], capsys)
    assert code == 2 and "unknown profile 'nope'" in out and "3douest" in out


@pytest.mark.parametrize("target,expected", [
    ("127.0.0.300", "expected an IP address"),
    ("10.0.0.0/8", "more than the 4096 allowed"),
    ("bad_host!", "expected an IP address"),
    ("127.0.0.1/33", "not a valid CIDR"),
    ("@/nonexistent/targets.txt", "cannot read"),
])
def test_bad_targets(capsys, target, expected):
    code, out = run(["scan", "--profile", str(GOOD_PROFILE), target], capsys)
    assert code == 2 and expected in out


def test_bad_target_in_file_names_the_line(tmp_path, capsys):
    targets = tmp_path / "targets.txt"
    targets.write_text("# lab\n127.0.0.2\n999.1.1.1\n")
    code, out = run(["scan", "--profile", str(GOOD_PROFILE), f"@{targets}"], capsys)
    assert code == 2 and f"{targets}:3" in out


def test_bad_options(capsys):
    code, out = run(["scan", "--profile", "3douest", "--format", "json,pdf", "127.0.0.1"], capsys)
    assert code == 2 and "unknown format pdf" in out
    code, out = run(["scan", "--profile", "3douest", "--timeout", "0", "127.0.0.1"], capsys)
    assert code == 2 and "--timeout" in out


@pytest.mark.parametrize("option", ["--timeout", "--command-timeout", "--target-budget"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_seconds_must_be_positive_and_finite(capsys, option, value):
    """nan compares false with everything: a `<= 0` check let it through, and every probe then
    failed mid-scan."""
    code, out = run(["scan", "--profile", "3douest", option, value, "127.0.0.1"], capsys)
    assert code == 2 and f"{option} must be a positive number of seconds, got" in out, out


def test_missing_nmap_names_the_package(tmp_path):
    """With nmap absent from PATH the scan stops before any traffic, naming the apt package."""
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "scanner", "scan", "--profile", "3douest",
                           "--no-progress", "127.0.0.1"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "nmap not found" in proc.stderr and "apt-get install nmap" in proc.stderr


@pytest.mark.parametrize("argv", [[], ["scan"], ["profiles"], ["profiles", "list"],
                                  ["profiles", "show"], ["profiles", "validate"],
                                  ["profiles", "coverage"], ["controls"], ["controls", "list"],
                                  ["demo"], ["report"], ["verify"], ["diff"],
                                  ["profiles", "export"]])
def test_every_command_has_help(argv):
    proc = subprocess.run([sys.executable, "-m", "scanner", *argv, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage: annexscan" in proc.stdout


HOST_PROFILE = """id: hostonly
title: Host clauses
clauses:
""" + "".join(f"""  - id: H-{name.upper().replace("_", "-")}
    section: '{index}'
    title: {name}
    requirement: The host's {name}.
    controls: [{{control: host.{name}}}]
""" for index, name in enumerate(("firewall", "raid", "authorized_keys"), 1)) + """  - id: N-PORTS
    section: '9'
    title: Ports
    requirement: Only SSH open.
    controls: [{control: net.allowed_ports, parameters: {allowed: [22]}}]
"""
NO_SSH = "127.0.0.186"  # nothing listens there inside the test's network namespace


def keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f",
                    str(path)], check=True, timeout=30)
    return path


def scan_report(tmp_path: Path, capsys, *argv: str) -> tuple[int, str, dict]:
    profile = tmp_path / "hostonly.yaml"
    profile.write_text(HOST_PROFILE)
    code, out = run(["scan", "--profile", str(profile), "--no-progress", "--timeout", "1",
                     "--format", "json", "-o", str(tmp_path / "out"), *argv], capsys)
    assert code != 2, out
    return code, out, json.loads((tmp_path / "out" / "annexscan.json").read_text())


def test_host_without_ssh_is_said_once_and_its_clauses_are_errors(tmp_path, capsys):
    if not in_private_netns() or not shutil.which("nmap"):
        pytest.skip("needs nmap and a private network namespace (python -m scanner.netns)")
    key = keygen(tmp_path / "audit")
    code, out, report = scan_report(tmp_path, capsys, "--ssh-user", "root", "--ssh-key",
                                    str(key), "--insecure-accept-host-key", NO_SSH)
    assert code == 3, out  # errors, no failure: never a pass
    flat = " ".join(out.split())  # the terminal wraps long lines
    assert flat.count(f"cannot connect to {NO_SSH}:22") == 1, out
    assert f"{NO_SSH}: host probe: host checks did not run: cannot connect" in flat
    assert "3 clause(s) in error because of it: H-FIREWALL, H-RAID, H-AUTHORIZED-KEYS" in flat
    assert "failing, in error or waived" not in out, "those clauses are not listed again"
    [target] = report["targets"]
    assert f"cannot connect to {NO_SSH}:22" in target["probes"]["host"]["error"]
    clauses = {c["clause_id"]: c for c in target["results"]}
    assert clauses.pop("N-PORTS")["status"] == "pass"  # the network probes are unaffected
    for clause in clauses.values():
        [control] = clause["controls"]
        assert clause["status"] == control["status"] == "error"
        assert control["reason"] == probe_failed("host")
        assert control["evidence"]["failed_probe"] == "host"


def test_any_failed_probe_is_said_once_per_target(tmp_path, capsys):
    """Not only the host probe: a name that does not resolve fails the port scan, and every
    network clause points at that one line."""
    if not in_private_netns():
        pytest.skip("needs a private network namespace (python -m scanner.netns)")
    code, out, report = scan_report(tmp_path, capsys, "no-such-host.invalid")
    flat = " ".join(out.split())
    assert code == 3 and flat.count("does not resolve") == 1, out
    assert "no-such-host.invalid: ports probe: host name no-such-host.invalid does not resolve" \
        in flat and "1 clause(s) in error because of it: N-PORTS" in flat
    assert report["targets"][0]["results"][-1]["controls"][0]["reason"] == probe_failed("ports")


def test_host_checks_that_ran_keep_their_own_reasons(tmp_path, capsys):
    """The compliant side: the host probe ran (local, on an empty sysroot), so no probe line,
    and each clause in error is listed with its own reason."""
    code, out, report = scan_report(tmp_path, capsys, "--sysroot", str(tmp_path), "local")
    assert code in (1, 3) and "host probe:" not in out and "because of it" not in out
    assert report["targets"][0]["probes"]["host"]["error"] is None
    assert "host.raid: " in out and "mdstat" in out


def one_clear_line(code: int, out: str, *expected: str) -> None:
    """Exit 2 and a single error line holding every `expected` piece, no traceback."""
    assert code == 2, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out, out
    for piece in expected:
        assert piece in out, out


PORTS_ONLY = ("id: ports-only\ntitle: Ports only\nclauses:\n  - id: P-1\n    section: '1'\n"
              "    title: Ports\n    requirement: Only SSH is open.\n"
              "    controls: [{control: net.allowed_ports, parameters: {allowed: [22]}}]\n")
WATCHED = "127.0.0.187"  # a listener there tells whether the scan sent anything


def ca_files(tmp_path: Path) -> dict[str, Path]:
    """Real files a newcomer might give as a CA bundle, the right one among them."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption,
                                                              PrivateFormat)
    from cryptography.x509 import load_pem_x509_certificate

    from scanner.lab.certs import LabCA

    (tmp_path / "ca").mkdir(parents=True)
    ca = LabCA(tmp_path / "ca")
    key = ec.generate_private_key(ec.SECP256R1())
    files = {"pem": ca.ca_bundle, "empty": b"", "random": b"just some notes\nnothing else\n",
             "der": load_pem_x509_certificate(ca.ca_bundle.read_bytes()).public_bytes(Encoding.DER),
             "key": key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())}
    for name, content in files.items():
        if isinstance(content, bytes):
            files[name] = tmp_path / f"ca-{name}"
            files[name].write_bytes(content)
    return files | {"missing": tmp_path / "no-such-ca.pem"}


@pytest.fixture
def watched_port():
    """A TCP listener on WATCHED:22; yields a function telling whether anything connected."""
    if not in_private_netns() or not shutil.which("nmap"):
        pytest.skip("needs nmap and a private network namespace (python -m scanner.netns)")
    import socket

    with socket.create_server((WATCHED, 22)) as server:
        server.setblocking(False)

        def connected() -> bool:
            try:
                server.accept()[0].close()
            except BlockingIOError:
                return False
            return True

        yield connected


@pytest.mark.parametrize("name,expected", [
    ("missing", "file not found"), ("empty", "the file is empty"),
    ("der", "it is a DER (binary) certificate"), ("key", "it holds a private key"),
    ("random", "no PEM certificate in it")])
def test_ca_bundle_must_hold_pem_certificates(tmp_path, capsys, watched_port, name, expected):
    profile = write(tmp_path, PORTS_ONLY)
    path = ca_files(tmp_path)[name]
    code, out = run(["scan", "--profile", str(profile), "--ca-bundle", str(path), "--no-progress",
                     "--timeout", "1", WATCHED], capsys)
    one_clear_line(code, out, f"--ca-bundle: {path}: {expected}")
    assert name == "missing" or "expected PEM certificates (-----BEGIN CERTIFICATE-----)" in out
    assert not watched_port(), "nothing is sent before the inputs are checked"
    if name == "der":
        assert "openssl x509 -inform der" in out


def test_a_pem_ca_bundle_lets_the_scan_go_ahead(tmp_path, capsys, watched_port):
    code, out = run(["scan", "--profile", str(write(tmp_path, PORTS_ONLY)), "--ca-bundle",
                     str(ca_files(tmp_path)["pem"]), "--no-progress", "--timeout", "1",
                     WATCHED], capsys)
    assert code == 0 and watched_port(), out


@pytest.mark.parametrize("name,expected", [("der", "it is a DER (binary) certificate"),
                                           ("empty", "the file is empty"),
                                           ("missing", "file not found")])
def test_profile_ca_bundle_is_checked_at_load(tmp_path, capsys, name, expected):
    files = ca_files(tmp_path)
    body = ("  - id: B-1\n    section: '1'\n    title: Certificate\n"
            "    requirement: A trusted certificate.\n"
            "    controls:\n      - control: tls.certificate\n        parameters: {{ca_bundle: '{}'}}\n")
    path = write(tmp_path, HEADER + body.format(files[name]))
    code, out = run(["profiles", "validate", str(path)], capsys)
    one_clear_line(code, out, f"{path}:10: field 'clauses[0].controls[0].parameters.ca_bundle': "
                   f"{files[name]}: {expected}")
    path = write(tmp_path, HEADER + body.format(files["pem"]))
    assert run(["profiles", "validate", str(path)], capsys)[0] == 0


def key_files(tmp_path: Path) -> dict[str, Path]:
    """Real files a newcomer might give as the SSH key, made by ssh-keygen and cryptography."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = keygen(tmp_path / "id_ed25519")
    locked = keygen(tmp_path / "locked", passphrase="correct horse")
    pem_public = tmp_path / "key.pub.pem"
    pem_public.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    notes = tmp_path / "notes.txt"
    notes.write_text("host list\n")
    (tmp_path / "keydir").mkdir()
    return {"private": private, "openssh_public": private.with_suffix(".pub"),
            "pem_public": pem_public, "locked": locked, "notes": notes,
            "directory": tmp_path / "keydir", "missing": tmp_path / "nope",
            "unreadable": Path("/proc/self/mem")}  # a regular file whose read fails, even as root


@pytest.mark.parametrize("name,expected", [
    ("openssh_public", "this is a public key; the private key is needed (probably {private})"),
    ("pem_public", "this is a public key; the private key is needed"),
    ("locked", "the key is encrypted: set ANNEXSCAN_SSH_PASSPHRASE"),
    ("notes", "no private key in it; expected a private key in OpenSSH"),
    ("directory", "not a regular file"), ("missing", "file not found"),
    ("unreadable", "cannot read it (Input/output error)")])
def test_ssh_key_must_be_a_usable_private_key(tmp_path, capsys, monkeypatch, name, expected):
    monkeypatch.delenv("ANNEXSCAN_SSH_PASSPHRASE", raising=False)
    keys = key_files(tmp_path)
    code, out = run(["scan", "--profile", str(GOOD_PROFILE), "--ssh-user", "audit", "--ssh-key",
                     str(keys[name]), "--no-progress", NO_SSH], capsys)
    one_clear_line(code, out, f"--ssh-key: {keys[name]}: " + expected.format(**keys))


def test_a_private_key_passes_the_key_check(tmp_path, capsys, monkeypatch):
    """The same command with the private key gets past the key, to the next check (-o)."""
    monkeypatch.delenv("ANNEXSCAN_SSH_PASSPHRASE", raising=False)
    code, out = run(["scan", "--profile", str(GOOD_PROFILE), "--ssh-user", "audit", "--ssh-key",
                     str(key_files(tmp_path)["private"]), "--no-progress",
                     "-o", str(tmp_path / "missing" / "out"), NO_SSH], capsys)
    one_clear_line(code, out, "-o ", "does not exist")


def test_inventory_public_key_names_the_inventory_and_host(tmp_path, capsys):
    public = key_files(tmp_path)["openssh_public"]
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"[web]\nweb1 ansible_host={NO_SSH} ansible_user=audit "
                         f"ansible_ssh_private_key_file={public} annexscan_profiles=3douest\n")
    code, out = run(["scan", "--inventory", str(inventory), "--no-progress"], capsys)
    one_clear_line(code, out, f"inventory {inventory}: host 'web1': ansible_ssh_private_key_file: "
                   f"{public}: this is a public key; the private key is needed")


@pytest.mark.parametrize("text", ["", "\n  \n", "# a profile, one day\n\n# (not yet)\n"])
def test_empty_profile_is_named_as_such(tmp_path, capsys, text):
    path = write(tmp_path, text)
    code, out = run(["profiles", "validate", str(path)], capsys)
    one_clear_line(code, out, f"{path}: the file is empty; expected a profile (id, title, "
                   "clauses)")
    code, out = run(["scan", "--profile", str(path), "--no-progress", NO_SSH], capsys)
    one_clear_line(code, out, f"{path}: the file is empty")


@pytest.mark.parametrize("parent,expected", [
    ("3douset", "unknown profile '3douset': not a file and not a built-in profile (built-in: "
     "3douest, "), ("./base.yaml", "profile file not found: ")])
def test_extends_unknown_profile_names_file_and_line(tmp_path, capsys, parent, expected):
    path = write(tmp_path, f"# our variant\nid: ours\ntitle: Our variant\nextends: {parent}\n"
                 "exclude: []\n")
    code, out = run(["profiles", "validate", str(path)], capsys)
    one_clear_line(code, out, f"{path}:4: field 'extends': {expected}")
    path.write_text(path.read_text().replace(parent, "3douest"))  # a known one: valid
    assert run(["profiles", "validate", str(path)], capsys)[0] == 0
