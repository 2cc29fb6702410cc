"""One sslyze Scanner over many servers, run by bench_batching.py in annexscan's isolation child
(a module of its own: the fork server imports it by name)."""

from __future__ import annotations

import json
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
