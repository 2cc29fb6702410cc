"""Fleet benchmark (issue 9 part 5): annexscan on N hosts against bare nmap and bare sslyze on
the same hosts, in the same run.

    python bench/bench_fleet.py                      # N = 25, 100
    python bench/bench_fleet.py --sizes 25,100,250,1000 --concurrency 8,16

Re-runs itself in a private network namespace (root) and starts ONE nginx (80 plain, 443 TLS
with a lab certificate) and ONE sshd, both bound to 0.0.0.0 there: every 127.x.y.z of the
namespace's loopback is then a host with 22, 80 and 443 open. The fleet is 127.0.1.0 onwards
(at most 1024 hosts, up to 127.0.4.255: never the lab's 127.0.0.x, never outside loopback).
For each N it times, one after the other:
  - bare `nmap -sS -p- -n` on the N hosts, one process (as nmap is normally run);
  - bare sslyze on their port 443, one batch (`python -m sslyze --targets_in`), with the scan
    commands annexscan runs and a JSON output;
  - `annexscan scan --profile 3douest` (every TCP port, plus its UDP list as root) on the N
    hosts, in a child process, once per --concurrency value;
and prints wall times, the ratio annexscan / (nmap + sslyze), the scanner process's peak RSS
(its own VmHWM) and its process tree's sampled peak (sslyze children, nmap), and the size of
every report file. Figures, not pass/fail: no test times anything. The certificate names
0.0.0.0, so tls.certificate fails on every host: the same work, a verdict nobody reads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_measure import (Measure, annexscan, command, probe_seconds,  # noqa: E402
                           scan_phase_seconds, sizes)
from scanner.netns import reenter_isolated  # noqa: E402

FLEET = [f"127.0.{i}.{j}" for i in range(1, 5) for j in range(256)]
NAN = float("nan")
NOT_RUN = Measure(seconds=NAN, code=0, peak_mb=NAN, tree_peak_mb=NAN, killed=False, err="",
                  load=NAN, cpu_s=NAN)  # --skip-bare: the table shows nan
SSLYZE_FLAGS = ["--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3",
                "--certinfo", "--compression", "--heartbleed", "--robot", "--openssl_ccs",
                "--reneg", "--mozilla_config", "disable", "--quiet"]  # tls.py's commands


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def fleet_host():
    from scanner.lab.hosts import MODERN_SSH, MODERN_TLS, HostSpec, Web

    return HostSpec("fleet", "0.0.0.0", "every loopback address of the namespace",
                    cert="valid", web=(Web(80), Web(443, MODERN_TLS, hsts=True)), ssh=MODERN_SSH)


def _mb(value: float) -> str:
    return "-" if value != value else f"{value:.0f}"  # NaN: not measured


def _status(m: Measure) -> str:
    return "killed at the memory cap" if m.killed else f"exit {m.code}"


def bench_size(n: int, work: Path, ca: Path, args: argparse.Namespace) -> list[str]:
    """Measure one fleet size; the table rows, one per concurrency."""
    hosts = FLEET[:n]
    listing = work / f"hosts-{n}.txt"
    listing.write_text("\n".join(hosts) + "\n")
    endpoints = work / f"tls-{n}.txt"
    endpoints.write_text("".join(f"{h}:443\n" for h in hosts))
    bound = 600 + 20 * n  # seconds: a run this long has gone wrong, even on a busy machine
    nmap, sslyze = NOT_RUN, NOT_RUN
    if not args.skip_bare:
        nmap = command(["nmap", "-sS", "-p-", "-n", "-iL", str(listing), "-oX", os.devnull],
                       args.max_rss_mb, bound)
        sslyze = command([sys.executable, "-m", "sslyze", *SSLYZE_FLAGS, "--certinfo_ca_file",
                          str(ca), "--json_out", str(work / f"sslyze-{n}.json"),
                          "--targets_in", str(endpoints)], args.max_rss_mb, bound)
        for name, m in (("nmap", nmap), ("sslyze", sslyze)):
            print(f"  N={n} bare {name}: {m.seconds:.1f} s, CPU {m.cpu_s:.1f} s, tree peak "
                  f"{_mb(m.tree_peak_mb)} MB, {_status(m)}, load {m.load:.1f}", flush=True)
            if m.code or m.killed:
                print(m.err[-2000:], file=sys.stderr)
        sslyze_json = (work / f"sslyze-{n}.json").stat().st_size
        print(f"  N={n} bare sslyze JSON: {sslyze_json / n / 1024:.1f} KB/host")
    bare = nmap.seconds + sslyze.seconds
    rows = []
    for concurrency in args.concurrency:
        out = work / f"out-{n}-c{concurrency}"
        scan = annexscan(["scan", "--profile", "3douest", "--no-progress", "-o", str(out),
                          "--format", args.formats, "--ca-bundle", str(ca),
                          "--concurrency", str(concurrency), f"@{listing}"],
                         args.max_rss_mb, bound)
        print(f"  N={n} annexscan -c {concurrency}: {scan.seconds:.1f} s, CPU {scan.cpu_s:.1f} s, "
              f"peak "
              f"{_mb(scan.peak_mb)} MB (tree {_mb(scan.tree_peak_mb)} MB), {_status(scan)}, "
              f"load {scan.load:.1f}", flush=True)
        if scan.code not in (0, 1, 3) or scan.killed or not out.is_dir():
            print(scan.err[-3000:], file=sys.stderr)
        files = sizes(out) if out.is_dir() else {}
        for name, size in files.items():
            print(f"    {name:28} {size:>13,} B  {size / n / 1024:9.1f} KB/host")
        phase = scan_phase_seconds(out) if out.is_dir() else None
        if phase is not None:
            print(f"    the scan itself (journal): {phase:.1f} s; start-up and reports: "
                  f"{scan.seconds - phase:.1f} s")
        busy = probe_seconds(out) if out.is_dir() else {}
        if busy:
            print("    probe time summed over hosts (s): " + ", ".join(
                f"{name} {seconds:.0f}" for name, seconds in busy.items()))
        json_bytes = files.get("annexscan.json", 0)
        rows.append(f"| {n} | {concurrency} | {scan.seconds:.1f} | {nmap.seconds:.1f} | "
                    f"{sslyze.seconds:.1f} | {scan.seconds / bare:.2f} | {scan.cpu_s:.0f} | "
                    f"{nmap.cpu_s:.0f} | {sslyze.cpu_s:.0f} | "
                    f"{scan.cpu_s / (nmap.cpu_s + sslyze.cpu_s):.2f} | {_mb(scan.peak_mb)} | "
                    f"{_mb(scan.tree_peak_mb)} | {json_bytes / n / 1024:.1f} KB | "
                    f"{sum(files.values()) / 2 ** 20:.1f} MB | {_status(scan)} | "
                    f"{nmap.load:.0f}/{sslyze.load:.0f}/{scan.load:.0f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_ints, default=[25, 100],
                        help="fleet sizes, comma-separated (the issue's run: 25,100,250,1000)")
    parser.add_argument("--concurrency", type=_ints, default=[8],
                        help="annexscan --concurrency values to run at each size (default 8)")
    parser.add_argument("--formats", default="json,junit", help="annexscan --format")
    parser.add_argument("--skip-bare", action="store_true",
                        help="annexscan alone (memory and sizes at a large N), no bare tools")
    parser.add_argument("--max-rss-mb", type=float, default=None,
                        help="kill a measured process tree past this RSS (default: 70%% of "
                             "the memory available at start)")
    parser.add_argument("--label", default=None,
                        help="what is measured, printed first (default: git describe of the tree)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the reports under this directory (default: a temp dir, removed)")
    args = parser.parse_args()
    if max(args.sizes) > len(FLEET) or min(args.sizes) < 1:
        parser.error(f"sizes must be within 1-{len(FLEET)}")
    code = reenter_isolated([sys.executable, *sys.argv], "bench")
    if code is not None:
        return code
    if args.max_rss_mb is None:
        args.max_rss_mb = 0.7 * _mem_available_mb()

    from scanner.lab import Lab

    label = args.label or subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
        cwd=Path(__file__).parent).stdout.strip()
    print(f"fleet bench of {label or '?'} ({Path(__file__).resolve().parent.parent}), "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"memory cap {args.max_rss_mb:.0f} MB", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="annexscan-fleet-") as tmp, \
            Lab(hosts=[fleet_host()]) as lab:
        work = args.keep.resolve() if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            rows += bench_size(n, work, lab.ca_bundle, args)
    print("\n| hosts | -c | annexscan s | bare nmap s | bare sslyze s | ratio | CPU s: annexscan "
          "| nmap | sslyze | CPU ratio | peak RSS MB | tree peak MB | JSON/host | all reports "
          "| status | load nmap/sslyze/scan |")
    print("|---" * 16 + "|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
