"""Shared helpers of the host_system tests (firewall, patches, time, logs, anti-malware): the
real collectors through the LocalTransport on sysroot trees built by the tests (apt trees, real
journal files, ClamAV headers) or in a private network namespace (nft rules, daemons), and a
replay transport for tools this machine cannot run (their recorded outputs in tests/data)."""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes import Collected
from scanner.hostprobes.registry import collector_registry
from scanner.model import ProbeResult
from scanner.transports.base import CommandResult, HostContext
from scanner.transports.local import LocalTransport

RECORDED = Path(__file__).parent / "data" / "host_system" / "recorded"
REPO = Path(__file__).parent.parent
DAY = 86400
COLLECTOR = {"host.firewall": "firewall", "host.patches": "packages", "host.time_sync": "time",
             "host.log_retention": "logs", "host.antivirus": "antivirus"}


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


READ_ONLY = ("cat ", "ls -1A -- ", "head -c ", "find ", "df -P ", "date +%s", "dpkg-query ",
             "rpm -q ")


class ReplayTransport:
    """Answers commands from recorded outputs; runs the read-only ones (cat, ls, head, find,
    df, date, dpkg-query, rpm -q) for real on the sysroot; any other is "not found" (127)."""

    def __init__(self, answers: dict[str, tuple[int | None, str, str]]):
        self.answers = answers

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        wrapped, command = command, command.split("; ", 1)[1]  # without HostContext's PATH
        if command not in self.answers and command.startswith(READ_ONLY):
            return LocalTransport().run(wrapped, timeout)
        code, out, err = self.answers.get(command, (127, "", f"sh: 1: {command}: not found"))
        if code is None:
            return CommandResult(command, None, error=f"timed out after {timeout:g}s")
        return CommandResult(command, code, out, err)

    def describe(self) -> str:
        return "replay"

    def close(self) -> None:
        pass


@functools.cache
def defaults(control: str) -> dict:
    return load_catalog().get(control).defaults()


def collect(control: str, ctx: HostContext) -> Collected:
    return collector_registry()[COLLECTOR[control]](ctx, [defaults(control)])


def judge(control: str, collected: Collected | dict, **params):
    data = collected if isinstance(collected, dict) else \
        {**collected.data, "error": collected.error}
    obs = Observations({"host": ProbeResult("host", "local", {COLLECTOR[control]: data})})
    return evaluate(control, obs, {**defaults(control), **params})


def local(root: Path | str = "/") -> HostContext:
    return HostContext(LocalTransport(), timeout=60, root=str(root))


def replay(answers: dict[str, tuple[int, str, str]], root: Path | str = "/") -> HostContext:
    return HostContext(ReplayTransport(answers), timeout=10, root=str(root))


