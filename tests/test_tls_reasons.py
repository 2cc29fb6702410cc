"""cryptography's path-validation messages (recorded from cryptography 46) in plain words."""

from __future__ import annotations

import pytest

from scanner.probes.tls_trust import matches, plain

STORE = "the Mozilla store"
CASES = [
    ("validation failed: candidates exhausted: invalid extension: 2.5.29.15: Certificate is "
     "missing required extension", "the issuing CA certificate has no keyUsage extension "
     "(required by RFC 5280)"),
    ("validation failed: invalid extension: 2.5.29.35: Certificate is missing required extension "
     "(encountered processing <Certificate(subject=<Name(CN=leaf)>, ...)>)",
     "the certificate has no authorityKeyIdentifier extension (required by RFC 5280)"),
    ("validation failed: candidates exhausted: all candidates exhausted with no interior errors",
     "unknown issuer: no CA of the Mozilla store signed it"),
    ("validation failed: candidates exhausted: signature does not match",
     "unknown issuer: no CA of the Mozilla store signed it"),
    ("validation failed: candidates exhausted: basicConstraints.cA must be asserted in a CA "
     "certificate", "the issuing certificate is not a CA (basicConstraints cA is false)"),
    ("validation failed: cert is not valid at validation time (encountered processing "
     "<Certificate(subject=<Name(CN=ca)>, ...)>)",
     "a certificate of the chain is expired or not yet valid"),
    ("something new", "chain refused: something new"),
]


@pytest.mark.parametrize("error,expected", CASES)
def test_plain_reason(error, expected):
    assert plain(error, STORE) == expected


def test_name_matching():
    assert matches(["www.example.org", "192.0.2.1"], "WWW.example.org.")
    assert matches(["*.example.org"], "a.example.org")
    assert not matches(["*.example.org"], "a.b.example.org")
    assert not matches(["example.org"], "www.example.org")
