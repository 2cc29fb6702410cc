"""SSH server offer, without credentials: banner, KEXINIT algorithm lists, host keys and the
authentication methods offered to a client that has not authenticated yet."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import struct
from typing import Any

import paramiko

from scanner.model import ProbeResult
from scanner.probes.base import Deadline, ProbeRequest, timed
from scanner.scope.targets import Target

logging.getLogger("paramiko").setLevel(logging.CRITICAL)

CLIENT_BANNER = b"SSH-2.0-annexscan_probe\r\n"
KEXINIT_LISTS = ("kex", "host_key", "ciphers_c2s", "ciphers_s2c", "macs_c2s", "macs_s2c",
                 "compression_c2s", "compression_s2c")
# Markers advertised in KEXINIT that are not algorithms.
_MARKERS = ("kex-strict-", "ext-info-")
PROBE_USER = "annexscan-probe"
# RSA host-key signature types paramiko can still negotiate (it dropped SHA-1 "ssh-rsa"); a
# server offering only ssh-rsa fails ssh.algorithms on that name anyway.
RSA_HOST_KEY_TYPES = ("rsa-sha2-512", "rsa-sha2-256")


def read_kexinit(address: str, port: int, timeout: float) -> tuple[str, dict[str, list[str]]]:
    """Exchange version lines and parse the server's (unencrypted) KEXINIT packet."""
    with socket.create_connection((address, port), timeout=timeout) as sock, \
            Deadline(sock, 2 * timeout) as guard:
        reader = sock.makefile("rb")
        banner = ""
        for _ in range(20):  # RFC 4253 allows lines before the version line
            line = reader.readline(256).decode("latin-1").rstrip("\r\n")
            if line.startswith("SSH-"):
                banner = line
                break
            if not line:
                break
        if not banner:
            if guard.expired:
                raise TimeoutError(f"no SSH version line within {guard.seconds:g}s")
            raise ValueError("no SSH version line received")
        sock.sendall(CLIENT_BANNER)
        header = _read_exact(reader, 5, guard)
        length, _padding = struct.unpack(">IB", header)
        if not 16 < length < 65536:
            raise ValueError(f"implausible SSH packet length {length}")
        payload = _read_exact(reader, length - 1, guard)
    if payload[0] != 20:
        raise ValueError(f"expected KEXINIT (20), got SSH message {payload[0]}")
    lists, offset = {}, 17
    for name in KEXINIT_LISTS + ("lang_c2s", "lang_s2c"):
        (size,) = struct.unpack(">I", payload[offset:offset + 4])
        value = payload[offset + 4:offset + 4 + size].decode("ascii", "replace")
        offset += 4 + size
        if name in KEXINIT_LISTS:
            lists[name] = [a for a in value.split(",") if a and not a.startswith(_MARKERS)]
    return banner, lists


def _read_exact(reader, size: int, guard: Deadline) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        if guard.expired:
            raise TimeoutError(f"no complete KEXINIT within {guard.seconds:g}s")
        raise ValueError("connection closed during SSH key exchange")
    return data


def auth_view(address: str, port: int, timeout: float,
              key_types: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Methods offered to the 'none' request, and the host key negotiated."""
    sock = socket.create_connection((address, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
    try:
        if key_types:
            transport.get_security_options().key_types = key_types
        # start_client's own timeout must outlast banner_timeout (a silent port otherwise
        # "succeeds" with no key exchange done).
        transport.start_client(timeout=timeout * 2 + 1)
        if not transport.is_active() or not transport.remote_version:
            raise paramiko.SSHException("no key exchange completed")
        key = transport.get_remote_server_key()
        view: dict[str, Any] = {
            "host_key": {"type": key.get_name(), "bits": key.get_bits(),
                         "sha256": "SHA256:" + base64.b64encode(
                             hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")}}
        if key_types is None:
            try:
                transport.auth_none(PROBE_USER)
                view["auth_methods"] = ["none"]
            except paramiko.BadAuthenticationType as exc:
                view["auth_methods"] = list(exc.allowed_types)
        return view
    finally:
        transport.close()


class SshProbe:
    name = "ssh"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            result.data["ports"] = {}
            for port in request.ports_speaking("ssh"):
                observed = _probe_port(target.address, port, request.timeout)
                result.data["ports"][port] = observed
                result.evidence[f"ssh_{port}"] = observed

        return timed(self.name, target, body)


def _probe_port(address: str, port: int, timeout: float) -> dict[str, Any]:
    """Each step is recorded on its own, so one failing step leaves the others' observations."""
    observed: dict[str, Any] = {}
    failures = (OSError, ValueError, EOFError, paramiko.SSHException)
    try:
        observed["banner"], observed["kexinit"] = read_kexinit(address, port, timeout)
    except failures as exc:
        observed["kexinit_error"] = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, TimeoutError):  # a server too slow for KEXINIT is too slow for auth
            return {"error": observed["kexinit_error"]}
    try:
        observed.update(auth_view(address, port, timeout))
    except failures as exc:
        observed["auth_error"] = f"{type(exc).__name__}: {exc}"
    rsa_offered = [k for k in observed.get("kexinit", {}).get("host_key", [])
                   if k in RSA_HOST_KEY_TYPES]
    if rsa_offered:
        try:
            observed["rsa_host_key"] = auth_view(address, port, timeout,
                                                 key_types=RSA_HOST_KEY_TYPES)["host_key"]
        except failures as exc:
            observed["rsa_host_key_error"] = f"{type(exc).__name__}: {exc}"
    if "kexinit" not in observed and "auth_methods" not in observed:
        return {"error": observed.get("kexinit_error") or observed.get("auth_error")}
    return observed

