"""Host checks write nothing on the audited machine (issue 8 item 14): the real CLI runs every
host collector under `strace -f`, on this machine's real root (local target), on a sysroot
(apt and journalctl pointed at a tree), and over SSH on a real sshd traced from outside, and
the trace must show no write-type syscall outside the report directory and a few device
files. See strace_support for what counts as a write and how paths and processes are
followed. Other tests show the same trace catches a write: the old `apt-get -s` in the real
collector, and each kind of write syscall made by real commands.

Needs root (the host checks read root-only files and the sshd logs in as root); 20-45 s on
two shared cores, most of it the three traced scans.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hostile_harness import record
from hostsys_helpers import apt_root, collect_in_netns, judge, make_journal
from scanner.catalog.controls import load_catalog
from scanner.hostprobes.packages import APT_READ_ONLY
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
    return [PYTHON, "-m", "scanner.cli.main", "scan", *profiles, "--profile", str(backups),
            "--no-progress", "--format", "json", "-o", str(out), "--command-timeout", "20",
            "--embed-evidence",  # assert_ran reads the host commands from the report
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


def assert_ran(out: Path, log: str, address: str, trace: Trace, pids: set[int] | None) -> dict:
    """The scan ran the collectors, and the trace saw their programs (`pids`: the processes
    to look at, all when None): no test passes on an empty trace."""
    import json

    report = json.loads((out / "annexscan.json").read_text())
    target = next(t for t in report["targets"] if t["address"] == address)
    host = target["evidence"]["host"]
    assert {"packages", "sshd", "backups", "logs", "firewall", "disk"} <= set(host), log
    commands = [c["command"] for cs in host.values() if isinstance(cs, list) for c in cs]
    assert any(c.startswith("apt-get ") and "-s dist-upgrade" in c for c in commands)
    programs = {runs[-1] for pid, runs in trace.execs.items() if pids is None or pid in pids}
    assert {"/usr/bin/apt-get", SSHD, "/usr/bin/head", "/usr/bin/find"} <= programs, programs
    return host


def test_local_host_checks_write_nothing(tmp_path):
    """Every collector on this machine's real root: apt-get, sshd -T, nft, findmnt, ..."""
    out = tmp_path / "out"
    start = time.monotonic()
    backups = backups_profile(tmp_path, str(tmp_path / "backups"))
    trace, log = traced(scan_argv(out, backups, "local"), tmp_path)
    host = assert_ran(out, log, "local", trace, None)
    assert any(c["command"].startswith("head -v -c") for c in host["backups"]), host["backups"]
    writes = forbidden(trace, [str(out)])
    assert not writes, "host checks wrote:\n" + "\n".join(map(str, writes))
    assert any(w.path.startswith(str(out)) for w in trace.writes), "the report's writes show"
    seconds = time.monotonic() - start
    print(f"local: {len(trace.execs)} processes traced in {seconds:.1f}s")
    record("14", f"every host check on the real root, traced ({len(trace.execs)} processes)",
           {"seconds": seconds}, status="no write")


def test_sysroot_host_checks_write_nothing(tmp_path):
    """On a sysroot, apt runs with -o Dir= and journalctl -D reads a real journal there."""
    root = apt_root(tmp_path / "root", {"libfoo1": "1.0-1"}, files={
        "/etc/systemd/journald.conf": "[Journal]\nStorage=persistent\n"})
    make_journal(root, [1, 30])
    out = tmp_path / "out"
    backups = backups_profile(tmp_path, "/srv/backups", root)
    trace, log = traced(scan_argv(out, backups, "--sysroot", str(root), "local"), tmp_path)
    host = assert_ran(out, log, "local", trace, None)
    assert any(c["command"].startswith("journalctl ") for c in host["logs"])
    assert any(c["command"].startswith("head -v -c") for c in host["backups"]), host["backups"]
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


# ---------------------------------------------------------------- the trace can fail

COLLECT_PACKAGES = (
    "import json, sys; import scanner.hostprobes.packages as p; p.APT_READ_ONLY = sys.argv[2]; "
    "from scanner.transports.base import HostContext; "
    "from scanner.transports.local import LocalTransport; "
    "c = p.collect(HostContext(LocalTransport(), timeout=20, root=sys.argv[1]), [{}]); "
    "print(json.dumps(c.data.get('pending_security')), c.error)")


