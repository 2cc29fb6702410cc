"""Every automated annex rule of every built-in profile has a compliant and a violating case.

The cases live in test_fidelity_network.py (real servers) and test_fidelity_host.py (real file
trees); each exposes COVERED, the keys it tests, and UNBUILDABLE, the keys this machine cannot
build a case for, with the reason. A profile that gains an automated clause without cases fails
here.
"""

from __future__ import annotations

import test_fidelity_host as host
import test_fidelity_network as network

from scanner.catalog.profiles import builtin_profile_ids, load_profile


def annex_refs(catalog) -> set[tuple[str, str, str, int]]:
    """(profile, clause, control, position) of every annex-basis automated control ref."""
    return {(profile_id, clause.id, ref.control_id, position)
            for profile_id in builtin_profile_ids()
            for clause in load_profile(profile_id, catalog).clauses
            for position, ref in enumerate(clause.controls)
            if ref.binding and catalog.get(ref.control_id).automated}


def test_every_automated_annex_rule_has_cases(catalog):
    unbuildable = {**network.UNBUILDABLE, **host.UNBUILDABLE}
    missing = sorted(annex_refs(catalog) - network.COVERED - host.COVERED - set(unbuildable))
    assert not missing, f"annex rules without a compliant and a violating case: {missing}"


def test_cases_name_only_rules_the_profiles_have(catalog):
    stale = sorted((network.COVERED | host.COVERED | set(network.UNBUILDABLE)
                    | set(host.UNBUILDABLE)) - annex_refs(catalog))
    assert not stale, f"cases for refs no profile has (any more): {stale}"


def test_unbuildable_cases_say_why():
    for key, reason in {**network.UNBUILDABLE, **host.UNBUILDABLE}.items():
        assert len(reason) > 20, key
