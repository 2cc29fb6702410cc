"""Inflating a zip entry with a bound on memory, whatever its headers claim.

zipfile's own reader cannot be bounded: once a deflate stream's input is all consumed it
flushes the decompressor whole, so the last kilobytes of a bomb inflate to a gigabyte in one
call. Here the entry's raw bytes are read from its local header and inflated by at most one
chunk per call, so the caller can stop as soon as it has seen enough.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import Iterator

CHUNK = 1 << 20
_LOCAL = b"PK\x03\x04"


def _raw(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The entry's stored bytes, as the central directory sizes them."""
    stream = archive.fp
    if stream is None:
        raise ValueError("the zip file is closed")
    stream.seek(info.header_offset)
    header = stream.read(30)
    if len(header) < 30 or header[:4] != _LOCAL:
        raise zipfile.BadZipFile(f"no local header for {info.filename!r}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    stream.seek(info.header_offset + 30 + name_length + extra_length)
    left = info.compress_size
    while left > 0:
        data = stream.read(min(CHUNK, left))
        if not data:
            raise zipfile.BadZipFile(f"{info.filename!r} is truncated")
        left -= len(data)
        yield data


def inflated(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The entry's content, at most CHUNK bytes at a time (stored or deflated entries only)."""
    if info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename!r} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        yield from _raw(archive, info)
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise zipfile.BadZipFile(f"{info.filename!r}: compression method "
                                 f"{info.compress_type} is not one a bundle uses")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    for data in _raw(archive, info):
        while True:
            out = inflater.decompress(data, CHUNK)
            if out:
                yield out
            data = inflater.unconsumed_tail
            if not data and len(out) < CHUNK:  # input used up and nothing left pending
                break
    if not inflater.eof:
        raise zipfile.BadZipFile(f"{info.filename!r}: the deflate stream is cut short")
