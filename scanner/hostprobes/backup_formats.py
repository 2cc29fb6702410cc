"""What the first bytes of a backup file say: an encrypted container (OpenPGP, age, openssl enc,
LUKS, AES zip, 7z with an AES-coded header) or a clear format.

Recognition is by header only: a format without one (restic, borg, `openssl enc -nosalt`) reads
as unrecognised, i.e. not shown encrypted.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

HEAD_BYTES = 128  # enough for an ASCII-armor header and the first OpenPGP packet under it
SEVEN_Z_AES_CODER = b"\x06\xf1\x07\x01"
_PGP_CIPHERS = {1: "IDEA", 2: "3DES", 3: "CAST5", 4: "Blowfish", 7: "AES-128", 8: "AES-192",
                9: "AES-256", 10: "Twofish", 11: "Camellia-128", 12: "Camellia-192",
                13: "Camellia-256"}
_WEAK_PGP_CIPHERS = {1, 2, 3, 4}  # 64-bit blocks or broken
_CLEAR_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
                b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4", b"PK\x05\x06": "zip"}


def result(fmt: str, encrypted: bool | None, weak: str | None = None,
            cipher: str | None = None) -> dict[str, Any]:
    return {"format": fmt, "encrypted": encrypted, "weak": weak, "cipher": cipher}


def _openpgp(head: bytes) -> dict[str, Any] | None:
    """First OpenPGP packet (RFC 4880/9580): old format 10TTTTLL, new format 11TTTTTT."""
    first = head[0]
    if first & 0x40:
        tag, length_byte = first & 0x3F, head[1] if len(head) > 1 else 0
        skip = 2 if length_byte < 192 or 224 <= length_byte < 255 else 3 if length_byte < 224 \
            else 6
    else:
        tag, skip = (first >> 2) & 0x0F, 1 + (1, 2, 4, 0)[first & 3]
    body = head[skip:]
    if not body:
        return None
    version = body[0]
    if tag == 1 and version in (3, 6):
        return result("openpgp-pubkey-encrypted", True)
    if tag == 3 and version in (4, 5, 6):
        algo = body[2] if version == 6 else body[1] if len(body) > 1 else None
        weak = f"OpenPGP cipher {_PGP_CIPHERS[algo]}" if algo in _WEAK_PGP_CIPHERS else None
        return result("openpgp-symmetric", True, weak, _PGP_CIPHERS.get(algo, str(algo)))
    if tag in (18, 20) and version in (1, 2):
        return result("openpgp-encrypted-data", True)
    if tag == 9:
        return result("openpgp-encrypted-data", True, "OpenPGP data without integrity "
                                                      "protection (SED packet)")
    if tag == 2 and version in (3, 4, 5, 6):
        return result("openpgp-signature", False)
    if tag in (4, 8, 11):  # one-pass signature, compressed, literal: readable by anyone
        return result("openpgp-clear", False)
    return None


def _armored(head: bytes) -> dict[str, Any]:
    """ASCII armor: decode what follows the blank line and classify that packet."""
    _, blank, rest = head.replace(b"\r\n", b"\n").partition(b"\n\n")
    text = re.sub(rb"\s", b"", rest)
    text = text[:len(text) // 4 * 4]
    try:
        packet = base64.b64decode(text, validate=True) if blank else b""
    except binascii.Error:
        packet = b""
    return (_openpgp(packet) if packet else None) or result("openpgp-armored", None)


def classify(head: bytes, size: int) -> dict[str, Any]:
    """What the first HEAD_BYTES of a file say about its format and encryption."""
    if size == 0 or not head:
        return result("empty", False)
    if head.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return _armored(head)
    if head.startswith(b"-----BEGIN PGP SIGNATURE-----"):
        return result("openpgp-signature", False)
    if head.startswith((b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----")):
        return result("age", True)
    if head.startswith(b"Salted__"):
        return result("openssl-enc", True)
    if head.startswith(b"LUKS\xba\xbe"):
        return result("luks", True)
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return result("7z", None)  # decided by its end header, see _sevenzip_tails
    if head.startswith(b"PK\x03\x04") and len(head) >= 10:
        flags, method = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        if not flags & 1:
            return result("zip", False)
        if method == 99 or flags & 0x40:
            return result("zip-aes" if method == 99 else "zip-strong", True)
        return result("zip-zipcrypto", True, "ZipCrypto (legacy zip encryption, broken by "
                                             "known-plaintext attacks)")
    if head[0] & 0x80 and (pgp := _openpgp(head)):
        return pgp
    for magic, fmt in _CLEAR_MAGIC.items():
        if head.startswith(magic):
            return result(fmt, False)
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return result("text", False)
    return result("unrecognised", False)


def describe(head: bytes, size: int) -> dict[str, Any]:
    """classify() plus the first bytes in hex and why encryption stays unknown, if it does."""
    found = classify(head, size) | {"magic": head[:8].hex()}
    if found["format"] == "openpgp-armored":
        found["unverified"] = "the armored OpenPGP packet is beyond the bytes read"
    elif found["format"] == "7z":
        found["unverified"] = "its end header was not read"
    return found
