"""Helpers for the hostile bundle and output tests: loopback packet counts and zip entries
crafted byte by byte (the measured CLI runner is tests/hostile_harness.py)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path


def loopback_packets() -> int:
    """Packets received on this namespace's loopback (/proc/self/net/dev is per namespace)."""
    for line in Path("/proc/self/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            return int(counters.split()[1])
    raise AssertionError("no loopback interface")


def replace_entry(bundle: Path, name: str, zeros: int) -> None:
    """Rewrite the bundle with `name` holding `zeros` zero bytes, deflated as a stream (a
    megabyte of zip per gigabyte inflated); every other entry kept as it was."""
    with zipfile.ZipFile(bundle) as archive:
        others = [(info, archive.read(info)) for info in archive.infolist()
                  if info.filename != name]
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in others:
            archive.writestr(info, data)
        bomb = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
        bomb.compress_type = zipfile.ZIP_DEFLATED  # a fresh ZipInfo would be stored as is
        with archive.open(bomb, "w") as stream:
            chunk = bytes(1 << 20)
            for _ in range(zeros >> 20):
                stream.write(chunk)


def lie_about_size(bundle: Path, name: str, size: int) -> None:
    """Make the zip's local and central headers of `name` declare `size` inflated bytes (a
    bomb that passes a check of declared sizes); its data stays as it is."""
    raw = bytearray(bundle.read_bytes())
    encoded = name.encode()
    # (signature, offset of the inflated size, of the name length, of the name)
    for signature, size_at, length_at, name_at in ((b"PK\x03\x04", 22, 26, 30),
                                                   (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            length = struct.unpack_from("<H", raw, start + length_at)[0]
            if raw[start + name_at:start + name_at + length] == encoded:
                struct.pack_into("<I", raw, start + size_at, size)
            start += 4
    bundle.write_bytes(bytes(raw))
