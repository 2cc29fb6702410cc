"""Shared fixtures: the real lab (started once per session) and one scan of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.catalog.controls import load_catalog
from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
from scanner.model import ControlResult, ScanResult
from scanner.catalog.profiles import load_profile
from scanner.scope.targets import Target

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parent.parent / "reports" / "samples" / "annexscan.json"
SAMPLE_1_1 = DATA / "reports" / "annexscan-1.1.json"  # the old samples: evidence embedded
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def lab():
    from scanner.lab import Lab, lab_available

    ok, why = lab_available()
    if not ok:
        pytest.skip(why)
    with Lab() as running:
        yield running


@pytest.fixture(scope="session")
def lab_scan(lab, catalog) -> ScanResult:
    """Every lab host scanned once with every automated control at its defaults."""
    profile = load_profile(str(DATA / "all-network.yaml"), catalog)
    options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle)
    plan = plan_scan([profile], catalog, options)
    jobs = [ScanJob(Target(h.address, h.address), plan) for h in lab.hosts.values()]
    return run_scan(jobs, options)


def scan_lab_with(lab, catalog, profile_yaml: str, directory: Path,
                  host_names: list[str]) -> ScanResult:
    """The named lab hosts scanned with a profile written for the test, in that order."""
    path = directory / "profile.yaml"
    path.write_text(profile_yaml)
    options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle)
    plan = plan_scan([load_profile(str(path), catalog)], catalog, options)
    addresses = [lab.hosts[name].address for name in host_names]
    return run_scan([ScanJob(Target(a, a), plan) for a in addresses], options)


def control_result(scan: ScanResult, address: str, control_id: str) -> ControlResult:
    target = next(t for t in scan.targets if t.address == address)
    return next(c for clause in target.results for c in clause.controls
                if c.control_id == control_id)


def sample_result() -> ScanResult:
    """The real lab report kept in reports/samples (two hosts, 3douest, host checks), as the
    scan held it in memory: each target's raw evidence read back from the sample's evidence/
    (hash-checked), none referenced yet."""
    from scanner.outputs import load_evidence
    from scanner.reporters.load import load_result

    result = load_result(SAMPLE)
    for target in result.targets:
        target.evidence = {probe: load_evidence(SAMPLE.parent, ref)
                           for probe, ref in target.evidence_refs.items()}
        target.evidence_refs = {}
    return result
