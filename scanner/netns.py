"""Run a command inside a private network namespace, where only the lab's servers listen.

`python -m scanner.netns CMD...` re-runs CMD under `unshare -n` with loopback up and
ANNEXSCAN_NETNS=1 set. Without root or `unshare` it runs CMD as is; lab tests then skip and
say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ENV_FLAG = "ANNEXSCAN_NETNS"


def can_isolate() -> tuple[bool, str]:
    if os.environ.get(ENV_FLAG) == "1":
        return False, "already inside a private network namespace"
    if os.geteuid() != 0:
        return False, "not root: cannot create a network namespace"
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            return False, f"`{tool}` not found (util-linux / iproute2)"
    return True, ""


def isolated_command(argv: list[str]) -> list[str]:
    """`argv` wrapped so it runs in a fresh network namespace with loopback up."""
    script = f'ip link set lo up && {ENV_FLAG}=1 exec "$@"'
    return ["unshare", "--net", "--", "sh", "-c", script, "annexscan-netns", *argv]


def reenter_isolated(argv: list[str], what: str) -> int | None:
    """For a program that must run where only its own servers listen (a benchmark): the exit
    status of `argv` re-run in a fresh namespace, 2 (saying why) when none can be made, or
    None when already inside one: go on."""
    isolate, why = can_isolate()
    if isolate:
        return subprocess.call(isolated_command(argv))
    if os.environ.get(ENV_FLAG) != "1":
        print(f"{what} needs a private network namespace: {why}", file=sys.stderr)
        return 2
    return None


def run_isolated(argv: list[str]) -> int:
    ok, why = can_isolate()
    if not ok:
        if os.environ.get(ENV_FLAG) != "1":
            print(f"annexscan: running without a private network namespace ({why})",
                  file=sys.stderr)
        return subprocess.call(argv)
    return subprocess.call(isolated_command(argv))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m scanner.netns [--] COMMAND [ARG...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_isolated(args))
