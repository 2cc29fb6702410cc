"""Issue 8 items 2 (host command reads), 5 and 12, each on real commands, a real sshd or a real
file tree: endless command output is cut at the cap in bounded time and memory, a user cannot
hide a key from host.authorized_keys by forging the read's framing, and failed SSH logins
leave no paramiko thread behind."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paramiko
import pytest

from accounts_support import collect_and_check, ssh_key, write_tree
from hostile_harness import python_child, record
from scanner.model import Status
from scanner.transports.base import DEFAULT_MAX_OUTPUT, TransportError
from scanner.transports.ssh import SshAccess, SshTransport

ENDLESS = "yes annexscan-endless-output"
MODEST = "head -c 200000 /dev/zero | tr '\\000' a"
# Runs one command in a child process and prints its result (hostile_harness measures RSS).
CHILD = """
import json, sys
from pathlib import Path
from scanner.transports.local import LocalTransport
from scanner.transports.ssh import SshAccess, SshTransport
args = json.loads(sys.argv[1])
if args["ssh"]:
    ssh = args["ssh"]
    transport = SshTransport(ssh["address"], ssh["address"], SshAccess(
        user="root", key_file=Path(ssh["key"]), known_hosts=Path(ssh["known_hosts"]),
        use_agent=False), 5.0)
else:
    transport = LocalTransport()
result = transport.run(args["command"], timeout=args["timeout"])
after = transport.run("echo still-working", timeout=5.0)
transport.close()
print(json.dumps({"exit_code": result.exit_code, "error": result.error,
                  "truncated": result.truncated, "stdout_bytes": len(result.stdout.encode()),
                  "evidence_truncated": result.evidence()["truncated"],
                  "after": after.stdout.strip(), "duration_s": result.duration_s}))
