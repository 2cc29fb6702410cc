"""Writing reports and bundles without following links, and checking where they go up front.

annexscan often runs as root in directories other users can write: a symlink planted at an
output path must never make it overwrite another file. Every output is written to a fresh
temporary file (O_EXCL|O_NOFOLLOW) in its directory, opened without following links, then
renamed over the final name; a final name or an output directory that is a symlink is refused.
"""

from __future__ import annotations

import gzip
import errno
import hashlib
import io
import json
import os
import secrets
import stat
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from scanner.errors import ConfigError
from scanner.evidence.layout import evidence_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_EVIDENCE = 256 << 20  # bytes of one evidence file read back, stored and inflated


def check_output_dir(directory: Path, option: str) -> None:
    """An existing writable directory (not a symlink), or one to create in an existing one."""
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        parent = directory.parent
        if not parent.is_dir():
            raise ConfigError(f"{option} {directory}: its parent directory {parent} does not "
                              "exist; create it first") from None
        _writable(parent, option, directory)
        return
    except OSError as exc:
        raise ConfigError(f"{option} {directory}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise ConfigError(f"{option} {directory}: is a symbolic link; refusing to write "
                          "through it (give the real directory)")
    if not stat.S_ISDIR(mode):
        raise ConfigError(f"{option} {directory}: exists and is not a directory")
    _writable(directory, option, directory)


def check_output_file(path: Path, option: str) -> None:
    """A file path whose directory passes check_output_dir and that is not a symlink or dir."""
    check_output_dir(path.parent, option + " directory")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise ConfigError(f"{option} {path}: is a symbolic link; refusing to write through it")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{option} {path}: exists and is not a regular file")


def check_outputs(directory: Path | None, bundle: Path | None, names: list[str]) -> None:
    """Every path a scan will write (the report file `names` in `directory`, the bundle),
    checked before the first probe (exit 2 at once)."""
    reports = [directory / name for name in names] if directory else []
    if directory:
        check_output_dir(directory, "-o")
        for path in reports:
            check_output_file(path, "-o")
    if bundle:
        if bundle in reports or bundle.parent in reports:
            raise ConfigError(f"--bundle {bundle}: collides with the report "
                              f"{bundle if bundle in reports else bundle.parent}")
        check_output_file(bundle, "--bundle")


def _writable(directory: Path, option: str, named: Path) -> None:
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {named}: directory {directory} is not writable")


def write_file(path: Path, data: bytes, option: str) -> Path:
    """Write data at path atomically, creating its last directory level if missing; a symlink
    at the path, or as the directory, is refused and left untouched."""
    with atomic_writer(path, option) as stream:
        stream.write(data)
    return path


@contextmanager
def atomic_writer(path: Path, option: str) -> Iterator[BinaryIO]:
    """A binary stream to write path by pieces (a report of any size, never held whole),
    creating its last directory level if missing (see _replacing)."""
    check_output_file(path, option)
    try:
        path.parent.mkdir(exist_ok=True)
        folder = os.open(path.parent, _DIR_FLAGS)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
    try:
        with _replacing(folder, path.name, f"{option} {path}") as stream:
            yield stream
    finally:
        os.close(folder)


@contextmanager
def _replacing(folder: int, name: str, shown: str) -> Iterator[BinaryIO]:
    """A fresh temporary file (O_EXCL|O_NOFOLLOW) beside `name` in the directory `folder`,
    fsync'd and renamed over `name` when the block ends; removed, with `name` untouched, when
    the block raises. A symlink at `name` is refused, never written through."""
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    try:
        handle = os.open(temporary, _NEW_FLAGS, 0o644, dir_fd=folder)
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if stat.S_ISLNK(_lstat_mode(name, folder)):
            raise ConfigError(f"{shown}: became a symbolic link; refusing to write")
        os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        _discard(temporary, folder)
        raise ConfigError(f"{shown}: cannot write: {_why(exc)}") from None
    except BaseException:
        _discard(temporary, folder)
        raise


