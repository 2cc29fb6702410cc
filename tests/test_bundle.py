"""The evidence bundle, built from the real lab report, with real Ed25519 keys (cryptography and
OpenSSH's ssh-keygen), verified intact, then tampered with one way at a time."""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import sample_result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from scanner.evidence.bundle import write_bundle
from scanner.evidence.bundle_verify import Problem, verify_bundle
from scanner.evidence.bundle_keys import PASSPHRASE_ENV
from scanner.cli.bundle_command import add_verify_parser, verify_command
from scanner.errors import ConfigError
from scanner.model import ScanResult
from scanner.reporters.registry import reporters, write_all

EVIDENCE = "evidence/127.0.0.2/tls.json.gz"
LAST = ["signer.pub", "manifest.json", "manifest.sig"]  # written once every file is hashed


def bundled(result: ScanResult, path: Path, attachments: list[Path] | None = None,
            key: Path | None = None) -> Path:
    """Every report written (and the evidence stored) in <bundle name>-out beside the bundle,
    then the bundle built from those files."""
    directory = path.with_name(path.stem + "-out")
    directory.parent.mkdir(parents=True, exist_ok=True)
    reports = write_all(result, list(reporters()), directory)
    return write_bundle(result, path, directory, reports, attachments or [], key)


def stored(archive: zipfile.ZipFile, name: str) -> object:
    return json.loads(gzip.decompress(archive.read(name)))


def pem_key(tmp_path: Path, name: str = "sign.pem") -> tuple[Path, Path]:
    """A PKCS8 PEM private key and its PEM public key."""
    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / name, tmp_path / (name + ".pub")
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> ScanResult:
    return sample_result()


@pytest.fixture
def signed(result, tmp_path) -> tuple[Path, Path]:
    """A signed bundle (with one attestation evidence file) and the signer's public key."""
    private, public = pem_key(tmp_path)
    attachment = tmp_path / "backup-procedure.txt"
    attachment.write_text("Backups are tested every quarter.\n")
    bundle = bundled(result, tmp_path / "out" / "bundle.zip", [attachment], private)
    return bundle, public


def rewrite(bundle: Path, change) -> None:
    """Rewrite the zip with change(name, data) -> data or None (drop); valid CRCs, so only the
    manifest can tell."""
    with zipfile.ZipFile(bundle) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            data = change(name, data)
            if data is not None:
                archive.writestr(name, data)


