"""A profile's ports are its own: the same host and profile give the same verdicts whatever
else is scanned in the same run."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
from scanner.catalog.profiles import load_profile
from scanner.scope.targets import Target

PROFILE = """\
id: scope-{lid}
title: scope test {id}
source: {{issuer: annexscan tests, title: scope}}
clauses:
  - {{id: {id}-PORTS, section: "1", title: Ports, requirement: Only the agreed ports.,
     controls: [{{control: net.allowed_ports, parameters: {ports_params}}}]}}
  - {{id: {id}-CLEAR, section: "2", title: Clear text, requirement: No clear-text service.,
     controls: [{{control: net.no_cleartext_services, parameters: {clear_params}}}]}}
  - {{id: {id}-TLS, section: "3", title: TLS, requirement: TLS 1.2 on every flow.,
     controls: [{{control: tls.min_version, parameters: {tls_params}}}]}}
"""
# A looks at ports 1-1024 only; B at every port, where legacy also has 3306 and 8080 open.
A = dict(id="A", ports_params='{allowed: [21, 22, 80, 443], ports: "1-1024"}',
         tls_params='{all_flows: true, ports: "1-1024"}', clear_params='{ports: "1-1024"}')
B = dict(id="B", ports_params='{allowed: [21, 22, 80, 443]}', tls_params="{all_flows: true}",
         clear_params="{}")


def _profile(tmp_path, catalog, fields):
    path = tmp_path / f"{fields['id']}.yaml"
    path.write_text(PROFILE.format(lid=fields["id"].lower(), **fields))
    return load_profile(str(path), catalog)


def _verdicts(result, profile_id):
    """Every clause verdict of one profile, without timings."""
    out = []
    for clause in result.targets[0].results:
        if clause.profile != f"scope-{profile_id.lower()}":
            continue
        row = asdict(clause)
        for control in row["controls"]:
            control.pop("duration_s", None)
            control.pop("probe_duration_s", None)
        out.append(row)
    return out


def test_plan_keeps_each_profile_scope(tmp_path, catalog):
    plan = plan_scan([_profile(tmp_path, catalog, A), _profile(tmp_path, catalog, B)],
                     catalog, ScanOptions())
    assert plan.scopes == {"scope-a": "1-1024", "scope-b": "1-65535"}
    assert plan.request.port_spec == "1-65535"


@pytest.mark.lab
def test_profile_verdicts_do_not_depend_on_other_profiles(lab, catalog, tmp_path):
    a, b = _profile(tmp_path, catalog, A), _profile(tmp_path, catalog, B)
    options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle)
    target = Target(lab.hosts["legacy"].address, lab.hosts["legacy"].address)
    alone = run_scan([ScanJob(target, plan_scan([a], catalog, options))], options)
    both = run_scan([ScanJob(target, plan_scan([a, b], catalog, options))], options)
    assert _verdicts(alone, "A") == _verdicts(both, "A")
    ports_a = _verdicts(both, "A")[0]["controls"][0]
    assert ports_a["observed"]["scanned"] == "1-1024"
    assert ports_a["status"] == "pass"
    # B, in the same run, does see what lies beyond A's scope: the test can tell the difference.
    ports_b = _verdicts(both, "B")[0]["controls"][0]
    assert (ports_b["status"], ports_b["observed"]["not_allowed"]) == ("fail", ["3306/tcp", "8080/tcp"])
    tls_a, tls_b = _verdicts(both, "A")[2], _verdicts(both, "B")[2]
    assert "8080: http in clear text" in tls_b["controls"][0]["reason"]
    assert "8080" not in tls_a["controls"][0]["reason"]
