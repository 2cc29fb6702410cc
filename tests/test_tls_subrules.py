"""Sub-rules of the tls.* controls set to null are not checked, and `expected` says so; each
rule still fails where it should. Real lab servers (nginx), real sslyze."""

from __future__ import annotations

import pytest

from scanner.model import Status
from tls_helpers import judge, observe

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def seen(lab):
    return {name: observe(lab.hosts[name].address, [443], ca_bundle=lab.ca_bundle)
            for name in ("good", "legacy", "weakkey")}


def test_key_strength_rules_one_by_one(seen):
    weak = seen["weakkey"]  # RSA 1024 signed with SHA-1
    both = judge("tls.key_strength", weak)
    assert both.status == Status.FAIL
    assert "RSA key of 1024 bits < 2048" in both.reason and "signed with sha1" in both.reason
    size_only = judge("tls.key_strength", weak, forbidden_hashes=None)
    assert size_only.status == Status.FAIL and "sha1" not in size_only.reason
    assert "signature hash not checked" in size_only.expected
    hash_only = judge("tls.key_strength", weak, min_rsa_bits=None)
    assert hash_only.status == Status.FAIL and "1024" not in hash_only.reason
    assert "RSA" not in hash_only.expected
    none = judge("tls.key_strength", weak, min_rsa_bits=None, forbidden_hashes=None)
    assert none.status == Status.PASS
    assert judge("tls.key_strength", seen["good"]).status == Status.PASS


def test_cipher_strength_rules_one_by_one(seen):
    legacy = seen["legacy"]  # nginx with ALL:@SECLEVEL=0
    full = judge("tls.cipher_strength", legacy)
    assert full.status == Status.FAIL
    assert "weak suites" in full.reason and "no forward secrecy" in full.reason
    no_fs = judge("tls.cipher_strength", legacy, forbidden=None)
    assert no_fs.status == Status.FAIL and "weak suites" not in no_fs.reason
    assert "suite components not checked" in no_fs.expected
    weak_only = judge("tls.cipher_strength", legacy, require_forward_secrecy=None)
    assert weak_only.status == Status.FAIL and "forward secrecy" not in weak_only.reason
    assert "forward secrecy not checked" in weak_only.expected
    assert judge("tls.cipher_strength", legacy, forbidden=None,
                 require_forward_secrecy=None).status == Status.PASS
    assert judge("tls.cipher_strength", seen["good"]).status == Status.PASS


def test_weak_certificate_refusal_is_explained(seen):
    """The SHA-1 signed certificate fails strict path validation, with a reason."""
    verdict = judge("tls.certificate", seen["weakkey"])
    assert verdict.status == Status.FAIL
    assert verdict.reason.endswith("a certificate of the chain is signed with an algorithm "
                                   "RFC 5280 validators refuse (RsaWithSha1)"), verdict.reason
