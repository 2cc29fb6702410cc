"""`annexscan demo`: start the built-in lab, scan it, write reports, stop the lab."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from scanner.errors import ConfigError
from scanner.model import INTERRUPTED
from scanner.outputs import write_file
from scanner.reporters.registry import FORMATS
from scanner.netns import can_isolate, isolated_command

if TYPE_CHECKING:
    from scanner.lab import Lab

DEFAULT_PROFILES = ["3douest"]
DEFAULT_OUTPUT = Path("reports/demo")


def demo_command(args: argparse.Namespace, console: Console) -> int:
    isolate, _ = can_isolate()
    if isolate:
        # Re-run ourselves where only the lab listens, so the scan sees nothing else.
        import subprocess

        return subprocess.call(isolated_command([sys.executable, "-m", "scanner", *sys.argv[1:]]))
    from scanner.cli.commands import Entry, execute_scan
    from scanner.lab import Lab, LabError, lab_available
    from scanner.scope.targets import Target
    from scanner.transports.ssh import SshAccess

    if os.geteuid() != 0:
        raise ConfigError("demo: needs root (the lab's servers, a private network namespace)")
    ok, why = lab_available()
    if not ok:
        raise ConfigError(f"demo: {why}")
    args.output_dir = args.output_dir or DEFAULT_OUTPUT
    args.bundle = args.bundle or args.output_dir / "evidence.zip"
    args.format = args.format or ",".join(FORMATS)  # the demo shows every format
    profiles = args.profiles or DEFAULT_PROFILES
    try:
        with Lab() as lab:
            show_lab(lab, console)
            if args.ca_bundle is None:
                args.ca_bundle = lab.ca_bundle
            known_hosts = lab.write_known_hosts()
            if args.sign_key is None:
                args.sign_key = demo_signing_key(lab.workdir, args.output_dir)
            entries = [Entry(Target(h.address, h.address), profiles,
                             SshAccess(user="root", key_file=lab.ssh_client_key,
                                       known_hosts=known_hosts, use_agent=False)
                             if h.ssh_port else None)
                       for h in lab.hosts.values()]
            result = execute_scan(entries, args, console)
    except LabError as exc:
        raise ConfigError(f"demo: the lab did not start: {exc}") from None
    console.print(f"demo scan of {len(entries)} lab hosts with {', '.join(profiles)} took "
                  f"{result.duration_s} s; reports in {args.output_dir}/ "
                  f"(a real scan would exit {result.exit_code}; the lab is meant to fail). "
                  f"Check the bundle: annexscan verify {args.bundle} --pubkey "
                  f"{args.output_dir / 'demo-signing-key.pub'}",
                  highlight=False)
    return INTERRUPTED if result.exit_code == INTERRUPTED else 0


def demo_signing_key(workdir: Path, output_dir: Path) -> Path:
    """A throw-away Ed25519 key for the demo bundle: the private half stays in the lab's
    work dir (removed with the lab), the public half is written beside the reports."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = workdir / "demo-signing-key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    output_dir.mkdir(parents=True, exist_ok=True)
    write_file(output_dir / "demo-signing-key.pub", key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), "-o")
    return private


def show_lab(lab: Lab, console: Console) -> None:
    from scanner.cli.lab_command import hosts_table

    console.print(hosts_table(lab.hosts.values(),
                              "demo lab (real nginx, OpenSSH and TCP servers on loopback)"))
    console.print("Host checks log in over SSH (lab key, host keys checked) to the lab's sshd "
                  "hosts, which run on this machine: they report on this machine itself "
                  "(its firewall, patches, disks, logs), so expect findings there too.",
                  highlight=False)
