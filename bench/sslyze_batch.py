"""One sslyze Scanner over many servers, in annexscan's isolation child; run by
bench_batching.py (which sets PYTHONPATH to the tree and bench/) as a process of its own, so
that its CPU time (fork server and children included) can be counted apart:

    python bench/sslyze_batch.py SERVERS_A_CHILD CHILDREN_AT_ONCE SCANNER_LIMIT TIMEOUT HOST...

prints its wall time in seconds, interpreter start-up left out."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def scan_servers(addresses: list[str], limit: int, timeout: float) -> list[Any]:
    """sslyze on port 443 of `addresses` in one Scanner (`limit` servers at once), with
    annexscan's scan commands: each server's result as JSON data, as annexscan keeps it."""
    from sslyze import (Scanner, ServerNetworkConfiguration, ServerNetworkLocation,
                        ServerScanRequest, ServerScanResultAsJson)

    from scanner.probes.tls import OTHER_COMMANDS, VERSION_COMMANDS

    scanner = Scanner(per_server_concurrent_connections_limit=5,
                      concurrent_server_scans_limit=limit)
    scanner.queue_scans([ServerScanRequest(
        server_location=ServerNetworkLocation(a, 443, ip_address=a),
        network_configuration=ServerNetworkConfiguration(
            a, network_timeout=max(1, int(timeout)), network_max_retries=1),
        scan_commands=set(VERSION_COMMANDS.values()) | OTHER_COMMANDS) for a in addresses])
    return [json.loads(ServerScanResultAsJson.model_validate(r).model_dump_json())
            for r in scanner.get_results()]


def main(argv: list[str]) -> None:
    size, at_once, limit = (int(a) for a in argv[:3])
    timeout, hosts = float(argv[3]), argv[4:]
    from scanner.probes import isolation
    from sslyze_batch import scan_servers as by_name  # the fork server imports it by this name

    start = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(lambda group: isolation.call(by_name, (group, limit, timeout), 600),
                      [hosts[i:i + size] for i in range(0, len(hosts), size)]))
    print(f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
