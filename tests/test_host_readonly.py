"""Host checks write nothing on the audited machine (issue 8 item 14): the real CLI runs every
host collector under `strace -f`, on this machine's real root (local target), on a sysroot
(apt and journalctl pointed at a tree), and over SSH on a real sshd traced from outside, and
the trace must show no write-type syscall outside the report directory and a few device
files. See strace_support for what counts as a write and how paths and processes are
followed. Other tests show the same trace catches a write: the old `apt-get -s` in the real
collector, and each kind of write syscall made by real commands.

Needs root (the host checks read root-only files and the sshd logs in as root); about 25 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hostsys_helpers import apt_root, collect_in_netns, judge, make_journal
from scanner.catalog import load_catalog
from scanner.lab.procs import Proc, _tree
from scanner.model import Status
from strace_support import Trace, Write, outside, parse, strace_command

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="host checks read root-only files, "
                                "and the SSH case runs an sshd logging in as root: needs root")

REPO = Path(__file__).parent.parent
PYTHON = sys.executable
SSHD = "/usr/sbin/sshd"
SSH_ADDRESS = "127.0.0.41"  # none of the lab's addresses (127.0.0.2-8)
# Writes that are not writes to the machine: the null and terminal devices, a process's own
# /proc entries (e.g. oom_score_adj).
DEVICES = ["/dev/null", "/dev/tty", "/proc/self/", "/proc/thread-self/"]


def host_profiles() -> list[str]:
    """Every built-in profile with a host check (a control with a collector): together they
    run every collector."""
    catalog = load_catalog()
    names = []
    for path in sorted((REPO / "profiles").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        controls = {ref["control"] for clause in doc.get("clauses", [])
                    for ref in clause.get("controls", [])}
        if any(catalog.get(c).collector for c in controls if c in catalog):
            names.append(path.stem)
    return names


def backups_profile(tmp: Path, location: str, root: Path = Path("/")) -> Path:
    """host.backups pointed at a real tree at `location` under `root` (the default location
    does not exist here): an OpenPGP file, a 7z archive whose end header is read, a clear file."""
    tree = root / location.lstrip("/") / "daily"
    tree.mkdir(parents=True)
    (tree / "db.tar.gpg").write_bytes(b"\x8c\x0d\x04\x09\x03\x02" + os.urandom(100))
    tail = b"\x01\x04\x06\x00\x01\x09"
    (tree / "files.7z").write_bytes(b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\0" * 4 + (16).to_bytes(
        8, "little") + len(tail).to_bytes(8, "little") + b"\0" * 4 + os.urandom(16) + tail)
    (tree / "notes.txt").write_text("restore tested\n")
    profile = tmp / "backups.yaml"
    profile.write_text(yaml.safe_dump({
        "id": "readonly-backups", "title": "Backups on a tree of the test", "clauses": [{
            "id": "RO-1", "section": "1", "title": "Backups", "requirement": "Backups kept.",
            "controls": [{"control": "host.backups", "parameters": {"path": location}}]}]}))
    return profile


def scan_argv(out: Path, backups: Path, *extra: str) -> list[str]:
    profiles = [a for name in host_profiles() for a in ("--profile", name)]
    return [PYTHON, "-m", "scanner.cli", "scan", *profiles, "--profile", str(backups),
            "--no-progress", "--format", "json", "-o", str(out), "--command-timeout", "20",
            *extra]


def traced(argv: list[str], tmp: Path, timeout: float = 180) -> tuple[Trace, str]:
    """`argv` run under strace from an empty working directory of its own."""
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    trace_file = tmp / "trace.txt"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(strace_command(trace_file) + argv, cwd=cwd, env=env, timeout=timeout,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return parse(trace_file, str(cwd)), run.stdout + run.stderr


def unnamed_temporary(write: Write) -> bool:
    """An O_TMPFILE open in the system's temporary directory: a file with no name, gone when
    closed (apt splits a clear-signed InRelease into one); giving it a name would take a
    linkat, which is a write of its own."""
    tmpdir = os.environ.get("TMPDIR", "/tmp").rstrip("/") or "/"
    return "O_TMPFILE" in write.detail and write.path in ("/tmp", tmpdir)


def forbidden(trace: Trace, allowed: list[str], pids: set[int] | None = None) -> list[Write]:
    writes = [w for w in trace.writes if pids is None or w.pid in pids]
    return [w for w in outside(writes, allowed + DEVICES) if not unnamed_temporary(w)]


def assert_ran(out: Path, log: str, address: str) -> dict:
    import json

    report = json.loads((out / "annexscan.json").read_text())
    target = next(t for t in report["targets"] if t["address"] == address)
    host = target["evidence"]["host"]
    assert {"packages", "sshd", "backups", "logs", "firewall", "disk"} <= set(host), log
    commands = [c["command"] for cs in host.values() if isinstance(cs, list) for c in cs]
    assert any(c.startswith("apt-get ") and "-s dist-upgrade" in c for c in commands)
    assert any(c.startswith("head -v -c") for c in commands), "backup heads were read"
    return host


def test_local_host_checks_write_nothing(tmp_path):
    """Every collector on this machine's real root: apt-get, sshd -T, nft, findmnt, ..."""
    out = tmp_path / "out"
    start = time.monotonic()
    backups = backups_profile(tmp_path, str(tmp_path / "backups"))
    trace, log = traced(scan_argv(out, backups, "local"), tmp_path)
    assert_ran(out, log, "local")
    writes = forbidden(trace, [str(out)])
    assert not writes, "host checks wrote:\n" + "\n".join(map(str, writes))
    assert len(trace.writes) > 10, "the trace saw the report being written"
    assert any(w.path.startswith(str(out)) for w in trace.writes)
    print(f"local: {len(trace.execs)} programs traced in {time.monotonic() - start:.1f}s")


