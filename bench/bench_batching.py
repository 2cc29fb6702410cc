"""Issue 9 part 3, (a) and (b): do nmap and sslyze go faster given many hosts at once?

    python bench/bench_batching.py [--hosts 25] [--repeat 2]

Same fleet as bench_fleet.py (one nginx and one sshd on every loopback address of a private
namespace, hosts from 127.0.1.0). Wall and CPU seconds (a cgroup per run: CPU time hardly moves
with the load of a shared machine), of the run with the best wall time of --repeat:
  (a) nmap with annexscan's own arguments and 3douest's ports (every TCP port and its UDP list):
      one process per host, 8 at once (the engine's default concurrency, as today); hosts in
      chunks, one process a chunk, the chunks at once; all hosts in one process;
  (b) sslyze on port 443 with annexscan's scan commands, each server's result turned into JSON:
      one server per forkserver child, 4 children at once (as today, scanner/probes/tls.py);
      one Scanner for a chunk of servers per child, with its own concurrency limit.
Measures only: no scanner/ code changes here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fleet import FLEET, fleet_host  # noqa: E402
from fleet_measure import TESTS, CpuGroup  # noqa: E402
from scanner.netns import reenter_isolated  # noqa: E402


Figures = dict[str, tuple[float, float]]  # variant -> (wall seconds, CPU seconds), best run


def best(fn: Callable[[tuple[str, ...]], float | None], repeat: int) -> tuple[float, float]:
    """The fastest of `repeat` runs of `fn(prefix)`, every command it starts under `prefix`
    (one cgroup a run); `fn` may return its own wall time (start-up left out)."""
    runs = []
    for _ in range(repeat):
        with CpuGroup() as cpu:
            start = time.perf_counter()
            own = fn(cpu.prefix())
            wall = time.perf_counter() - start if own is None else own
        runs.append((wall, cpu.seconds))
    return min(runs)


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def nmap_runs(hosts: list[str], repeat: int) -> Figures:
    from scanner.catalog.controls import load_catalog
    from scanner.engine import ScanOptions, plan_scan
    from scanner.probes.ports import nmap_arguments
    from scanner.catalog.profiles import load_profile

    catalog = load_catalog()
    request = plan_scan([load_profile("3douest", catalog)], catalog, ScanOptions()).request
    base = ["nmap", *nmap_arguments(request, udp=True).split(), "-oX", os.devnull,
            "-p", f"T:{request.port_spec},U:{request.udp_port_spec}"]

    def batched(size: int, at_once: int) -> Callable[[tuple[str, ...]], None]:
        def go(prefix: tuple[str, ...]) -> None:
            def run(group: list[str]) -> None:
                subprocess.run([*prefix, *base, *group], stdout=subprocess.DEVNULL, check=True)
            with ThreadPoolExecutor(at_once) as pool:
                list(pool.map(run, chunks(hosts, size)))
        return go

    n = len(hosts)
    print(f"(a) nmap {' '.join(base[1:])} HOSTS")
    variants = {"1 host a process, 8 at once (today)": batched(1, 8)}
    for at_once in (8, 4, 2):
        size = -(-n // at_once)
        variants[f"{size} hosts a process, {at_once} at once"] = batched(size, at_once)
    variants[f"{n} hosts in one process"] = batched(n, 1)
    return {name: best(fn, repeat) for name, fn in variants.items()}


def sslyze_runs(hosts: list[str], repeat: int, timeout: float) -> Figures:
    script = str(Path(__file__).resolve().parent / "sslyze_batch.py")

    def batched(size: int, at_once: int, limit: int) -> Callable[[tuple[str, ...]], float]:
        def go(prefix: tuple[str, ...]) -> float:
            out = subprocess.run([*prefix, sys.executable, script, str(size), str(at_once),
                                  str(limit), str(timeout), *hosts],
                                 capture_output=True, text=True, check=True).stdout
            return float(out.split()[-1])
        return go

    n = len(hosts)
    print("(b) sslyze, port 443, annexscan's commands, JSON of each result")
    variants = {"1 server a child, 4 children at once (today)": batched(1, 4, 1),
                "8 servers a Scanner (limit 4), 1 child at a time": batched(8, 1, 4),
                "8 servers a Scanner (limit 2), 2 children at once": batched(8, 2, 2),
                f"{n} servers in one Scanner (limit 4)": batched(n, 1, 4),
                f"{n} servers in one Scanner (limit 10, sslyze's default)": batched(n, 1, 10)}
    return {name: best(fn, repeat) for name, fn in variants.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=25, help="fleet size (default 25)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant (best kept)")
    parser.add_argument("--timeout", type=float, default=5.0, help="sslyze network timeout")
    args = parser.parse_args()
    if not 1 <= args.hosts <= len(FLEET):
        parser.error(f"--hosts must be within 1-{len(FLEET)}")
    code = reenter_isolated([sys.executable, *sys.argv], "bench")
    if code is not None:
        return code

    # The sslyze fork server imports scan_servers by name: it must find this tree and bench/.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS.parent / "bench")])
    from scanner.lab import Lab

    hosts = FLEET[:args.hosts]
    print(f"{len(hosts)} hosts, best of {args.repeat}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    with Lab(hosts=[fleet_host()]):
        for name, figures in (("nmap", nmap_runs(hosts, args.repeat)),
                              ("sslyze", sslyze_runs(hosts, args.repeat, args.timeout))):
            for variant, (wall, cpu) in figures.items():
                print(f"  {name:6} {variant:58} {wall:7.2f} s {wall / len(hosts):6.3f} s/host"
                      f"   CPU {cpu:7.2f} s {cpu / len(hosts):6.3f} s/host", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
