"""Issue 8 items 4, 5 and 8, measured: real file trees read by the real collectors (host.backups,
host.authorized_keys) in a child process, and an attestation pointing at /etc/shadow given to
the real CLI. Each case bounds time and peak RSS and checks the clean outcome: names holding
newlines stay one entry and never make the scanner read a file it did not list itself, a user
cannot hide a key by forging the framing, and evidence outside its directory is refused before
any probe. (The in-process variants: test_host_backups.py, test_hostile_transports.py,
test_hostile_inputs.py.)"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from accounts_support import ssh_key, write_tree
from hostile_harness import annexscan, python_child, record

SECONDS = 20.0  # a child Python, a few find/head commands, 2 busy cores
PEAK_MB = 150.0
# The control's real collector then its check, on a sysroot, as the host probe runs them.
CHECK = """import json, sys
from scanner.catalog.controls import load_catalog
from accounts_support import collect_and_check
collected, verdict = collect_and_check(load_catalog(), sys.argv[1], sys.argv[2],
                                       **json.loads(sys.argv[3]))
print(json.dumps({"status": verdict.status.value, "reason": verdict.reason,
                  "observed": verdict.observed, "data": collected.data, "error": collected.error,
                  "evidence": [c.evidence() for c in collected.commands]}, default=str))
"""
SECRET = "SECRETKEYMATERIAL"  # what the old code copied into the report, base64 or not
KEY = "ssh_host_ed25519_key.gpg"  # at the sysroot's top: outside the backup location


def check_in_child(control: str, root: Path, **params) -> tuple[dict, object]:
    run = python_child(CHECK, control, str(root), json.dumps(params), timeout=60,
                       memory_cap_mb=1024)
    assert run.code == 0, run.err[-3000:]
    assert run.seconds < SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    return json.loads(run.out), run


def backups_tree(root: Path, hostile: bool) -> list[str]:
    """Three clear backups; if `hostile`, names holding a newline and what a newline parser
    takes for a listing record or for the path of a key outside the location (written there),
    and a symlink to that key. Returns the paths the scanner must list."""
    write_tree(root, {KEY: f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n"})
    names = [f"db-{day}.sql.gpg" for day in range(3)]
    if hostile:
        names += [f"x.gpg\n{KEY}",  # a directory "x.gpg\n" holding the file: line 2 is "/KEY"
                  f"y.gpg\n{int(time.time())}.0 2026-01-01 99 {KEY}"]
    where = root / "var/backups/annexscan"
    write_tree(where, {name: "SELECT 1;\n" * 20 for name in names})
    now = time.time()
    for day, name in enumerate(names):
        os.utime(where / name, (now - day * 86400, now - day * 86400))
    if hostile:
        (where / "key.gpg").symlink_to(root / KEY)
    return sorted(f"/var/backups/annexscan/{n}".replace("\n", "\\x0a") for n in names)


@pytest.mark.parametrize("hostile", [False, True], ids=["plain names", "newline names"])
def test_backup_names_with_newlines_read_only_listed_files(tmp_path, hostile):
    expected = backups_tree(tmp_path, hostile)
    result, run = check_in_child("host.backups", tmp_path, max_age_hours=None)
    files = result["data"]["locations"]["/var/backups/annexscan"]["files"]
    assert sorted(f["path"] for f in files) == expected, files
    assert SECRET not in json.dumps(result) and "U0VDUkVUS0VZTUFURVJJQUw" not in json.dumps(result)
    assert result["status"] == "fail" and "clear" in json.dumps(result["observed"]), result
    if hostile:
        record("4", "backup names holding newlines + symlink to a key", run,
               status=f"{result['status']} on the {len(files)} listed files, key unread")


def key_tree(tmp_path: Path, mallory_tail: str) -> tuple[Path, str]:
    """alice's key allowed; mallory's file ends with `mallory_tail` (the old framing)."""
    from scanner.hostprobes.keys import fingerprint, key_blob_type

    alice, mallory = (ssh_key(tmp_path / name, "ed25519") for name in ("alice", "mallory"))
    root = tmp_path / "root"
    write_tree(root, {"etc/passwd": "alice:x:1000:1000::/home/alice:/bin/sh\n"
                                    "mallory:x:1001:1001::/home/mallory:/bin/sh\n",
                      "home/alice/.ssh/authorized_keys": alice,
                      "home/mallory/.ssh/authorized_keys": mallory + mallory_tail.replace(
                          "MAPPED", f"{root}/home/mallory/.ssh/authorized_keys")})
    return root, fingerprint(key_blob_type(alice.split()[1])[1])


@pytest.mark.parametrize("tail", ["", "\n\x1eMAPPED\n\x1f\n"], ids=["plain", "forged framing"])
def test_forged_framing_hides_no_key(tmp_path, tail):
    root, alice = key_tree(tmp_path, tail)
    result, run = check_in_child("host.authorized_keys", root, allowed_fingerprints=[alice])
    keys = result["data"]["files"]["/home/mallory/.ssh/authorized_keys"]["keys"]
    assert [k["comment"] for k in keys] == ["mallory"]
    assert result["status"] == "fail" and "mallory" in result["reason"], result["reason"]
    if tail:
        record("5", "authorized_keys ending with the old record separator", run,
               status=result["status"])


MANUAL_PROFILE = ("id: p\ntitle: Manual only\nclauses:\n  - id: P-MANUAL\n    section: '1'\n"
                  "    title: Breach\n    requirement: Breach notice in 24 h.\n"
                  "    manual: true\n    attest: The breach procedure.\n")


@pytest.mark.parametrize("evidence", ["docs/procedure.pdf", "/etc/shadow",
                                      "../../etc/shadow"])
def test_attestation_evidence_outside_its_directory(tmp_path, evidence):
    (tmp_path / "att" / "docs").mkdir(parents=True)
    (tmp_path / "att" / "docs" / "procedure.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "p.yaml").write_text(MANUAL_PROFILE)
    (tmp_path / "att" / "att.yaml").write_text(
        "attestations:\n  - clause: P-MANUAL\n    attested_by: Jeanne Martin\n    role: DPO\n"
        "    date: 2026-10-01\n    expires: '2027-10-01'\n"
        f"    statement: The breach procedure is in force and was tested.\n"
        f"    evidence: ['{evidence}']\n")
    bundle = tmp_path / "evidence.zip"
    run = annexscan("scan", "--profile", str(tmp_path / "p.yaml"), "--attestations",
                    str(tmp_path / "att" / "att.yaml"), "--no-progress", "--bundle", str(bundle),
                    "-o", str(tmp_path / "out"), "127.0.0.9", memory_cap_mb=1024)
    assert run.seconds < SECONDS and run.peak_mb < PEAK_MB, (run.seconds, run.peak_mb)
    if evidence.startswith("docs/"):  # the compliant case: attested, bundled
        assert run.code == 0, run.err[-2000:]
        assert "attestations/procedure.pdf" in zipfile.ZipFile(bundle).namelist()
        return
    assert run.code == 2 and "leaves the directory" in run.err and "evidence[0]" in run.err
    assert not bundle.exists() and "root:" not in run.out + run.err
    record("8", f"attestation evidence {evidence}", run, status=f"exit {run.code}, refused")
