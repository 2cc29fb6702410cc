"""Small pure pieces: targets, port specs, service classification, status combination."""

from __future__ import annotations

import socket

import pytest

from scanner.scope import portspec
from scanner.errors import ConfigError
from scanner.model import Status, combine
from scanner.probes.service import classify, client_hello
from scanner.scope.targets import parse_targets, scanned_once


def no_dns(*_args, **_kwargs):
    raise socket.gaierror("no DNS in tests")


def test_targets_expand_and_dedupe():
    parsed = parse_targets(["127.0.0.2", "127.0.0.0/30", "127.0.0.2"], resolve=no_dns)
    targets, notes = scanned_once(parsed, lambda t: t, lambda a, b: True)
    assert [t.address for t in targets] == ["127.0.0.2", "127.0.0.1"]
    assert notes and "127.0.0.2" in notes[0]


def test_hostname_resolution_is_injected():
    fake = lambda host, *a, **k: [(None, None, None, None, ("127.0.0.9", 0))]  # noqa: E731
    (target,) = parse_targets(["lab.example."], resolve=fake)
    assert (target.name, target.address) == ("lab.example", "127.0.0.9")
    with pytest.raises(ConfigError, match="does not resolve"):
        parse_targets(["lab.example"], resolve=no_dns)


def test_port_spec_union():
    assert portspec.union(["1-1024", "1000-2000"], [22, 3306, 3307]) == "1-2000,3306-3307"


def test_classify_first_bytes():
    assert classify(b"\x16\x03\x03\x00\x5a") == "tls"
    assert classify(b"\x15\x03\x01\x00\x02") == "tls"
    assert classify(b"SSH-2.0-OpenSSH_9.2\r\n") == "ssh"
    assert classify(b"HTTP/1.1 400 Bad Request\r\n") == "http"
    assert classify(b"220 ProFTPD ready\r\n") == "ftp"
    assert classify(b"220 mx ESMTP Postfix\r\n") == "smtp"
    assert classify(b"\xff\xfd\x18") == "telnet"
    assert classify(b"J\x00\x00\x00\n8.0") == "unknown"


def test_client_hello_is_a_tls_record():
    hello = client_hello("127.0.0.2")
    assert hello[0] == 0x16 and hello[5] == 0x01  # handshake record, ClientHello


def test_combine_worst_wins_and_empty_is_error():
    assert combine([Status.PASS, Status.NOT_APPLICABLE]) == Status.PASS
    assert combine([Status.PASS, Status.MANUAL]) == Status.MANUAL
    assert combine([Status.ERROR, Status.FAIL]) == Status.FAIL
    assert combine([Status.NOT_APPLICABLE]) == Status.NOT_APPLICABLE
    assert combine([]) == Status.ERROR


def test_nmap_xml_with_no_answer_is_not_taken_as_no_open_port():
    from scanner.probes.ports import _answered

    silent = ('<nmaprun><host><status state="up" reason="user-set"/><ports>'
              '<extraports state="filtered" count="1000"/></ports></host></nmaprun>')
    closed = ('<nmaprun><host><status state="up" reason="user-set"/><ports>'
              '<extraports state="closed" count="1000"/></ports></host></nmaprun>')
    assert not _answered(silent)
    assert _answered(closed)
