"""Reporters: each renders the one ScanResult model into a file format."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from scanner.errors import ConfigError
from scanner.model import ScanResult

Renderer = Callable[[ScanResult], str]


def reporters() -> dict[str, tuple[str, Renderer]]:
    """format name -> (file extension, renderer)."""
    from scanner.reporters import json_report, junit

    return {"json": ("json", json_report.render), "junit": ("xml", junit.render)}


def parse_formats(spec: str) -> list[str]:
    formats = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in reporters()]
    if unknown or not formats:
        raise ConfigError(f"--format: unknown format {', '.join(unknown) or '(empty)'}; "
                          f"expected a comma-separated list of {', '.join(reporters())}")
    return formats


def write_reports(result: ScanResult, directory: Path, formats: list[str],
                  stem: str = "annexscan") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        extension, render = reporters()[name]
        path = directory / f"{stem}.{extension}"
        path.write_text(render(result), encoding="utf-8")
        written.append(path)
    return written
