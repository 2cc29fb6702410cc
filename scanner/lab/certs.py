"""A lab CA and the server certificates it signs, written as PEM files into the lab's work dir."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scanner.lab.hosts import CertKind

DNS_SUFFIX = "annexscan.test"  # .test is reserved for testing (RFC 2606): never resolves


# DER AlgorithmIdentifiers (OID + NULL parameters): same length, so one can replace the other.
_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def _resign_sha1(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with SHA-1, which cryptography's builder no longer does."""
    tbs = cert.tbs_certificate_bytes
    if tbs.count(_SHA256_RSA) != 1:
        raise ValueError("expected one sha256WithRSAEncryption identifier in the certificate")
    tbs = tbs.replace(_SHA256_RSA, _SHA1_RSA)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    return x509.load_der_x509_certificate(
        _der(0x30, tbs + _SHA1_RSA + _der(0x03, b"\x00" + signature)))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "annexscan lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class LabCA:
    """Creates the CA at construction (RSA 2048, SHA-256, 10 years); `issue` signs server certs.

    key_usage=False leaves out the keyUsage extension, which RFC 5280 validators refuse.
    """

    def __init__(self, workdir: Path, key_usage: bool = True,
                 common_name: str = "annexscan lab CA") -> None:
        self.workdir = workdir
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.timezone.utc)
        public = self._key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        if key_usage:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
        self._cert = builder.sign(self._key, hashes.SHA256())
        self.ca_bundle = workdir / "ca.pem"
        self.ca_bundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, address: str, kind: CertKind,
              days_left: int | None = None) -> CertFiles:
        """Sign a server certificate for `address` (SAN IP) and `name.annexscan.test` (SAN DNS).

        valid: RSA 2048, SHA-256, one year. expired: the same, but its year ended 30 days ago.
        weak: RSA 1024 signed with SHA-1, one year. `days_left` ends the validity that many
        days (plus an hour) from now instead.
        """
        weak = kind == "weak"
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024 if weak else 2048)
        now = dt.datetime.now(dt.timezone.utc)
        start = now - dt.timedelta(days=395 if kind == "expired" else 1)
        dns = f"{name}.{DNS_SUFFIX}"
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(dns))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365) if days_left is None
                             else now + dt.timedelta(days=days_left, hours=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address(address)), x509.DNSName(dns)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        if weak:
            cert = _resign_sha1(cert, self._key)
        files = CertFiles(self.workdir / f"{name}.crt", self.workdir / f"{name}.key")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(files.key, key)
        return files


def self_signed(workdir: Path, name: str, address: str) -> CertFiles:
    """A server certificate for `address` and `name.annexscan.test` that signs itself."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    subject = _name(f"{name}.{DNS_SUFFIX}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(address)),
            x509.DNSName(f"{name}.{DNS_SUFFIX}")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = CertFiles(workdir / f"{name}.crt", workdir / f"{name}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    return files
