"""net.no_cleartext_services judges what a port speaks, honours its own list (a profile may
forbid FTP alone: Teranga's exchanges go "via PESIT-SSL 2-way, SFTP ou CF, VPN IPSEC"), and
never passes an r-service port it cannot identify. Real servers on loopback: STARTTLS-capable
and clear-text mail and FTP servers."""

from __future__ import annotations

import socket

import pytest

from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
from scanner.lab.certs import LabCA
from scanner.lab.starttls import StarttlsServer, server_context
from scanner.model import Status
from scanner.catalog.profiles import load_profile
from scanner.scope.targets import Target
from tls_helpers import judge, needs_netns, observe

pytestmark = [pytest.mark.lab, needs_netns]
ADDRESS = "127.0.0.99"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    ca = LabCA(tmp_path_factory.mktemp("cleartext"))
    return ca.issue("mail", ADDRESS, "valid")


def test_ftp_in_clear_fails_on_any_port():
    with StarttlsServer("ftp", ADDRESS, 2100, None):
        verdict = judge("net.no_cleartext_services", observe(ADDRESS, [2100]))
    assert verdict.status == Status.FAIL and verdict.reason.endswith("2100/ftp, no STARTTLS")


def test_smtp_offering_starttls_passes_unless_the_profile_refuses_upgrades(cert):
    with StarttlsServer("smtp", ADDRESS, 2525, server_context(cert.cert, cert.key)):
        obs = observe(ADDRESS, [2525])
    assert judge("net.no_cleartext_services", obs).status == Status.PASS
    strict = judge("net.no_cleartext_services", obs, allow_starttls=False)
    assert strict.status == Status.FAIL and "2525/smtp, STARTTLS offered" in strict.reason


def test_a_profile_forbidding_ftp_alone_is_not_failed_by_clear_smtp():
    with StarttlsServer("smtp", ADDRESS, 2526, None):
        obs = observe(ADDRESS, [2526])
    assert judge("net.no_cleartext_services", obs, forbidden=["ftp"]).status == Status.PASS
    assert judge("net.no_cleartext_services", obs).status == Status.FAIL


def test_an_unidentified_service_on_an_r_service_port_is_an_error():
    silent = socket.create_server((ADDRESS, 514))  # accepts, never speaks
    try:
        verdict = judge("net.no_cleartext_services", observe(ADDRESS, [514]))
    finally:
        silent.close()
    assert verdict.status == Status.ERROR and "usually rsh" in verdict.reason


def test_a_profile_with_this_control_alone_scans_every_port(tmp_path, catalog):
    """Teranga's SSL/TLS clause uses this control with no port allowlist in its profile: the
    control's own `ports` (every TCP port by default) decides what is scanned, so FTP in clear
    on a port no other control names still fails the clause."""
    profile = tmp_path / "cleartext.yaml"
    profile.write_text("id: cleartext\ntitle: clear text\nclauses:\n  - id: C-FLOWS\n"
                       "    section: '1'\n    title: flows\n    requirement: flows encrypted.\n"
                       "    quote: flux chiffrés\n"
                       "    controls: [{control: net.no_cleartext_services, basis: annex}]\n")
    options = ScanOptions(timeout=2.0)
    plan = plan_scan([load_profile(str(profile), catalog)], catalog, options)
    with StarttlsServer("ftp", ADDRESS, 2100, None):
        scan = run_scan([ScanJob(Target(ADDRESS, ADDRESS), plan)], options)
        obs = observe(ADDRESS, [2100])
    [clause] = scan.targets[0].results
    assert clause.status == Status.FAIL, clause.controls[0].reason
    assert "2100/ftp" in clause.controls[0].reason
    narrowed = judge("net.no_cleartext_services", obs, ports="1-1024")
    assert narrowed.status == Status.PASS, "a narrower own range is judged on its own"
