"""Check registry, the evaluation wrapper and per-port aggregation shared by the checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from scanner.model import ProbeResult, Status, Verdict

Check = Callable[["Observations", dict[str, Any]], Verdict]
_CHECKS: dict[str, Check] = {}


class MissingData(Exception):
    """The observations a check needs are absent: the verdict is `error`, never `pass`."""


def probe_failed(probe: str) -> str:
    """An error verdict's reason when `probe` failed for the whole target: the failure itself is
    stated once, in the target's probe errors, not repeated on every clause."""
    return f"not checked: the {probe} probe failed (see the target's probe errors)"


class Observations:
    """Probe results of one target, by probe name."""

    def __init__(self, results: dict[str, ProbeResult]):
        self.results = results

    def data(self, probe: str) -> dict[str, Any]:
        result = self.results.get(probe)
        if result is None:
            raise MissingData(f"the {probe} probe did not run")
        if result.error:
            raise MissingData(f"the {probe} probe failed: {result.error}")
        return result.data

    def failure(self, probe: str) -> str | None:
        """Why `probe` saw nothing on this target (None: it observed): its own error, or the
        host transport that could not open, so no host command ran (only a collector that logs
        in by itself, like ssh.mfa's key probe, could still observe)."""
        result = self.results.get(probe)
        if result is None:
            return None
        if result.error:
            return result.error
        transport = result.data.get("transport_error")
        return f"host checks did not run: {transport}" if transport else None

    def services(self) -> dict[int, dict]:
        return self.data("service")["services"]

    def host(self, collector: str) -> dict[str, Any]:
        """What one host collector observed; its failure is MissingData (-> `error`)."""
        data = self.data("host")
        if collector not in data:
            raise MissingData(f"the host collector '{collector}' did not run")
        if data[collector].get("error"):
            raise MissingData(data[collector]["error"])
        return data[collector]


def check(control_id: str) -> Callable[[Check], Check]:
    def decorate(fn: Check) -> Check:
        _CHECKS[control_id] = fn
        return fn
    return decorate


@dataclass
class Finding:
    """One port's (or one item's) contribution to a verdict."""
    key: str
    status: Status
    observed: Any
    reason: str = ""


def aggregate(findings: list[Finding], expected: Any, none_reason: str) -> Verdict:
    """Fail if any finding fails, else error if any errs, else pass; no findings -> N/A."""
    if not findings:
        return Verdict(Status.NOT_APPLICABLE, expected=expected, reason=none_reason)
    observed = {f.key: f.observed for f in findings}
    for status in (Status.FAIL, Status.ERROR):
        bad = [f"{f.key}: {f.reason}" for f in findings if f.status == status]
        if bad:
            return Verdict(status, expected=expected, observed=observed, reason="; ".join(bad))
    return Verdict(Status.PASS, expected=expected, observed=observed)


def passed(ok: bool, expected: Any, observed: Any, reason_if_not: str) -> Verdict:
    return Verdict(Status.PASS if ok else Status.FAIL, expected=expected, observed=observed,
                   reason="" if ok else reason_if_not)
