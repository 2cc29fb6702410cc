"""The one measured child-process runner of the hostile suite (issue 8 part 3).

`annexscan(...)` runs the real CLI, `python_child(...)` any Python snippet, each in a fresh
interpreter whose own peak RSS (VmHWM) is read at exit; `record(...)` appends the figures to
the file named by ANNEXSCAN_HOSTILE_MEASURES, for the closing note's table."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import scanner

REPO = Path(scanner.__file__).resolve().parents[1]  # the tree under test, old or new
MEASURES_ENV = "ANNEXSCAN_HOSTILE_MEASURES"
# The snippet is argv[1]; it sees the rest as its own argv. VmHWM, not ru_maxrss: Linux
# carries ru_maxrss over execve from the (v)forked parent, the large pytest process.
_WRAPPER = """import re, sys
_code = sys.argv.pop(1)
try:
    exec(compile(_code, "<hostile child>", "exec"), {"__name__": "__main__"})
finally:
    _status = open("/proc/self/status").read()
    sys.stderr.write("\\nPEAK_RSS_KB=" + re.search(r"VmHWM:\\s+(\\d+)", _status)[1] + "\\n")
"""
_CLI = "import sys\nfrom scanner.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float


def python_child(code: str, *args: str, prefix: tuple[str, ...] = (), timeout: float = 120,
                 cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
                 memory_cap_mb: int | None = None) -> Run:
    """Python `code` with `args` in a child interpreter (optionally behind a prefix command such
    as unshare), with its wall time and its own peak RSS. `memory_cap_mb` sets RLIMIT_AS so a
    regression dies of MemoryError instead of taking the machine."""
    def cap() -> None:
        limit = memory_cap_mb * 1024 ** 2  # type: ignore[operator]
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    environment = {**os.environ, "COLUMNS": "500",  # one line per message
                   "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
                   **(env or {})}
    start = time.perf_counter()
    done = subprocess.run([*prefix, sys.executable, "-c", _WRAPPER, code, *args],
                          cwd=cwd or REPO, capture_output=True, timeout=timeout, env=environment,
                          preexec_fn=cap if memory_cap_mb else None)
    seconds = time.perf_counter() - start
    err = done.stderr.decode("utf-8", "replace")
    peak = re.search(r"PEAK_RSS_KB=(\d+)", err)
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), err, seconds,
               int(peak[1]) / 1024 if peak else float("nan"))


def annexscan(*args: str, prefix: tuple[str, ...] = (), timeout: float = 120,
              cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
              memory_cap_mb: int | None = None) -> Run:
    """`annexscan ARGS` in a child Python, measured like `python_child`."""
    return python_child(_CLI, *args, prefix=prefix, timeout=timeout, cwd=cwd, env=env,
                        memory_cap_mb=memory_cap_mb)


def record(item: str, case: str, run_or_figures: Run | Mapping[str, object],
           status: str | None = None) -> None:
    """Append {item, case, seconds, peak_mb, status} to $ANNEXSCAN_HOSTILE_MEASURES, if set.
    A Run's status defaults to its exit code; a mapping gives its own figures."""
    path = os.environ.get(MEASURES_ENV)
    if not path:
        return
    if isinstance(run_or_figures, Run):
        figures = {"seconds": run_or_figures.seconds, "peak_mb": run_or_figures.peak_mb,
                   "status": f"exit {run_or_figures.code}"}
    else:
        figures = {"seconds": None, "peak_mb": None, "status": None, **run_or_figures}
    if status is not None:
        figures["status"] = status
    line = {"item": item, "case": case,
            **{k: (round(v, 2) if v == v else None) if isinstance(v, float) else v  # NaN: None
               for k, v in figures.items()}}
    with open(path, "a", encoding="utf-8") as measures:
        measures.write(json.dumps(line) + "\n")
