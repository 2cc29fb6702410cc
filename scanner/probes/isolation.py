"""Work on what a hostile server sent, in a child process killed at its deadline.

Some work cannot be interrupted from a thread: html.parser's regexes on crafted HTML, sslyze
reading a handshake that a server dribbles a byte at a time (each byte resets its per-read
timeout, so a scan ran for ever). `call` runs such a function in a child process with a wall
clock, an address-space cap and a cap on its answer; the parent kills it at the deadline.

How the child is made, measured on the 2-core test machine (Python 3.11, one child per call):
- a fresh interpreter importing sslyze (subprocess, or the "spawn" context): 0.34-0.36 s;
- "fork": 2.4 ms, but it copies a threaded scanner mid-flight: a lock another thread holds
  at that instant (the import lock, logging, OpenSSL's) stays locked in the child for ever;
- "forkserver" with sslyze preloaded: 8 ms (0.34 s once, when the server starts). It forks
  from a single-threaded server, so nothing is held: robust, and that is the one used.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import resource
import signal
from multiprocessing.connection import Connection
from typing import Any, Callable

# Imported once by the fork server rather than once per child: what the children run, and
# what the `annexscan` script imports (multiprocessing runs a main script again in each child,
# as `__mp_main__`: the script is guarded, and its imports are then already done).
PRELOAD = ["scanner.probes.tls", "scanner.probes.pagereader", "scanner.cli.main"]
MAX_ANSWER = 8 << 20  # bytes of JSON a child may send back
# Address space of a child: sslyze's threads reserve arenas and stacks (about 0.6 GB of address
# space measured during a lab scan, 70 MB resident); a hostile server cannot make it grow past.
MAX_MEMORY = 2 << 30
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)


class ChildFailure(Exception):
    """The child stopped without answering, or its work failed: the reason says which."""


class ChildTimeout(ChildFailure):
    """The child did not answer within its time and was killed."""


def call(function: Callable[..., Any], args: tuple, seconds: float) -> Any:
    """`function(*args)` in a child process within `seconds`: its JSON-able answer, decoded.
    `function` must be importable by name (a module-level function)."""
    reader, writer = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(writer, function, args, seconds), daemon=True)
    try:
        child.start()
    finally:
        writer.close()  # the child holds its own end: EOF here when it is gone
    try:
        in_time = reader.poll(seconds)
        answer = _decode(reader) if in_time else None
    finally:
        child.kill()
        child.join()
        reader.close()
    code = child.exitcode
    child.close()
    if not in_time:
        raise ChildTimeout(f"did not finish within {seconds:.3g} s")
    if answer is None:  # it crashed, or its answer was over the cap
        raise ChildFailure(f"stopped without an answer (exit status {code})")
    if "failure" in answer:
        raise ChildFailure(str(answer["failure"]))
    return answer["value"]


def _decode(reader: Connection) -> dict | None:
    try:
        answer = json.loads(reader.recv_bytes(MAX_ANSWER))
    except (EOFError, OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def _child(writer: Connection, function: Callable[..., Any], args: tuple,
           seconds: float) -> None:
    # A backstop of its own: should the parent die, the child still ends (SIGALRM kills it).
    signal.alarm(math.ceil(seconds) + 2)
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]  # lower already: it cannot be raised
    cap = MAX_MEMORY if hard == resource.RLIM_INFINITY else min(MAX_MEMORY, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        answer = json.dumps({"value": function(*args)}).encode()
    except MemoryError:
        answer = json.dumps({"failure": f"needed more than {cap >> 20} MiB"}).encode()
    except Exception as exc:  # noqa: BLE001 - the parent reports it as this work's error
        answer = json.dumps({"failure": f"{type(exc).__name__}: {exc}"[:2000]}).encode()
    if len(answer) > MAX_ANSWER:
        answer = json.dumps({"failure": f"its answer was larger than {MAX_ANSWER >> 20} MiB"
                             }).encode()
    writer.send_bytes(answer)
    writer.close()
