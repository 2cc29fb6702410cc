"""Checking an evidence bundle (scanner.evidence.bundle): every file against the manifest, the hash
chain, and the signature, with memory and work bounded whatever the zip claims."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from scanner.evidence.bundle import (FORMAT, GENESIS, MANIFEST, SIGNATURE, SIGNER, VERSION,
                            chain_hash)
from scanner.evidence.bundle_keys import fingerprint, load_public_key
from scanner.errors import ConfigError
from scanner.catalog.yamldoc import json_path, schema_error
from scanner.evidence.zipstream import inflated

MAX_MANIFEST = 64 << 20  # bytes: ~250 per file listed

_MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["format", "version", "chain", "files"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "chain": {"type": "object", "required": ["head"],
                  "properties": {"head": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}},
        "signature": {"type": ["object", "null"], "required": ["fingerprint"],
                      "properties": {"fingerprint": {"type": "string"}}},
        "files": {"type": "array", "items": {
            "type": "object", "required": ["name", "sha256", "size", "chain"],
            "properties": {"name": {"type": "string", "minLength": 1},
                           "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "size": {"type": "integer", "minimum": 0},
                           "chain": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}},
    },
}


@dataclass
class Problem:
    kind: str  # altered, missing, added, bad signature, chain broken
    name: str
    detail: str = ""


@dataclass
class Verification:
    files: int
    chain_head: str
    problems: list[Problem] = field(default_factory=list)
    signed: bool = False
    fingerprint: str = ""     # of the key the signature was checked against
    embedded_key: bool = False  # that key came from the bundle itself

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def authentic(self) -> bool:
        """Signed by the key the verifier trusts (--pubkey), not one the bundle brought."""
        return self.intact and self.signed and not self.embedded_key


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int,
                 digest: Any = None) -> tuple[bytes, int]:
    """Stream an entry, keeping (when no digest is given) or hashing its bytes, and stop once
    past limit: a zip bomb costs at most limit + one chunk of work and memory.
    Returns (data kept, bytes read)."""
    kept, total = bytearray(), 0
    for chunk in inflated(archive, info):
        total += len(chunk)
        if digest is None:
            kept += chunk
        else:
            digest.update(chunk)
        if total > limit:
            break
    return bytes(kept), total


def _small(archive: zipfile.ZipFile, name: str) -> bytes:
    """A key or signature entry: a few hundred bytes; anything past 64 KiB is cut (and then
    fails to parse) rather than inflated."""
    return _read_capped(archive, archive.getinfo(name), 1 << 16)[0][: 1 << 16]


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise ConfigError(f"{path}: no {MANIFEST}: not an annexscan bundle") from None
    if info.file_size > MAX_MANIFEST:
        raise ConfigError(f"{path}: {MANIFEST} declares {info.file_size} bytes, more than the "
                          f"{MAX_MANIFEST} a manifest may have: not read")
    try:
        raw, size = _read_capped(archive, info, MAX_MANIFEST)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ConfigError(f"{path}: {MANIFEST} unreadable: {exc}") from None
    if size > MAX_MANIFEST:
        raise ConfigError(f"{path}: {MANIFEST} inflates past {MAX_MANIFEST} bytes: not read")
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {MANIFEST} is not JSON: {exc}") from None
    error = schema_error(manifest, _MANIFEST_SCHEMA)
    if error is not None:
        raise ConfigError(f"{path}: {MANIFEST} is not an annexscan bundle manifest "
                          f"at {json_path(error)}: {error.message}")
    return raw, manifest


def _check_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 entry: dict[str, Any]) -> Problem | None:
    """Sizes first (the zip's declared size against the manifest, before inflating a byte),
    then the SHA-256, streamed, of at most the manifest's size: memory stays at one chunk and
    the work at what the manifest lists. No ratio limit: genuine evidence may be a hostile
    host's megabyte of one repeated byte, which deflates ~1000:1 like a bomb."""
    name, size = entry["name"], entry["size"]
    if info.file_size != size:
        return Problem("altered", name, f"the zip says {info.file_size} bytes, the manifest "
                       f"{size}; not inflated")
    digest = hashlib.sha256()
    try:
        _, read = _read_capped(archive, info, size, digest)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        return Problem("altered", name, f"entry corrupt: {exc}")
    if read > size:
        return Problem("altered", name, f"inflates past the {size} bytes its header and the "
                       "manifest declare: a zip bomb; read no further")
    if read != size or digest.hexdigest() != entry["sha256"]:
        return Problem("altered", name, f"sha256 {digest.hexdigest()} of {read} bytes, "
                       f"manifest says {entry['sha256']} of {size}")
    return None


def _check_files(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> list[Problem]:
    problems, previous = [], GENESIS
    # a directory entry (from an unzip and `zip -r`) holds nothing: not part of the bundle
    infos = [info for info in archive.infolist()
             if not (info.filename.endswith("/") and info.file_size == 0)]
    names = [info.filename for info in infos]
    by_name = {info.filename: info for info in infos}
    listed = {entry["name"] for entry in manifest["files"]}
    for entry in manifest["files"]:
        name = entry["name"]
        if entry["chain"] != chain_hash(previous, entry["sha256"], name):
            problems.append(Problem("chain broken", name, "entry does not follow the one before "
                                    "it: an entry was removed, reordered or edited"))
        previous = entry["chain"]
        if name not in by_name:
            problems.append(Problem("missing", name, "in the manifest, not in the bundle"))
            continue
        problem = _check_entry(archive, by_name[name], entry)
        if problem:
            problems.append(problem)
    if manifest["chain"]["head"] != previous:
        last = manifest["files"][-1]["name"] if manifest["files"] else MANIFEST
        problems.append(Problem("chain broken", last, "the chain head is not this last entry's: "
                                "entries were removed from the end"))
    allowed = listed | {MANIFEST} | ({SIGNATURE} if manifest.get("signature") else set())
    seen: set[str] = set()
    for name in names:
        if name not in allowed:
            problems.append(Problem("added", name, "in the bundle, not in the manifest"))
        elif name in seen:
            problems.append(Problem("added", name, "a second entry with the same name"))
        seen.add(name)
    return problems


def _check_signature(archive: zipfile.ZipFile, raw: bytes, manifest: dict[str, Any],
                     pubkey: Path | None, result: Verification) -> None:
    given = load_public_key(pubkey) if pubkey else None
    header = manifest.get("signature")
    if not header:
        if given:
            result.problems.append(Problem("bad signature", SIGNATURE, "the bundle is not "
                                           "signed, but --pubkey was given"))
        return
    result.signed = True
    try:
        signature = base64.b64decode(_small(archive, SIGNATURE).strip(), validate=True)
    except KeyError:
        result.problems.append(Problem("missing", SIGNATURE, "the manifest says it is signed"))
        return
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError):
        signature = b""
    key = given
    if key is None:
        result.embedded_key = True
        try:
            key = serialization.load_pem_public_key(_small(archive, SIGNER))
        except (KeyError, ValueError, zipfile.BadZipFile, zlib.error, EOFError):
            result.problems.append(Problem("bad signature", SIGNER, "no readable embedded "
                                           "public key to check the signature with"))
            return
        if not isinstance(key, Ed25519PublicKey) or fingerprint(key) != header["fingerprint"]:
            result.problems.append(Problem("bad signature", SIGNER, "not the key the manifest "
                                           f"names ({header['fingerprint']})"))
            return
    result.fingerprint = fingerprint(key)
    try:
        key.verify(signature, raw)
    except InvalidSignature:
        result.problems.append(Problem("bad signature", SIGNATURE, "manifest.json was not signed "
                                       f"by the key {result.fingerprint}"))


def chain_head(path: Path) -> str:
    """The chain head of a bundle's manifest, as `scan` prints it for the record."""
    with zipfile.ZipFile(path) as archive:
        return _read_manifest(archive, path)[1]["chain"]["head"]


def verify_bundle(path: Path, pubkey: Path | None = None) -> Verification:
    """Check every hash, the chain and the signature; ConfigError when not a readable bundle."""
    try:
        archive = zipfile.ZipFile(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise ConfigError(f"{path}: not a zip file ({exc}): not an annexscan bundle") from None
    with archive:
        raw, manifest = _read_manifest(archive, path)
        result = Verification(files=len(manifest["files"]), chain_head=manifest["chain"]["head"],
                              problems=_check_files(archive, manifest))
        _check_signature(archive, raw, manifest, pubkey, result)
    return result
