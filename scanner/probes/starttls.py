"""Protocols that upgrade to TLS in-band (STARTTLS), recognised by what the port answers.

Banner-first protocols (SMTP, FTP, IMAP, POP3) are asked for their capabilities; client-first
ones (PostgreSQL, LDAP, XMPP) are sent their own opening request, each on a fresh connection
bounded in time and in bytes read. Port numbers play no part.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, BinaryIO

from scanner.probes.base import Deadline

_MAX_LINE = 512
_MAX_LINES = 50
_MAX_READ = 4096
# PostgreSQL SSLRequest: length 8, code 80877103.
_PG_SSL_REQUEST = bytes.fromhex("0000000804d2162f")
# LDAPv3 ExtendedRequest, message id 1, name 1.3.6.1.4.1.1466.20037 (StartTLS).
_LDAP_STARTTLS = b"0\x1d\x02\x01\x01w\x18\x80\x161.3.6.1.4.1.1466.20037"
_XMPP_OPEN = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>")

Talk = Callable[[socket.socket, BinaryIO], "dict | None"]


def _converse(address: str, port: int, timeout: float, talk: Talk) -> dict | None:
    """Run one dialogue on a fresh connection; None when it failed or timed out."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock, \
                Deadline(sock, 3 * timeout):
            return talk(sock, sock.makefile("rb"))
    except Exception:  # noqa: BLE001 - whatever a hostile server sends, one port's dialogue
        return None    # fails, never the service probe of the whole host


def _lines(reader: BinaryIO, last: Callable[[str], bool]) -> list[str]:
    """Read lines until `last(line)` holds, at most _MAX_LINES of _MAX_LINE bytes."""
    lines: list[str] = []
    for _ in range(_MAX_LINES):
        line = reader.readline(_MAX_LINE).decode("latin-1")
        if not line:
            break
        lines.append(line.rstrip("\r\n"))
        if last(lines[-1]):
            break
    return lines


def _numeric(reader: BinaryIO) -> tuple[int | None, list[str]]:
    """An SMTP/FTP reply ("250-..." continued, "250 ..." last): its code and lines."""
    lines = _lines(reader, lambda line: line[3:4] != "-")
    code = lines[-1][:3] if lines and lines[-1][3:4] != "-" else ""  # a reply cut short: none
    return (int(code) if code.isdigit() else None), lines


def _smtp_or_ftp(banner_says_smtp: bool) -> Talk:
    """220 greets both SMTP and FTP: EHLO answered with 250 is SMTP, else AUTH TLS asks FTP."""
    def talk(sock: socket.socket, reader: BinaryIO) -> dict | None:
        _numeric(reader)
        sock.sendall(b"EHLO annexscan.invalid\r\n")
        code, lines = _numeric(reader)
        if code == 250:
            sock.sendall(b"QUIT\r\n")
            return {"protocol": "smtp",
                    "starttls": "STARTTLS" in [line[4:].strip().upper() for line in lines]}
        if banner_says_smtp:  # a reply refusing EHLO (5xx) rules STARTTLS out; none tells nothing
            return {"protocol": "smtp", "starttls": False} if code else None
        sock.sendall(b"AUTH TLS\r\n")
        code, _ = _numeric(reader)
        return {"protocol": "ftp", "starttls": code == 234} if code else None
    return talk


def _imap(sock: socket.socket, reader: BinaryIO) -> dict | None:
    greeting = _lines(reader, lambda line: True)
    sock.sendall(b"a1 CAPABILITY\r\n")
    reply = _lines(reader, lambda line: line.startswith("a1 "))
    sock.sendall(b"a2 LOGOUT\r\n")
    words = " ".join(greeting + reply).upper().replace("]", " ").split()
    if "STARTTLS" not in words and not (reply and reply[-1].startswith("a1 ")):
        return None  # no capability list came back: nobody can tell
    return {"protocol": "imap", "starttls": "STARTTLS" in words}


def _pop3(sock: socket.socket, reader: BinaryIO) -> dict | None:
    _lines(reader, lambda line: True)
    sock.sendall(b"CAPA\r\n")
    reply = _lines(reader, lambda line: line == "." or line.startswith("-ERR"))
    sock.sendall(b"QUIT\r\n")
    if not reply or reply[-1] != "." and not reply[-1].startswith("-ERR"):
        return None  # the capability list never ended: nobody can tell
    return {"protocol": "pop3", "starttls": "STLS" in [line.strip().upper() for line in reply]}


def _postgres(sock: socket.socket, _reader: BinaryIO) -> dict | None:
    sock.sendall(_PG_SSL_REQUEST)
    answer = sock.recv(1)
    if answer in (b"S", b"N"):
        return {"protocol": "postgres", "starttls": answer == b"S"}
    return None


def _ldap(sock: socket.socket, _reader: BinaryIO) -> dict | None:
    sock.sendall(_LDAP_STARTTLS)
    answer = sock.recv(_MAX_READ)
    # LDAPMessage SEQUENCE, then ExtendedResponse [APPLICATION 24] whose first field is the
    # resultCode ENUMERATED (0a 01 NN): 0 means the server will start TLS.
    response = answer.find(b"\x78", 2)
    if answer[:1] != b"\x30" or response < 0:
        return None
    code = answer.find(b"\x0a\x01", response)
    return {"protocol": "ldap", "starttls": code >= 0 and answer[code + 2:code + 3] == b"\x00"}


def _xmpp(server_name: str) -> Talk:
    def talk(sock: socket.socket, _reader: BinaryIO) -> dict | None:
        sock.sendall(_XMPP_OPEN.format(to=server_name.replace("'", "")).encode())
        answer = b""
        while len(answer) < _MAX_READ and b"</stream:features>" not in answer \
                and b"stream:error" not in answer:
            chunk = sock.recv(_MAX_READ - len(answer))
            if not chunk:
                break
            answer += chunk
        if b"<stream:stream" not in answer:
            return None
        return {"protocol": "xmpp", "starttls": b"<starttls" in answer}
    return talk


def dialogue(protocol: str, address: str, port: int, server_name: str,
             timeout: float) -> dict | None:
    """{'protocol': ..., 'starttls': bool} for a port whose first answer looked like `protocol`
    (smtp, ftp, imap, pop3, xmpp; 'unknown' when it did not answer a ClientHello: then it is
    asked as PostgreSQL, LDAP and XMPP in turn), or None when no dialogue succeeded."""
    talks: dict[str, list[Talk]] = {
        "imap": [_imap], "pop3": [_pop3], "xmpp": [_xmpp(server_name)],
        "smtp": [_smtp_or_ftp(True)], "ftp": [_smtp_or_ftp(False)],
        "unknown": [_postgres, _ldap, _xmpp(server_name)]}
    candidates = talks.get(protocol, [])
    # side by side: a server that waits for more input holds each dialogue for its whole timeout
    with ThreadPoolExecutor(max_workers=max(1, len(candidates))) as pool:
        answers = pool.map(lambda talk: _converse(address, port, timeout, talk), candidates)
        return next((found for found in answers if found), None)
