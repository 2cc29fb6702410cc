"""Every clause quotes its annex, and every quote is the annex's own words.

The annex texts ship beside the profiles (profiles/sources/<id>.txt); a quote must occur in its
source verbatim, whitespace runs and apostrophe forms aside.
"""

from __future__ import annotations

import pytest

from scanner.catalog.profiles import builtin_profile_ids, load_profile
from scanner.catalog.resources import profiles_dir
from scanner.catalog.yamldoc import load_yaml

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


def normalise(text: str) -> str:
    return " ".join(text.translate(_APOSTROPHES).split())


def source_text(profile_id: str) -> str:
    document = load_yaml(profiles_dir() / f"{profile_id}.yaml").data["source"]["document"]
    path = profiles_dir() / document
    assert path.is_file(), f"{profile_id}: source document {document} is not shipped"
    return normalise(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("profile_id", builtin_profile_ids())
def test_every_clause_quotes_its_annex_verbatim(catalog, profile_id):
    source = source_text(profile_id)
    profile = load_profile(profile_id, catalog)
    unquoted = [c.id for c in profile.clauses if not c.quote]
    assert not unquoted, f"{profile_id}: clauses without a quote: {unquoted}"
    wrong = [(c.id, q[:80]) for c in profile.clauses for q in c.quote
             if normalise(q) not in source]
    assert not wrong, f"{profile_id}: quotes not found verbatim in the annex: {wrong}"


@pytest.mark.parametrize("profile_id", builtin_profile_ids())
def test_every_control_states_its_basis(profile_id):
    raw = load_yaml(profiles_dir() / f"{profile_id}.yaml").data
    missing = [(c["id"], ref["control"]) for c in raw["clauses"]
               for ref in c.get("controls", []) if "basis" not in ref]
    assert not missing, f"{profile_id}: control refs without basis: {missing}"


def test_normalise_is_only_whitespace_and_apostrophes():
    assert normalise("l’accès  distant\n en ssh") == "l'accès distant en ssh"
    assert normalise("clés RSA") != normalise("cles RSA")
    assert normalise("« TLS 1.2 »") != normalise("\"TLS 1.2\"")
