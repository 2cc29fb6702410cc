"""Attestations (who vouches for a manual clause, until when) and waivers (accepted exceptions
to a failure, until when), loaded and checked before any probe, applied to a scan's result.

Expiry: an ISO 8601 date means the end of that day, UTC, and the report says so; a date-time
must carry its time zone. An expired attestation makes its clause `expired` (a failure); an
expired waiver no longer applies, and the clause keeps its failure with the waiver shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from scanner.catalog.controls import Catalog
from scanner.errors import ConfigError
from scanner.model import CONTRACT, ClauseResult, ScanResult, Status, TargetResult, combine
from scanner.catalog.profiles import Profile
from scanner.catalog.resources import data_dir
from scanner.catalog.yamldoc import YamlDoc, load_yaml

END_OF_DAY_NOTE = "no time given: taken as the end of that day, UTC"


@dataclass
class Record:
    """One attestation or waiver, with its expiry resolved."""
    raw: dict[str, Any]
    expires_at: datetime
    note: str = ""
    targets: list[str] = field(default_factory=lambda: ["*"])

    def applies_to(self, target: TargetResult) -> bool:
        return any(fnmatch(target.target, p) or fnmatch(target.address, p) for p in self.targets)

    def expired(self, now: datetime) -> bool:
        return now > self.expires_at

    def shown(self, now: datetime) -> dict[str, Any]:
        """What the report carries: the record, its resolved expiry and whether it is past."""
        out = {**self.raw, "expires_at": self.expires_at.isoformat(), "expired": self.expired(now)}
        if self.note:
            out["expiry_note"] = self.note
        return out


def parse_expiry(value: str, where: str) -> tuple[datetime, str]:
    try:
        if "T" not in value and " " not in value:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max, tzinfo=timezone.utc), END_OF_DAY_NOTE
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: '{value}' is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{where}: date-time '{value}' has no time zone: add Z or +hh:mm, "
                          "or give a date alone (end of that day, UTC)")
    return moment, ""


def _iso_dates(value: Any) -> Any:
    """YAML reads an unquoted 2027-01-01 as a date: back to the ISO text the schema expects."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    return value


def _load(path: Path, kind: str) -> tuple[YamlDoc, list[dict]]:
    doc = load_yaml(path)
    doc.data = _iso_dates(doc.data)
    schema = json.loads((data_dir("reports/schema") / f"{kind}.schema.json").read_text())
    doc.validate(schema)
    return doc, doc.data[kind]


def load_attestations(path: Path, clause_ids: set[str]) -> list[Record]:
    doc, items = _load(path, "attestations")
    records = []
    for index, item in enumerate(items):
        where = ["attestations", index]
        if item["clause"] not in clause_ids:
            raise ConfigError(f"{doc.where(where + ['clause'])}: unknown clause "
                              f"'{item['clause']}' (not in the profiles of this scan)")
        parse_expiry(item["date"], doc.where(where + ["date"]))
        for number, ref in enumerate(item.get("evidence", [])):
            if "://" not in ref:
                _evidence_path(path, ref, doc.where(where + ["evidence", number]))
        expires, note = parse_expiry(item["expires"], doc.where(where + ["expires"]))
        records.append(Record(item, expires, note, item.get("targets", ["*"])))
    return records


def _evidence_path(path: Path, ref: str, where: str) -> Path:
    """The evidence file `ref` names, resolved (symlinks included) against the attestation
    file's directory; a path that leaves that directory would let the file pull any file of
    the scanning machine (e.g. /etc/shadow) into the bundle, so it is refused."""
    if "\0" in ref:
        raise ConfigError(f"{where}: an evidence path cannot hold a NUL character")
    base = path.parent.resolve()
    target = (base / ref).resolve()
    if Path(ref).is_absolute() or not target.is_relative_to(base):
        raise ConfigError(f"{where}: evidence path '{ref}' leaves the directory of {path.name} "
                          f"({base}): give a path inside it")
    if not target.is_file():
        raise ConfigError(f"{where}: evidence file not found: {base / ref}")
    return target


