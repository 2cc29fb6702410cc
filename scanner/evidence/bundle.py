"""The evidence bundle: one zip an auditor can check was not altered after the scan.

Layout: attestations/<file>, evidence/<address>/<probe>.json.gz (each probe's raw output as the
scan stored it once, scanner.outputs.store_evidence), reports/<file>, result.json, then
signer.pub when signed, manifest.json (SHA-256 and size of every other file, and a hash chain
over them) and manifest.sig (base64 Ed25519 signature of manifest.json).

Chain: entry i carries sha256(chain[i-1] + sha256[i] + name[i]) (hex strings, UTF-8), starting
from 64 zeros, so removing or reordering manifest entries is detected even without a signature.
Without a signature, though, whoever can rewrite the zip can recompute every hash: only the
signature (checked against a key obtained out of band) proves who wrote the bundle.

The bundle is written by streaming, one file at a time from disk (the reports, the stored
evidence), hashing as it goes: its size is not bounded by memory. Zip entries have fixed
timestamps and a fixed order: the same result gives the same bytes. Checking is
scanner.evidence.bundle_verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator

from cryptography.hazmat.primitives import serialization

from scanner import __version__
from scanner.evidence.bundle_keys import PRIVATE_KEY, fingerprint, load_signing_key
from scanner.errors import ConfigError
from scanner.evidence.layout import attestation_path, evidence_path, safe
from scanner.model import ScanResult
from scanner.outputs import atomic_writer

FORMAT = "annexscan-bundle"
VERSION = 1
MANIFEST, SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "signer.pub"
GENESIS = "0" * 64
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
CHUNK = 1 << 16
_OVERLAP = 128  # bytes kept between chunks so a private-key marker split by them is found


def chain_hash(previous: str, sha256: str, name: str) -> str:
    return hashlib.sha256((previous + sha256 + name).encode()).hexdigest()


class _Entry:
    """One zip entry being written: its SHA-256 and size as it streams, and a watch for
    private-key text (in the inflated content of a .gz file)."""

    def __init__(self, archive: zipfile.ZipFile, name: str, size: int | None):
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        packed = name.endswith(".gz")  # already compressed: stored as is
        info.compress_type = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
        info.create_system, info.external_attr = 3, 0o644 << 16
        info.file_size = size or 0
        self.name, self.sha256, self.size = name, hashlib.sha256(), 0
        self.stream: IO[bytes] = archive.open(info, "w", force_zip64=size is None)
        self.gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if packed else None
        self.tail = b""

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.sha256.update(data)
        self.size += len(data)
        self._watch(data)

    def _watch(self, data: bytes) -> None:
        for piece in (self._inflate(data) if self.gunzip else [data]):
            seen = self.tail + piece
            if PRIVATE_KEY.search(seen):
                raise ConfigError(f"bundle not written: a private key is in {self.name}; "
                                  "remove it from the evidence (the bundle never carries a "
                                  "secret)")
            self.tail = seen[-_OVERLAP:]

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        """The gzip content, at most CHUNK bytes at a time (every member of a multi-member
        file: a second member must not hide what the first would show)."""
        assert self.gunzip is not None
        while True:
            try:
                out = self.gunzip.decompress(data, CHUNK)
            except zlib.error as exc:
                raise ConfigError(f"bundle: {self.name} is not gzip: {exc}") from None
            yield out
            data = self.gunzip.unconsumed_tail
            if self.gunzip.eof and self.gunzip.unused_data:
                data = self.gunzip.unused_data
                self.gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif not data and len(out) < CHUNK:
                return

    def __enter__(self) -> _Entry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()  # also on error: the archive can then be closed (and discarded)

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256.hexdigest(), "size": self.size}


class _TextEntry:
    """A text sink (what reporters write to) into an entry, in chunks of about CHUNK bytes."""

    def __init__(self, entry: _Entry):
        self.entry, self.pending = entry, bytearray()

    def write(self, text: str) -> int:
        self.pending += text.encode("utf-8")
        if len(self.pending) >= CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.entry.write(bytes(self.pending))
            self.pending.clear()


def _copy(archive: zipfile.ZipFile, name: str, path: Path, sha256: str | None = None
          ) -> dict[str, Any]:
    """A file from disk into the bundle, in chunks; with `sha256`, it must still be the file
    the scan stored (evidence), or the bundle is not written."""
    try:
        with path.open("rb") as source, _Entry(archive, name, _size(source)) as entry:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                entry.write(chunk)
    except OSError as exc:
        raise ConfigError(f"bundle: {path}: cannot read: {exc.strerror or exc}") from None
    record = entry.record()
    if sha256 is not None and record["sha256"] != sha256:
        raise ConfigError(f"bundle not written: {path} is not the evidence the scan stored (its "
                          "SHA-256 differs from the report's reference)")
    return record


def _size(source: BinaryIO) -> int:
    source.seek(0, 2)
    size = source.tell()
    source.seek(0)
    return size


def _evidence(result: ScanResult) -> list[tuple[str, str]]:
    """(bundle name, sha256) of every stored evidence file the result references, in name
    order; two targets whose addresses share a file name are refused."""
    names: dict[str, str] = {}
    for target in result.targets:
        for probe, ref in target.evidence_refs.items():
            name = evidence_path(target.address, probe)
            if name in names or ref["path"] != name:
                raise ConfigError(f"bundle: evidence {ref['path']!r} of {target.address} "
                                  f"{'is named twice' if name in names else 'is not ' + name}")
            names[name] = ref["sha256"]
    return sorted(names.items())


def _files(result: ScanResult, directory: Path, reports: list[Path], attachments: list[Path],
           sign_key: Path | None) -> Iterator[tuple[str, Path, str | None]]:
    """(bundle name, file on disk, expected sha256) of every file from disk, in bundle order."""
    key_file = sign_key.resolve() if sign_key else None
    named: set[str] = set()
    for path in sorted(attachments, key=lambda p: attestation_path(p.name)):
        if key_file and path.resolve() == key_file:
            raise ConfigError(f"bundle: attestation evidence {path} is the signing key; "
                              "refusing to put a private key in the bundle")
        if attestation_path(path.name) in named:
            raise ConfigError(f"bundle: two files would be named {attestation_path(path.name)}")
        named.add(attestation_path(path.name))
        yield attestation_path(path.name), path, None
    for name, sha256 in _evidence(result):
        yield name, directory / name, sha256
    for path in sorted(reports, key=lambda p: p.name):
        if not path.name or path.name in (".", "..") or safe(path.name) != path.name:
            raise ConfigError(f"bundle: report name {path.name!r} is not a plain file name")
        yield f"reports/{path.name}", path, None


def write_bundle(result: ScanResult, path: Path, directory: Path, reports: list[Path],
                 attachments: list[Path], sign_key: Path | None) -> Path:
    """Write the bundle of a result whose evidence is stored under `directory` (as its
    `evidence_refs` say; scanner.reporters.write_all stores what a result still holds), with the
    report files `reports` and the attestation files, atomically and never through a symlink;
    return its path. A file holding private-key text is refused (target text was redacted
    before it was stored)."""
    from scanner.reporters import json_report
    from scanner.reporters.base import prepare

    private = load_signing_key(sign_key) if sign_key else None
    prepared = prepare(result, directory, embed=False)
    with atomic_writer(path, "--bundle") as raw, zipfile.ZipFile(raw, "w") as archive:
        entries = [_copy(archive, name, source, sha256) for name, source, sha256
                   in _files(prepared, directory, reports, attachments, sign_key)]
        with _Entry(archive, "result.json", None) as entry:
            sink = _TextEntry(entry)
            json_report.write(prepared, sink)  # type: ignore[arg-type]
            sink.flush()
        entries.append(entry.record())
        public = private.public_key() if private else None
        if public:
            entries.append(_whole(archive, SIGNER, public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)))
        manifest = _manifest(result, entries, public)
        _whole(archive, MANIFEST, manifest)
        if private:
            _whole(archive, SIGNATURE, base64.b64encode(private.sign(manifest)) + b"\n")
    return path


def _whole(archive: zipfile.ZipFile, name: str, data: bytes) -> dict[str, Any]:
    with _Entry(archive, name, len(data)) as entry:
        entry.write(data)
    return entry.record()


def _manifest(result: ScanResult, entries: list[dict[str, Any]], public: Any) -> bytes:
    previous = GENESIS
    for entry in entries:
        previous = entry["chain"] = chain_hash(previous, entry["sha256"], entry["name"])
    manifest = {
        "format": FORMAT, "version": VERSION,
        "tool": {"name": "annexscan", "version": __version__},
        "scan": {"started_at": result.started_at, "finished_at": result.finished_at},
        "chain": {"algorithm": "sha256(previous chain + file sha256 + name), hex, UTF-8",
                  "genesis": GENESIS, "head": previous},
        "signature": None if public is None else {
            "algorithm": "ed25519", "file": SIGNATURE, "public_key": SIGNER,
            "fingerprint": fingerprint(public), "signed": MANIFEST},
        "files": entries,
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
