"""tls.certificate on real servers: strict RFC 5280 validation by sslyze's verifier, and every
refusal said in plain words. Each failing certificate has a compliant counterpart."""

from __future__ import annotations

import pytest

from scanner.lab.certs import LabCA, self_signed
from scanner.lab.starttls import StarttlsServer, server_context
from scanner.model import Status
from tls_helpers import judge, needs_netns, observe

pytestmark = [pytest.mark.lab, needs_netns]
ADDRESS, PORT = "127.0.0.122", 443


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return LabCA(tmp_path_factory.mktemp("ca"))


def scan(files, ca_bundle, name=None, ca_bundles=None):
    """A real TLS server (SMTPS) presenting `files`, probed by the service probe and sslyze."""
    with StarttlsServer("smtp", ADDRESS, PORT, server_context(files.cert, files.key),
                        implicit=True):
        return observe(ADDRESS, [PORT], ca_bundle=ca_bundle, name=name, ca_bundles=ca_bundles)


def test_valid_certificate_passes(ca):
    obs = scan(ca.issue("ok", ADDRESS, "valid"), ca.ca_bundle)
    verdict = judge("tls.certificate", obs)
    assert verdict.status == Status.PASS, verdict.reason
    # the evidence keeps our validation per store: the given bundle trusts it, Mozilla does not
    trust = obs.results["tls"].evidence["trust_443"][0]["validations"]
    assert trust[str(ca.ca_bundle)]["trusted"] is True and trust["mozilla"]["trusted"] is False
    assert verdict.observed["443"][0]["trusted"] is True
    assert "strict RFC 5280" in verdict.expected and "15 days" in verdict.expected


def test_untrusted_issuer_fails(ca, tmp_path):
    other = LabCA(tmp_path, common_name="some other CA")
    verdict = judge("tls.certificate", scan(other.issue("x", ADDRESS, "valid"), ca.ca_bundle))
    assert verdict.status == Status.FAIL
    assert f"not trusted ({ca.ca_bundle}): unknown issuer: no CA of {ca.ca_bundle} signed it" \
        in verdict.reason


def test_mozilla_store_refuses_the_lab_ca(ca):
    """No --ca-bundle: the Mozilla store, which does not know the lab CA."""
    verdict = judge("tls.certificate", scan(ca.issue("ok", ADDRESS, "valid"), None))
    assert verdict.status == Status.FAIL
    assert "not trusted (mozilla): unknown issuer: no CA of the Mozilla store signed it" \
        in verdict.reason


def test_self_signed_fails(ca, tmp_path):
    verdict = judge("tls.certificate", scan(self_signed(tmp_path, "self", ADDRESS), ca.ca_bundle))
    assert verdict.status == Status.FAIL
    assert "self-signed: no CA of" in verdict.reason


def test_name_mismatch_fails_and_matching_name_passes(ca):
    files = ca.issue("web", "127.0.0.99", "valid")  # for 127.0.0.99 and web.annexscan.test
    wrong = judge("tls.certificate", scan(files, ca.ca_bundle, name="other.annexscan.test"))
    assert wrong.status == Status.FAIL
    assert ("name mismatch: certificate is for web.annexscan.test, 127.0.0.99, "
            "scanned other.annexscan.test") in wrong.reason
    # the same certificate, scanned under the name it carries (SNI and validation use it)
    right = judge("tls.certificate", scan(files, ca.ca_bundle, name="web.annexscan.test"))
    assert right.status == Status.PASS, right.reason


def test_scanned_by_address_the_name_is_unknown_not_wrong(ca):
    """A service reached by a host name, scanned by its address: nobody gave the name to
    check, so the answer is an error saying so, not a false failure."""
    files = ca.issue("web", "127.0.0.99", "valid")
    verdict = judge("tls.certificate", scan(files, ca.ca_bundle))
    assert verdict.status == Status.ERROR
    assert f"not the scanned address {ADDRESS}: scan the host name" in verdict.reason
    # a real fault is still a failure, whatever the name
    expired = judge("tls.certificate", scan(ca.issue("old", "127.0.0.99", "expired"),
                                            ca.ca_bundle))
    assert expired.status == Status.FAIL and "expired on" in expired.reason


def test_expired_certificate_says_when(ca):
    verdict = judge("tls.certificate", scan(ca.issue("old", ADDRESS, "expired"), ca.ca_bundle))
    assert verdict.status == Status.FAIL
    assert "expired on 20" in verdict.reason and "UTC" in verdict.reason


def test_expiry_margin_is_a_parameter_that_may_be_null(ca):
    obs = scan(ca.issue("soon", ADDRESS, "valid", days_left=5), ca.ca_bundle)
    within = judge("tls.certificate", obs)
    assert within.status == Status.FAIL and "expires in 5 days" in within.reason
    assert judge("tls.certificate", obs, min_days_left=3).status == Status.PASS
    unchecked = judge("tls.certificate", obs, min_days_left=None)
    assert unchecked.status == Status.PASS and "no expiry margin checked" in unchecked.expected


def test_ca_without_key_usage_is_refused_with_the_reason(tmp_path):
    bare = LabCA(tmp_path, key_usage=False)
    verdict = judge("tls.certificate", scan(bare.issue("ku", ADDRESS, "valid"), bare.ca_bundle))
    assert verdict.status == Status.FAIL
    assert "the issuing CA certificate has no keyUsage extension (required by RFC 5280)" \
        in verdict.reason


def test_ca_bundle_parameter_per_control(ca, tmp_path):
    """Without --ca-bundle, each control's own ca_bundle decides: one scan, three verdicts."""
    other = LabCA(tmp_path, common_name="second CA")
    obs = scan(ca.issue("ok", ADDRESS, "valid"), None,
               ca_bundles=[ca.ca_bundle, other.ca_bundle])
    assert judge("tls.certificate", obs, ca_bundle=str(ca.ca_bundle)).status == Status.PASS
    refused = judge("tls.certificate", obs, ca_bundle=str(other.ca_bundle))
    assert refused.status == Status.FAIL and "unknown issuer" in refused.reason
    assert judge("tls.certificate", obs).status == Status.FAIL  # the Mozilla store