def store_evidence(directory: Path, address: str, probe: str, data: Any) -> dict[str, Any]:
    """A probe's raw output stored once, gzip-compressed, at evidence/<address>/<probe>.json.gz
    under directory (atomically, never through a symlink); returns its reference
    {path, sha256, bytes} (path relative to directory, hash and size of the stored file).
    The gzip header carries no time or name: the same evidence gives the same bytes."""
    relative = evidence_path(address, probe)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    packed = gzip.compress(text.encode("utf-8"), mtime=0)
    _write_evidence(directory, relative, packed)
    return {"path": relative, "sha256": hashlib.sha256(packed).hexdigest(), "bytes": len(packed)}


def _write_evidence(directory: Path, relative: str, packed: bytes) -> None:
    """No directory on the way (evidence/, the address's) may be a symlink."""
    *parts, name = relative.split("/")
    folder = open_folder(directory, parts, "evidence")
    try:
        write_at(folder, name, packed, f"evidence {directory / relative}")
    finally:
        os.close(folder)


def _stored(directory: Path, ref: dict[str, Any]) -> bytes:
    """A stored evidence file's bytes, capped, and only if they are what its reference says
    (a report directory may come from elsewhere)."""
    path = directory / ref["path"]
    *parts, name = ref["path"].split("/")
    folder = open_folder(directory, parts, "evidence", create=False)
    try:
        handle = open_file_at(folder, name, os.O_RDONLY, f"evidence {path}")
    finally:
        os.close(folder)
    try:
        with os.fdopen(handle, "rb") as stream:
            packed = stream.read(MAX_EVIDENCE + 1)
    except OSError as exc:
        raise ConfigError(f"evidence {path}: cannot read: {exc.strerror or exc}") from None
    if hashlib.sha256(packed).hexdigest() != ref["sha256"]:
        raise ConfigError(f"evidence {path}: not the file the scan stored (its SHA-256 differs "
                          "from the report's reference)")
    return packed


def copy_evidence(source: Path, directory: Path, ref: dict[str, Any]) -> None:
    """Stored evidence copied from one report directory to another, checked on the way."""
    _write_evidence(directory, ref["path"], _stored(source, ref))


def load_evidence(directory: Path, ref: dict[str, Any]) -> Any:
    """Stored evidence read back (for --embed-evidence), checked against its reference,
    inflated at most to MAX_EVIDENCE bytes."""
    path = directory / ref["path"]
    packed = _stored(directory, ref)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as inflating:
            text = inflating.read(MAX_EVIDENCE + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(f"evidence {path}: cannot read: {exc}") from None
    if len(text) > MAX_EVIDENCE:
        raise ConfigError(f"evidence {path}: inflates past {MAX_EVIDENCE} bytes: not read")
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"evidence {path}: not JSON: {exc}") from None


def _lstat_mode(name: str, folder: int) -> int:
    try:
        return os.lstat(name, dir_fd=folder).st_mode
    except FileNotFoundError:
        return 0


def _discard(name: str, folder: int) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass


def open_folder(base: Path, parts: Sequence[str], shown: str, create: bool = True) -> int:
    """A descriptor of the directory base/parts..., each level opened without following a
    symlink (a link planted at any level is refused) and, if `create`, made when missing.
    The caller closes it."""
    try:
        folder = os.open(base, _DIR_FLAGS)
    except OSError as exc:
        raise ConfigError(f"{shown} {base}: {_why(exc)}") from None
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=folder)
                except FileExistsError:
                    pass
            child = os.open(part, _DIR_FLAGS, dir_fd=folder)
            os.close(folder)
            folder = child
    except OSError as exc:
        os.close(folder)
        raise ConfigError(f"{shown} {base.joinpath(*parts)}: {_why(exc)}") from None
    return folder


def open_file_at(folder: int, name: str, flags: int, shown: str) -> int:
    """`name` in the directory `folder`, opened with `flags` but never through a symlink, and
    only if it is a regular file (a FIFO or a device could block or never end)."""
    try:
        handle = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644,
                         dir_fd=folder)
    except OSError as exc:
        raise ConfigError(f"{shown}: {_why(exc)}") from None
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise ConfigError(f"{shown}: not a regular file")
    os.set_blocking(handle, True)
    return handle


def write_at(folder: int, name: str, data: bytes, shown: str) -> None:
    """`data` written as `name` in the directory `folder`, atomically (see _replacing)."""
    with _replacing(folder, name, shown) as stream:
        stream.write(data)


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "is a symbolic link (or not a directory); refusing to follow it"
    return exc.strerror or str(exc)
