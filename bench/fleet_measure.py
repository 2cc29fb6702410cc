"""Measured child processes for the fleet benchmark: wall time, CPU time of the whole process
tree, the main process's own peak RSS, and the peak RSS of the tree, with a memory cap.

CPU seconds come from a cgroup (v1 cpuacct) of the command's own: every process it starts is
counted, even those no one waits for (the sslyze fork server and its children), and the
figure barely moves with the load other users put on the machine, unlike wall time.

The machine is shared: a scan whose memory grows by megabytes a host could take it all, so
`Watch` kills the tree past `cap_mb` and the figure says so instead of the OOM killer choosing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
TESTS = Path(__file__).resolve().parent.parent / "tests"


@dataclass
class Measure:
    seconds: float
    code: int
    peak_mb: float  # the main process's VmHWM (NaN when it could not be read)
    tree_peak_mb: float  # sampled sum of the RSS of the process and its descendants
    killed: bool  # past the memory cap
    err: str
    load: float  # the 1-minute load average when it started: the machine is shared
    cpu_s: float  # CPU seconds of the whole tree, user + system (NaN without a cgroup)


def _parents() -> dict[int, int]:
    """pid -> ppid of every process."""
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE / 2 ** 20
    except (OSError, IndexError, ValueError):
        return 0.0


class Watch:
    """Samples, every `interval` s, the RSS of the children this process starts while it runs
    (and their descendants); kills them all past `cap_mb`. Children that existed before (the
    lab's servers) are left out. Shared pages count once per process: an upper bound."""

    def __init__(self, cap_mb: float, interval: float = 0.25) -> None:
        self.cap_mb = cap_mb
        self.interval = interval
        self.peak_mb = 0.0
        self.killed = False
        self._before = {pid for pid, ppid in _parents().items() if ppid == os.getpid()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        parents = _parents()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        todo = [p for p in children.get(os.getpid(), []) if p not in self._before]
        tree: list[int] = []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            tree = self._tree()
            total = sum(_rss_mb(pid) for pid in tree)
            self.peak_mb = max(self.peak_mb, total)
            if total > self.cap_mb:
                self.killed = True
                for pid in tree:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


class CpuGroup:
    """A cpuacct cgroup holding one command and everything it starts (`prefix` puts it there
    before exec); `seconds` its CPU time once it is over. No cgroup: `prefix` is empty."""

    _made = 0

    def __init__(self) -> None:
        self.seconds = float("nan")
        CpuGroup._made += 1
        self.path: Path | None = CPUACCT / f"annexscan-bench-{os.getpid()}-{CpuGroup._made}"
        try:
            self.path.mkdir()
        except OSError:
            self.path = None

    def prefix(self) -> tuple[str, ...]:
        if self.path is None:
            return ()
        return ("sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path))

    def __enter__(self) -> CpuGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.path is None:
            return
        self.seconds = int((self.path / "cpuacct.usage").read_text()) / 1e9
        for _ in range(50):  # a fork server may outlive its parent by a moment
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def annexscan(args: list[str], cap_mb: float, timeout: float) -> Measure:
    """The real CLI in a child interpreter (tests/hostile_harness.py: its own VmHWM, read at
    exit; ru_maxrss would carry this process's over execve)."""
    sys.path.insert(0, str(TESTS))
    import hostile_harness

    load = os.getloadavg()[0]
    with CpuGroup() as cpu, Watch(cap_mb) as watch:
        run = hostile_harness.annexscan(*args, prefix=cpu.prefix(), timeout=timeout)
    return Measure(run.seconds, run.code, run.peak_mb, watch.peak_mb, watch.killed, run.err,
                   load, cpu.seconds)


def command(argv: list[str], cap_mb: float, timeout: float) -> Measure:
    """Any command, output discarded (stderr kept): wall time and the tree's sampled peak."""
    load = os.getloadavg()[0]
    with CpuGroup() as cpu, Watch(cap_mb) as watch:
        start = time.perf_counter()
        done = subprocess.run([*cpu.prefix(), *argv], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        seconds = time.perf_counter() - start
    return Measure(seconds, done.returncode, float("nan"), watch.peak_mb, watch.killed,
                   done.stderr.decode("utf-8", "replace"), load, cpu.seconds)


def sizes(directory: Path) -> dict[str, int]:
    """Bytes of each top-level report file, and of each top-level directory as a whole."""
    found: dict[str, int] = {}
    for entry in sorted(directory.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            found[entry.name + "/"] = sum(p.stat().st_size for p in entry.rglob("*")
                                          if p.is_file() and not p.is_symlink())
        else:
            found[entry.name] = entry.stat().st_size
    return found


def probe_seconds(directory: Path, max_json: int = 100 << 20) -> dict[str, float]:
    """Seconds each probe took, summed over the targets (thread-seconds, not wall time): from
    the journal's targets.jsonl, one line at a time, or else from annexscan.json if not huge."""
    journal = directory / "journal" / "targets.jsonl"
    if journal.is_file():
        with journal.open(encoding="utf-8") as lines:
            targets = [_probes(json.loads(line)) for line in lines if line.strip()]
    elif (directory / "annexscan.json").is_file() and \
            (directory / "annexscan.json").stat().st_size <= max_json:
        document = json.loads((directory / "annexscan.json").read_text(encoding="utf-8"))
        targets = [_probes(t) for t in document.get("targets", [])]
    else:
        return {}
    totals: dict[str, float] = {}
    for probes in targets:
        for name, seconds in probes.items():
            totals[name] = totals.get(name, 0.0) + seconds
    return totals


def _probes(target: dict) -> dict[str, float]:
    return {name: probe.get("duration_s") or 0.0
            for name, probe in (target.get("probes") or {}).items()}


def scan_phase_seconds(directory: Path) -> float | None:
    """From the journal: seconds between the header and the end record, the scan itself
    (start-up before it, the reports after it, are the rest of the wall time)."""
    try:
        end = json.loads((directory / "journal" / "end.json").read_text(encoding="utf-8"))
        return float(end["duration_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