def evidence_files(path: Path, records: list[Record]) -> list[Path]:
    """Local evidence files of the attestations, to copy into the bundle (checked again here:
    a symlink may have changed since the file was loaded)."""
    return sorted({_evidence_path(path, ref, f"{path}: evidence") for r in records
                   for ref in r.raw.get("evidence", []) if "://" not in ref})


def load_waivers(path: Path, clause_ids: set[str], catalog: Catalog) -> list[Record]:
    doc, items = _load(path, "waivers")
    records = []
    for index, item in enumerate(items):
        where = ["waivers", index]
        if "clause" in item and item["clause"] not in clause_ids:
            raise ConfigError(f"{doc.where(where + ['clause'])}: unknown clause "
                              f"'{item['clause']}' (not in the profiles of this scan)")
        if "control" in item and item["control"] not in catalog:
            raise ConfigError(f"{doc.where(where + ['control'])}: unknown control "
                              f"'{item['control']}'")
        expires, note = parse_expiry(item["expires"], doc.where(where + ["expires"]))
        records.append(Record(item, expires, note, item["targets"]))
    return records


def clause_ids(profiles: list[Profile]) -> set[str]:
    return {c.id for p in profiles for c in p.clauses}


def apply(result: ScanResult, attestations: list[Record], waivers: list[Record],
          now: datetime | None = None) -> None:
    """Turn manual clauses into attested/expired and waived failures into `waived`: every
    target's, and the contract's (apply_contract)."""
    now = now or datetime.now(timezone.utc)
    apply_contract(result.contract, attestations, now)
    for target in result.targets:
        apply_target(target, attestations, waivers, now)


def apply_target(target: TargetResult, attestations: list[Record], waivers: list[Record],
                 now: datetime) -> None:
    """`apply` to one target, as it finishes (the scan's journal keeps no target in memory)."""
    for clause in target.results:
        _waive(clause, [w for w in waivers if w.applies_to(target)], now)
        if clause.status == Status.MANUAL:
            found = [a for a in attestations
                     if a.raw["clause"] == clause.clause_id and a.applies_to(target)]
            if found:
                best = max(found, key=lambda a: a.expires_at)
                clause.attestation = best.shown(now)
                clause.status = Status.EXPIRED if best.expired(now) else Status.ATTESTED


def apply_contract(clauses: list[ClauseResult], attestations: list[Record],
                   now: datetime) -> None:
    """`apply` to the contract's clauses (judged once per scan, contract.judge_contract). Only an
    attestation for every target (targets "*", the default) answers the contract: one naming
    some hosts vouches for those hosts, not for the whole contract, so the clause stays manual."""
    whole = [a for a in attestations if "*" in a.targets]
    apply_target(TargetResult(CONTRACT, CONTRACT, clauses), whole, [], now)


def _waive(clause, waivers: list[Record], now: datetime) -> None:
    matching = [w for w in waivers if w.raw.get("clause") == clause.clause_id
                or any(w.raw.get("control") == c.control_id and c.status == Status.FAIL
                       for c in clause.controls)]
    if not matching or clause.status != Status.FAIL:
        return
    valid = [w for w in matching if not w.expired(now)]
    if not valid:
        clause.waiver = max(matching, key=lambda w: w.expires_at).shown(now)
        return  # an expired waiver no longer applies; the failure stands, the waiver is shown
    waiver = max(valid, key=lambda w: w.expires_at)
    for control in clause.controls:
        if control.status == Status.FAIL and (waiver.raw.get("clause") == clause.clause_id
                                              or waiver.raw.get("control") == control.control_id):
            control.status = Status.WAIVED
    clause.waiver = waiver.shown(now)
    # advice controls never decide a clause, waived or not
    clause.status = combine([c.status for c in clause.binding()]
                            + ([Status.MANUAL] if clause.attest else []))
