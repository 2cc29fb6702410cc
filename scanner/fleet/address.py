"""The `--dask-scheduler` address: `tcp://HOST:PORT`, its host reduced to a canonical form like
a target's, so the only thing the client ever contacts is exactly what the user named."""

from __future__ import annotations

import importlib
import re

from scanner.errors import ConfigError
from scanner.scope.targets import canonical_address, check_host, is_address

# host: a bracketed IPv6 address or anything without a colon, slash, @, ?, # or whitespace
_ADDRESS = re.compile(r"tcp://(\[[^\]/@?#\s]+\]|[^\[\]:/@?#\s]+):([0-9]{1,5})\Z")
WHERE = "--dask-scheduler"


def scheduler_address(text: str) -> str:
    """`tcp://HOST:PORT` in canonical form (`tcp://[::1]:8786` for IPv6), or a ConfigError that
    says what is expected; the value itself is echoed only up to 80 characters."""
    match = _ADDRESS.match(text)
    if not match:
        raise ConfigError(f"{WHERE} {text[:80]!r}: expected tcp://HOST:PORT (e.g. "
                          "tcp://10.0.0.5:8786, tcp://[fd00::5]:8786, tcp://scheduler:8786)")
    host, port = match.group(1), int(match.group(2))
    if not 0 < port < 65536:
        raise ConfigError(f"{WHERE}: port must be 1-65535, got {port}")
    if host.startswith("["):
        try:
            address = canonical_address(host[1:-1])
        except ValueError as exc:
            raise ConfigError(f"{WHERE}: not a valid IPv6 address ({exc})") from None
        if ":" not in address:
            raise ConfigError(f"{WHERE}: brackets are for IPv6 addresses only")
        return f"tcp://[{address}]:{port}"
    host = check_host(host, WHERE)
    host = canonical_address(host) if is_address(host) else host.rstrip(".").lower()
    _require_distributed()
    return f"tcp://{host}:{port}"


def _require_distributed() -> None:
    try:
        importlib.import_module("distributed")
    except ImportError:
        raise ConfigError(f"{WHERE} needs Dask distributed: pip install 'annexscan[fleet]' "
                          "(on this machine and on every worker)") from None
