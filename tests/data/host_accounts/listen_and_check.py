"""Run inside a fresh network namespace (tests/test_host_accounts.py starts it with unshare -n):
listen on 0.0.0.0:18081 and 127.0.0.1:15432, run the real sockets collector and the
host.listening_services check, once with ss and once with ss hidden from PATH (/proc/net/tcp),
and print the verdicts as JSON. Argument: a scratch directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes.registry import collector_registry
from scanner.model import ProbeResult, to_jsonable
from scanner.transports.base import HostContext
from scanner.transports.local import LocalTransport


def verdicts() -> dict:
    defaults = load_catalog().get("host.listening_services").defaults()
    ctx = HostContext(LocalTransport(), timeout=10)
    collected = collector_registry()["sockets"](ctx, [defaults])
    obs = Observations({"host": ProbeResult("host", "local", {
        "sockets": {**collected.data, "error": collected.error}})})
    return {name: to_jsonable(evaluate("host.listening_services", obs, {**defaults, **over}))
            for name, over in (("default", {}), ("allowed", {"allowed": [18081]}))}


def main(scratch: Path) -> None:
    listeners = []
    for address, port in (("0.0.0.0", 18081), ("127.0.0.1", 15432)):
        sock = socket.socket()
        sock.bind((address, port))
        sock.listen()
        listeners.append(sock)
    results = {"ss": verdicts()}
    bin_dir = scratch / "bin"  # sh, cat, ls but no ss: the collector falls back to /proc
    bin_dir.mkdir()
    for tool in ("sh", "cat", "ls"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    os.environ["PATH"] = str(bin_dir)
    results["proc"] = verdicts()
    print(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