def write_tree(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Files of a sysroot; None makes an empty directory."""
    for rel, content in files.items():
        path = root / rel.lstrip("/")
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return root


APT_AUTO = {
    "/etc/apt/apt.conf.d/20auto-upgrades":
        '// enabled by the installer\nAPT::Periodic::Update-Package-Lists "1";\n'
        'APT::Periodic::Unattended-Upgrade "1";\n',
    "/etc/apt/apt.conf.d/50unattended-upgrades":
        'Unattended-Upgrade::Origins-Pattern {\n  // "origin=Debian,label=Debian";\n'
        '  "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";\n};\n'
        '/* Unattended-Upgrade::Mail "root"; */\n',
}
INSTALLED = {"libfoo1": "1.0-1", "libbar1": "2.0-1", "unattended-upgrades": "2.9.1+nmu3"}


def _stanza(name: str, version: str, status: bool) -> str:
    """A dpkg status entry (installed) or a Packages list entry."""
    where = "Status: install ok installed\n" if status else \
        f"Filename: pool/{name}_{version}_amd64.deb\nSize: 1\n"
    return (f"Package: {name}\n{where}Version: {version}\nArchitecture: amd64\n"
            "Maintainer: t <t@example.org>\nInstalled-Size: 1\nDescription: test package\n\n")


def apt_root(root: Path, available: dict[str, str], installed: dict[str, str] = INSTALLED,
             security: bool = True, list_age_days: float = 0, files: dict | None = None) -> Path:
    """A Debian sysroot that the real apt reads with -o Dir=: one repository (a security one,
    or the main archive), its lists `list_age_days` old, and a dpkg status."""
    suite, label = ("bookworm-security", "Debian-Security") if security else ("bookworm",
                                                                              "Debian")
    host = "security.example.org_debian" if security else "deb.example.org_debian"
    lists = f"/var/lib/apt/lists/{host}_dists_{suite}"
    write_tree(root, {
        "/etc/apt/sources.list": f"deb [trusted=yes] http://{host.replace('_', '/')} {suite} "
                                 "main\n",
        f"{lists}_Release": f"Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: {suite}"
                            "\nArchitectures: amd64\nComponents: main\n",
        f"{lists}_main_binary-amd64_Packages": "".join(
            _stanza(n, v, False) for n, v in available.items()),
        "/var/lib/dpkg/status": "".join(_stanza(n, v, True) for n, v in installed.items()),
        "/var/log/apt": None, "/var/cache/apt/archives/partial": None,
        "/var/lib/apt/lists/partial": None, **APT_AUTO, **(files or {})})
    stamp = time.time() - list_age_days * DAY
    for path in (root / lists.lstrip("/")).parent.glob("*_*"):
        os.utime(path, (stamp, stamp))
    return root


JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
MACHINE = "0123456789abcdef0123456789abcdef"


def make_journal(root: Path, ages_days: list[float], name: str = "system.journal") -> Path:
    """A real journal file with one entry per age, written by systemd-journal-remote from the
    journal export format."""
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        pytest.skip("needs systemd-journal-remote (apt-get install systemd-journal-remote)")
    now = time.time()
    export = "".join(
        f"__CURSOR=s=1;i={i}\n__REALTIME_TIMESTAMP={int((now - age * DAY) * 1e6)}\n"
        f"__MONOTONIC_TIMESTAMP={i + 1}\n_BOOT_ID={MACHINE}\nMESSAGE=entry {i}\n\n"
        for i, age in enumerate(sorted(ages_days, reverse=True)))
    path = root / "var" / "log" / "journal" / MACHINE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([JOURNAL_REMOTE, f"--output={path}", "-"], input=export, text=True,
                   check=True, capture_output=True)
    return path


SNIPPET = ("import json, sys; from scanner.transports.local import LocalTransport; "
           "from scanner.transports.base import HostContext; "
           "from scanner.hostprobes.registry import collector_registry; "
           "c = collector_registry()[sys.argv[1]](HostContext(LocalTransport(), timeout=10), "
           "json.loads(sys.argv[2])); "
           "print(json.dumps({'data': c.data, 'error': c.error, "
           "'commands': [r.evidence() for r in c.commands]}))")


def collect_in_netns(setup: str, as_nobody: bool = False, collector: str = "firewall",
                     params: list[dict] | None = None, tools: tuple[str, ...] = ("nft",),
                     daemons: bool = False) -> dict:
    """Run `setup` (load rules, start daemons) in a private network namespace (the machine's own
    firewall and services are untouched), then the real collector there through the
    LocalTransport; its data, error and commands as JSON. With `daemons`, private mount and PID
    namespaces too: a private /run, and whatever `setup` started dies with the collector."""
    missing = [t for t in ("unshare", *tools) if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (see the Makefile's system packages)")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("cannot create a network namespace here (needs root / CAP_SYS_ADMIN)")
    python = [sys.executable, "-c", SNIPPET, collector, json.dumps([{}] if params is None
                                                                   else params)]
    if as_nobody:
        python = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + python
    unshare = ["unshare", "-n"] + (["-m", "-p", "-f"] if daemons else [])
    proc = subprocess.run([*unshare, "sh", "-c", f"{setup} && exec {shlex.join(python)}"],
                          cwd=REPO, text=True, capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cvd(built: datetime, stime: bool = True) -> bytes:
    """A ClamAV database: 512-byte "ClamAV-VDB:..." header, then (here, fake) tar.gz data."""
    fields = [built.strftime("%d %b %Y %H-%M %z"), "27100", "2042046", "90",
              "0" * 32, "x" * 40, "raynman"] + ([str(int(built.timestamp()))] if stime else [])
    return ("ClamAV-VDB:" + ":".join(fields)).ljust(512).encode() + b"\x1f\x8b\x08\x00" * 8


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


NFT_DROP = """table inet filter {
  chain input {
    type filter hook input priority 0; policy %s;
    ct state established,related accept
    iif lo accept
    tcp dport 22 counter accept
  }
}
"""


def nft_setup(tmp_path: Path, rules: str) -> str:
    (tmp_path / "rules.nft").write_text(rules)
    return f"nft -f {tmp_path / 'rules.nft'}"
