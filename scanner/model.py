"""The one result model every probe, check and reporter shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"
    MANUAL = "manual"
    ATTESTED = "attested"  # a manual clause answered by a valid attestation
    EXPIRED = "expired"    # its attestation is past expiry: counts as a failure
    WAIVED = "waived"      # a failure covered by a valid waiver: stays visible, does not fail
    ADVISORY = "advisory"  # an advice control (hardening the annex does not state) that fails:
                           # shown everywhere, never fails its clause nor raises the exit code


# Clause status from its controls: the worst wins, in this order.
# Advice controls never take part (see ClauseResult.binding), so ADVISORY is not in it.
_PRECEDENCE = [Status.FAIL, Status.EXPIRED, Status.ERROR, Status.MANUAL, Status.WAIVED,
               Status.ATTESTED, Status.PASS, Status.NOT_APPLICABLE]
CLAUSE_STATUSES = tuple(_PRECEDENCE)
FAILING = (Status.FAIL, Status.EXPIRED)
INTERRUPTED = 4  # exit code of a scan stopped by SIGINT/SIGTERM before every target was scanned
CONTRACT = "contract"  # the subject reports list the contract's clauses under (once per scan)


def combine(statuses: list[Status]) -> Status:
    """Worst status of a set; an empty set is an error (never a silent pass)."""
    if not statuses:
        return Status.ERROR
    for status in _PRECEDENCE:
        if status in statuses:
            return status
    raise ValueError(f"not clause statuses: {statuses}")


@dataclass
class ProbeResult:
    """What one probe saw on one target: structured observations plus the raw evidence.

    `error` set means the probe could not run; checks depending on it report `error`.
    """
    probe: str
    target: str
    data: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class Verdict:
    """A check's answer for one control on one target."""
    status: Status
    expected: Any = None
    observed: Any = None
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ControlResult:
    control_id: str
    title: str
    severity: str
    status: Status
    parameters: dict[str, Any]
    expected: Any = None
    observed: Any = None
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0        # evaluating the observations
    probe_duration_s: float = 0.0  # the probes it rests on (a probe shared by controls counts in each)
    basis: str = "annex"           # annex: decides the clause; advice: at worst advisory
    # how to fix it, {text, snippets} (scanner.catalog.remediation): on fail and advisory only;
    # left out of the JSON when None, which keeps a fleet's per-host lines small
    remediation: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})


@dataclass
class ClauseResult:
    clause_id: str
    profile: str
    section: str
    title: str
    requirement: str
    status: Status
    controls: list[ControlResult] = field(default_factory=list)
    attest: str = ""
    attestation: dict[str, Any] | None = None  # who attested, until when (see attestations.py)
    waiver: dict[str, Any] | None = None       # the waiver applied or found expired
    quote: list[str] = field(default_factory=list)  # the annex's own words, verbatim

    def binding(self) -> list[ControlResult]:
        """The controls that decide the clause's status (basis: annex)."""
        return [c for c in self.controls if c.basis == "annex"]

    def advisories(self) -> list[ControlResult]:
        return [c for c in self.controls if c.status == Status.ADVISORY]


@dataclass
class TargetResult:
    target: str
    address: str
    results: list[ClauseResult] = field(default_factory=list)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)  # probe -> {duration_s, error}
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)  # probe -> raw evidence
    # probe -> {path, sha256, bytes} of its raw evidence stored once (outputs.store_evidence)
    evidence_refs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # how the scan logged in over SSH, without secrets (scanner.scope.recorded); None: no SSH
    access: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})

    def probe_errors(self) -> dict[str, str]:
        """Probe -> why it saw nothing on this target: stated once, not on each clause."""
        return {name: info["error"] for name, info in self.probes.items() if info.get("error")}

    def counts(self) -> dict[str, int]:
        """Clauses per status, and `advisory`: the advice controls that failed."""
        return clause_counts(self.results)


def clause_counts(clauses: Iterable[ClauseResult]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for clause in clauses:
        counts[clause.status.value] += 1
        counts[Status.ADVISORY.value] += len(clause.advisories())
    return counts


@dataclass
class ScanResult:
    started_at: str
    finished_at: str
    profiles: list[dict[str, Any]]
    # any re-iterable: a list, or a stream over the scan's journal (scanner/evidence/journal.py) holding
    # one target in memory at a time; iterate it, never index it or keep every target
    targets: Iterable[TargetResult]
    options: dict[str, Any] = field(default_factory=dict)
    complete: bool = True  # False: interrupted, the targets in `unscanned` were not scanned
    unscanned: list[dict[str, str]] = field(default_factory=list)  # [{target, address}]
    # clauses no probe answers (organisational, attested): the contract's, judged once per scan
    contract: list[ClauseResult] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Clauses per status over the contract (counted once) and every target."""
        total = clause_counts(self.contract)
        for target in self.targets:
            for status, n in target.counts().items():
                total[status] += n
        return total

    def exit_code(self, summary: dict[str, int] | None = None) -> int:
        """0 all automated clauses pass, 1 any fail (or expired attestation), 3 no fail but
        an error, 4 interrupted (whatever the targets scanned say, the scan is not whole).
        `summary`: this result's, when the caller has it (each count re-reads the targets)."""
        if not self.complete:
            return INTERRUPTED
        summary = summary or self.summary()
        if any(summary[s.value] for s in FAILING):
            return 1
        if summary[Status.ERROR.value]:
            return 3
        return 0


def map_text(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with `change` applied to every string in it (dict keys too); dataclasses are
    changed in place. Used to clean what hosts sent before any report is rendered."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            setattr(value, item.name, map_text(getattr(value, item.name), change))
        return value
    if isinstance(value, dict):
        return {map_text(key, change): map_text(item, change) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_text(item, change) for item in value)
    return change(value) if isinstance(value, str) else value


def writable_text(text: str) -> str:
    """Lone surrogates (bytes a host sent that are not UTF-8) as visible escapes: UTF-8 files,
    hashes and URLs cannot hold them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def to_jsonable(obj: Any) -> Any:
    """Dataclasses and enums to plain JSON types."""
    if isinstance(obj, Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get("omit_none") and getattr(obj, f.name) is None)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    return obj
