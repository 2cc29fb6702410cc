"""Issue 9 part 1: a scan's memory does not grow with its number of targets. One real nginx
serves TLS on 0.0.0.0:9443 of the test's network namespace, so every 127.0.1.x is a host
sslyze scans in full; the real CLI scans 15, then 60 of them, each in a child whose own peak
RSS (VmHWM) is read. Before the journal, a finished target stayed in memory (about 12 MB a host
on the issue's fleet), so 45 more hosts would add hundreds of MB."""

from __future__ import annotations

import json

import pytest

from hostile_harness import annexscan
from scanner.lab import Lab
from scanner.lab.hosts import MODERN_TLS, HostSpec, Web

PORT = 9443  # not a lab port: the session lab binds 127.0.0.2-8 and may be running
PROFILE = f"""id: fleet-tls
title: A TLS port on every host
source: {{issuer: annexscan tests, title: memory}}
clauses:
  - {{id: F-PORTS, section: "1", title: Ports, requirement: Only {PORT} is open.,
     controls: [{{control: net.allowed_ports, parameters: {{allowed: [{PORT}], ports: "{PORT}",
                                                            udp_ports: null}}}}]}}
  - {{id: F-TLS, section: "2", title: TLS, requirement: TLS 1.2 at minimum.,
     controls: [{{control: tls.min_version}}]}}
"""
MARGIN_MB = 25  # 45 more hosts: even 0.6 MB kept per host would exceed it


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from scanner.lab import lab_available

    ok, why = lab_available()
    if not ok:
        pytest.skip(why)
    spec = HostSpec("fleet", "0.0.0.0", "every loopback address of the namespace",
                    cert="valid", web=(Web(PORT, MODERN_TLS),))
    with Lab(tmp_path_factory.mktemp("fleet-lab"), hosts=[spec]) as lab:
        yield lab


def scan(fleet, tmp_path, count: int):
    hosts = tmp_path / f"hosts-{count}.txt"
    hosts.write_text("".join(f"127.0.1.{i}\n" for i in range(1, count + 1)))
    profile = tmp_path / "fleet.yaml"
    profile.write_text(PROFILE)
    out = tmp_path / f"out-{count}"
    run = annexscan("scan", "--profile", str(profile), "--no-progress", "--timeout", "2",
                    "--ca-bundle", str(fleet.ca_bundle), "--format", "json", "-o", str(out),
                    f"@{hosts}", timeout=600)
    assert run.code == 0, run.err[-3000:]
    report = json.loads((out / "annexscan.json").read_text())
    assert len(report["targets"]) == count and report["summary"]["pass"] == 2 * count
    return run


@pytest.mark.lab
def test_peak_memory_is_flat_from_15_to_60_targets(fleet, tmp_path):
    small = scan(fleet, tmp_path, 15)
    large = scan(fleet, tmp_path, 60)
    print(f"peak RSS: 15 targets {small.peak_mb:.1f} MB in {small.seconds:.1f} s, "
          f"60 targets {large.peak_mb:.1f} MB in {large.seconds:.1f} s")
    assert large.peak_mb - small.peak_mb < MARGIN_MB
