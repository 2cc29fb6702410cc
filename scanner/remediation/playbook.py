"""From a scan's result to an Ansible playbook: one play per target, tasks only for the failing
controls that have a safe automated fix, each tagged with its clauses and control; every other
failure is listed in the header comment with what to do, and nothing is attempted for it.

A control is fixed on a target for the clauses that fail there, with the parameters those
clauses gave it: a clause that passed is never named by a task, and a target where the clause
passed gets no task for it."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from scanner.catalog.controls import Catalog
from scanner.catalog.remediation import render_remediation
from scanner.catalog.yamldoc import schema_error
from scanner.errors import ConfigError
from scanner.model import CONTRACT, ClauseResult, ControlResult, ScanResult, Status
from scanner.remediation.fixes import Fix, Fixes
from scanner.remediation.yamlout import neutral


@dataclass(frozen=True)
class Selection:
    clauses: frozenset[str] = frozenset()   # empty: every clause
    controls: frozenset[str] = frozenset()  # empty: every control
    advisory: bool = False                  # also fix advice controls that are not met

    def wants(self, clause: ClauseResult, control: ControlResult) -> bool:
        return (not self.clauses or clause.clause_id in self.clauses) and \
            (not self.controls or control.control_id in self.controls)


@dataclass
class Plan:
    plays: list[dict] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # the targets a play fixes
    by_hand: list[str] = field(default_factory=list)  # header lines: failures left to a person
    # manual clauses: (clause id, state, what attests it) -> the subjects (targets, contract)
    to_attest: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    tasks: int = 0
    fixes: dict[str, Fix] = field(default_factory=dict)  # the fixes the tasks come from


def check_selection(result: ScanResult, selection: Selection) -> None:
    """An id given with --clause or --control that the report does not hold is a usage error."""
    clauses, controls = set(), set()
    for clause in _clauses(result):
        clauses.add(clause.clause_id)
        controls.update(c.control_id for c in clause.controls)
    for option, asked, known in (("--clause", selection.clauses, clauses),
                                 ("--control", selection.controls, controls)):
        unknown = sorted(asked - known)
        if unknown:
            raise ConfigError(f"{option} {', '.join(map(repr, unknown))}: not in this report")


def _clauses(result: ScanResult) -> Iterator[ClauseResult]:
    yield from result.contract
    for target in result.targets:
        yield from target.results


def build_plan(result: ScanResult, catalog: Catalog, fixes: Fixes, selection: Selection,
               play_vars: dict[str, Any]) -> Plan:
    plan = Plan()
    for clause in result.contract:
        _manual(plan, CONTRACT, clause, selection)
    for target in result.targets:
        failing: dict[str, list[tuple[ClauseResult, ControlResult]]] = {}
        for clause in target.results:
            _manual(plan, target.target, clause, selection)
            for control in clause.controls:
                if _to_fix(clause, control, selection):
                    failing.setdefault(control.control_id, []).append((clause, control))
        tasks, areas = [], []
        for control_id, found in failing.items():
            fix = fixes.fixes.get(control_id)
            made = _tasks(fix, found) if fix else None
            if isinstance(made, list):
                tasks += made
                plan.fixes[control_id] = fix
                areas += [fix.area] if fix.area not in areas else []
                continue
            why = made or fixes.not_automated.get(control_id, "no automated fix is known")
            plan.by_hand.append(_by_hand(target.target, control_id, found, why, catalog))
        if tasks:
            plan.plays.append(_play(target.target, tasks, areas, fixes, play_vars))
            plan.targets.append(target.target)
            plan.tasks += len(tasks)
    return plan


def _to_fix(clause: ClauseResult, control: ControlResult, selection: Selection) -> bool:
    """A failing binding control of a failing clause (a waived one is an accepted exception),
    or an unmet advice control when asked for."""
    if not selection.wants(clause, control):
        return False
    if control.status == Status.FAIL and control.basis == "annex":
        return clause.status == Status.FAIL
    return selection.advisory and control.status == Status.ADVISORY


def _tasks(fix: Fix, found: list[tuple[ClauseResult, ControlResult]]) -> list[dict] | str:
    """The fix's tasks with the failing clauses' parameters as vars, or why there are none."""
    values = [{name: c.parameters.get(name) for name in fix.parameters} for _, c in found]
    if len({json.dumps(v, sort_keys=True) for v in values}) > 1:
        return "its failing clauses ask for different parameters: reconcile them, then fix by hand"
    for name, schema in fix.parameters.items():
        if schema_error(values[0][name], schema) is not None:
            return f"the value of its parameter '{name}' is not one the automated fix accepts"
    clauses = list(dict.fromkeys(clause.clause_id for clause, _ in found))
    tasks = []
    for template in fix.tasks:
        task = copy.deepcopy(template)
        task["name"] = neutral(f"{' '.join(clauses)} {fix.control_id}: {template['name']}")
        task["tags"] = [neutral(c) for c in clauses] + [fix.control_id]
        if values[0]:
            task["vars"] = neutral(values[0])
        tasks.append(task)
    return tasks


def _play(target: str, tasks: list[dict], areas: list[str], fixes: Fixes,
          play_vars: dict[str, Any]) -> dict:
    used = {name: value for area in areas for name, value in fixes.areas[area].vars.items()}
    used.update({name: value for name, value in play_vars.items() if name in used})
    handlers = [copy.deepcopy(h) for area in areas for h in fixes.areas[area].handlers]
    play = {"name": neutral(f"annexscan fixes for {target}"), "hosts": target,
            "gather_facts": False, "vars": used, "tasks": tasks}
    if handlers:
        play["handlers"] = handlers
    return play


def remediation_text(control: ControlResult, catalog: Catalog) -> str:
    """The report's remediation text for a failing control; for a report that predates it,
    rendered from the catalog with the control's parameters."""
    if control.remediation:
        return str(control.remediation.get("text", ""))
    if control.control_id not in catalog:
        return control.title
    try:
        rendered = render_remediation(catalog.get(control.control_id), control.parameters)
    except ConfigError:  # parameters a hostile report made up
        rendered = None
    return rendered["text"] if rendered else control.title


def _by_hand(target: str, control_id: str, found: list[tuple[ClauseResult, ControlResult]],
             why: str, catalog: Catalog) -> str:
    clauses = ", ".join(dict.fromkeys(clause.clause_id for clause, _ in found))
    return (f"{target} {clauses} {control_id}: not automated: {why} To do: "
            f"{remediation_text(found[0][1], catalog)}")


def _manual(plan: Plan, subject: str, clause: ClauseResult, selection: Selection) -> None:
    """A manual clause still to attest, or whose attestation expired."""
    if clause.status not in (Status.MANUAL, Status.EXPIRED):
        return
    if selection.clauses and clause.clause_id not in selection.clauses:
        return
    if selection.controls and not any(c.control_id in selection.controls
                                      for c in clause.controls):
        return
    state = "attestation expired" if clause.status == Status.EXPIRED else "to attest"
    plan.to_attest.setdefault((clause.clause_id, state, clause.attest or clause.title),
                              []).append(subject)


def fix_lines(plan: Plan) -> list[str]:
    """Per fix the playbook applies: why it is safe, and what it leaves to a person."""
    return [f"{control_id}: {fix.safe}" + (f" Not done: {fix.leaves}" if fix.leaves else "")
            for control_id, fix in sorted(plan.fixes.items())]


def attest_lines(plan: Plan) -> list[str]:
    return [f"{clause} ({', '.join(subjects)}): {state}: {what}"
            for (clause, state, what), subjects in plan.to_attest.items()]
