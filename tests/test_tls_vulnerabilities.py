"""tls.known_vulnerabilities from real sslyze results: a (threaded, Python ssl) SMTP server
accepting client-initiated renegotiation after STARTTLS, a DoS vector sslyze reports, fails;
the same server refusing it, as OpenSSL 3 does by default, passes.

Not `openssl s_server -client_renegotiation`: it serves one connection at a time, and sslyze's
parallel connections time out behind the renegotiation test (flaky errors instead of a fail).
"""

from __future__ import annotations

import pytest

from scanner.lab.certs import LabCA
from scanner.lab.starttls import StarttlsServer, server_context
from scanner.model import Status
from tls_helpers import judge, needs_netns, observe

pytestmark = [pytest.mark.lab, needs_netns]
ADDRESS, PORT = "127.0.0.123", 587
ALL_CLEAR = {"heartbleed": False, "robot": "NOT_VULNERABLE_RSA_NOT_SUPPORTED",
             "ccs_injection": False, "insecure_renegotiation": False, "compression": False}


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    ca = LabCA(tmp_path_factory.mktemp("vuln"))
    return ca, ca.issue("reneg", ADDRESS, "valid")


def scan(cert, client_renegotiation: bool):
    ca, files = cert
    context = server_context(files.cert, files.key, client_renegotiation=client_renegotiation)
    with StarttlsServer("smtp", ADDRESS, PORT, context):
        return observe(ADDRESS, [PORT], ca_bundle=ca.ca_bundle)


def test_client_initiated_renegotiation_fails(cert):
    obs = scan(cert, client_renegotiation=True)
    verdict = judge("tls.known_vulnerabilities", obs)
    assert verdict.status == Status.FAIL, verdict.reason
    assert verdict.reason == f"{PORT}/smtp+starttls: vulnerable to insecure_renegotiation"
    assert verdict.observed[f"{PORT}/smtp+starttls"] == {**ALL_CLEAR,
                                                        "insecure_renegotiation": True}
    # the same observation, with that test left out of the control's checks, passes
    others = ["heartbleed", "robot", "ccs_injection", "compression"]
    assert judge("tls.known_vulnerabilities", obs, checks=others).status == Status.PASS


def test_server_refusing_client_renegotiation_passes(cert):
    verdict = judge("tls.known_vulnerabilities", scan(cert, client_renegotiation=False))
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed[f"{PORT}/smtp+starttls"] == ALL_CLEAR
