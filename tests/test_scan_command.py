"""`annexscan scan` end to end on the lab: exit codes, JSON and JUnit files, summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conftest import DATA
from scanner.cli.main import main


def scan(lab, hosts, tmp_path, capsys, *extra):
    argv = ["scan", "--profile", str(DATA / "all-network.yaml"), "--profile", "3douest",
            "--no-progress", "--timeout", "2", "--ca-bundle", str(lab.ca_bundle),
            "-o", str(tmp_path), *extra, *(lab.hosts[h].address for h in hosts)]
    code = main(argv)
    return code, capsys.readouterr().out


@pytest.mark.lab
def test_failing_host_exits_1_and_writes_reports(lab, tmp_path, capsys):
    code, out = scan(lab, ["good", "legacy"], tmp_path, capsys)
    assert code == 1
    assert "3DOUEST-11.3-PORTS" in out and "annexscan summary" in out
    report = json.loads((tmp_path / "annexscan.json").read_text())
    assert report["exit_code"] == 1 and {p["id"] for p in report["profiles"]} == {"all-network", "3douest"}
    suites = ET.parse(tmp_path / "annexscan.xml").getroot().findall("testsuite")
    # the contract's clauses once (per profile that has some), then 2 targets x 2 profiles
    contract = sorted({c["profile"] for c in report["contract"]})
    assert "3douest" in contract and len(suites) == len(contract) + 4
    assert sorted(s.get("name") for s in suites[:len(contract)]) == [
        f"contract / {p}" for p in contract]
    assert report["contract"] and not {c["clause_id"] for c in report["contract"]} & {
        c["clause_id"] for t in report["targets"] for c in t["results"]}
    for suite in suites:
        target, profile = suite.get("name").split(" / ")
        clauses = [c for c in report["contract"] if c["profile"] == profile] \
            if target == "contract" else [c for c in next(
                t for t in report["targets"] if t["target"] == target)["results"]
                if c["profile"] == profile]
        cases = suite.findall("testcase")
        assert len(cases) == len(clauses) == int(suite.get("tests"))
        assert all(c.get("name").startswith(f"[{cl['clause_id']}] {cl['section']}")
                   for c, cl in zip(cases, clauses))
        for status, tag in (("fail", "failure"), ("error", "error")):
            assert len(suite.findall(f"testcase/{tag}")) == sum(c["status"] == status for c in clauses)
        assert len(suite.findall("testcase/skipped")) == sum(
            c["status"] in ("manual", "not_applicable") for c in clauses)


@pytest.mark.lab
def test_compliant_host_exits_0(lab, tmp_path, capsys):
    code, _ = main(["scan", "--profile", str(DATA / "all-network.yaml"), "--no-progress",
                    "--timeout", "2", "--ca-bundle", str(lab.ca_bundle), "--format", "json",
                    "-o", str(tmp_path), lab.hosts["good"].address]), None
    assert code == 0
    assert not (tmp_path / "annexscan.xml").exists()


@pytest.mark.lab
def test_error_without_failure_exits_3(lab, tmp_path, capsys):
    profile = tmp_path / "tls-only.yaml"
    profile.write_text("id: tls-only\ntitle: TLS only\nclauses:\n  - id: X-1\n    section: '1'\n"
                       "    title: TLS\n    requirement: TLS 1.2 minimum.\n"
                       "    controls: [{control: tls.min_version}]\n")
    code = main(["scan", "--profile", str(profile), "--no-progress", "--timeout", "1",
                 lab.hosts["silent"].address])
    assert code == 3


@pytest.mark.lab
def test_scan_bundle_verifies_and_names_a_tampered_file(lab, tmp_path, capsys):
    """Issue 4's bar: verify passes on a real scan's bundle and fails, naming the file, after
    one byte of one evidence file is changed."""
    import zipfile

    from scanner.cli.demo import demo_signing_key

    key = demo_signing_key(tmp_path, tmp_path / "pub")
    bundle = tmp_path / "evidence.zip"
    code, _ = scan(lab, ["good"], tmp_path / "out", capsys, "--bundle", str(bundle),
                   "--sign-key", str(key))
    assert code == 0  # good is compliant; host clauses stay manual without SSH access
    pubkey = str(tmp_path / "pub" / "demo-signing-key.pub")
    assert main(["verify", str(bundle), "--pubkey", pubkey]) == 0
    assert "intact" in capsys.readouterr().out
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        files = {n: archive.read(n) for n in names}
    victim = next(n for n in names if n.startswith("evidence/") and n.endswith("/tls.json.gz"))
    data = bytearray(files[victim])
    data[len(data) // 2] ^= 0x01
    files[victim] = bytes(data)
    with zipfile.ZipFile(bundle, "w") as archive:
        for name in names:
            archive.writestr(name, files[name])
    assert main(["verify", str(bundle), "--pubkey", pubkey]) == 1
    out = capsys.readouterr().out
    assert victim in out and "altered" in out
    assert "BEGIN PRIVATE KEY" not in str(files)