def test_sysroot_host_checks_write_nothing(tmp_path):
    """On a sysroot, apt runs with -o Dir= and journalctl -D reads a real journal there."""
    root = apt_root(tmp_path / "root", {"libfoo1": "1.0-1"}, files={
        "/etc/systemd/journald.conf": "[Journal]\nStorage=persistent\n"})
    make_journal(root, [1, 30])
    out = tmp_path / "out"
    backups = backups_profile(tmp_path, "/srv/backups", root)
    trace, log = traced(scan_argv(out, backups, "--sysroot", str(root), "local"), tmp_path)
    host = assert_ran(out, log, "local")
    assert any(c["command"].startswith("journalctl ") for c in host["logs"])
    writes = forbidden(trace, [str(out)])
    assert not writes, "host checks wrote:\n" + "\n".join(map(str, writes))


# chronyc's own Unix socket was the one write the local trace found: it now asks over UDP
CHRONY_SERVER = "bindaddress 127.0.0.2\nlocal stratum 8\nallow 127.0.0.0/8\ncmdport 0\n" \
                "bindcmdaddress /\npidfile /run/chrony/server.pid\n"
CHRONY_CLIENT = "server 127.0.0.2 iburst minpoll -4 maxpoll -4\nport 0\n" \
                "pidfile /run/chrony/client.pid\n"


@pytest.mark.parametrize("client,status,reason", [
    (CHRONY_CLIENT, Status.PASS, "leap status Normal"),
    (None, Status.FAIL, "the chrony daemon is not running"),
    (CHRONY_CLIENT + "cmdport 0\n", Status.ERROR, "chronyd runs but does not answer on its "
                                                  "command port"),
], ids=["synchronised", "no chronyd", "cmdport 0"])
def test_chrony_asked_over_loopback_udp(tmp_path, client, status, reason):
    """A real chronyd synchronised to a real time server, no chronyd, and a chronyd whose
    command port is off (not 'not running': chronyc cannot tell, the process list can)."""
    if not shutil.which("chronyd"):
        pytest.skip("needs chronyd (apt-get install chrony)")
    setup = "ip link set lo up && mount -t tmpfs none /run && mount -t proc proc /proc && " \
            "mkdir -p /run/chrony"
    if client:
        (tmp_path / "server.conf").write_text(CHRONY_SERVER)
        (tmp_path / "client.conf").write_text(client)
        setup += f" && chronyd -x -u root -f {tmp_path}/server.conf && chronyd -x -u root " \
                 f"-f {tmp_path}/client.conf"
        if "cmdport 0" not in client:  # cmdport 0 closes chronyd's Unix socket too
            setup += " && chronyc -n waitsync 40 0 0 0.25 >/dev/null"
    seen = collect_in_netns(setup, collector="time", tools=("chronyd", "ip"), daemons=True)
    assert [c["command"] for c in seen["commands"]][1] == "chronyc -h 127.0.0.1,::1 -n tracking"
    verdict = judge("host.time_sync", {**seen["data"], "error": seen["error"]})
    said = f"{verdict.reason} {verdict.observed}"
    assert verdict.status == status and reason in said, said
