"""TLS configuration of every port that speaks TLS, by sslyze."""

from __future__ import annotations

import json
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from sslyze import (CertificateInfoExtraArgument, ScanCommand, ScanCommandAttemptStatusEnum,
                    ScanCommandsExtraArguments, Scanner, ServerNetworkConfiguration,
                    ServerNetworkLocation, ServerScanRequest, ServerScanResultAsJson,
                    ServerScanStatusEnum)

from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, register, timed
from scanner.targets import Target

VERSION_COMMANDS = {
    "SSL 2.0": ScanCommand.SSL_2_0_CIPHER_SUITES, "SSL 3.0": ScanCommand.SSL_3_0_CIPHER_SUITES,
    "TLS 1.0": ScanCommand.TLS_1_0_CIPHER_SUITES, "TLS 1.1": ScanCommand.TLS_1_1_CIPHER_SUITES,
    "TLS 1.2": ScanCommand.TLS_1_2_CIPHER_SUITES, "TLS 1.3": ScanCommand.TLS_1_3_CIPHER_SUITES,
}
OTHER_COMMANDS = {ScanCommand.CERTIFICATE_INFO, ScanCommand.TLS_COMPRESSION,
                  ScanCommand.HEARTBLEED, ScanCommand.ROBOT, ScanCommand.OPENSSL_CCS_INJECTION,
                  ScanCommand.SESSION_RENEGOTIATION}
# sslyze's bundled Apple and Android trust stores hold a root with a negative serial number;
# cryptography warns on every load. Not our finding, and noise on the terminal.
warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive",
                        category=CryptographyDeprecationWarning)
# sslyze is CPU-bound: past ~4 concurrent server scans on 2 cores nothing is gained.
_SSLYZE_SLOTS = threading.BoundedSemaphore(4)


class TlsProbe:
    name = "tls"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            ports = request.ports_speaking("tls")
            result.data["ports"] = {}
            for port in ports:
                observed, raw = scan_port(target, port, request.timeout, request.ca_bundle)
                result.data["ports"][port] = observed
                result.evidence[f"sslyze_{port}"] = raw

        return timed(self.name, target, body)


def scan_port(target: Target, port: int, timeout: float,
              ca_bundle: Path | None) -> tuple[dict[str, Any], Any]:
    location = ServerNetworkLocation(hostname=target.name, port=port, ip_address=target.address)
    sni = target.name if not target.name.replace(".", "").isdigit() else target.address
    config = ServerNetworkConfiguration(tls_server_name_indication=sni,
                                        network_timeout=max(1, int(timeout)),
                                        network_max_retries=1)
    extra = ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_bundle)) \
        if ca_bundle else ScanCommandsExtraArguments()
    request = ServerScanRequest(server_location=location, network_configuration=config,
                                scan_commands=set(VERSION_COMMANDS.values()) | OTHER_COMMANDS,
                                scan_commands_extra_arguments=extra)
    with _SSLYZE_SLOTS:
        scanner = Scanner(per_server_concurrent_connections_limit=5,
                          concurrent_server_scans_limit=1)
        scanner.queue_scans([request])
        server = next(iter(scanner.get_results()))
    raw = json.loads(ServerScanResultAsJson.model_validate(server).model_dump_json())
    if server.scan_status != ServerScanStatusEnum.COMPLETED:
        return {"error": f"sslyze could not connect: {server.connectivity_error_trace}"}, raw
    return _observations(server.scan_result, target, ca_bundle), raw


def _attempt(attempt) -> tuple[Any, str | None]:
    if attempt.status == ScanCommandAttemptStatusEnum.COMPLETED:
        return attempt.result, None
    return None, f"{attempt.error_reason}: {attempt.error_trace}" if attempt.error_trace \
        else str(attempt.error_reason)


def _observations(scan, target: Target, ca_bundle: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {"versions": {}, "errors": {}}
    for version, command in VERSION_COMMANDS.items():
        result, error = _attempt(getattr(scan, command.value))
        if error:
            out["errors"][version] = error
            continue
        suites = [s.cipher_suite.name for s in result.accepted_cipher_suites]
        out["versions"][version] = {"accepted": bool(suites), "cipher_suites": suites}
    cert, error = _attempt(scan.certificate_info)
    if error:
        out["errors"]["certificate"] = error
    else:
        out["certificates"] = [_deployment(d, target, ca_bundle)
                               for d in cert.certificate_deployments]
    out["vulnerabilities"] = {}
    for name, attr, read in (
            ("heartbleed", "heartbleed", lambda r: r.is_vulnerable_to_heartbleed),
            ("ccs_injection", "openssl_ccs_injection", lambda r: r.is_vulnerable_to_ccs_injection),
            ("compression", "tls_compression", lambda r: r.supports_compression),
            ("insecure_renegotiation", "session_renegotiation",
             lambda r: not r.supports_secure_renegotiation or r.is_vulnerable_to_client_renegotiation_dos),
            ("robot", "robot", lambda r: r.robot_result.value)):
        result, error = _attempt(getattr(scan, attr))
        if error:
            out["errors"][name] = error
        else:
            out["vulnerabilities"][name] = read(result)
    return out


def _deployment(deployment, target: Target, ca_bundle: Path | None) -> dict[str, Any]:
    leaf: x509.Certificate = deployment.received_certificate_chain[0]
    key = leaf.public_key()
    validations = {v.trust_store.name: {"trusted": v.was_validation_successful,
                                        "error": v.validation_error}
                   for v in deployment.path_validation_results}
    store = _store_used(validations, ca_bundle)
    not_after = leaf.not_valid_after_utc
    return {
        "subject": leaf.subject.rfc4514_string(),
        "issuer": leaf.issuer.rfc4514_string(),
        "serial": format(leaf.serial_number, "x"),
        "not_before": leaf.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - datetime.now(timezone.utc)).days,
        "names": _names(leaf),
        "name_matches": _matches(_names(leaf), target.name),
        "key_type": _key_type(key),
        "key_bits": _key_bits(key),
        "signature_hash": leaf.signature_hash_algorithm.name if leaf.signature_hash_algorithm else None,
        "trust_store": store,
        "trusted": validations.get(store, {}).get("trusted", False),
        "trust_error": validations.get(store, {}).get("error"),
        "validations": validations,
    }


def _store_used(validations: dict[str, Any], ca_bundle: Path | None) -> str:
    """The supplied bundle when one is given, else sslyze's Mozilla store."""
    if ca_bundle:
        custom = [name for name in validations if "supplied" in name.lower()]
        if custom:
            return custom[0]
    return next((n for n in validations if "mozilla" in n.lower()), next(iter(validations), ""))


def _key_type(key) -> str:
    for kind, name in ((rsa.RSAPublicKey, "RSA"), (ec.EllipticCurvePublicKey, "EC"),
                       (dsa.DSAPublicKey, "DSA"), (ed25519.Ed25519PublicKey, "Ed25519"),
                       (ed448.Ed448PublicKey, "Ed448")):
        if isinstance(key, kind):
            return name
    return type(key).__name__


def _key_bits(key) -> int | None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    if isinstance(key, ed448.Ed448PublicKey):
        return 448
    return getattr(key, "key_size", None)


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [str(n) for n in san.get_values_for_type(x509.DNSName)] + \
               [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        return [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def _matches(names: list[str], wanted: str) -> bool:
    wanted = wanted.lower().rstrip(".")
    for name in (n.lower() for n in names):
        if name == wanted:
            return True
        if name.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == name[2:]:
            return True
    return False


register(TlsProbe())
