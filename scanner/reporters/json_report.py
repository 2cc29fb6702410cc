"""The JSON report: the whole result model, validated by reports/schema/report.schema.json."""

from __future__ import annotations

import json

from scanner import __version__
from scanner.model import ScanResult, to_jsonable


FORMAT = "json"
EXTENSION = "json"
SCHEMA_VERSION = "1.2"  # 1.1: clause quote, control basis, advisory status; 1.2: complete, unscanned


def as_dict(result: ScanResult) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "annexscan", "version": __version__},
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "options": to_jsonable(result.options),
        "profiles": to_jsonable(result.profiles),
        "summary": result.summary(),
        "exit_code": result.exit_code(),
        "complete": result.complete,
        "unscanned": result.unscanned,
        "targets": [
            {"target": t.target, "address": t.address, "summary": t.counts(),
             "probes": to_jsonable(t.probes), "results": to_jsonable(t.results),
             "evidence": to_jsonable(t.evidence)}
            for t in result.targets],
    }


def render(result: ScanResult) -> str:
    return json.dumps(as_dict(result), indent=2, ensure_ascii=False, default=str) + "\n"
