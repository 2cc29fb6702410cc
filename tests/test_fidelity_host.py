"""Clause fidelity, host half: every annex-basis host control ref of every built-in profile,
judged with the profile's own parameters, passes on a compliant host and fails on a violating
one (one per sub-rule the parameters switch on), the reason naming the fault.

The refs are read from the profiles at collection time; the hosts come from per-control
factories (fidelity_host_support, fidelity_host_daemons) that build real trees, rules and
daemons for whatever parameters a profile gives. Refs with identical parameters share one
built host and one evaluation. COVERED (keys tested on real hosts) and UNBUILDABLE (keys this
machine cannot build, with why) feed test_fidelity_coverage.py."""

from __future__ import annotations

import json
from typing import Callable

import pytest

import fidelity_host_daemons as daemons
import fidelity_host_support as trees
from fidelity_host_support import Case, Unsupported
from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes.registry import collector_registry
from scanner.model import ProbeResult, Status
from scanner.catalog.profiles import builtin_profile_ids, load_profile

Key = tuple[str, str, str, int]  # (profile, clause, control, position in the clause)
FACTORIES: dict[str, Callable[[dict], list[Case]]] = {
    "host.backups": trees.backups, "host.antivirus": trees.antivirus,
    "host.log_retention": trees.log_retention, "host.password_hashing": trees.password_hashing,
    "host.password_policy": trees.password_policy, "host.patches": trees.patches,
    "host.raid": trees.raid, "host.sshd_config": daemons.sshd_config,
    "ssh.key_types": daemons.key_types, "host.firewall": daemons.firewall,
    "host.time_sync": daemons.time_sync, "host.disk_encryption": daemons.disk_encryption}
REPLAYED = {"host.disk_encryption": "this kernel has no device-mapper (dm_mod), so no dm-crypt "
                                    "volume can be opened: the crypt stack is replayed from "
                                    "recorded findmnt/lsblk/cryptsetup output (luksDump real)"}


def host_refs() -> list[tuple[Key, str, dict]]:
    """(key, control, parameters) of every annex-basis automated host ref."""
    catalog = load_catalog()
    return [((pid, clause.id, ref.control_id, position), ref.control_id, ref.parameters)
            for pid in builtin_profile_ids() for clause in load_profile(pid, catalog).clauses
            for position, ref in enumerate(clause.controls)
            if ref.binding and catalog.get(ref.control_id).automated
            and catalog.get(ref.control_id).probe == "host"]


def _cases(control: str, params: dict) -> list[Case]:
    """The factory's cases; a missing factory or sub-rule is one case that fails, saying so."""
    try:
        return FACTORIES[control](params)
    except (KeyError, Unsupported) as exc:
        def missing(root):
            pytest.fail(f"no case can be built for {control} {params}: {exc!r}")
        return [Case("unbuildable", missing)]


REFS = host_refs()
CASES = [(key, control, params, case) for key, control, params in REFS
         for case in _cases(control, params)]
UNBUILDABLE: dict[Key, str] = {key: REPLAYED[control] for key, control, _ in REFS
                               if control in REPLAYED}
COVERED: set[Key] = {key for key, *_ in CASES if key not in UNBUILDABLE}


@pytest.fixture(scope="module")
def judged(tmp_path_factory, catalog):
    """Verdict of (control, parameters, case), each host built and judged once."""
    seen: dict[tuple[str, str, str], object] = {}

    def judge(control: str, params: dict, case: Case):
        index = (control, json.dumps(params, sort_keys=True), case.name)
        if index not in seen:
            built = case.build(tmp_path_factory.mktemp(control.replace(".", "-")))
            name = catalog.get(control).collector
            if isinstance(built, dict):
                data = built
            else:
                collected = collector_registry()[name](built, [params])
                data = {**collected.data, "error": collected.error}
            host = ProbeResult("host", "local", {name: data})
            seen[index] = evaluate(control, Observations({"host": host}), params)
        return seen[index]
    return judge


@pytest.mark.parametrize("key,control,params,case", CASES,
                         ids=[f"{k[0]}:{k[1]}:{k[3]}:{c.name}" for k, _, _, c in CASES])
def test_annex_rule_on_real_host(judged, key, control, params, case):
    verdict = judged(control, params, case)
    if case.compliant:
        assert verdict.status == Status.PASS, f"{key}: {verdict.reason}"
    else:
        assert verdict.status == Status.FAIL, f"{key} {case.name}: {verdict.status} " \
                                              f"{verdict.reason}"
        assert case.fault in verdict.reason, f"{key} {case.name}: {verdict.reason}"


def test_every_ref_has_a_compliant_and_a_violating_case():
    for key, control, params in REFS:
        built = [case for k, _, _, case in CASES if k == key]
        assert any(c.compliant for c in built) and any(not c.compliant for c in built), key
