"""Every report format, listed: a new format is a reporter module and a line here."""

from __future__ import annotations

import importlib
import io
from functools import partial
from types import ModuleType
from pathlib import Path
from typing import Callable, TextIO

from scanner.errors import ConfigError
from scanner.model import ScanResult
from scanner.outputs import atomic_writer, check_output_dir
from scanner.reporters.base import prepare

Writer = Callable[[ScanResult, TextIO], None]
# --format name -> its module in scanner.reporters, JSON first. Imported when a report is
# written, not when the command line is parsed (the OSCAL one loads trestle: about a second).
FORMATS = {"json": "json_report", "junit": "junit", "sarif": "sarif", "html": "html_report",
           "csv": "csv_report", "oscal": "oscal_report"}


def reporter(name: str) -> ModuleType:
    return importlib.import_module(f"scanner.reporters.{FORMATS[name]}")


def reporters() -> dict[str, tuple[str, Writer]]:
    """format name -> (file extension, writer), JSON first."""
    return {name: (reporter(name).EXTENSION, reporter(name).write) for name in FORMATS}


def parse_formats(spec: str) -> list[str]:
    formats = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"--format: unknown format {', '.join(unknown) or '(empty)'}; "
                          f"expected a comma-separated list of {', '.join(FORMATS)}")
    return formats


def report_names(formats: list[str], stem: str = "annexscan") -> list[str]:
    """The file name of each format's report."""
    return [f"{stem}.{reporter(name).EXTENSION}" for name in formats]


def write_all(result: ScanResult, formats: list[str], directory: Path,
              embed_evidence: bool = False, source: Path | None = None,
              template_dir: Path | None = None) -> list[Path]:
    """Each format's report written to directory by streaming, atomically and never through a
    symlink (scanner.outputs), from the `prepare`d result. template_dir (--template-dir) goes
    to the formats rendered from templates (TEMPLATED = True: their write takes it)."""
    check_output_dir(directory, "-o")
    prepared = prepare(result, directory, embed_evidence, source)
    paths = []
    for name, file in zip(formats, report_names(formats)):
        writer = reporter(name).write
        if template_dir is not None and getattr(reporter(name), "TEMPLATED", False):
            writer = partial(writer, template_dir=template_dir)
        with atomic_writer(directory / file, "-o") as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer(prepared, out)
            out.flush()
            out.detach()  # the writer closes the file, after its fsync
        paths.append(directory / file)
    return paths
