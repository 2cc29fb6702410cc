"""nmap-style port specifications ("22,80,1000-2000") as sets of ranges."""

from __future__ import annotations

from typing import Iterable


def parse(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        ranges.append((int(low), int(high or low)))
    return ranges


def union(specs: Iterable[str], ports: Iterable[int] = ()) -> str:
    """Smallest spec covering every spec and port given."""
    ranges = sorted([r for spec in specs for r in parse(spec)] + [(p, p) for p in ports])
    merged: list[list[int]] = []
    for low, high in ranges:
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in merged)


def covers(spec: str, port: int) -> bool:
    return any(low <= port <= high for low, high in parse(spec))