@pytest.mark.parametrize("options,written", [
    ("", ["/var/log/apt/eipp.log.xz"]),
    (APT_READ_ONLY, []),
], ids=["plain apt-get -s", "the collector's options"])
def test_trace_catches_the_apt_simulation_that_writes(tmp_path, options, written):
    """The real packages collector with and without its read-only options: as root, plain
    `apt-get -s` writes its planner log (the defect of issue 8 item 14), and the trace says so."""
    root = apt_root(tmp_path / "root", {"libfoo1": "1.0-2"})
    trace, log = traced([PYTHON, "-c", COLLECT_PACKAGES, str(root), options], tmp_path)
    assert '["libfoo1"]' in log, log
    paths = {w.path for w in forbidden(trace, [])}
    assert {str(root) + path for path in written} <= paths, paths
    assert all(p.startswith(str(root)) for p in paths) if written else not paths, paths
    if written:
        assert any(w.program.endswith("/apt-get") for w in forbidden(trace, []))


WRITERS = """set -e
cd "$1"
touch a; mkdir d; mv a d/b; ln -s d/b s; ln d/b h; chmod 600 h; chown 0:0 h
truncate -s 1 h; touch -d 2020-01-01 h; mkfifo f; rm s f; : > o; rmdir d 2>/dev/null || true
python3 -c '
import os, socket
os.mkdir("p"); os.rename("p", "q"); os.rmdir("q")
try:
    os.setxattr("h", "user.annexscan", b"1")
except OSError:
    pass  # refused or not: the attempt is what the trace must show
socket.socket(socket.AF_UNIX).bind("u.sock")
os.truncate("h", 0); os.chmod("h", 0o644)
'
"""
WRITTEN = ["a", "d", "d/b", "s", "h", "f", "o", "p", "q", "u.sock"]


@pytest.mark.parametrize("allowed", [False, True], ids=["elsewhere", "in the allowed place"])
def test_trace_catches_every_kind_of_write(tmp_path, allowed):
    """Real commands creating, renaming, linking, chmod/chown-ing, truncating, stamping and
    removing files by relative paths: each write is found at its absolute path, and none is
    reported when they all happen in an allowed directory."""
    place = tmp_path / "place"
    place.mkdir()
    trace, log = traced(["sh", "-c", WRITERS, "writers", str(place)], tmp_path)
    found = forbidden(trace, [str(place)] if allowed else [])
    if allowed:
        assert not found, "\n".join(map(str, found))
        return
    paths = {w.path for w in found}
    assert {str(place / p) for p in WRITTEN} <= paths, (paths, log)
    assert {"openat", "mkdir", "renameat2", "rename", "symlinkat", "linkat", "fchmodat",
            "fchownat", "utimensat", "mknodat", "unlinkat", "rmdir", "setxattr", "bind",
            "truncate"} <= {w.syscall for w in found}, {w.syscall for w in found}


# ---------------------------------------------------------------- over SSH

