"""The process that holds a lab started by `annexscan lab up`:
`python -m scanner.lab.keeper --netns NAME --workdir DIR`.

It enters the named network namespace, starts every lab server as a child of its own (they die
with it: see procs.Proc), prints one JSON line describing the running lab, then waits. SIGTERM,
SIGINT or SIGHUP stop the lab and end it. Being the servers' parent, it reaps them, so they do
not linger as zombies of an init that does not reap (as on this project's test machines).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from scanner.lab import Lab
from scanner.lab.namespace import enter
from scanner.lab.procs import start_time


class _Stop(BaseException):
    """A stop signal: unwinds through `with Lab()`, which stops every server."""


def _stop(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the clean-up short
    raise _Stop


def describe(lab: Lab) -> dict[str, object]:
    """What `lab up` records and shows: files to pass to scans, servers, hosts."""
    return {
        "ca_bundle": str(lab.ca_bundle),
        "ssh_key": str(lab.ssh_client_key),
        "known_hosts": str(lab.write_known_hosts()),
        "servers": [{"name": name, "pid": pid, "start": start_time(pid)}
                    for name, pid in lab.servers()],
        "hosts": [dataclasses.asdict(host) for host in lab.hosts.values()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _stop)
    try:
        enter(args.netns)
        with Lab(workdir=args.workdir) as lab:
            print(json.dumps(describe(lab)), flush=True)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the reader has gone: never write there again
            while True:
                signal.pause()
    except _Stop:
        return 0
    except Exception as exc:  # noqa: BLE001 - told to `lab up` through the log, then exit 1
        print(f"the lab did not start: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
