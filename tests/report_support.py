"""Reports as strings, for tests: reporters write to a stream (scanner.reporters)."""

from __future__ import annotations

import io
from typing import Callable, TextIO

from scanner.model import ScanResult


def text(write: Callable[[ScanResult, TextIO], None], result: ScanResult) -> str:
    """What `write` writes for result."""
    out = io.StringIO()
    write(result, out)
    return out.getvalue()
