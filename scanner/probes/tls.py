"""TLS configuration of every port that speaks TLS, directly or after STARTTLS, by sslyze."""

from __future__ import annotations

import json
import threading
import warnings
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from sslyze import (ProtocolWithOpportunisticTlsEnum, ScanCommand,
                    ScanCommandAttemptStatusEnum, Scanner, ServerNetworkConfiguration,
                    ServerNetworkLocation, ServerScanRequest, ServerScanResultAsJson,
                    ServerScanStatusEnum)

from scanner.model import ProbeResult
from scanner.probes import isolation, tls_trust
from scanner.probes.base import ProbeRequest, timed
from scanner.scope.targets import Target

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


def port_bound(timeout: float) -> float:
    """How long sslyze may take on one port, as a whole: 15 s + 10 timeouts (25 s at
    --timeout 1, 65 s at the default 5 s). Its per-read timeout alone bounds nothing: a server
    sending a byte just before each timeout held it for ever. A lab port takes 0.2-0.45 s at
    either timeout (about a hundred handshakes, five at a time), so 15 s is 30 times that for
    a slow link or a loaded machine; the 10 timeouts cover a server slow to answer, for which
    sslyze's connectivity test alone retries for up to about 11 timeouts."""
    return 15 + 10 * timeout


# STARTTLS protocols the service probe recognises, as sslyze names them.
OPPORTUNISTIC = {"smtp": ProtocolWithOpportunisticTlsEnum.SMTP,
                 "imap": ProtocolWithOpportunisticTlsEnum.IMAP,
                 "pop3": ProtocolWithOpportunisticTlsEnum.POP3,
                 "ftp": ProtocolWithOpportunisticTlsEnum.FTP,
                 "ldap": ProtocolWithOpportunisticTlsEnum.LDAP,
                 "xmpp": ProtocolWithOpportunisticTlsEnum.XMPP,
                 "postgres": ProtocolWithOpportunisticTlsEnum.POSTGRES}


def tls_ports(services: dict[int, dict]) -> dict[int, str | None]:
    """Port -> None for TLS from the first byte, or the protocol it upgrades with STARTTLS."""
    ports: dict[int, str | None] = {}
    for port, service in sorted(services.items()):
        if service.get("protocol") == "tls":
            ports[port] = None
        elif service.get("starttls") and service.get("protocol") in OPPORTUNISTIC:
            ports[port] = service["protocol"]
    return ports


class TlsProbe:
    name = "tls"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            stores = list(dict.fromkeys(
                [str(request.ca_bundle) if request.ca_bundle else tls_trust.MOZILLA]
                + [tls_trust.MOZILLA] + [str(b) for b in request.ca_bundles]))
            result.data["ports"] = {}
            for port, starttls in tls_ports(request.services).items():
                observed, raw = bounded_scan(target, port, request, starttls, stores)
                result.data["ports"][port] = observed
                result.evidence[f"sslyze_{port}"] = raw
                # sslyze's own path validation covers its bundled stores only; ours, per store:
                result.evidence[f"trust_{port}"] = [
                    {"subject": c["subject"], "scanned_name": c["scanned_name"],
                     "validations": c["validations"]} for c in observed.get("certificates", [])]

        return timed(self.name, target, body)


def bounded_scan(target: Target, port: int, request: ProbeRequest, starttls: str | None,
                 stores: list[str]) -> tuple[dict[str, Any], Any]:
    """`scan_port` in a child process killed at the port's bound, or sooner when the target's
    time budget runs out; past either, the port's observation is an error saying which."""
    bound = port_bound(request.timeout)
    with _SSLYZE_SLOTS:
        left = request.seconds_left()
        seconds = bound if left is None else min(bound, left)
        why = (f"the bound of one TLS port at a {request.timeout:g} s timeout" if seconds == bound
               else f"what was left of the target's time budget of {request.budget_s:g} s")
        if seconds <= 0:
            error = f"sslyze was not run: the target's time budget of {request.budget_s:g} s " \
                    "was spent"
        else:
            try:
                observed, raw = isolation.call(
                    scan_port, (target, port, request.timeout, starttls, stores), seconds)
                return observed, raw
            except isolation.ChildTimeout as exc:
                error = f"sslyze {exc} ({why}); it was stopped"
            except isolation.ChildFailure as exc:
                error = f"sslyze failed: {exc}"
    return {"error": error, "starttls": starttls}, {"error": error}


