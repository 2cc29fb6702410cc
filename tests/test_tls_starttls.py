"""Every flow: STARTTLS services (recognised by what they answer, not by port number) get their
TLS versions checked, and a clear-text service fails an all-flows clause."""

from __future__ import annotations

import pytest

from scanner.lab.certs import LabCA
from scanner.lab.starttls import StarttlsServer, server_context
from scanner.model import Status
from tls_helpers import judge, needs_netns, observe

pytestmark = [pytest.mark.lab, needs_netns]
ADDRESS = "127.0.0.121"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    ca = LabCA(tmp_path_factory.mktemp("starttls"))
    return ca, ca.issue("mail", ADDRESS, "valid")


@pytest.mark.parametrize("protocol,port", [("smtp", 2525), ("imap", 1143), ("pop3", 1110),
                                           ("ftp", 2121), ("ldap", 1389), ("xmpp", 5222)])
def test_starttls_service_accepting_tls10_fails_min_version(cert, protocol, port):
    ca, files = cert
    with StarttlsServer(protocol, ADDRESS, port, server_context(files.cert, files.key, legacy=True)):
        obs = observe(ADDRESS, [port], ca_bundle=ca.ca_bundle)
    service = obs.services()[port]
    assert (service["protocol"], service["starttls"]) == (protocol, True)
    verdict = judge("tls.min_version", obs)
    assert verdict.status == Status.FAIL
    assert f"{port}/{protocol}+starttls: accepts TLS 1.0, TLS 1.1" in verdict.reason
    # the same sslyze run judges the certificate behind STARTTLS too
    assert judge("tls.certificate", obs).status == Status.PASS


@pytest.mark.parametrize("protocol,port", [("smtp", 25), ("imap", 143)])
def test_starttls_service_with_modern_tls_passes(cert, protocol, port):
    ca, files = cert
    with StarttlsServer(protocol, ADDRESS, port, server_context(files.cert, files.key)):
        obs = observe(ADDRESS, [port], ca_bundle=ca.ca_bundle)
    for params in ({}, {"all_flows": True}):
        verdict = judge("tls.min_version", obs, **params)
        assert verdict.status == Status.PASS, verdict.reason
        assert set(verdict.observed[f"{port}/{protocol}+starttls"]) == {"TLS 1.2", "TLS 1.3"}


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3", "ftp", "ldap", "xmpp"])
def test_cleartext_service_fails_an_all_flows_clause(protocol):
    with StarttlsServer(protocol, ADDRESS, 3025, None):
        obs = observe(ADDRESS, [3025])
    service = obs.services()[3025]
    assert (service["protocol"], service["starttls"]) == (protocol, False)
    verdict = judge("tls.min_version", obs, all_flows=True)
    assert verdict.status == Status.FAIL
    assert verdict.reason == f"3025: {protocol} without STARTTLS in clear text"
    # without all_flows a clear-text mail port is not a TLS service: nothing to judge
    assert judge("tls.min_version", obs).status == Status.NOT_APPLICABLE
    # and a port outside the control's scope is not judged at all
    assert judge("tls.min_version", obs, all_flows=True, ports="1-1024").status == \
        Status.NOT_APPLICABLE


def test_all_flows_accepts_listed_protocols_and_implicit_tls(cert):
    """SMTPS (TLS from the first byte) beside a clear-text POP3: only POP3 fails; once POP3 is
    listed in non_tls_allowed the clause passes."""
    ca, files = cert
    context = server_context(files.cert, files.key)
    with StarttlsServer("smtp", ADDRESS, 465, context, implicit=True), \
            StarttlsServer("pop3", ADDRESS, 110, None):
        obs = observe(ADDRESS, [110, 465], ca_bundle=ca.ca_bundle)
    assert obs.services()[465]["protocol"] == "tls"
    failing = judge("tls.min_version", obs, all_flows=True)
    assert failing.status == Status.FAIL and failing.reason.startswith("110: pop3")
    allowed = judge("tls.min_version", obs, all_flows=True, non_tls_allowed=["ssh", "pop3"])
    assert allowed.status == Status.PASS, allowed.reason