def run_verify(bundle: Path, *extra: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_verify_parser(parser.add_subparsers())
    console = Console(record=True, width=200)
    code = verify_command(parser.parse_args(["verify", str(bundle), *extra]), console)
    return code, console.export_text()


def test_signed_bundle_is_intact_and_complete(signed, result):
    bundle, public = signed
    code, out = run_verify(bundle, "--pubkey", str(public))
    assert code == 0, out
    assert "intact" in out and "signature checked against --pubkey (SHA256:" in out
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        report = json.loads(archive.read("result.json"))
        assert report == json.loads(archive.read("reports/annexscan.json"))
        assert stored(archive, "evidence/127.0.0.3/ports.json.gz")["nmap_xml"].startswith("<?xml")
        assert stored(archive, "evidence/127.0.0.2/host.json.gz") == \
            result.targets[0].evidence["host"]
        manifest = json.loads(archive.read("manifest.json"))
    assert names == sorted(set(names) - set(LAST)) + LAST
    for expected in ("result.json", "reports/annexscan.json", "reports/annexscan.xml",
                     "attestations/backup-procedure.txt", EVIDENCE):
        assert expected in names
    # evidence is stored once: not embedded in the reports, referenced by path and hash
    hashes = {f["name"]: (f["sha256"], f["size"]) for f in manifest["files"]}
    assert all("evidence" not in t for t in report["targets"])
    for target, saved in zip(result.targets, report["targets"]):
        assert set(saved["evidence_refs"]) == set(target.evidence)
        for probe, ref in saved["evidence_refs"].items():
            assert ref["path"] == f"evidence/{target.address}/{probe}.json.gz" in names
            assert hashes[ref["path"]] == (ref["sha256"], ref["bytes"])
    assert {f["name"] for f in manifest["files"]} == set(names) - {"manifest.json",
                                                                   "manifest.sig"}
    assert not any(b"PRIVATE KEY" in zipfile.ZipFile(bundle).read(n) for n in names)


def test_embedded_key_says_trust_rests_on_it(signed):
    code, out = run_verify(signed[0])
    assert code == 3  # integrity only: the embedded key vouches for itself
    assert "embedded in the bundle" in out and "trust rests on that key" in out
    assert "authenticity NOT checked" in out


def test_same_input_same_bytes(result, tmp_path):
    private, _ = pem_key(tmp_path)
    first = bundled(result, tmp_path / "a.zip", [], private)
    second = bundled(result, tmp_path / "b.zip", [], private)
    assert first.read_bytes() == second.read_bytes()


def test_one_flipped_byte_names_that_file(signed):
    bundle, public = signed
    rewrite(bundle, lambda name, data: data[:100] + bytes([data[100] ^ 1]) + data[101:]
            if name == EVIDENCE else data)
    code, out = run_verify(bundle, "--pubkey", str(public))
    assert code == 1
    assert [(p.kind, p.name) for p in verify_bundle(bundle, public).problems] == \
        [("altered", EVIDENCE)]
    assert f"altered  {EVIDENCE}" in out


def test_byte_flipped_in_place_is_caught_by_the_zip_too(signed):
    """Without rewriting the zip: the stored data no longer matches its CRC or inflates badly."""
    bundle, public = signed
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo(EVIDENCE)
    raw = bytearray(bundle.read_bytes())
    raw[info.header_offset + 30 + len(EVIDENCE) + 10] ^= 0xFF  # inside the compressed data
    bundle.write_bytes(bytes(raw))
    assert [(p.kind, p.name) for p in verify_bundle(bundle, public).problems] == \
        [("altered", EVIDENCE)]


def test_removed_file_is_missing(signed):
    bundle, public = signed
    rewrite(bundle, lambda name, data: None if name == EVIDENCE else data)
    assert verify_bundle(bundle, public).problems == [
        Problem("missing", EVIDENCE, "in the manifest, not in the bundle")]


def test_added_file_is_added(signed):
    bundle, public = signed
    with zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr("evidence/127.0.0.2/extra.json", "{}")
    code, out = run_verify(bundle, "--pubkey", str(public))
    assert code == 1 and "added  evidence/127.0.0.2/extra.json" in out


def test_wrong_pubkey_is_bad_signature(signed, tmp_path):
    _, other = pem_key(tmp_path, "other.pem")
    problems = verify_bundle(signed[0], other).problems
    assert [(p.kind, p.name) for p in problems] == [("bad signature", "manifest.sig")]


def test_resigned_manifest_with_another_key_is_caught(signed, tmp_path):
    """Swapping the evidence, manifest, signature and signer.pub for the attacker's own: the
    embedded key then vouches for itself, which is why --pubkey matters."""
    bundle, public = signed
    other, _ = pem_key(tmp_path, "attacker.pem")
    result = sample_result()
    result.targets[0].evidence["tls"] = {"forged": True}
    forged = bundled(result, tmp_path / "forged.zip", [], other)
    assert verify_bundle(forged).intact
    assert [p.kind for p in verify_bundle(forged, public).problems] == ["bad signature"]


def test_unsigned_bundle_uses_the_chain(result, tmp_path):
    bundle = bundled(result, tmp_path / "unsigned.zip")
    code, out = run_verify(bundle)
    assert code == 3 and "unsigned" in out and "hash chain" in out
    assert "manifest.sig" not in zipfile.ZipFile(bundle).namelist()

    def drop_entry(name: str, data: bytes) -> bytes | None:
        """Remove a file and its manifest entry consistently: only the chain can tell."""
        if name == EVIDENCE:
            return None
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["files"] = [f for f in manifest["files"] if f["name"] != EVIDENCE]
            return json.dumps(manifest).encode()
        return data
    rewrite(bundle, drop_entry)
    problems = verify_bundle(bundle).problems
    assert [p.kind for p in problems] == ["chain broken"]
    assert problems[0].name > EVIDENCE  # the entry that followed the removed one


def test_unsigned_bundle_with_pubkey_fails(result, tmp_path):
    _, public = pem_key(tmp_path)
    bundle = bundled(result, tmp_path / "unsigned.zip")
    assert [p.kind for p in verify_bundle(bundle, public).problems] == ["bad signature"]


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs OpenSSH's ssh-keygen")
def test_openssh_key_with_passphrase(result, tmp_path, monkeypatch):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret phrase", "-C", "auditor",
                    "-f", str(key)], check=True)
    with pytest.raises(ConfigError, match=PASSPHRASE_ENV):
        bundled(result, tmp_path / "b.zip", [], key)
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(ConfigError, match="passphrase .* is wrong"):
        bundled(result, tmp_path / "b.zip", [], key)
    monkeypatch.setenv(PASSPHRASE_ENV, "s3cret phrase")
    bundle = bundled(result, tmp_path / "b.zip", [], key)
    code, out = run_verify(bundle, "--pubkey", str(key.with_suffix(".pub")))
    assert code == 0, out
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(key.with_suffix(".pub"))],
                                 check=True, capture_output=True, text=True).stdout.split()[1]
    assert f"({fingerprint})" in out
    assert fingerprint in zipfile.ZipFile(bundle).read("manifest.json").decode()


