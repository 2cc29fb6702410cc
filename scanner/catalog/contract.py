"""The contract's clauses: those no probe answers (organisational, answered by attestations).

They belong to the contract, not to a host, so a scan judges them once (`judge_contract`) and
every target is judged on the others only (engine.scan_target); a clause mixing host controls
with an attestation, or with automated advice, stays on each host.
"""

from __future__ import annotations

from collections.abc import Iterable

from scanner.catalog.controls import Catalog
from scanner.model import ClauseResult, ControlResult, Status, combine
from scanner.catalog.profiles import ANNEX, Clause, ControlRef, Profile


def is_contract(clause: Clause, catalog: Catalog) -> bool:
    """No control of the clause, binding or advice, is answered by a probe."""
    return not any(catalog.get(ref.control_id).automated for ref in clause.controls)


def judge_contract(profiles: list[Profile], catalog: Catalog) -> list[ClauseResult]:
    """The contract's clauses, judged once: manual until an attestation answers them
    (attestations.apply_contract)."""
    return [clause_result(clause, profile, [unprobed(ref, catalog, Status.MANUAL,
                                                     "answered by an attestation")
                                            for ref in clause.controls])
            for profile in profiles for clause in profile.clauses if is_contract(clause, catalog)]


def contract_once(planned: Iterable[tuple[Profile, Catalog]]) -> list[ClauseResult]:
    """judge_contract over every profile given, each once (by id)."""
    profiles = {p.id: (p, catalog) for p, catalog in planned}
    return [clause for profile, catalog in profiles.values()
            for clause in judge_contract([profile], catalog)]


def clause_result(clause: Clause, profile: Profile, controls: list[ControlResult]) -> ClauseResult:
    """A clause's verdict from its controls' (the annex's decide; `manual` adds an attestation)."""
    statuses = [c.status for c in controls if c.basis == ANNEX]
    return ClauseResult(clause.id, profile.id, clause.section, clause.title, clause.requirement,
                        combine(statuses + ([Status.MANUAL] if clause.manual else [])),
                        controls, clause.attest, quote=list(clause.quote))


def unprobed(ref: ControlRef, catalog: Catalog, status: Status, reason: str) -> ControlResult:
    """A control no probe answered here (an organisational control, or a probe skipped)."""
    control = catalog.get(ref.control_id)
    return ControlResult(ref.control_id, control.title, control.severity, status,
                         ref.parameters, expected=control.pass_means, reason=reason,
                         basis=ref.basis)