def traced_sshd(tmp: Path, trace_file: Path) -> tuple[Proc, Path, Path]:
    """A real sshd on SSH_ADDRESS:22 under strace -f (in a PID namespace, like the lab's),
    root logging in by key; returns it, the client key and known_hosts.

    Debian's bash sources ~/.bashrc before every command sshd runs; that file is the host's,
    not the scanner's (this machine's runs `pyenv init`, which rewrites pyenv's shims each
    time), so sshd's private mount namespace shows it empty."""
    from accounts_support import need_root_sshd, ssh_key
    from scanner.lab.sshd import PRIVSEP_DIR

    need_root_sshd()
    host_key, client = tmp / "host_ed25519", tmp / "client_ed25519"
    host_pub, client_pub = ssh_key(host_key, "ed25519"), ssh_key(client, "ed25519")
    (tmp / "authorized_keys").write_text(client_pub)
    (tmp / "known_hosts").write_text(f"{SSH_ADDRESS} {' '.join(host_pub.split()[:2])}\n")
    conf = tmp / "sshd.conf"
    conf.write_text(f"HostKey {host_key}\nListenAddress {SSH_ADDRESS}:22\nPidFile {tmp}/sshd.pid"
                    f"\nAuthorizedKeysFile {tmp}/authorized_keys\nStrictModes no\nUsePAM no\n"
                    "PermitRootLogin prohibit-password\n")
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    home = pwd.getpwnam("root").pw_dir
    sshd = Proc("traced sshd", strace_command(trace_file) + [
        "unshare", "--pid", "--mount", "--kill-child=SIGTERM", "--", "sh", "-c",
        f'[ ! -e {home}/.bashrc ] || mount --bind /dev/null {home}/.bashrc; exec "$@"', "sh",
        SSHD, "-D", "-e", "-f", str(conf)], tmp / "sshd.log", death_signal=signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "Server listening" not in sshd.log_tail():
        assert not sshd.exited(), sshd.log_tail()
        time.sleep(0.1)
    return sshd, client, tmp / "known_hosts"


def stop_sshd(sshd: Proc) -> None:
    """SIGTERM to sshd itself, so that it, unshare and strace end on their own and the trace
    is complete; then whatever is left."""
    for pid in _tree(sshd.popen.pid):
        try:
            if os.readlink(f"/proc/{pid}/exe") == SSHD:
                os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    try:
        sshd.popen.wait(10)
    finally:
        sshd.stop()


def test_host_checks_over_ssh_write_nothing(tmp_path):
    """The same scan over SSH: the commands sshd ran for the scanner (its session shells and
    everything they started) write nothing; sshd's own writes (utmp, logs) are not theirs."""
    trace_file, out = tmp_path / "sshd-trace.txt", tmp_path / "out"
    sshd, client, known_hosts = traced_sshd(tmp_path, trace_file)
    start = time.monotonic()
    try:
        backups = backups_profile(tmp_path, str(tmp_path / "backups"))
        run = subprocess.run(scan_argv(out, backups, "--ssh-user", "root", "--ssh-key",
                                       str(client), "--known-hosts", str(known_hosts),
                                       "--timeout", "2", SSH_ADDRESS),
                             cwd=REPO, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        stop_sshd(sshd)
    trace = parse(trace_file, "/")
    seconds = time.monotonic() - start
    owned = trace.owned(SSHD)
    assert_ran(out, run.stdout + run.stderr, SSH_ADDRESS, trace, owned)
    writes = forbidden(trace, [], owned)
    assert not writes, "host checks wrote over SSH:\n" + "\n".join(map(str, writes))
    record("14", f"every host check over SSH, traced ({len(owned)} processes)",
           {"seconds": seconds}, status="no write")
    print(f"ssh: {len(owned)} processes of the scanner's sessions, "
          f"{len(trace.writes) - len([w for w in trace.writes if w.pid in owned])} "
          "writes by sshd itself left aside")


def test_trace_over_ssh_catches_a_command_that_writes(tmp_path):
    """The filter keeps the scanner's commands and leaves sshd's own writes aside: a `touch`
    run over the SSH transport is found, sshd's pid file is not."""
    from scanner.transports.ssh import SshAccess, SshTransport

    trace_file, victim = tmp_path / "sshd-trace.txt", tmp_path / "victim"
    sshd, client, known_hosts = traced_sshd(tmp_path, trace_file)
    try:
        transport = SshTransport(SSH_ADDRESS, SSH_ADDRESS, SshAccess(
            user="root", key_file=client, known_hosts=known_hosts, use_agent=False), 5.0)
        try:
            assert transport.run(f"cat /etc/hostname; touch {victim}", timeout=10).ok
        finally:
            transport.close()
    finally:
        stop_sshd(sshd)
    trace = parse(trace_file, "/")
    assert victim.exists()
    assert {w.path for w in forbidden(trace, [], trace.owned(SSHD))} == {str(victim)}
    assert str(tmp_path / "sshd.pid") in {w.path for w in forbidden(trace, [])}


RECORDED_TRACE = r"""100 execve("/usr/sbin/sshd", ["sshd", "-D"], 0x1 /* 3 vars */) = 0
100 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>
7 execve("/bin/bash", ["bash", "-c", "x"], 0x2 /* 3 vars */) = 0
100 <... clone resumed>)                = 2 /* 7 in strace's PID NS */
7 vfork( <unfinished ...>
8 chdir("/srv") = 0
8 mkdir("new, dir", 0777) = -1 EEXIST (File exists)
7 <... vfork resumed>)                  = 8
8 openat(3</var/a, b>, "log", O_WRONLY|O_APPEND) = 4</var/a, b/log>
8 openat(AT_FDCWD</srv>, "ro", O_RDONLY|O_CLOEXEC) = 5</srv/ro>
100 openat(AT_FDCWD</>, "/var/log/btmp", O_WRONLY|O_APPEND) = 5</var/log/btmp>
"""


def test_trace_parser_on_recorded_lines(tmp_path):
    """strace's interleaving: a child's lines before its parent's clone returns (pid 7 is
    sshd's child, shown as 2 inside sshd's PID namespace), a working directory followed for
    mkdir, a descriptor whose path holds a comma, a failed attempt, a read-only open."""
    path = tmp_path / "trace.txt"
    path.write_text(RECORDED_TRACE)
    trace = parse(path, "/")
    assert trace.owned(SSHD) == {7, 8}
    assert [(w.pid, w.path, w.failed) for w in trace.writes] == [
        (8, "/srv/new, dir", True), (8, "/var/a, b/log", False), (100, "/var/log/btmp", False)]
    assert [w.path for w in forbidden(trace, ["/srv"], trace.owned(SSHD))] == ["/var/a, b/log"]
