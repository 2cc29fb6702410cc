"""tls.known_vulnerabilities from real sslyze results: `openssl s_server` accepting
client-initiated renegotiation (a DoS vector sslyze reports) fails; the same server without
that option passes."""

from __future__ import annotations

import pytest

from scanner.lab.certs import LabCA
from scanner.model import Status
from tls_helpers import OpensslServer, judge, needs_netns, observe

pytestmark = [pytest.mark.lab, needs_netns]
ADDRESS, PORT = "127.0.0.123", 4433


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    ca = LabCA(tmp_path_factory.mktemp("vuln"))
    return ca, ca.issue("reneg", ADDRESS, "valid")


def scan(cert, *options):
    ca, files = cert
    with OpensslServer(ADDRESS, PORT, files.cert, files.key, *options):
        return observe(ADDRESS, [PORT], ca_bundle=ca.ca_bundle)


def test_client_initiated_renegotiation_fails(cert):
    obs = scan(cert, "-client_renegotiation", "-no_tls1_3")
    verdict = judge("tls.known_vulnerabilities", obs)
    assert verdict.status == Status.FAIL, verdict.reason
    assert verdict.reason == f"{PORT}: vulnerable to insecure_renegotiation"
    assert obs.data("tls")["ports"][PORT]["vulnerabilities"]["insecure_renegotiation"] is True
    # the same observation, with that test left out of the control's checks, passes
    others = ["heartbleed", "robot", "ccs_injection", "compression"]
    assert judge("tls.known_vulnerabilities", obs, checks=others).status == Status.PASS


def test_server_refusing_client_renegotiation_passes(cert):
    obs = scan(cert, "-no_tls1_3")
    verdict = judge("tls.known_vulnerabilities", obs)
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed[str(PORT)] == {"heartbleed": False, "robot": "NOT_VULNERABLE_NO_ORACLE",
                                           "ccs_injection": False,
                                           "insecure_renegotiation": False,
                                           "compression": False}
