"""The `verify` command: is an evidence bundle as the scan wrote it?"""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

from rich.console import Console
from rich.text import Text

from scanner.evidence.bundle_verify import Verification, verify_bundle
from scanner.reporters.terminal import labelled

VERIFY_EXIT_CODES = """exit codes:
  0  intact and authentic: every file matches the manifest, the chain holds, and the
     signature is good for the --pubkey key
  1  tampered: each altered, missing or added file is named
  2  not a readable annexscan bundle, or a bad --pubkey
  3  intact, but authenticity not checked: no --pubkey (or an unsigned bundle), so whoever
     rewrote the bundle could have recomputed its hashes and signed it with their own key"""
UNAUTHENTICATED = 3


def add_verify_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "verify", help="check an evidence bundle was not altered",
        description="Recompute the SHA-256 of every file of a bundle written by `scan --bundle`, "
        "check the manifest's hash chain and its Ed25519 signature, and name every altered, "
        "missing or added file.", epilog=VERIFY_EXIT_CODES)
    parser.add_argument("bundle", type=Path, metavar="BUNDLE.zip",
                        help="the evidence bundle scan --bundle wrote")
    parser.add_argument("--pubkey", type=Path, metavar="KEY",
                        help="the signer's Ed25519 public key (PEM, or an OpenSSH "
                        "'ssh-ed25519 AAAA...' line); without it the signature is checked "
                        "against the key inside the bundle, which proves nothing about who "
                        "signed")


def verify_command(args: argparse.Namespace, console: Console) -> int:
    result = verify_bundle(args.bundle, args.pubkey)
    _print_trust(result, console)
    if result.authentic:
        console.print(f"intact: {result.files} files match the manifest, signed by the "
                      f"--pubkey key", style="bold green", highlight=False)
        return 0
    if result.intact:
        console.print(f"integrity checked, authenticity NOT checked: {result.files} files match "
                      "the manifest, but without --pubkey nothing shows who wrote it",
                      style="bold yellow", highlight=False)
        return UNAUTHENTICATED
    console.print(f"TAMPERED: {len(result.problems)} problem(s)", style="bold red")
    rows = [(Text(f"  {problem.kind}"),  # plain Text: a zip entry name is never markup
             Text(printable(problem.name)
                  + (f"  ({printable(problem.detail)})" if problem.detail else "")))
            for problem in result.problems]
    console.print(labelled(rows), highlight=False)  # long names wrap under themselves
    return 1


def printable(text: str) -> str:
    """Control and format characters (ANSI escapes, carriage returns, bidi overrides) of a zip
    entry name escaped, so a name cannot redraw the terminal over the verdict."""
    return "".join(_escaped(c) if unicodedata.category(c)[0] == "C" else c for c in text)


def _escaped(char: str) -> str:
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


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
