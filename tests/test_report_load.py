"""A saved JSON report reads back into the same model (round trip), and bad files are refused."""

from __future__ import annotations

import json

import pytest

from report_support import text
from scanner.errors import ConfigError
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult
from scanner.reporters.json_report import write
from scanner.reporters.load import load_result


def render(result: ScanResult) -> str:
    return text(write, result)


def sample() -> ScanResult:
    control = ControlResult("tls.min_version", "No old TLS", "high", Status.FAIL,
                            {"min": "1.2"}, "only TLS 1.2 or newer", {"443": ["TLS 1.0"]},
                            "443: accepts TLS 1.0", {"probes": ["ports", "service", "tls"]},
                            0.001, 1.5)
    clause = ClauseResult("X-1", "p", "§1", "TLS", "TLS 1.2 minimum.", Status.WAIVED, [control],
                          "", None, {"justification": "legacy client until March",
                                     "approver": "CISO", "expires": "2027-03-31"})
    manual = ClauseResult("X-2", "p", "§2", "Breach", "Breach notice 24 h.", Status.ATTESTED, [],
                          "The procedure.", {"attested_by": "A. Auditor", "expires": "2027-01-01"})
    target = TargetResult("127.0.0.2", "127.0.0.2", [clause, manual],
                          {"tls": {"duration_s": 1.5, "error": None}}, {"tls": {"raw": 1}})
    return ScanResult("2026-11-23T10:00:00+00:00", "2026-11-23T10:00:05+00:00",
                      [{"id": "p", "title": "P", "source": {"issuer": "X"}}], [target],
                      {"timeout_s": 5.0, "probes": ["tls"], "port_spec": "443",
                       "ca_bundle": None, "duration_s": 5.0})


def test_round_trip(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(render(sample()))
    loaded = load_result(path)
    assert render(loaded) == render(sample())
    assert loaded.targets[0].results[0].status is Status.WAIVED
    assert loaded.exit_code() == 0


def test_a_1_0_report_still_loads_as_all_binding(tmp_path):
    """Reports written before quotes and advice (schema 1.0) stay readable for `diff`."""
    data = json.loads(render(sample()))
    data["schema_version"] = "1.0"
    for counts in [data["summary"]] + [t["summary"] for t in data["targets"]]:
        del counts["advisory"]
    for clause in data["targets"][0]["results"]:
        del clause["quote"]
        for control in clause["controls"]:
            del control["basis"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    loaded = load_result(path)
    assert loaded.targets[0].results[0].quote == []
    assert loaded.targets[0].results[0].controls[0].basis == "annex"
    assert loaded.summary() == sample().summary()


@pytest.mark.parametrize("text,expected", [("{not json", "not JSON"),
                                           ('{"schema_version": "9"}', "not an annexscan report")])
def test_bad_files(tmp_path, text, expected):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_result(path)
