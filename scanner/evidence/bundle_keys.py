"""Keys around the evidence bundle: the signer's Ed25519 keys, and private-key text kept out.

The bundle never carries a private key. Text that looks like one in what targets sent is
redacted (a hostile server must not be able to block the bundle by sending such text); a file
of the scanner's own, such as the signing key, is refused outright (scanner.evidence.bundle).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scanner.errors import ConfigError
from scanner.model import ScanResult, TargetResult, map_text

PASSPHRASE_ENV = "ANNEXSCAN_SIGN_PASSPHRASE"
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|"
                         rb"PuTTY-User-Key-File-\d")

# a key block from its BEGIN line to its END line, or to the end of the text when it has none
_KEY_BLOCK = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)"
    r"|PuTTY-User-Key-File-\d.*?(?:Private-MAC:[^\n]*|\Z)", re.DOTALL)
REDACTED = "[redacted by annexscan: text that looks like a private key, sent by the target]"


def fingerprint(key: Ed25519PublicKey) -> str:
    """OpenSSH-style fingerprint (as `ssh-keygen -lf` prints it), comparable across tools."""
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key, PEM PKCS8 or OpenSSH; its passphrase only from the environment
    (never a command-line argument, which other users see in the process list)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--sign-key {path}: cannot read: {exc.strerror or exc}") from None
    secret = os.environ.get(PASSPHRASE_ENV)
    password = secret.encode() if secret else None
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password)
        else:
            key = serialization.load_pem_private_key(data, password)
    except TypeError:
        raise ConfigError(f"--sign-key {path}: " + (
            f"the key is not encrypted but {PASSPHRASE_ENV} is set: unset it" if password else
            f"the key is encrypted: put its passphrase in {PASSPHRASE_ENV}")) from None
    except (ValueError, IndexError):
        raise ConfigError(f"--sign-key {path}: not a PEM PKCS8 or OpenSSH private key, or the "
                          f"passphrase in {PASSPHRASE_ENV} is wrong") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"--sign-key {path}: a {type(key).__name__.removeprefix('_')} key; "
                          "expected Ed25519 (ssh-keygen -t ed25519)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key: PEM, or an OpenSSH `ssh-ed25519 AAAA...` line."""
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"--pubkey {path}: cannot read: {exc.strerror or exc}") from None
    try:
        if data.startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(data)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, IndexError):
        raise ConfigError(f"--pubkey {path}: not a PEM public key or an OpenSSH "
                          "'ssh-ed25519 AAAA...' line") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"--pubkey {path}: a {type(key).__name__.removeprefix('_')} key; "
                          "expected Ed25519")
    return key


def redact_private_keys(result: ScanResult | TargetResult) -> int:
    """Replace, everywhere in the result's targets or in one target (evidence, observed values,
    reasons), text that looks like a private key (PEM, OpenSSH, PGP, PuTTY) by a note saying
    so; return how many were redacted. A hostile server can send such text (e.g. in a
    header): kept, it would make the bundle refuse to carry the evidence of every target."""
    count = 0

    def clean(text: str) -> str:
        nonlocal count
        if not PRIVATE_KEY.search(text.encode("utf-8", "replace")):
            return text
        redacted, found = _KEY_BLOCK.subn(REDACTED, text)
        count += found
        return redacted

    map_text(result.targets if isinstance(result, ScanResult) else result, clean)
    return count
