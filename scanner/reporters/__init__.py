"""Reporters: each renders the one ScanResult model into a file format.

A reporter is a module of this package that declares FORMAT (the --format name), EXTENSION
(the file's) and `render(result) -> str`; it is found by discovery, so adding a format is
adding a module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from scanner.errors import ConfigError
from scanner.model import ScanResult, map_text, writable_text
from scanner.outputs import check_output_dir, write_file

Renderer = Callable[[ScanResult], str]


def reporters() -> dict[str, tuple[str, Renderer]]:
    """format name -> (file extension, renderer), JSON first."""
    from scanner.plugins import submodules

    found = {module.FORMAT: (module.EXTENSION, module.render)
             for module in submodules(__name__) if hasattr(module, "FORMAT")}
    return dict(sorted(found.items(), key=lambda item: (item[0] != "json", item[0])))


def parse_formats(spec: str) -> list[str]:
    formats = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in reporters()]
    if unknown or not formats:
        raise ConfigError(f"--format: unknown format {', '.join(unknown) or '(empty)'}; "
                          f"expected a comma-separated list of {', '.join(reporters())}")
    return formats


def report_names(formats: list[str], stem: str = "annexscan") -> list[str]:
    """The file name of each format's report."""
    found = reporters()
    return [f"{stem}.{found[name][0]}" for name in formats]


def render_all(result: ScanResult, formats: list[str], stem: str = "annexscan"
               ) -> dict[str, str]:
    """file name -> rendered text, one per format. Text a host sent may hold lone surrogates
    (undecodable bytes), which UTF-8 cannot write: they become visible escapes first."""
    map_text(result, writable_text)
    found = reporters()
    return {file: found[name][1](result)
            for file, name in zip(report_names(formats, stem), formats)}


def write_reports(rendered: dict[str, str], directory: Path) -> list[Path]:
    """Each report written atomically, never through a symlink (scanner.outputs)."""
    check_output_dir(directory, "-o")
    return [write_file(directory / name, text.encode("utf-8"), "-o")
            for name, text in rendered.items()]
