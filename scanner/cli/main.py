"""Command line: `annexscan COMMAND`; the parser of every command, and dispatch to its module.

Exit codes: 0 every automated clause passes; 1 at least one clause fails; 2 usage or
configuration error (nothing scanned); 3 no failure but at least one error; 4 interrupted
(the reports are marked incomplete; `scan --resume DIR` finishes the scan).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from scanner import __version__
from scanner.cli.helpfmt import apply_help_format
from scanner.reporters.options import add_template_option
from scanner.reporters.registry import FORMATS
from scanner.scope.access import add_access_options
from scanner.errors import ConfigError

EXIT_CODES = """exit codes:
  0  every automated clause passes
  1  at least one clause fails
  2  usage or configuration error (nothing was scanned)
  3  no failure, but at least one clause could not be evaluated (error)
  4  interrupted (SIGINT, SIGTERM): the reports cover the finished targets only and say
     complete: false; finish with the same command and --resume DIR"""
DEMO_EXIT_CODES = """exit codes:
  0  the lab was scanned and the reports written (its hosts are meant to fail: the summary
     says what a real scan would exit)
  2  the lab cannot run here (not root, a program missing) or a bad option
  4  interrupted (SIGINT, SIGTERM): the reports cover the hosts scanned so far"""
REPORT_FORMATS = ", ".join(FORMATS)


class ScanDefaults(NamedTuple):
    """What scan and demo do when an option is not given, as their --help says it."""
    profiles: str | None = None
    output_dir: str = "none: no report files, only the summary printed and any --bundle"
    formats: str | None = "json,junit"  # None: the command picks (the demo writes every one)
    bundle: str = "none"
    sign_key: str = "none: the bundle is hash-chained but not signed"


def _add_scan_options(parser: argparse.ArgumentParser, defaults: ScanDefaults,
                      access: bool = True) -> None:
    parser.add_argument("--profile", "-p", action="append", dest="profiles", metavar="ID|PATH",
                        default=None, help="built-in profile id or profile file; repeatable"
                        + (f" (default: {defaults.profiles})" if defaults.profiles else
                           "; needed unless --inventory names each host's"))
    parser.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                        help="where to write the reports (annexscan.<format>), the raw "
                        f"evidence (evidence/) and the journal (default: {defaults.output_dir})")
    parser.add_argument("--format", default=defaults.formats, metavar="LIST",
                        help=f"report formats, comma-separated: {REPORT_FORMATS} (default: "
                        f"{defaults.formats or 'all of them'})")
    parser.add_argument("--ca-bundle", type=Path, metavar="PEM",
                        help="trust these CAs instead of the default store for tls.certificate")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="timeout of every network operation, in seconds (default: 5)")
    parser.add_argument("--concurrency", type=int, default=16, metavar="N",  # see ScanOptions
                        help="targets scanned at once (default: 16)")
    parser.add_argument("--target-budget", type=float, metavar="S",
                        help="seconds all probes of one target may take together; past it the "
                        "probes left are errors (default: derived from the timeouts, shown "
                        "in the JSON report's options)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--attestations", type=Path, metavar="FILE",
                        help="YAML attestations answering manual clauses (who, role, expiry)")
    parser.add_argument("--waivers", type=Path, metavar="FILE",
                        help="YAML waivers: accepted exceptions to failures, with an expiry")
    parser.add_argument("--bundle", type=Path, metavar="PATH.zip",
                        help="write a tamper-evident evidence bundle (reports, raw evidence, "
                        f"attestation files, SHA-256 manifest) (default: {defaults.bundle})")
    parser.add_argument("--sign-key", type=Path, metavar="KEY",
                        help="Ed25519 private key (PEM or OpenSSH) signing the bundle's manifest; "
                        f"passphrase from ANNEXSCAN_SIGN_PASSPHRASE (default: {defaults.sign_key})")
    parser.add_argument("--embed-evidence", action="store_true",
                        help="also embed each probe's raw output in the JSON report (by default "
                        "it is stored once, compressed, under DIR/evidence/ and referenced by "
                        "path and SHA-256); for small scans")
    add_template_option(parser)
    if access:
        add_access_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="annexscan", description="Verify hosts against the security annex of a contract, "
        "clause by clause. `annexscan COMMAND --help` says what a command does, its defaults "
        "and its exit codes; `annexscan lab up` starts a lab to try them on.",
        epilog=EXIT_CODES.replace("exit codes:", "exit codes of scan:"))
    parser.add_argument("--version", action="version", version=f"annexscan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = sub.add_parser("scan", help="scan targets against one or more profiles",
                          description="Probe targets (ports, TLS, SSH, HTTP, latency) and judge "
                          "every clause of the given profiles.", epilog=EXIT_CODES +
                          "\n\nTARGET: an IP address, a hostname, a CIDR network, @FILE "
                          "(one target per line, # comments), or `local` (host checks on this "
                          "machine, no network probes).")
    _add_scan_options(scan, ScanDefaults())
    scan.add_argument("targets", nargs="*", metavar="TARGET",
                      help="what to scan (see TARGET below); none with --inventory")
    scan.add_argument("--resume", type=Path, metavar="DIR",
                      help="finish an interrupted scan whose -o directory is DIR: give the same "
                      "profiles, targets and options; only the targets missing from its journal "
                      "are scanned, then the reports are written for the whole scan")
    scan.add_argument("--strict-targets", action="store_true",
                      help="stop before scanning when a host name does not resolve (default: "
                      "that target is reported as an error and the others are scanned)")
    scan.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT",
                      help="scan on the workers of this Dask cluster (annexscan[fleet] installed "
                      "on each; files the scan names are read there at the same path, "
                      "secrets from the workers' environment); --concurrency targets are "
                      "handed to it at a time")

    profiles = sub.add_parser("profiles", help="list, show, validate profiles; clause coverage",
                              description="Inspect and validate profiles.")
    psub = profiles.add_subparsers(dest="action", required=True, metavar="ACTION")
    psub.add_parser("list", help="built-in profiles", description="List the built-in profiles.")
    show = psub.add_parser("show", help="clauses of a profile",
                           description="Show every clause of a profile and how it is verified.")
    show.add_argument("profile", metavar="ID|PATH", help="built-in profile id or profile file")
    validate = psub.add_parser("validate", help="validate profile files",
                               description="Validate profile files against the schema and the "
                               "control catalog; exit 2 on the first invalid one.")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="profile files")
    coverage = psub.add_parser("coverage", help="automated vs manual clauses per profile",
                               description="Per profile: clauses, automated, mixed, manual.")
    coverage.add_argument("profiles", nargs="*", metavar="ID|PATH",
                          help="profiles (default: every built-in)")
    from scanner.cli.oscal_command import add_export_parser
    add_export_parser(psub)

    controls = sub.add_parser("controls", help="the control catalog",
                              description="Inspect the control catalog.")
    csub = controls.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("list", help="every control with its probe and parameters",
                    description="List every control of the catalog; `annexscan controls show "
                    "ID` tells everything about one.")
    cshow = csub.add_parser("show", help="one control: verdicts, parameters, remediation, fix",
                            description="Show one control: what it checks and what each verdict "
                            "means, its parameters, its remediation, whether `annexscan "
                            "remediate` can fix it (or why not), and the built-in profiles' "
                            "clauses that use it. Configuration snippets are printed as they "
                            "are, one line each: a line wider than the terminal overflows, it "
                            "is never folded mid-token.")
    cshow.add_argument("control", metavar="ID", help="control id, e.g. tls.min_version")
    cshow.add_argument("--profile", "-p", metavar="ID|PATH",
                       help="built-in profile id or profile file: show each of its clauses' "
                       "parameter values and the remediation rendered with them (default: the "
                       "catalog's defaults)")

    demo = sub.add_parser("demo", help="start the built-in lab, scan it, write reports",
                          description="Start the lab (real nginx TLS, OpenSSH and TCP servers "
                          "on 127.0.0.2-8), scan every lab host, with host checks over SSH to "
                          "its sshds, and stop the lab. Writes into DIR the reports in every "
                          f"format ({REPORT_FORMATS}), the raw evidence and the journal, plus a "
                          "signed evidence bundle DIR/evidence.zip and DIR/demo-signing-key.pub "
                          "to verify it with. Needs root; runs in a private network namespace. "
                          "To keep the lab running and try commands on it: annexscan lab up.",
                          epilog=DEMO_EXIT_CODES)
    _add_scan_options(demo, ScanDefaults(
        profiles="3douest", output_dir="reports/demo", formats=None, bundle="DIR/evidence.zip",
        sign_key="a throw-away key, its public half written as DIR/demo-signing-key.pub"),
        access=False)  # the demo logs in to the lab itself: the access options at defaults
    access_defaults = argparse.ArgumentParser(add_help=False)
    add_access_options(access_defaults)
    demo.set_defaults(**vars(access_defaults.parse_args([])))
    for module, adder in EXTRA_COMMANDS.values():
        getattr(importlib.import_module(module), adder)(sub)
    apply_help_format(parser)
    return parser


# command -> (module, parser adder); each module's `<command>_command(args, console)` runs it.
EXTRA_COMMANDS = {"report": ("scanner.cli.report_command", "add_report_parser"),
                  "verify": ("scanner.cli.bundle_command", "add_verify_parser"),
                  "lab": ("scanner.cli.lab_command", "add_lab_parser"),
                  "remediate": ("scanner.cli.remediate_command", "add_remediate_parser"),
                  "diff": ("scanner.cli.diff_command", "add_diff_parser")}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    errors = Console(stderr=True)
    try:
        if getattr(args, "template_dir", None) is not None:  # before anything is scanned
            from scanner.reporters.html_report import check_templates
            check_templates(args.template_dir)
        if args.command == "scan":
            from scanner.cli.commands import scan_command
            return scan_command(args, console)
        if args.command == "profiles":
            from scanner.cli.catalog_commands import profiles_command
            return profiles_command(args, console)
        if args.command == "controls":
            from scanner.cli.catalog_commands import controls_command
            return controls_command(args, console)
        if args.command == "demo":
            from scanner.cli.demo import demo_command
            return demo_command(args, console)
        if args.command in EXTRA_COMMANDS:
            module = importlib.import_module(EXTRA_COMMANDS[args.command][0])
            return getattr(module, f"{args.command}_command")(args, console)
    except ConfigError as exc:
        errors.print(f"annexscan: error: {exc}", style="bold red", markup=False,
                     highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("annexscan: interrupted")
        return 130
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
