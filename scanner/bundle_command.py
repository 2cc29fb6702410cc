"""The `verify` command: is an evidence bundle as the scan wrote it?"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from scanner.bundle import Verification, verify_bundle

VERIFY_EXIT_CODES = """exit codes:
  0  intact: every file matches the manifest, the chain holds, the signature (if any) is good
  1  tampered: each altered, missing or added file is named
  2  not a readable annexscan bundle, or a bad --pubkey"""


def add_verify_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "verify", help="check an evidence bundle was not altered",
        description="Recompute the SHA-256 of every file of a bundle written by `scan --bundle`, "
        "check the manifest's hash chain and its Ed25519 signature, and name every altered, "
        "missing or added file.", epilog=VERIFY_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path, metavar="BUNDLE.zip")
    parser.add_argument("--pubkey", type=Path, metavar="KEY",
                        help="the signer's Ed25519 public key (PEM, or an OpenSSH "
                        "'ssh-ed25519 AAAA...' line); without it the signature is checked "
                        "against the key inside the bundle, which proves nothing about who "
                        "signed")


def verify_command(args: argparse.Namespace, console: Console) -> int:
    result = verify_bundle(args.bundle, args.pubkey)
    _print_trust(result, console)
    if result.intact:
        console.print(f"intact: {result.files} files match the manifest", style="bold green",
                      highlight=False)
        return 0
    console.print(f"TAMPERED: {len(result.problems)} problem(s)", style="bold red")
    width = max(len(p.kind) for p in result.problems)
    for problem in result.problems:
        console.print(f"  {problem.kind:<{width}}  {escape(problem.name)}"
                      + (f"  ({escape(problem.detail)})" if problem.detail else ""),
                      highlight=False)
    return 1


def _print_trust(result: Verification, console: Console) -> None:
    """Say what the verdict rests on: a given key, the bundle's own key, or hashes alone."""
    if not result.signed:
        console.print(f"unsigned: checked by the SHA-256 hash chain only (head "
                      f"{result.chain_head}); whoever can rewrite the bundle can recompute it, "
                      "so compare that head with the one recorded at scan time", highlight=False)
    elif result.embedded_key and result.fingerprint:
        console.print(f"signature checked against the key embedded in the bundle (signer.pub, "
                      f"{result.fingerprint}): trust rests on that key; compare the fingerprint "
                      "with the signer's or pass --pubkey", highlight=False)
    elif result.fingerprint:
        console.print(f"signature checked against --pubkey ({result.fingerprint})",
                      highlight=False)