"""


def run_in_child(command: str, ssh: dict | None = None, timeout: float = 10.0) -> dict:
    run = python_child(CHILD, json.dumps({"command": command, "timeout": timeout, "ssh": ssh}),
                       timeout=60)
    assert run.code == 0, run.err[-2000:]
    return {**json.loads(run.out), "wall_s": run.seconds, "maxrss_mb": run.peak_mb}


@pytest.fixture(scope="module")
def lab_ssh(lab) -> dict:

    return {"address": lab.hosts["good"].address, "key": str(lab.ssh_client_key),
            "known_hosts": str(lab.write_known_hosts())}


def assert_cut(result: dict) -> None:
    """Stopped at the cap, said so in the result and its evidence, quickly and in little
    memory; the transport still works afterwards."""
    assert result["exit_code"] is None and result["truncated"] == ["stdout"], result
    assert result["evidence_truncated"] == ["stdout"]
    assert f"past {DEFAULT_MAX_OUTPUT} bytes on stdout" in result["error"]
    assert result["stdout_bytes"] == DEFAULT_MAX_OUTPUT
    assert result["duration_s"] < 3 and result["wall_s"] < 8, result
    assert result["maxrss_mb"] < 120, result
    assert result["after"] == "still-working"


def measured(result: dict) -> dict:
    return {"seconds": result["wall_s"], "peak_mb": result["maxrss_mb"],
            "status": f"cut at {result['stdout_bytes']} bytes, truncated noted"}


def assert_whole(result: dict) -> None:
    assert result["exit_code"] == 0 and result["error"] is None and result["truncated"] == []
    assert result["stdout_bytes"] == 200000


def test_local_endless_output_is_cut_at_the_cap():
    result = run_in_child(ENDLESS)
    assert_cut(result)
    record("2", "local command with endless output", measured(result))


def test_local_modest_output_is_kept_whole():
    assert_whole(run_in_child(MODEST))


@pytest.mark.lab
def test_ssh_endless_output_is_cut_at_the_cap(lab_ssh):
    result = run_in_child(ENDLESS, lab_ssh)
    assert_cut(result)
    record("2", "SSH command with endless output", measured(result))


@pytest.mark.lab
def test_ssh_modest_output_is_kept_whole(lab_ssh):
    assert_whole(run_in_child(MODEST, lab_ssh))


def paramiko_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t not in before and t.is_alive() and isinstance(t, paramiko.Transport)]


@pytest.mark.lab
@pytest.mark.parametrize("login", ["wrong key", "unknown host key", "good key"])
def test_logins_leave_no_paramiko_thread(lab, lab_ssh, tmp_path, login):
    """Eight logins (refused, or accepted then closed): afterwards no paramiko transport
    thread is alive and this process's CPU time stops growing."""
    key, known = Path(lab_ssh["key"]), Path(lab_ssh["known_hosts"])
    if login == "wrong key":
        key = tmp_path / "stranger"
        ssh_key(key, "ed25519")
    elif login == "unknown host key":
        known = tmp_path / "empty_known_hosts"
        known.write_text("")
    access = SshAccess(user="root", key_file=key, known_hosts=known, use_agent=False)
    before = set(threading.enumerate())
    start = time.monotonic()
    for _ in range(8):
        if login != "good key":
            with pytest.raises(TransportError, match="refused|not in known_hosts"):
                SshTransport(lab_ssh["address"], lab_ssh["address"], access, 2.0)
        else:
            SshTransport(lab_ssh["address"], lab_ssh["address"], access, 2.0).close()
    seconds = time.monotonic() - start
    assert seconds < 10
    deadline = time.monotonic() + 3
    while paramiko_threads(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paramiko_threads(before) == []
    cpu = time.process_time()
    time.sleep(1.0)
    idle_cpu = time.process_time() - cpu
    assert idle_cpu < 0.2
    record("12", f"8 SSH logins, {login}", {"seconds": seconds, "status":
                                            f"no paramiko thread left, {idle_cpu:.2f} s CPU idle"})


def key_tree(tmp_path: Path, mallory_tail: str) -> tuple[Path, str, str]:
    """A sysroot where alice and mallory each have a real key; mallory's file ends with
    `mallory_tail`, which may hold the old read's framing. Returns (root, alice's fingerprint,
    mallory's key line)."""
    from scanner.hostprobes.keys import fingerprint, key_blob_type

    alice, mallory = (ssh_key(tmp_path / name, "ed25519") for name in ("alice", "mallory"))
    root = tmp_path / "root"
    mapped = f"{root}/home/mallory/.ssh/authorized_keys"
    write_tree(root, {"etc/passwd": "alice:x:1000:1000::/home/alice:/bin/sh\n"
                                    "mallory:x:1001:1001::/home/mallory:/bin/sh\n",
                      "home/alice/.ssh/authorized_keys": alice,
                      "home/mallory/.ssh/authorized_keys":
                          mallory + mallory_tail.replace("MAPPED", mapped)})
    return root, fingerprint(key_blob_type(alice.split()[1])[1]), mallory


@pytest.mark.parametrize("tail", ["\n\x1eMAPPED\n", "\n\x1eMAPPED\n\x1f\n",
                                  "\n0 AAAA \n1  \n", "\x00\n\x1e\n"])
def test_a_user_cannot_hide_a_key_by_forging_the_framing(catalog, tmp_path, tail):
    root, alice_fp, mallory = key_tree(tmp_path, tail)
    start = time.monotonic()
    collected, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                           allowed_fingerprints=[alice_fp])
    assert time.monotonic() - start < 10
    assert collected.error is None, collected.error
    keys = collected.data["files"]["/home/mallory/.ssh/authorized_keys"]["keys"]
    assert [k["comment"] for k in keys] == ["mallory"]
    assert verdict.status == Status.FAIL and "mallory" in verdict.reason, verdict.reason


def test_allowlisted_keys_with_odd_bytes_pass(catalog, tmp_path):
    root, alice_fp, mallory = key_tree(tmp_path, "# \x1e\x1f not a key\n")
    from scanner.hostprobes.keys import fingerprint, key_blob_type

    mallory_fp = fingerprint(key_blob_type(mallory.split()[1])[1])
    collected, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                           allowed_fingerprints=[alice_fp, mallory_fp])
    assert collected.error is None and verdict.status == Status.PASS, verdict.reason


@pytest.mark.parametrize("users,size,reason", [(1, 300_000, "larger than"),
                                               (5, 250_000, f"past {DEFAULT_MAX_OUTPUT} bytes")])
def test_oversized_key_files_are_an_error_not_a_pass(catalog, tmp_path, users, size, reason):
    """A file over the per-file cap, or files together over the command's output cap: the
    keys were not all seen, so the control is `error`, in bounded time."""
    root, alice_fp, _ = key_tree(tmp_path, "")
    padding = "# padding\n" * (size // 10)
    for n in range(users):
        write_tree(root, {f"home/big{n}/.ssh/authorized_keys": padding})
    with (root / "etc/passwd").open("a") as passwd:
        passwd.writelines(f"big{n}:x:{2000 + n}:1::/home/big{n}:/bin/sh\n" for n in range(users))
    start = time.monotonic()
    collected, verdict = collect_and_check(catalog, "host.authorized_keys", root,
                                           allowed_fingerprints=[alice_fp])
    assert time.monotonic() - start < 10
    assert verdict.status == Status.ERROR and reason in verdict.reason, verdict.reason
