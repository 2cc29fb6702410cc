"""The committed samples (reports/samples) are what annexscan writes today: the JSON report in
the current schema, its evidence as referenced, every other format and the remediation playbook
re-rendered from it byte for byte, and no secret anywhere. A sample left behind by a schema or
reporter change fails here, saying how to regenerate it."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLE
from test_sarif_csv import assert_valid
from scanner.catalog.resources import report_schema_path
from scanner.catalog.yamldoc import json_path, schema_error
from scanner.cli.main import main
from scanner.outputs import load_evidence
from scanner.reporters import json_report
from scanner.reporters.load import load_result
from scanner.reporters.registry import FORMATS, report_names, write_all

SAMPLES = SAMPLE.parent
REGENERATE = ("regenerate the samples with `make samples` (reports/regenerate_samples.sh, as "
              "root: a real scan of the lab) and commit reports/samples")
PRIVATE = re.compile(rb"PRIVATE KEY-----|[$](1|2[aby]|5|6|y|gy|7)[$][./=A-Za-z0-9]{2,}[$]")


def stale(data: dict) -> str | None:
    """Why a JSON sample is not a report of the current schema, or None."""
    if data.get("schema_version") != json_report.SCHEMA_VERSION:
        return (f"{SAMPLE} is a schema {data.get('schema_version')} report, annexscan writes "
                f"{json_report.SCHEMA_VERSION}: {REGENERATE}")
    error = schema_error(data, json.loads(report_schema_path().read_text("utf-8")))
    if error is not None:
        return f"{SAMPLE} does not validate at {json_path(error)}: {error.message}; {REGENERATE}"
    return None


def test_json_sample_is_a_report_of_the_current_schema():
    data = json.loads(SAMPLE.read_text("utf-8"))
    assert stale(data) is None, stale(data)
    # what the samples are meant to show: two lab hosts, host checks over SSH, remediation
    assert [t["address"] for t in data["targets"]] == ["127.0.0.2", "127.0.0.3"]
    assert all(t["access"]["user"] == "root" and t["evidence_refs"] and "evidence" not in t
               for t in data["targets"])
    controls = [c for t in data["targets"] for cl in t["results"] for c in cl["controls"]]
    assert any(c["status"] == "fail" and c["remediation"]["snippets"] for c in controls)
    assert data["contract"] and not data["options"].get("ca_bundle", "").startswith("/tmp/")


def test_a_stale_sample_fails_with_how_to_regenerate():
    data = json.loads(SAMPLE.read_text("utf-8"))
    assert "make samples" in stale({**data, "schema_version": "1.2"})
    broken = {**data, "targets": [{**data["targets"][0], "access": "root"}]}
    assert "does not validate at" in stale(broken) and "make samples" in stale(broken)


def test_sample_evidence_is_what_the_report_references():
    data = json.loads(SAMPLE.read_text("utf-8"))
    refs = [ref for t in data["targets"] for ref in t["evidence_refs"].values()]
    for ref in refs:
        assert isinstance(load_evidence(SAMPLES, ref), dict)  # hash-checked on the way
    stored = {p.relative_to(SAMPLES).as_posix() for p in (SAMPLES / "evidence").rglob("*")
              if p.is_file()}
    assert stored == {ref["path"] for ref in refs}, f"evidence/ and the report differ: {REGENERATE}"


def test_sarif_sample_is_valid_against_the_official_schema():
    assert_valid(json.loads((SAMPLES / "annexscan.sarif").read_text("utf-8")))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """Every format written once from the JSON sample (its evidence copied, hash-checked), as
    `annexscan report` writes them."""
    out = tmp_path_factory.mktemp("rendered")
    write_all(load_result(SAMPLE), list(FORMATS), out, source=SAMPLES)
    return out


@pytest.mark.parametrize("name", report_names(list(FORMATS)))
def test_every_sample_format_is_what_annexscan_writes_today(rendered, name):
    """The samples came from one scan, through the same writers: each committed file must be
    what they write from the JSON sample now, byte for byte."""
    assert (rendered / name).read_bytes() == (SAMPLES / name).read_bytes(), \
        f"reports/samples/{name} differs from what annexscan writes now: {REGENERATE}"


def test_sample_playbook_and_inventory_are_what_remediate_writes(tmp_path, monkeypatch):
    # the samples name the report and playbook by their repository paths: the same here
    (tmp_path / "reports" / "samples").mkdir(parents=True)
    (tmp_path / "reports" / "samples" / "annexscan.json").write_bytes(SAMPLE.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(["remediate", "reports/samples/annexscan.json", "-o",
                 "reports/samples/fix.yml"]) == 0
    for name in ("fix.yml", "fix.inventory.yml"):
        written = (tmp_path / "reports" / "samples" / name).read_text("utf-8")
        assert written == (SAMPLES / name).read_text("utf-8"), \
            f"reports/samples/{name} differs from what remediate writes now: {REGENERATE}"
    hosts = yaml.safe_load((SAMPLES / "fix.inventory.yml").read_text("utf-8"))["all"]["hosts"]
    assert set(hosts) == {"127.0.0.2", "127.0.0.3"}
    for host in hosts.values():  # logs in as the scan did: readable paths, never a key
        assert host["ansible_ssh_private_key_file"] == "/run/annexscan-samples/lab_key"
        assert "UserKnownHostsFile=/run/annexscan-samples/known_hosts" in \
            host["ansible_ssh_common_args"]
    plays = re.findall(r"^- name: .*\n  hosts: (\S+)$", (SAMPLES / "fix.yml").read_text(), re.M)
    assert plays == ["127.0.0.2", "127.0.0.3"]


def test_samples_hold_no_private_key_nor_password_hash():
    files = [p for p in SAMPLES.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        found = PRIVATE.search(content)
        assert found is None, f"{path}: secret material at byte {found.start()}"
    assert PRIVATE.search(b"root:$6$Zx8.abc$hashhash:19000") and \
        PRIVATE.search(b"-----BEGIN OPENSSH PRIVATE KEY-----")
