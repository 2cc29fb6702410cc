"""What a PEM or key file given by a user holds, read capped, so a wrong file is named as such
before the first probe: a CA bundle must hold certificates, an SSH key a private key."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509

from scanner.errors import ConfigError

MAX_CA_BUNDLE_BYTES = 8 * 1024 * 1024  # Mozilla's whole store is about 220 KB
_LABEL = re.compile(rb"^-----BEGIN ([A-Z0-9 ]{1,40})-----\s*$", re.MULTILINE)
PEM_CERTIFICATES = "PEM certificates (-----BEGIN CERTIFICATE-----)"


def read_capped(path: Path, limit: int, where: str) -> bytes:
    """The file's bytes; a missing, special, unreadable or oversized file is a ConfigError
    naming `where` (an option or a profile field) and the path."""
    relative = "" if path.is_absolute() else " (a relative path is read from the current " \
        "directory)"
    if not path.exists():
        raise ConfigError(f"{where}: {path}: file not found{relative}")
    if not path.is_file():
        raise ConfigError(f"{where}: {path}: not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ConfigError(f"{where}: {path}: larger than {limit // 1024} KiB")
    return data


def pem_labels(data: bytes) -> list[str]:
    """The labels of the PEM blocks in `data` (CERTIFICATE, PRIVATE KEY, ...), in order."""
    return [m.decode() for m in _LABEL.findall(data)]


def _is_der_certificate(data: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return False
    return True


def check_ca_bundle(path: Path, where: str) -> None:
    """A CA bundle holds PEM certificates and nothing secret; anything else is a ConfigError
    saying what the file is instead."""
    data = read_capped(path, MAX_CA_BUNDLE_BYTES, where)
    labels, hint = pem_labels(data), ""
    if not data.strip():
        problem = "the file is empty"
    elif any("PRIVATE KEY" in label for label in labels):
        problem = "it holds a private key, which has no place in a trust store"
    elif "CERTIFICATE" in labels:
        try:
            x509.load_pem_x509_certificates(data)
            return
        except ValueError as exc:
            problem = f"a certificate in it does not parse ({exc})"
    elif _is_der_certificate(data):
        problem = "it is a DER (binary) certificate"
        hint = f" (convert it: openssl x509 -inform der -in {path} -out {path.stem}.pem)"
    elif labels:
        problem = f"it holds {', '.join(dict.fromkeys(labels))} (PEM) and no certificate"
    else:
        problem = "no PEM certificate in it"
    raise ConfigError(f"{where}: {path}: {problem}; expected {PEM_CERTIFICATES}{hint}")
