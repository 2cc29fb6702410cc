"""The JSON report: the whole result model, validated by reports/schema/report.schema.json.

Written target by target (scanner.reporters.jsonstream), each on one line of its own (the rest
is indented). Raw evidence is referenced, not
embedded: each target's `evidence_refs` gives the path, SHA-256 and size of every probe's
output stored once under evidence/ (scanner.outputs.store_evidence); a target that still
carries its evidence (`--embed-evidence`) has it under `evidence` as well.
"""

from __future__ import annotations

from typing import Any, TextIO

from scanner import __version__
from scanner.model import ScanResult, TargetResult, to_jsonable
from scanner.reporters.jsonstream import Compact, Items, dump

FORMAT = "json"
EXTENSION = "json"
SCHEMA_VERSION = "1.3"  # 1.1: quote, basis, advisory; 1.2: complete, unscanned,
#                          evidence_refs, contract; 1.3: remediation of failing/advisory controls,
#                          each target's SSH access


def target_dict(target: TargetResult) -> dict[str, Any]:
    entry = {"target": target.target, "address": target.address, "summary": target.counts(),
             "probes": to_jsonable(target.probes), "results": to_jsonable(target.results),
             "evidence_refs": to_jsonable(target.evidence_refs)}
    if target.evidence:
        entry["evidence"] = to_jsonable(target.evidence)
    if target.access is not None:
        entry["access"] = to_jsonable(target.access)
    return entry


def document(result: ScanResult) -> dict[str, Any]:
    """The report with its targets as a stream (jsonstream.Items)."""
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
        "contract": to_jsonable(result.contract),
        # one line per target: a fleet's report stays small (indenting them added half again)
        "targets": Items(Compact(target_dict(t)) for t in result.targets),
    }


def write(result: ScanResult, out: TextIO) -> None:
    dump(document(result), out)
    out.write("\n")
