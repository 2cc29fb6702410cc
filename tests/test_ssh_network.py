"""ssh.key_only and ssh.algorithms against real OpenSSH servers on loopback (private network
namespace), a hostile server whose KEXINIT has empty lists, and the Match-block blind spot of
the network view that host.sshd_config closes (same config file, real sshd -T -C)."""

from __future__ import annotations

import socket
import struct
import threading

import paramiko
import pytest

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status
from scanner.probes.ssh import _probe_port
from test_mfa import _lab_ready, _wait_listening
from test_ssh_config import CORE, PrivateRunTransport
from test_host_accounts import collect_and_check

P, F, E = Status.PASS, Status.FAIL, Status.ERROR
MODERN = {"PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
          "GSSAPIAuthentication": "no", "PubkeyAuthentication": "yes",
          "MACs": "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com",
          "HostKeyAlgorithms": "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"}
SERVERS = {  # name: (address, sshd options, Match block appended to the config)
    "keyonly": ("127.0.0.81", MODERN, ""),
    "gssapi": ("127.0.0.82", {**MODERN, "GSSAPIAuthentication": "yes"}, ""),
    "kbd": ("127.0.0.83", {**MODERN, "KbdInteractiveAuthentication": "yes"}, ""),
    "weakmac": ("127.0.0.84", {**MODERN, "MACs": "hmac-sha1,hmac-sha2-256"}, ""),
    "matchuser": ("127.0.0.85", MODERN, "Match User nobody\n  PasswordAuthentication yes\n"),
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    ok, why = _lab_ready()
    if not ok:
        pytest.skip(why)
    from scanner.lab import sshd
    from scanner.lab.hosts import HostSpec

    work = tmp_path_factory.mktemp("ssh-net")
    specs = {name: HostSpec(name, address, name, ssh=options)
             for name, (address, options, _) in SERVERS.items()}
    keygen = sshd.KeyGen()
    keys = {name: sshd.host_keys(work, spec, keygen) for name, spec in specs.items()}
    keygen.wait()
    authorized = work / "authorized_keys"
    authorized.write_text("")
    procs, confs = [], {}
    try:
        for name, spec in specs.items():
            conf = sshd.render(work, spec, keys[name], authorized)
            conf.write_text(conf.read_text() + SERVERS[name][2])
            confs[name] = conf
            procs.append(sshd.start(work, spec, conf))
        _wait_listening([address for address, _, _ in SERVERS.values()], procs)
        yield confs
    finally:
        for proc in procs:
            proc.stop()


def network(name_or_address: str, port: int = 22) -> Observations:
    address = SERVERS[name_or_address][0] if name_or_address in SERVERS else name_or_address
    return Observations({"ssh": ProbeResult("ssh", address, {
        "ports": {port: _probe_port(address, port, 3.0)}})})


def verdict(catalog, control_id: str, obs: Observations, **params):
    return evaluate(control_id, obs, {**catalog.get(control_id).defaults(), **params})


@pytest.mark.lab
@pytest.mark.parametrize("name,status,words", [
    ("keyonly", P, ""), ("gssapi", F, "offers gssapi-with-mic before any key"),
    ("kbd", F, "offers keyboard-interactive before any key")])
def test_key_only_on_real_servers(catalog, servers, name, status, words):
    result = verdict(catalog, "ssh.key_only", network(name))
    assert result.status == status, result.reason
    assert words in result.reason


@pytest.mark.lab
def test_algorithms_on_real_servers_and_null_rules(catalog, servers):
    assert verdict(catalog, "ssh.algorithms", network("keyonly")).status == P
    weak = verdict(catalog, "ssh.algorithms", network("weakmac"))
    assert weak.status == F and "macs: hmac-sha1" in weak.reason
    off = verdict(catalog, "ssh.algorithms", network("weakmac"), forbidden=None)
    assert off.status == P and "not checked: forbidden" in off.expected
    macs_off = verdict(catalog, "ssh.algorithms", network("weakmac"),
                       forbidden={**catalog.get("ssh.algorithms").defaults()["forbidden"],
                                  "macs": None})
    assert macs_off.status == P, macs_off.reason


@pytest.mark.lab
def test_match_user_is_invisible_from_outside_and_caught_inside(catalog, servers):
    """The server really offers passwords to `nobody`; the network probe (another user) cannot
    see it, the host check on the running config file names the Match block."""
    address = SERVERS["matchuser"][0]
    assert "password" in _methods(address, "nobody")
    assert "password" not in _methods(address, "annexscan-probe")
    assert verdict(catalog, "ssh.key_only", network("matchuser")).status == P
    _, inside = collect_and_check(catalog, "host.sshd_config", "/", PrivateRunTransport(),
                                  config_file=str(servers["matchuser"]), **CORE)
    assert inside.status == F and "Match User nobody" in inside.reason
    _, inside = collect_and_check(catalog, "host.sshd_config", "/", PrivateRunTransport(),
                                  config_file=str(servers["keyonly"]), **CORE)
    assert inside.status == P, inside.reason


def _methods(address: str, user: str) -> list[str]:
    transport = paramiko.Transport(socket.create_connection((address, 22), timeout=3))
    try:
        transport.start_client(timeout=5)
        try:
            transport.auth_none(user)
        except paramiko.BadAuthenticationType as exc:
            return list(exc.allowed_types)
        return ["none"]
    finally:
        transport.close()


def _kexinit(lists: dict[str, str]) -> bytes:
    names = ("kex", "host_key", "ciphers_c2s", "ciphers_s2c", "macs_c2s", "macs_s2c",
             "compression_c2s", "compression_s2c", "lang_c2s", "lang_s2c")
    payload = bytes([20]) + b"\0" * 16 + b"".join(
        struct.pack(">I", len(lists.get(n, "").encode())) + lists.get(n, "").encode()
        for n in names) + b"\0" + b"\0\0\0\0"
    padding = 8 - (len(payload) + 5) % 8 + 8
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + b"\0" * padding


FULL = {"kex": "curve25519-sha256", "host_key": "ssh-ed25519",
        "ciphers_c2s": "aes256-gcm@openssh.com", "ciphers_s2c": "aes256-gcm@openssh.com",
        "macs_c2s": "hmac-sha2-256", "macs_s2c": "hmac-sha2-256",
        "compression_c2s": "none", "compression_s2c": "none"}


@pytest.fixture
def kexinit_server():
    """A loopback server that sends a version line and one crafted KEXINIT, then closes."""
    servers = []

    def start(lists: dict[str, str], banner: bytes = b"SSH-2.0-Crafted_1.0") -> int:
        sock = socket.create_server(("127.0.0.1", 0))
        servers.append(sock)

        def serve() -> None:
            for _ in range(2):  # the KEXINIT read, then paramiko's auth view
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(banner + b"\r\n" + _kexinit(lists))
                    conn.settimeout(1)
                    try:
                        conn.recv(4096)
                    except OSError:
                        pass

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1]

    yield start
    for sock in servers:
        sock.close()


@pytest.mark.parametrize("emptied", ["macs_s2c", "ciphers_c2s", "kex", "host_key"])
def test_empty_kexinit_list_is_error(catalog, kexinit_server, emptied):
    port = kexinit_server({**FULL, emptied: ""})
    result = verdict(catalog, "ssh.algorithms", network("127.0.0.1", port))
    assert result.status == E, result.reason
    assert f"empty or missing {emptied} list" in result.reason


def test_full_kexinit_passes(catalog, kexinit_server):
    """The same crafted server with every list present: the empty-list error is not a
    blanket error for crafted servers."""
    result = verdict(catalog, "ssh.algorithms", network("127.0.0.1", kexinit_server(FULL)),
                     min_rsa_bits=None)
    assert result.status == P, result.reason


def test_recorded_kexinit_with_missing_list_is_error(catalog):
    observed = {"banner": "SSH-2.0-x", "kexinit": {k: v.split(",") for k, v in FULL.items()
                                                   if k != "macs_c2s"}}
    obs = Observations({"ssh": ProbeResult("ssh", "x", {"ports": {22: observed}})})
    result = verdict(catalog, "ssh.algorithms", obs)
    assert result.status == E and "missing macs_c2s" in result.reason
