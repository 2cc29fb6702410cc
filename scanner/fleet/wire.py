"""What crosses the wire between the annexscan client and its Dask workers.

Out: a ScanJob without its secrets. A key passphrase or a sudo password never leaves the client:
each worker takes them from its own environment (ANNEXSCAN_SSH_PASSPHRASE,
ANNEXSCAN_SUDO_PASSWORD), and every file a job names (SSH key, known_hosts, ssh_config, CA
bundles) is read on the worker, at the same path.
Back: the TargetResult as zlib-compressed JSON, capped on both sides, so a target that makes
its result huge (or a broken worker) cannot flood the client; JSON, not pickle, so the client
only ever decodes data.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import replace
from pathlib import Path

from scanner import __version__
from scanner.scope.access import ENV_PASSPHRASE, ENV_SUDO_PASSWORD
from scanner.engine import ScanPlan
from scanner.model import TargetResult, to_jsonable
from scanner.reporters.load import clause_from_json
from scanner.transports.ssh import SshAccess

MAX_RESULT = 32 << 20  # bytes of one target's result as JSON, before compression


class WorkerRefused(Exception):
    """A worker cannot scan this job as asked (another annexscan version, a file missing)."""


def without_secrets(access: SshAccess | None) -> SshAccess | None:
    """The access as it is sent: the secrets stay on the client."""
    return access and replace(access, passphrase=None, sudo_password=None)


def with_worker_secrets(access: SshAccess | None) -> SshAccess | None:
    """The access as a worker uses it: the secrets from the worker's own environment."""
    return access and replace(access, passphrase=os.environ.get(ENV_PASSPHRASE),
                              sudo_password=os.environ.get(ENV_SUDO_PASSWORD))


def check_worker(plan: ScanPlan, access: SshAccess | None, version: str) -> None:
    """Refuse work this worker would do differently from the client: another annexscan, or a
    file the job names that is not here (its probes would answer errors less clearly)."""
    if version != __version__:
        raise WorkerRefused(f"the worker runs annexscan {__version__}, the client {version}: "
                            "install the same version on every worker")
    request = plan.request
    files = [("--ca-bundle", request.ca_bundle)] + [("ca_bundle", b) for b in request.ca_bundles]
    if access:
        files += [("--ssh-key", access.key_file), ("--known-hosts", access.known_hosts),
                  ("--ssh-config", access.ssh_config)]
    missing = [f"{what} {path}" for what, path in files if path and not Path(path).is_file()]
    if missing:
        raise WorkerRefused(f"not on the worker: {', '.join(missing)} (files a scan names are "
                            "read on each worker, at the same path)")


def result_to_wire(result: TargetResult) -> bytes:
    data = json.dumps(to_jsonable(result)).encode()  # lone surrogates escaped
    if len(data) > MAX_RESULT:
        raise WorkerRefused(f"its result ({len(data) >> 20} MiB of JSON) is larger than the "
                            f"{MAX_RESULT >> 20} MiB a worker may send back")
    return zlib.compress(data, 6)


def result_from_wire(blob: bytes) -> TargetResult:
    """The TargetResult a worker sent; ValueError (over the cap, not JSON), KeyError or TypeError
    (not a TargetResult) otherwise."""
    if not isinstance(blob, bytes) or len(blob) > MAX_RESULT:
        raise ValueError("not a result, or larger than the cap")
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(blob, MAX_RESULT + 1)
    except zlib.error as exc:
        raise ValueError(f"not zlib data ({exc})") from None
    if len(data) > MAX_RESULT or not inflate.eof:
        raise ValueError(f"its result inflates past {MAX_RESULT >> 20} MiB, or is cut short")
    raw = json.loads(data)
    return TargetResult(**{**raw, "results": [clause_from_json(c) for c in raw["results"]]})
