"""Benchmark: annexscan against the bare tools it drives, on the lab, in one run.

    python bench/bench_scan.py [--repeat N]

Re-runs itself in a private network namespace (root), starts the lab, then times:
  bare nmap (the same port scan), bare sslyze (the same TLS ports, one batch), bare paramiko
  (the unauthenticated SSH view), and annexscan's full network profile on every lab host and on
  the compliant host alone. Prints seconds, ratios against the sum of the bare tools, and peak
  memory. Figures, not pass/fail: speed targets live here, not in the tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.netns import reenter_isolated  # noqa: E402


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def host_only(profile, catalog):
    """The profile's clauses that use host controls, with only those controls."""
    from dataclasses import replace

    clauses = []
    for clause in profile.clauses:
        refs = tuple(r for r in clause.controls if catalog.get(r.control_id).probe == "host")
        if refs:
            clauses.append(replace(clause, controls=refs, manual=False))
    return replace(profile, clauses=clauses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (median kept)")
    parser.add_argument("--profile", default="3douest", help="profile annexscan runs")
    args = parser.parse_args()
    code = reenter_isolated([sys.executable, *sys.argv], "bench (the lab)")
    if code is not None:
        return code

    import nmap
    from sslyze import Scanner, ServerNetworkConfiguration, ServerNetworkLocation, ServerScanRequest

    from scanner.catalog.controls import load_catalog
    from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
    from scanner.lab import Lab
    from scanner.probes.ports import nmap_arguments
    from scanner.probes.ssh import auth_view
    from scanner.probes.tls import OTHER_COMMANDS, VERSION_COMMANDS
    from scanner.cli.demo import lab_known_hosts
    from scanner.catalog.profiles import load_profile
    from scanner.scope.targets import Target
    from scanner.transports.ssh import SshAccess, SshTransport

    with Lab() as lab:
        hosts = list(lab.hosts.values())
        addresses = [h.address for h in hosts]
        catalog = load_catalog()
        options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle)
        plan = plan_scan([load_profile(args.profile, catalog)], catalog, options)
        tls_targets = [(h.address, p) for h in hosts for p in h.tls_ports if h.name != "silent"]
        ssh_targets = [h.address for h in hosts if h.ssh_port]

        def bare_nmap():
            nmap.PortScanner().scan(" ".join(addresses), plan.request.port_spec,
                                    arguments=nmap_arguments(plan.request))

        def bare_sslyze():
            scanner = Scanner(per_server_concurrent_connections_limit=5,
                              concurrent_server_scans_limit=4)
            scanner.queue_scans([ServerScanRequest(
                server_location=ServerNetworkLocation(a, p, ip_address=a),
                network_configuration=ServerNetworkConfiguration(a, network_timeout=2),
                scan_commands=set(VERSION_COMMANDS.values()) | OTHER_COMMANDS)
                for a, p in tls_targets])
            list(scanner.get_results())

        def bare_paramiko():
            for address in ssh_targets:
                auth_view(address, 22, 2.0)

        def annexscan_all():
            run_scan([ScanJob(Target(a, a), plan) for a in addresses], options)

        def annexscan_one():
            good = lab.hosts["good"].address
            run_scan([ScanJob(Target(good, good), plan)], options)

        good = lab.hosts["good"].address
        access = SshAccess(user="root", key_file=lab.ssh_client_key,
                           known_hosts=lab_known_hosts(lab), use_agent=False)
        host_plan = plan_scan([host_only(load_profile(args.profile, catalog), catalog)],
                              catalog, options)
        host_run = {}

        def annexscan_host():
            host_run["result"] = run_scan([ScanJob(Target(good, good), host_plan, access)],
                                          options)

        def bare_ssh_commands():
            client = SshTransport(good, good, access, 5.0)
            try:
                for _ in range(host_run["commands"]):
                    client.run("true", 5.0)
            finally:
                client.close()

        figures = {name: timed(fn, args.repeat) for name, fn in (
            ("bare nmap (all hosts, same ports)", bare_nmap),
            (f"bare sslyze ({len(tls_targets)} TLS ports, one batch)", bare_sslyze),
            (f"bare paramiko ({len(ssh_targets)} SSH servers)", bare_paramiko),
            (f"annexscan {args.profile}, {len(addresses)} hosts", annexscan_all),
            (f"annexscan {args.profile}, 1 compliant host", annexscan_one))}
        host_time = timed(annexscan_host, args.repeat)
        host_run["commands"] = sum(len(v) for v in
                                   host_run["result"].targets[0].evidence["host"].values())
        bare_host = timed(bare_ssh_commands, args.repeat)
    bare = sum(list(figures.values())[:3])
    print(f"lab: {len(addresses)} hosts, port spec {plan.request.port_spec}, "
          f"median of {args.repeat} runs, {os.cpu_count()} cores")
    for name, seconds in figures.items():
        print(f"  {name:45} {seconds:7.2f} s")
    total = list(figures.values())[3]
    print(f"  {'sum of bare tools':45} {bare:7.2f} s")
    print(f"ratio annexscan / bare tools (all hosts): {total / bare:.2f}")
    print(f"per host, full {args.profile} network profile: {list(figures.values())[4]:.2f} s alone, "
          f"{total / len(addresses):.2f} s amortised over {len(addresses)} concurrent hosts")
    print(f"host checks of {args.profile} over SSH, 1 host: {host_time:.2f} s for "
          f"{host_run['commands']} commands; bare paramiko, same number of `true` over one "
          f"connection: {bare_host:.2f} s; ratio {host_time / bare_host:.2f}")
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: scanner process {usage:.0f} MiB, largest child process (nmap, lab servers) {children:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
