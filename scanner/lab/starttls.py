"""Small real STARTTLS servers: SMTP, IMAP, POP3, FTP (the server speaks first), LDAP and XMPP
(the client does) dialogues that upgrade the connection with Python's ssl module, that speak
TLS from the first byte, or that offer no TLS at all.

    with StarttlsServer("smtp", "127.0.0.20", 25, context): ...   # context None: clear text
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import warnings
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

NAME = "lab.annexscan.test"


# OpenSSL 3's SSL_OP_ALLOW_CLIENT_RENEGOTIATION (SSL_OP_BIT(8)), which Python's ssl does not name.
OP_ALLOW_CLIENT_RENEGOTIATION = 1 << 8


def server_context(cert: Path, key: Path, legacy: bool = False,
                   client_renegotiation: bool = False) -> ssl.SSLContext:
    """A server context; `legacy` also accepts TLS 1.0/1.1 (OpenSSL wants security level 0);
    `client_renegotiation` accepts client-initiated renegotiation, a known DoS vector."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_renegotiation:
        context.options |= OP_ALLOW_CLIENT_RENEGOTIATION
    if legacy:
        with warnings.catch_warnings():  # deprecated is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _reply(protocol: str, tag: str, verb: str, offered: bool) -> tuple[str, bool]:
    """(reply, True when the connection switches to TLS after it) for one command."""
    tls = " STARTTLS" if offered else ""
    if protocol == "smtp":
        if verb in ("EHLO", "HELO"):
            caps = [NAME, *(["STARTTLS"] if offered else []), "8BITMIME"]
            return "".join(f"250{' ' if cap == caps[-1] else '-'}{cap}\r\n" for cap in caps), False
        if verb == "STARTTLS":
            return ("220 2.0.0 Ready to start TLS\r\n", True) if offered else \
                ("502 5.5.1 STARTTLS not offered\r\n", False)
        return {"QUIT": "221 2.0.0 Bye\r\n", "NOOP": "250 OK\r\n"}.get(
            verb, "500 5.5.2 unknown command\r\n"), False
    if protocol == "imap":
        if verb == "CAPABILITY":
            return f"* CAPABILITY IMAP4rev1{tls}\r\n{tag} OK done\r\n", False
        if verb == "STARTTLS":
            return (f"{tag} OK Begin TLS\r\n", True) if offered else \
                (f"{tag} BAD not offered\r\n", False)
        if verb == "LOGOUT":
            return f"* BYE\r\n{tag} OK\r\n", False
        return f"{tag} BAD unknown command\r\n", False
    if protocol == "pop3":
        if verb == "CAPA":
            return "".join(f"{line}\r\n" for line in
                           ["+OK", "USER", *(["STLS"] if offered else []), "."]), False
        if verb == "STLS":
            return ("+OK Begin TLS\r\n", True) if offered else ("-ERR not offered\r\n", False)
        return {"QUIT": "+OK bye\r\n"}.get(verb, "-ERR unknown command\r\n"), False
    if verb == "AUTH" and tag.upper() in ("AUTH TLS", "AUTH SSL"):  # ftp
        return ("234 AUTH TLS OK\r\n", True) if offered else ("502 not offered\r\n", False)
    return {"QUIT": "221 bye\r\n"}.get(verb, "500 unknown command\r\n"), False


GREETINGS = {"smtp": f"220 {NAME} ESMTP annexscan lab\r\n",
             "imap": "* OK annexscan lab IMAP ready\r\n",
             "pop3": "+OK annexscan lab POP3 ready\r\n",
             "ftp": "220 annexscan lab FTP ready\r\n"}
CLIENT_FIRST = ("ldap", "xmpp")
_XMPP_STREAM = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                f"xmlns:stream='http://etherx.jabber.org/streams' id='lab' from='{NAME}' "
                "version='1.0'>")
_XMPP_NOT_XML = ("<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                 "</stream:error></stream:stream>")
_XMPP_TLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"


def _ldap_answer(request: bytes, offered: bool) -> bytes | None:
    """The ExtendedResponse (message id 1) to a StartTLS ExtendedRequest: success (0) or
    protocolError (2); None for anything else, which the server hangs up on, as slapd does."""
    if request[:1] != b"\x30" or b"1.3.6.1.4.1.1466.20037" not in request:
        return None
    return b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01" + (b"\x00" if offered else b"\x02") + \
        b"\x04\x00\x04\x00"


class _Handler(socketserver.StreamRequestHandler):
    timeout = 10
    server: "_Server"

    def handle(self) -> None:
        protocol, context = self.server.protocol, self.server.context
        sock: socket.socket = self.request
        if self.server.implicit and context is not None:
            sock = self._upgrade(sock, context)
        offered = context is not None and not self.server.implicit
        if protocol in CLIENT_FIRST:
            self._client_first(sock, context if offered else None)
            return
        sock.sendall(GREETINGS[protocol].encode())
        reader: BinaryIO = sock.makefile("rb")
        for _ in range(100):
            line = reader.readline(1024).decode("latin-1").strip()
            if not line:
                return
            words = line.split()
            # IMAP commands carry a tag first; FTP's AUTH is judged on its argument.
            tag, verb = (words[0], words[1].upper()) if protocol == "imap" and len(words) > 1 \
                else (line, words[0].upper())
            answer, upgrade = _reply(protocol, tag, verb, offered)
            sock.sendall(answer.encode())
            if verb in ("QUIT", "LOGOUT"):
                return
            if upgrade and context is not None:
                sock, offered = self._upgrade(sock, context), False
                reader = sock.makefile("rb")

    def _client_first(self, sock: socket.socket, context: ssl.SSLContext | None) -> None:
        """LDAP or XMPP: answer the client's opening, upgrade when it asks for TLS and a
        context is given, then read until the client hangs up."""
        opening = sock.recv(4096)
        if self.server.protocol == "ldap":
            answer = _ldap_answer(opening, context is not None)
            if answer is None:
                return
            sock.sendall(answer)
        else:
            if not opening.startswith((b"<?xml", b"<stream")):
                sock.sendall((_XMPP_STREAM + _XMPP_NOT_XML).encode())
                return
            features = _XMPP_TLS if context is not None else ""
            sock.sendall(f"{_XMPP_STREAM}<stream:features>{features}</stream:features>".encode())
            if context is None or b"<starttls" not in sock.recv(4096):
                return
            sock.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        if context is not None:
            tls = self._upgrade(sock, context)
            while tls.recv(4096):
                pass

    @staticmethod
    def _upgrade(sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
        """The TLS handshake; a failed one (scanners try every version) ends the connection,
        quietly (see _Server.handle_error)."""
        return context.wrap_socket(sock, server_side=True)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], protocol: str,
                 context: ssl.SSLContext | None, implicit: bool) -> None:
        self.protocol, self.context, self.implicit = protocol, context, implicit
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """Scanners hang up mid-dialogue on purpose: not worth a traceback."""


class StarttlsServer:
    """One protocol on one address and port, in a thread of this process: STARTTLS offered when
    a context is given, or TLS from the first byte with `implicit` (like SMTPS or HTTPS)."""

    def __init__(self, protocol: str, address: str, port: int,
                 context: ssl.SSLContext | None, implicit: bool = False) -> None:
        if protocol not in (*GREETINGS, *CLIENT_FIRST):
            raise ValueError(f"unknown protocol {protocol}; known: "
                             f"{', '.join((*GREETINGS, *CLIENT_FIRST))}")
        self._server = _Server((address, port), protocol, context, implicit)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StarttlsServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
