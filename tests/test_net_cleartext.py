"""net.no_cleartext_services judges what a port speaks, honours its own list (a profile may
forbid FTP alone: Teranga's exchanges go "via PESIT-SSL 2-way, SFTP ou CF, VPN IPSEC"), and
never passes an r-service port it cannot identify. Real servers on loopback: STARTTLS-capable
and clear-text mail and FTP servers."""

from __future__ import annotations

import socket

import pytest

from scanner.lab.certs import LabCA
from scanner.lab.starttls import StarttlsServer, server_context
from scanner.model import Status
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
