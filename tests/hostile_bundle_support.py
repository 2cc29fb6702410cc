"""Helpers for the hostile bundle and output tests: the real CLI in a child process, measured
(seconds, peak RSS), loopback packet counts, and zip entries crafted byte by byte."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import scanner

REPO = Path(scanner.__file__).resolve().parents[1]  # the tree under test, old or new
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the (v)forked parent
_CHILD = """import re, sys
from scanner.cli import main
try:
    code = main(sys.argv[1:])
finally:
    status = open("/proc/self/status").read()
    sys.stderr.write("\\nPEAK_RSS_KB=" + re.search(r"VmHWM:\\s+(\\d+)", status)[1] + "\\n")
sys.exit(code)
"""


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float


def annexscan(*args: str, prefix: tuple[str, ...] = (), timeout: float = 120) -> Run:
    """`annexscan ARGS` in a child Python (optionally behind a prefix command such as unshare),
    with its wall time and its own peak RSS."""
    start = time.perf_counter()
    done = subprocess.run([*prefix, sys.executable, "-c", _CHILD, *args], cwd=REPO,
                          capture_output=True, timeout=timeout,
                          env=dict(os.environ, COLUMNS="500"))  # one line per message
    seconds = time.perf_counter() - start
    err = done.stderr.decode("utf-8", "replace")
    peak = re.search(r"PEAK_RSS_KB=(\d+)", err)
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), err, seconds,
               int(peak[1]) / 1024 if peak else float("nan"))


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
