"""Read a saved JSON report back into the result model, so any format can be re-rendered
(`annexscan report`) and two scans compared (`annexscan diff`)."""

from __future__ import annotations

import json
from pathlib import Path

from scanner.errors import ConfigError
from scanner.model import ClauseResult, ControlResult, ScanResult, Status, TargetResult
from scanner.catalog.resources import report_schema_path
from scanner.catalog.yamldoc import json_path, schema_error


def load_result(path: Path) -> ScanResult:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if isinstance(data, dict) and data.get("schema_version") == "1.0":
        _upgrade_1_0(data)
    if isinstance(data, dict) and data.get("schema_version") == "1.1":
        _upgrade_1_1(data)
    if isinstance(data, dict) and data.get("schema_version") == "1.2":
        data["schema_version"] = "1.3"  # 1.3 only adds remediation and access: optional
    schema = json.loads(report_schema_path().read_text(encoding="utf-8"))
    error = schema_error(data, schema)
    if error is not None:
        raise ConfigError(f"{path}: not an annexscan report (schema {data.get('schema_version')!r})"
                          f" at {json_path(error)}: {error.message}")
    return ScanResult(
        started_at=data["started_at"], finished_at=data["finished_at"],
        profiles=data["profiles"], options=data["options"],
        complete=data["complete"], unscanned=data["unscanned"],
        contract=[clause_from_json(c) for c in data["contract"]],
        targets=[TargetResult(target=t["target"], address=t["address"], probes=t["probes"],
                              evidence=t.get("evidence", {}), evidence_refs=t["evidence_refs"],
                              access=t.get("access"),
                              results=[clause_from_json(c) for c in t["results"]])
                 for t in data["targets"]])


def _upgrade_1_0(data: dict) -> None:
    """A 1.0 report predates quotes and advice: every control was binding, none advisory."""
    data["schema_version"] = "1.1"
    for counts in [data.get("summary")] + [t.get("summary") for t in data.get("targets", [])]:
        if isinstance(counts, dict):
            counts.setdefault("advisory", 0)
    for target in data.get("targets", []):
        for clause in target.get("results", []):
            clause.setdefault("quote", [])
            for control in clause.get("controls", []):
                control.setdefault("basis", "annex")


def _upgrade_1_1(data: dict) -> None:
    """A 1.1 report predates interrupted scans (it was complete) and embeds its raw evidence
    (none is stored apart: `report` stores it again)."""
    data["schema_version"] = "1.2"
    data.setdefault("complete", True)
    data.setdefault("unscanned", [])
    data.setdefault("contract", [])  # its manual clauses were listed on each target
    for target in data.get("targets", []):
        if isinstance(target, dict):
            target.setdefault("evidence_refs", {})


def clause_from_json(raw: dict) -> ClauseResult:
    controls = [ControlResult(**{**c, "status": Status(c["status"])}) for c in raw["controls"]]
    return ClauseResult(**{**raw, "status": Status(raw["status"]), "controls": controls})
