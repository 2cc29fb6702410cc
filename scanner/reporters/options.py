"""Command-line options of the report writers, shared by every command that writes reports
(kept apart from the writers so that building the parser imports no template engine)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_template_option(parser: argparse.ArgumentParser) -> None:
    """--template-dir: checked before anything runs (html_report.check_templates)."""
    parser.add_argument("--template-dir", type=Path, metavar="DIR",
                        help="HTML report templates (*.j2) replacing the built-in ones of the "
                        "same name: a team's logo, colours, wording; see the README (default: "
                        "none, the built-in templates)")
