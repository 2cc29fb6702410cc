"""`annexscan profiles export ID|PATH [--format oscal] [-o FILE]`: a profile as an OSCAL catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from scanner.catalog.controls import load_catalog
from scanner.outputs import write_file
from scanner.catalog.profiles import load_profile

EXPORT_FORMATS = ("oscal",)


def add_export_parser(profiles_subparsers: argparse._SubParsersAction) -> None:
    export = profiles_subparsers.add_parser(
        "export", help="write a profile as an OSCAL catalog",
        description="Write a profile as an OSCAL catalog (JSON, the default and only format): "
        "a group per annex section, a control per clause with its requirement as the statement "
        "<control-id>_smt and how it is verified as assessment methods. The findings of "
        "`--format oscal` reports point at these statements. Clause ids become lowercase OSCAL "
        "tokens (3DOUEST-11.3-PORTS -> clause-3douest-11.3-ports); the original id is kept in "
        "the control's label.")
    export.add_argument("profile", metavar="ID|PATH", help="built-in profile id or profile file")
    export.add_argument("--format", default="oscal", choices=EXPORT_FORMATS,
                        help="export format: oscal, an OSCAL catalog in JSON (default: oscal)")
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write to FILE (default: standard output)")


def profiles_export_command(args: argparse.Namespace, console: Console) -> int:
    from scanner.evidence.oscal import render_catalog  # trestle takes a second to import

    catalog = load_catalog()
    profile = load_profile(args.profile, catalog)
    text = render_catalog(profile, catalog)
    if args.output is None:
        console.file.write(text)
        return 0
    write_file(args.output, text.encode("utf-8"), "-o")  # atomic, never through a symlink
    console.print(f"wrote {args.output}: OSCAL catalog of profile '{profile.id}', "
                  f"{len(profile.clauses)} controls", highlight=False, markup=False)
    return 0