def test_private_key_in_evidence_redacted_attachment_refused(result, tmp_path):
    private, _ = pem_key(tmp_path)
    leak = sample_result()
    leak.targets[1].evidence["host"]["keys"] = [{"command": "cat /root/.ssh/id_ed25519",
                                                 "stdout": private.read_text()}]
    out = tmp_path / "leak.zip"
    bundled(leak, out)  # redacted in the evidence, not refused (issue 8)
    host = json.dumps(stored(zipfile.ZipFile(out), "evidence/127.0.0.3/host.json.gz"))
    assert "PRIVATE KEY" not in host and "redacted by annexscan" in host
    attachment = tmp_path / "evidence.txt"  # a file of the user's own: still refused
    attachment.write_text(private.read_text())
    with pytest.raises(ConfigError, match=r"private key is in attestations/evidence\.txt"):
        bundled(result, tmp_path / "refused.zip", [attachment])
    assert not (tmp_path / "refused.zip").exists() and not list(tmp_path.glob(".*.tmp"))


def test_signing_key_never_copied(result, tmp_path):
    private, _ = pem_key(tmp_path)
    with pytest.raises(ConfigError, match="is the signing key"):
        bundled(result, tmp_path / "b.zip", [private], private)


def test_not_a_bundle(tmp_path):
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ConfigError, match="not a zip file"):
        verify_bundle(text)
    with pytest.raises(ConfigError, match="no manifest.json"):
        verify_bundle(empty)
    with pytest.raises(ConfigError, match="cannot read"):
        verify_bundle(tmp_path / "absent.zip")


def test_bad_keys(result, tmp_path, signed):
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("ssh-ed25519 AAAA not-a-key\n")
    with pytest.raises(ConfigError, match="--pubkey .*not a PEM public key"):
        verify_bundle(signed[0], garbage)
    with pytest.raises(ConfigError, match="--sign-key .*not a PEM PKCS8 or OpenSSH"):
        bundled(result, tmp_path / "b.zip", [], signed[1])
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="RSAPrivateKey key; expected Ed25519"):
        bundled(result, tmp_path / "b.zip", [], rsa_key)
