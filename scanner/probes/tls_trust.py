"""Certificate chain trust, per trust store, with the reasons a chain is refused in plain words.

The verdict itself is sslyze's: cryptography's strict RFC 5280 path validation for the scanned
name, now. When it refuses a chain we say why: facts read from the leaf (expiry, names,
self-signed), then the chain checked alone (for a name the certificate carries, at a time it is
valid), its error message translated.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sslyze.plugins.certificate_info.trust_stores.trust_store import TrustStore
from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import \
    TrustStoresRepository

MOZILLA = "mozilla"
_EXTENSIONS = {"2.5.29.14": "subjectKeyIdentifier", "2.5.29.15": "keyUsage",
               "2.5.29.17": "subjectAltName", "2.5.29.19": "basicConstraints",
               "2.5.29.35": "authorityKeyIdentifier", "2.5.29.37": "extendedKeyUsage"}
_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _mozilla() -> TrustStore:
    return TrustStoresRepository.get_default().get_main_store()


@lru_cache(maxsize=32)
def _bundle(path: str) -> TrustStore:
    return TrustStore(Path(path), name=path, version="given")


def trust_store(key: str) -> TrustStore:
    """sslyze's Mozilla store for 'mozilla', else the PEM bundle at that path."""
    with _LOCK:
        return _mozilla() if key == MOZILLA else _bundle(key)


def subject_of(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [str(n) for n in san.get_values_for_type(x509.DNSName)] + \
               [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        return [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def matches(cert_names: list[str], wanted: str) -> bool:
    wanted = wanted.lower().rstrip(".")
    for name in (n.lower() for n in cert_names):
        if name == wanted:
            return True
        if name.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == name[2:]:
            return True
    return False


def _verify(store: TrustStore, chain: list[x509.Certificate], name: str,
            when: datetime) -> str | None:
    pem = [c.public_bytes(Encoding.PEM).decode("ascii") for c in chain]
    return store.verify_certificate_chain(pem, subject_of(name), when).validation_error


def plain(error: str, store: str) -> str:
    """cryptography's verification message in words an auditor reads."""
    issuer_side = "candidates exhausted" in error
    who = "the issuing CA certificate" if issuer_side else "the certificate"
    missing = re.search(r"(\d+(?:\.\d+)+): Certificate is missing required extension", error)
    if missing:
        extension = _EXTENSIONS.get(missing.group(1), missing.group(1))
        return f"{who} has no {extension} extension (required by RFC 5280)"
    algorithm = re.search(r"Forbidden signature algorithm: .*params: (\w+)", error)
    if algorithm:
        return f"a certificate of the chain is signed with an algorithm RFC 5280 validators " \
               f"refuse ({algorithm.group(1)})"
    if "Forbidden public key algorithm" in error or "key too weak" in error:
        return f"{who} has a key type or size RFC 5280 validators refuse"
    if "no interior errors" in error or "signature does not match" in error:
        return f"unknown issuer: no CA of {store} signed it"
    if "basicConstraints.cA must be asserted" in error:
        return "the issuing certificate is not a CA (basicConstraints cA is false)"
    if "not valid at validation time" in error:
        return "a certificate of the chain is expired or not yet valid"
    if "no matching subjectAltName" in error:
        return "name mismatch"
    return f"chain refused: {error}"


def validate(chain: list[x509.Certificate], name: str, store_key: str) -> dict:
    """{'trusted': bool, 'error': raw message or None, 'reasons': [plain reasons]}."""
    store = trust_store(store_key)
    label = "the Mozilla store" if store_key == MOZILLA else store_key
    now = datetime.now(timezone.utc)
    error = _verify(store, chain, name, now)
    if error is None:
        return {"trusted": True, "error": None, "reasons": []}
    leaf, reasons = chain[0], []
    if now > leaf.not_valid_after_utc:
        reasons.append(f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    elif now < leaf.not_valid_before_utc:
        reasons.append(f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    own = names(leaf)
    if not matches(own, name):
        reasons.append(f"name mismatch: certificate is for {', '.join(own) or 'no name'}, "
                       f"scanned {name}")
    if leaf.issuer == leaf.subject:
        reasons.append(f"self-signed: no CA of {label} vouches for it")
    else:
        # The chain alone: for a name the leaf carries, at a moment it is valid.
        when = min(max(now, leaf.not_valid_before_utc + timedelta(seconds=1)),
                   leaf.not_valid_after_utc - timedelta(seconds=1))
        chain_error = _verify(store, chain, own[0].replace("*", "x", 1), when) if own else error
        if chain_error and (not reasons or "not valid at validation time" not in chain_error):
            reasons.append(plain(chain_error, label))
    return {"trusted": False, "error": error, "reasons": reasons or [plain(error, label)]}