def scan_port(target: Target, port: int, timeout: float, starttls: str | None,
              stores: list[str]) -> tuple[dict[str, Any], Any]:
    """sslyze on one port (after STARTTLS when `starttls` names the protocol); certificate
    chains judged against each of `stores`, the first being the one used by default. Plain
    JSON-able data: this runs in a child process (`bounded_scan`)."""
    location = ServerNetworkLocation(hostname=target.name, port=port, ip_address=target.address)
    sni = target.name if not target.name.replace(".", "").isdigit() else target.address
    config = ServerNetworkConfiguration(
        tls_server_name_indication=sni, network_timeout=max(1, int(timeout)),
        network_max_retries=1,
        tls_opportunistic_encryption=OPPORTUNISTIC[starttls] if starttls else None)
    request = ServerScanRequest(server_location=location, network_configuration=config,
                                scan_commands=set(VERSION_COMMANDS.values()) | OTHER_COMMANDS)
    scanner = Scanner(per_server_concurrent_connections_limit=5, concurrent_server_scans_limit=1)
    scanner.queue_scans([request])
    server = next(iter(scanner.get_results()))
    raw = json.loads(ServerScanResultAsJson.model_validate(server).model_dump_json())
    if server.scan_status != ServerScanStatusEnum.COMPLETED:
        return {"error": f"sslyze could not connect: {server.connectivity_error_trace}",
                "starttls": starttls}, raw
    return {**_observations(server.scan_result, sni, stores), "starttls": starttls}, raw


def _attempt(attempt) -> tuple[Any, str | None]:
    if attempt.status == ScanCommandAttemptStatusEnum.COMPLETED:
        return attempt.result, None
    return None, f"{attempt.error_reason}: {attempt.error_trace}" if attempt.error_trace \
        else str(attempt.error_reason)


def _observations(scan, name: str, stores: list[str]) -> dict[str, Any]:
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
        out["certificates"] = [_deployment(d, name, stores)
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


def _deployment(deployment, name: str, stores: list[str]) -> dict[str, Any]:
    chain: list[x509.Certificate] = deployment.received_certificate_chain
    leaf = chain[0]
    key = leaf.public_key()
    not_after = leaf.not_valid_after_utc
    leaf_names = tls_trust.names(leaf)
    return {
        "subject": leaf.subject.rfc4514_string(),
        "issuer": leaf.issuer.rfc4514_string(),
        "serial": format(leaf.serial_number, "x"),
        "not_before": leaf.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - datetime.now(timezone.utc)).days,
        "names": leaf_names,
        "scanned_name": name,
        "name_matches": tls_trust.matches(leaf_names, name),
        "self_signed": leaf.issuer == leaf.subject,
        "key_type": _key_type(key),
        "key_bits": _key_bits(key),
        "signature_hash": leaf.signature_hash_algorithm.name if leaf.signature_hash_algorithm else None,
        "default_store": stores[0],
        "validations": {store: _validate(chain, name, store) for store in stores},
    }


def _validate(chain: list[x509.Certificate], name: str, store: str) -> dict[str, Any]:
    try:
        return tls_trust.validate(chain, name, store)
    except Exception as exc:  # noqa: BLE001 - an unreadable bundle or chain: an error, not a pass
        return {"error": f"could not validate against {store}: {type(exc).__name__}: {exc}"}


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

