"""The five annex profiles, profile inheritance, and the profiles commands."""

from __future__ import annotations

import pytest

from scanner.cli.main import main
from scanner.catalog.profiles import builtin_profile_ids, load_profile

BUILTIN = ["3douest", "sistec", "slime", "teranga", "zenlocassur"]


def params(profile, control_id):
    return [r.parameters for c in profile.clauses for r in c.controls if r.control_id == control_id]


def test_five_builtin_profiles():
    assert builtin_profile_ids() == BUILTIN


@pytest.mark.parametrize("pid", BUILTIN)
def test_profile_is_complete(catalog, pid):
    profile = load_profile(pid, catalog)
    assert profile.source["issuer"] and profile.source["document"].endswith(".txt")
    ids = [c.id for c in profile.clauses]
    assert len(ids) == len(set(ids)) >= 20
    kinds = {c.kind(catalog) for c in profile.clauses}
    assert "manual" in kinds and kinds & {"automated", "mixed"}
    for clause in profile.clauses:
        assert clause.id.startswith(pid.upper()[:6]) or clause.id.startswith("ZENLOC")
        if clause.manual:
            assert clause.attest


def test_contracts_differ_where_the_annexes_do(catalog):
    douest, slime, teranga, sistec = (load_profile(p, catalog)
                                      for p in ("3douest", "slime", "teranga", "sistec"))
    assert params(douest, "net.allowed_ports")[0]["allowed"] == [22, 80, 443]
    assert not any(p["ssh_is_admin"] for p in params(douest, "net.no_admin_exposure"))
    assert all(p["ssh_is_admin"] for p in params(slime, "net.no_admin_exposure"))
    assert params(slime, "tls.latest_version") and not params(teranga, "tls.latest_version")
    assert params(teranga, "tls.min_version")[0]["min"] == "1.2"
    assert params(sistec, "tls.required")[0]["ports"] == [443]
    assert [p["max_ms"] for p in params(douest, "net.latency")] == [None, 500]  # ping, latency


def test_extends_overrides_and_excludes(tmp_path, catalog):
    child = tmp_path / "child.yaml"
    child.write_text(
        "id: my-3douest\ntitle: Our 3D OUEST variant\nextends: 3douest\n"
        "overrides:\n  3DOUEST-11.3-PORTS:\n    net.allowed_ports: {allowed: [443]}\n"
        "exclude: [3DOUEST-11.8-LATENCY]\n"
        "clauses:\n  - id: OWN-1\n    section: internal\n    title: Extra\n"
        "    requirement: Our own extra rule on top.\n    controls: [{control: tls.latest_version}]\n")
    parent = load_profile("3douest", catalog)
    profile = load_profile(str(child), catalog)
    assert profile.source == parent.source
    assert len(profile.clauses) == len(parent.clauses)  # one excluded, one added
    assert params(profile, "net.allowed_ports")[0]["allowed"] == [443]
    assert params(profile, "net.allowed_ports")[0]["ports"] == "1-65535"  # defaults kept
    assert "3DOUEST-11.8-LATENCY" not in {c.id for c in profile.clauses}


def test_extends_errors(tmp_path, catalog, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: Bad override\nextends: 3douest\n"
                   "overrides:\n  NOPE-1:\n    net.allowed_ports: {allowed: [443]}\n")
    assert main(["profiles", "validate", str(bad)]) == 2
    assert "overridden clause 'NOPE-1'" in capsys.readouterr().err
    loop = tmp_path / "loop.yaml"
    loop.write_text("id: loop\ntitle: Loops\nextends: loop.yaml\n")
    assert main(["profiles", "validate", str(loop)]) == 2
    assert "loops back" in capsys.readouterr().err


def test_profiles_commands(capsys):
    assert main(["profiles", "list"]) == 0
    assert "zenlocassur" in capsys.readouterr().out
    assert main(["profiles", "coverage"]) == 0
    out = capsys.readouterr().out
    assert all(p in out for p in BUILTIN) and "automated" in out
    assert main(["profiles", "show", "slime"]) == 0
    assert "SLIME-AN2.9-NO-ADMIN-EXPOSURE" in capsys.readouterr().out
    assert main(["controls", "list"]) == 0
    assert "ssh.algorithms" in capsys.readouterr().out
