"""The lab hosts as data: one loopback address each, and the servers that run on it.

Each host exists to make one kind of finding (or none) show up in a scan; `description` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

CertKind = Literal["valid", "expired", "weak"]


@dataclass(frozen=True)
class TlsProfile:
    """nginx `ssl_protocols` and `ssl_ciphers` of a TLS port."""

    protocols: str
    ciphers: str


MODERN_TLS = TlsProfile("TLSv1.2 TLSv1.3", "ECDHE+AESGCM:ECDHE+CHACHA20")
# OpenSSL 3 refuses TLS 1.0/1.1 (and RSA 1024 / SHA-1 certificates) above security level 0.
LEGACY_TLS = TlsProfile("TLSv1 TLSv1.1 TLSv1.2", "ALL:@SECLEVEL=0")
WEAK_CERT_TLS = TlsProfile("TLSv1.2 TLSv1.3", "ECDHE+AESGCM:ECDHE+CHACHA20:@SECLEVEL=0")


@dataclass(frozen=True)
class Web:
    """One nginx server block: plain HTTP when `tls` is None."""

    port: int
    tls: TlsProfile | None = None
    redirect_to_https: bool = False  # answer 301 to https://ADDRESS/… instead of a 200 page
    hsts: bool = False
    page: str | None = None  # the HTML of the 200 page (no "$"), instead of a heading naming it


@dataclass(frozen=True)
class Listener:
    """A raw TCP listener: sends `greeting` on accept, then holds the connection (answering
    `answer` to whatever it receives) or closes it."""

    port: int
    greeting: bytes = b""
    hold: bool = True
    answer: bytes = b""


MODERN_SSH: dict[str, str] = {
    "PasswordAuthentication": "no",
    "KbdInteractiveAuthentication": "no",
    "PubkeyAuthentication": "yes",
    "KexAlgorithms": "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
                     "diffie-hellman-group16-sha512",
    "Ciphers": "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
               "aes256-ctr",
    "MACs": "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com",
    "HostKeyAlgorithms": "ssh-ed25519,rsa-sha2-512,rsa-sha2-256",
    "PermitRootLogin": "prohibit-password",
    "MaxAuthTries": "3",
    "ClientAliveInterval": "300",
    "ClientAliveCountMax": "2",
}

# "+" appends to OpenSSH 9.2's defaults; `sshd -t` accepts every one of these here.
LEGACY_SSH: dict[str, str] = {
    "PasswordAuthentication": "yes",
    "KbdInteractiveAuthentication": "yes",
    "PubkeyAuthentication": "yes",
    "KexAlgorithms": "+diffie-hellman-group14-sha1,diffie-hellman-group1-sha1",
    "Ciphers": "+aes128-cbc,3des-cbc",
    "MACs": "+hmac-sha1,hmac-md5",
    "HostKeyAlgorithms": "+ssh-rsa",
    "PubkeyAcceptedAlgorithms": "+ssh-rsa",
}


@dataclass(frozen=True)
class HostSpec:
    """What runs on one lab host."""

    name: str
    address: str
    description: str
    cert: CertKind | None = None
    web: tuple[Web, ...] = ()
    ssh: dict[str, str] | None = None  # sshd options on port 22; None = no sshd
    listeners: tuple[Listener, ...] = ()

    def public(self) -> LabHost:
        ports = [w.port for w in self.web] + [lst.port for lst in self.listeners]
        if self.ssh is not None:
            ports.append(22)
        return LabHost(
            name=self.name, address=self.address, description=self.description,
            open_ports=sorted(ports),
            tls_ports=sorted(w.port for w in self.web if w.tls is not None),
            ssh_port=22 if self.ssh is not None else None,
        )


@dataclass(frozen=True)
class LabHost:
    """A running lab host as a test sees it."""

    name: str
    address: str
    description: str
    open_ports: list[int] = field(default_factory=list)
    tls_ports: list[int] = field(default_factory=list)
    ssh_port: int | None = None


HOSTS: dict[str, HostSpec] = {h.name: h for h in (
    HostSpec(
        "good", "127.0.0.2",
        "Compliant: HTTP redirects to HTTPS, TLS 1.2/1.3 with ECDHE AEAD ciphers, HSTS, valid "
        "certificate; SSH with public keys only and modern algorithms.",
        cert="valid",
        web=(Web(80, redirect_to_https=True), Web(443, MODERN_TLS, hsts=True)),
        ssh=MODERN_SSH,
    ),
    HostSpec(
        "legacy", "127.0.0.3",
        "Non-compliant everywhere: HTTP without redirect, TLS 1.0/1.1 and every cipher, no HSTS, "
        "plain HTTP on 8080, SSH passwords and SHA-1/CBC/MD5 algorithms, FTP and MySQL ports open.",
        cert="valid",
        web=(Web(80), Web(443, LEGACY_TLS), Web(8080)),
        ssh=LEGACY_SSH,
        listeners=(
            # vsftpd before login, TLS not configured: AUTH TLS is refused, so FTP is in clear.
            Listener(21, b"220 legacy FTP ready\r\n",
                     answer=b"530 Please login with USER and PASS.\r\n"),
            # The first bytes of a MySQL-style handshake, then the server hangs up.
            Listener(3306, b"\x0a\x00\x00\x00\x0a5.7.44-lab\x00", hold=False),
        ),
    ),
    HostSpec(
        "expired", "127.0.0.4",
        "Like good's web server but its certificate expired: only the certificate check fails.",
        cert="expired",
        web=(Web(80, redirect_to_https=True), Web(443, MODERN_TLS, hsts=True)),
    ),
    HostSpec(
        "weakkey", "127.0.0.5",
        "TLS 1.2/1.3 on 443 only, with an RSA 1024 certificate signed with SHA-1.",
        cert="weak",
        web=(Web(443, WEAK_CERT_TLS),),
    ),
    HostSpec(
        "plain443", "127.0.0.6",
        "Plain HTTP (no TLS) on port 443: a TLS probe must report it, not crash.",
        web=(Web(443),),
    ),
    HostSpec(
        "silent", "127.0.0.7",
        "Port 443 accepts TCP connections and never sends a byte: probes must time out cleanly.",
        listeners=(Listener(443),),
    ),
    HostSpec(
        "closed", "127.0.0.8",
        "Nothing listens: every port refuses the connection.",
    ),
)}


def expected_verdicts() -> tuple[str, dict[str, dict[str, list[str]]]]:
    """(profile id, host name -> status -> clause ids) of expected.yaml: what a network scan of
    each lab host with that profile concludes."""
    data = yaml.safe_load((Path(__file__).parent / "expected.yaml").read_text(encoding="utf-8"))
    return data["profile"], data["hosts"]
