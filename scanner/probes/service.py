"""What each open port speaks (TLS, SSH, HTTP, a text banner, or nothing), from one connection.

We send a real OpenSSL ClientHello and read what comes back: TLS servers answer with a
handshake or alert record, banner-first protocols (SSH, FTP, SMTP...) have already greeted us,
plain HTTP answers with an error page, and a port that accepts but never speaks stays silent.
"""

from __future__ import annotations

import socket
import ssl

from scanner.model import ProbeResult
from scanner.probes import starttls
from scanner.probes.base import Deadline, ProbeRequest, timed
from scanner.scope.targets import Target

# Protocol knowledge, not an annex rule: ports where clients expect TLS from the first byte.
WELL_KNOWN_TLS_PORTS = frozenset({443, 465, 636, 853, 990, 992, 993, 995, 5061, 5986, 8443, 9443})
_TEXT_BANNERS = (("SSH-", "ssh"), ("+OK", "pop3"), ("* OK", "imap"), ("HTTP/", "http"),
                 ("<?xml", "xmpp"), ("<stream:", "xmpp"))
# Answers that lead to a second, protocol-specific dialogue (STARTTLS offered or not).
STARTTLS_CANDIDATES = frozenset({"smtp", "ftp", "imap", "pop3", "xmpp", "unknown"})
_MAX_READ = 1024


def client_hello(server_name: str) -> bytes:
    """The bytes of a ClientHello offering every version OpenSSL allows here."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    sni = server_name if not server_name.replace(".", "").isdigit() else None
    tls = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def classify(first_bytes: bytes) -> str:
    if len(first_bytes) >= 2 and first_bytes[0] in (0x15, 0x16) and first_bytes[1] == 0x03:
        return "tls"
    if first_bytes[:1] == b"\xff":
        return "telnet"
    text = first_bytes.decode("latin-1")
    for prefix, protocol in _TEXT_BANNERS:
        if text.startswith(prefix):
            return protocol
    if text.startswith("220"):
        return "smtp" if "SMTP" in text.upper() else "ftp"
    return "unknown"


def _read_some(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < _MAX_READ:
        chunk = sock.recv(_MAX_READ - len(data))
        if not chunk:
            break
        data += chunk
        if len(data) >= 5:
            break
    return data


def identify(address: str, port: int, server_name: str, timeout: float) -> dict:
    """One port: {'protocol': tls|ssh|http|ftp|smtp|pop3|imap|xmpp|ldap|postgres|telnet|unknown|
    silent|closed, ...}; clear-text protocols that can upgrade also get 'starttls': True|False
    (None: the capability dialogue failed)."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        return {"protocol": "closed", "detail": "connection refused"}
    except OSError as exc:
        return {"protocol": "unreachable", "detail": str(exc)}
    with sock, Deadline(sock, 2 * timeout):
        try:
            sock.sendall(client_hello(server_name))
            data = _read_some(sock)
        except socket.timeout:
            return {"protocol": "silent",
                    "detail": f"connection accepted but nothing received within {timeout:g}s"}
        except OSError as exc:
            data, reset = b"", f"connection reset: {exc}"
        else:
            reset = "connection closed without answering"
    info = {"protocol": classify(data), "first_bytes": data[:64].decode("latin-1")} if data \
        else {"protocol": "unknown", "detail": reset}
    if info["protocol"] in STARTTLS_CANDIDATES:
        # A clear-text protocol that may upgrade; an unknown one may be client-first.
        found = starttls.dialogue(info["protocol"], address, port, server_name, timeout)
        if found:
            info.update(found)
        elif info["protocol"] != "unknown":
            info["starttls"] = None
    return info


class ServiceProbe:
    name = "service"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            services = {port: identify(target.address, port, target.name, request.timeout)
                        for port in request.open_ports}
            result.data["services"] = services
            result.evidence["services"] = {str(p): s for p, s in services.items()}

        return timed(self.name, target, body)

