"""The `report` command: re-render any format from a saved JSON result, without scanning."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from scanner.errors import ConfigError
from scanner.outputs import check_outputs
from scanner.reporters.registry import FORMATS, parse_formats, report_names, write_all
from scanner.reporters.load import load_result
from scanner.reporters.options import add_template_option


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    names = ", ".join(FORMATS)
    parser = sub.add_parser(
        "report", help="re-render reports from a saved JSON result",
        description="Read a JSON result written by `scan` (checked against the report schema) "
        "and write it again in the requested formats; nothing is scanned.",
        epilog="exit codes:\n  0  reports written\n  2  unreadable or invalid RESULT.json, "
        "an unknown format, an output path that cannot be written, or a --template-dir "
        "template that fails (its file and line named)")
    parser.add_argument("result", type=Path, metavar="RESULT.json",
                        help="a JSON report written by scan (annexscan.json; older schema versions are read)")
    parser.add_argument("--format", default=",".join(FORMATS), metavar="LIST",
                        help=f"report formats, comma-separated (default: all of {names})")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR",
                        help="where to write the reports (annexscan.<extension>); the raw "
                        "evidence the result references (or embeds) is stored there too, "
                        "under evidence/")
    parser.add_argument("--embed-evidence", action="store_true",
                        help="also embed each probe's raw output in the JSON report")
    add_template_option(parser)


def report_command(args: argparse.Namespace, console: Console) -> int:
    formats = parse_formats(args.format)
    check_outputs(args.output_dir, None, report_names(formats))
    names = report_names(formats)
    if any((args.output_dir / name).resolve() == args.result.resolve() for name in names):
        raise ConfigError(f"{args.result}: would be overwritten by its own re-rendering; "
                          "pick another --output-dir")
    result = load_result(args.result)
    for path in write_all(result, formats, args.output_dir, args.embed_evidence,
                          source=args.result.parent, template_dir=args.template_dir):
        console.print(f"wrote {escape(str(path))}", highlight=False)
    return 0
