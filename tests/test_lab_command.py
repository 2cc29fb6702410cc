"""`annexscan lab up|status|exec|down` for real: the lab's nginx, sshds and listeners in a named
network namespace of their own, a real scan through `lab exec`, and nothing left after `down`
(no live process, namespace, work dir or state file), also when `up` is killed half-way.

Each test runs a lab of its own name (ANNEXSCAN_LAB), never a lab a user started by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.cli.main import main
from scanner.lab import lab_missing
from scanner.lab.hosts import HOSTS, expected_verdicts
from scanner.lab.namespace import netns_path
from scanner.lab.procs import alive
from scanner.lab.state import STATE_DIR

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(lab_missing()) or not shutil.which("ip"),
    reason="the lab command needs root, nginx, sshd, ssh-keygen, unshare and ip")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def name(request, monkeypatch) -> str:
    """A lab name of this test's own; its lab is brought down whatever the test did."""
    lab = f"annexscan-test-{os.getpid()}-{request.node.name.removeprefix('test_')[:8]}"
    lab = lab.replace("_", "-")
    monkeypatch.setenv("ANNEXSCAN_LAB", lab)
    monkeypatch.setenv("COLUMNS", "80")
    yield lab
    main(["lab", "down"])


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """annexscan in this process (never `lab exec`: it would move the test into the lab)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def annexscan(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """annexscan as a process of its own (`lab up` leaves a keeper running, `lab exec`
    enters the lab's namespace)."""
    return subprocess.run([sys.executable, "-m", "scanner", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def record_of(name: str) -> dict:
    return json.loads((STATE_DIR / f"{name}.json").read_text())


def recorded_processes(record: dict) -> dict[int, str]:
    procs = [record["keeper"], *record.get("servers", [])]
    return {p["pid"]: p["start"] for p in procs}


def assert_gone(name: str, record: dict) -> None:
    still = [pid for pid, start in recorded_processes(record).items() if alive(pid, start)]
    assert not still, f"processes of the lab still running: {still}"
    assert not netns_path(name).exists(), "the lab's network namespace is left"
    assert not Path(record["workdir"]).exists(), "the lab's keys and certificates are left"
    assert not (STATE_DIR / f"{name}.json").exists(), "the state file is left"


def test_up_exec_status_down(name, tmp_path, capsys):
    code, out, _ = cli(capsys, "lab", "down")
    assert code == 0 and "not up" in out
    assert cli(capsys, "lab", "status")[0] == 1

    up = annexscan("lab", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    record = record_of(name)
    assert record["status"] == "up" and netns_path(name).exists()
    assert all(alive(pid, start) for pid, start in recorded_processes(record).items())
    assert {s["name"].split()[0] for s in record["servers"]} == {"nginx", "listeners", "sshd"}
    for host in HOSTS.values():
        assert host.address in up.stdout
    assert "3DOUEST-11.3-SSH-KEYS" in up.stdout, "what each host passes and fails"
    assert f"lab exec -- annexscan scan 127.0.0.3 -p 3douest --ca-bundle " \
           f"{record['workdir']}/ca.pem" in up.stdout
    wide = [line for line in up.stdout.splitlines()
            if len(line) > 80 and not line.startswith("  annexscan lab exec -- ")]
    assert not wide, "only the commands to copy may be longer than 80 columns"
    keeper_ns = os.stat(f"/proc/{record['keeper']['pid']}/ns/net")
    assert (keeper_ns.st_ino, keeper_ns.st_dev) == (netns_path(name).stat().st_ino,
                                                    netns_path(name).stat().st_dev)
    assert keeper_ns.st_ino != os.stat("/proc/self/ns/net").st_ino, "not in the test's own"

    code, out, _ = cli(capsys, "lab", "up")
    assert code == 0 and "already up" in out
    assert record_of(name)["keeper"] == record["keeper"], "a second up starts nothing"
    code, out, _ = cli(capsys, "lab", "status")
    assert code == 0 and "is up" in out and "127.0.0.8" in out

    scan = annexscan("lab", "exec", "--", "annexscan", "scan", "127.0.0.3", "-p", "3douest",
                     "--ca-bundle", record["ca_bundle"], "-o", str(tmp_path), "--format", "json",
                     "--no-progress")  # `annexscan`: the one running, on PATH or not
    assert scan.returncode == 1, scan.stdout + scan.stderr  # legacy fails, as the table says
    result = json.loads((tmp_path / "annexscan.json").read_text())
    statuses = {c["clause_id"]: c["status"] for c in result["targets"][0]["results"]}
    profile, expected = expected_verdicts()
    assert profile == "3douest"
    for status, clauses in expected["legacy"].items():
        assert {c: statuses[c] for c in clauses} == {c: status for c in clauses}

    marker = tmp_path / "ran"
    hostile = f"x; touch {marker}"
    done = annexscan("lab", "exec", "--", sys.executable, "-c",
                     "import sys, socket; print(sys.argv[1]); "
                     "socket.create_connection(('127.0.0.2', 443), timeout=2)", hostile)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hostile and not marker.exists(), "no shell in between"
    done = annexscan("lab", "exec", sys.executable, "-c", "raise SystemExit(7)")
    assert done.returncode == 7, "lab exec returns the command's exit status"

    listeners = next(s for s in record["servers"] if s["name"] == "listeners")
    os.kill(listeners["pid"], signal.SIGKILL)
    time.sleep(0.2)  # dead (a zombie until the keeper reaps it at down)
    code, out, _ = cli(capsys, "lab", "status")
    assert code == 3 and "stopped: listeners" in out, out

    code, out, _ = cli(capsys, "lab", "down")
    assert code == 0 and "stopped" in out
    assert_gone(name, record)
    assert cli(capsys, "lab", "down")[0] == 0
    assert cli(capsys, "lab", "status")[0] == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_up_killed_half_way_leaves_nothing(name, sig, capsys):
    starting = subprocess.Popen([sys.executable, "-m", "scanner", "lab", "up"], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state = STATE_DIR / f"{name}.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "keeper" not in (
            state.read_text() if state.exists() else ""):
        time.sleep(0.02)
    record = record_of(name)
    assert "servers" not in record, "killed before the lab was up"
    starting.send_signal(sig)
    _, err = starting.communicate(timeout=30)
    if sig == signal.SIGTERM:  # up cleans after itself
        assert starting.returncode == 130, err
    else:  # down cleans what up left
        assert cli(capsys, "lab", "down")[0] == 0
    assert_gone(name, record)


def test_state_file_not_root_only_is_refused(name, capsys):
    state = STATE_DIR / f"{name}.json"
    cli(capsys, "lab", "status")  # makes the state directory
    state.write_text(json.dumps({"name": name, "keeper": {"pid": 1, "start": "0"}}))
    os.chown(state, 65534, 65534)
    try:
        code, _, err = cli(capsys, "lab", "status")
        assert code == 2 and "refusing" in err
        assert cli(capsys, "lab", "down")[0] == 2, "never acts on it"
        state.unlink()
        state.symlink_to("/etc/hostname")
        code, _, err = cli(capsys, "lab", "status")
        assert code == 2 and "symbolic link" in err
    finally:
        state.unlink(missing_ok=True)


@pytest.mark.parametrize("action", ["up", "down", "status", "exec"])
def test_not_root_is_told_and_nothing_starts(name, action):
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    argv = [*nobody, sys.executable, "-m", "scanner", "lab", action] + (
        ["true"] if action == "exec" else [])
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "lab: needs root" in done.stderr, done.stderr
    assert not netns_path(name).exists()


def test_state_directory_open_to_others_is_refused(name, capsys):
    cli(capsys, "lab", "status")  # makes the state directory
    STATE_DIR.chmod(0o755)
    try:
        code, _, err = cli(capsys, "lab", "up")
        assert code == 2 and "root's alone" in err
    finally:
        STATE_DIR.chmod(0o700)
    assert not netns_path(name).exists()
