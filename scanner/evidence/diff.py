"""What changed, clause by clause and target by target, between two scans.

Targets are matched by address and clauses by id. A change is judged by this order, best first
(a status change within one rank is reported as `changed`, neither better nor worse):

  0  pass, not_applicable   verified by a probe, or not concerned
  1  attested               vouched for by a person, not verified by a probe
  2  waived                 failing, under an accepted exception
  3  manual                 unanswered: nobody verified or attested it
  4  error                  could not be evaluated
  5  fail, expired          failing (an expired attestation counts as a failure)

It agrees with the model's worst-wins precedence (scanner.model.combine). A move to a higher
rank is a regression (pass -> manual included: a clause verified before is no longer), to a lower
rank an improvement. Clauses or targets only in NEW appeared; only in OLD, vanished. The
contract's clauses (judged once per scan) are compared as those of a target named `contract`.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.errors import ConfigError
from scanner.model import ClauseResult, ScanResult, Status, TargetResult
from scanner.reporters.base import subjects

RANK = {Status.PASS: 0, Status.NOT_APPLICABLE: 0, Status.ATTESTED: 1, Status.WAIVED: 2,
        Status.MANUAL: 3, Status.ERROR: 4, Status.FAIL: 5, Status.EXPIRED: 5}
KINDS = ("regressed", "improved", "changed", "appeared", "vanished", "unchanged")


@dataclass(frozen=True)
class Change:
    kind: str
    target: str
    address: str
    clause_id: str
    title: str
    old: Status | None
    new: Status | None
    whole_target: bool = False  # the whole target appeared or vanished


def judge(old: Status, new: Status) -> str:
    if RANK[new] > RANK[old]:
        return "regressed"
    if RANK[new] < RANK[old]:
        return "improved"
    return "changed" if new != old else "unchanged"


def _index(result: ScanResult, source: str) -> dict[str, tuple[TargetResult,
                                                               dict[str, ClauseResult]]]:
    index = {}
    for target in subjects(result):  # the contract's clauses too, as the subject `contract`
        if target.address in index:
            raise ConfigError(f"{source}: target address {target.address} appears twice; "
                              "diff matches targets by address")
        clauses = {}
        for clause in target.results:
            if clause.clause_id in clauses:
                raise ConfigError(f"{source}: target {target.address}: clause "
                                  f"{clause.clause_id} appears twice")
            clauses[clause.clause_id] = clause
        index[target.address] = (target, clauses)
    return index


def diff_results(old: ScanResult, new: ScanResult, old_source: str = "OLD",
                 new_source: str = "NEW") -> list[Change]:
    """Every clause of either scan with its change, regressions first."""
    before, after = _index(old, old_source), _index(new, new_source)
    changes = []
    for address in sorted(before.keys() | after.keys()):
        old_target, old_clauses = before.get(address, (None, {}))
        new_target, new_clauses = after.get(address, (None, {}))
        name = (new_target or old_target).target
        for clause_id in sorted(old_clauses.keys() | new_clauses.keys()):
            was, now = old_clauses.get(clause_id), new_clauses.get(clause_id)
            if was and now:
                kind = judge(was.status, now.status)
            else:
                kind = "appeared" if now else "vanished"
            changes.append(Change(kind, name, address, clause_id, (now or was).title,
                                  was and was.status, now and now.status,
                                  old_target is None or new_target is None))
    return sorted(changes, key=lambda c: (KINDS.index(c.kind), c.address, c.clause_id))

