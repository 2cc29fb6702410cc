"""An all-flows clause on the lab hosts, through the whole engine (nmap, service probe, sslyze,
HTTP probe): plain HTTP fails unless the profile tolerates a port that only redirects to
https://, and then only such a port passes."""

from __future__ import annotations

import pytest

from conftest import scan_lab_with
from scanner.model import Status

PROFILE = """\
id: allflows
title: all flows
source: {issuer: annexscan tests, title: all flows}
clauses:
  - {id: AF-STRICT, section: "1", title: Strict, requirement: Every flow on TLS 1.2+.,
     controls: [{control: tls.min_version, parameters: {all_flows: true}}]}
  - {id: AF-REDIRECT, section: "2", title: Redirect tolerated, requirement: Every flow on TLS.,
     controls: [{control: tls.min_version,
                 parameters: {all_flows: true, http_redirects_allowed: true}}]}
  - {id: AF-HTTP, section: "3", title: Redirect, requirement: HTTP redirects to HTTPS.,
     controls: [{control: http.https_redirect}]}
"""


@pytest.fixture(scope="module")
def scan(lab, catalog, tmp_path_factory):
    hosts = [lab.hosts[name] for name in ("good", "legacy")]
    result = scan_lab_with(lab, catalog, PROFILE, tmp_path_factory.mktemp("allflows"),
                           [h.name for h in hosts])
    return {h.name: {c.clause_id: c.controls[0] for c in t.results}
            for h, t in zip(hosts, result.targets)}


@pytest.mark.lab
def test_strict_all_flows_fails_even_a_redirect(scan):
    strict = scan["good"]["AF-STRICT"]
    assert strict.status == Status.FAIL
    assert strict.reason == "80: http in clear text"  # 22 (ssh) is allowed by default


@pytest.mark.lab
def test_redirect_only_port_is_tolerated_when_the_profile_says_so(scan):
    assert scan["good"]["AF-REDIRECT"].status == Status.PASS, scan["good"]["AF-REDIRECT"].reason
    assert "plain HTTP redirecting to https://" in scan["good"]["AF-REDIRECT"].expected


@pytest.mark.lab
def test_plain_http_content_still_fails(scan):
    legacy = scan["legacy"]["AF-REDIRECT"]
    assert legacy.status == Status.FAIL
    assert "80: http in clear text (answers 200, not a redirect to https://)" in legacy.reason
    assert "8080: http in clear text (no HTTP answer recorded" in legacy.reason
    assert "443: accepts TLS 1.0" in legacy.reason
    # The lab's FTP banner never answers EHLO or AUTH TLS and 3306 sends a MySQL greeting: whether
    # they could encrypt is unknown, an error each, listed though the failures decide the verdict.
    assert legacy.observed["21"] == {"protocol": "ftp"}
    assert legacy.observed["3306"] == {"protocol": "unknown"}
