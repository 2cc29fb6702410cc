"""Where the evidence bundle keeps each file: one rule for the bundle and every report that
links into it (HTML links, OSCAL evidence paths)."""

from __future__ import annotations

import re
from pathlib import PurePath

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # IPv6 colons, slashes, spaces: never in a zip name


def safe(name: str) -> str:
    return _UNSAFE.sub("_", name)


def evidence_dir(address: str) -> str:
    return f"evidence/{safe(address)}"


def evidence_path(address: str, probe: str) -> str:
    """A probe's raw output for one target, stored once, gzip-compressed (outputs.store_evidence),
    at this path in the scan's output directory and in the bundle."""
    return f"{evidence_dir(address)}/{safe(probe)}.json.gz"


def attestation_path(ref: str) -> str:
    """An attestation's evidence file."""
    return f"attestations/{safe(PurePath(ref).name)}"
