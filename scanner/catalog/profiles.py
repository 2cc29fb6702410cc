"""Profiles: one contract annex as clauses, each verified by controls or attested manually."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.catalog.controls import Catalog
from scanner.errors import ConfigError
from scanner.catalog.resources import profiles_dir
from scanner.scope.pemfiles import check_ca_bundle
from scanner.catalog.yamldoc import YamlDoc, load_json_schema, load_yaml


ANNEX, ADVICE = "annex", "advice"
# control parameters naming a file, and what the file must hold (checked at load time)
FILE_PARAMETERS = {"ca_bundle": check_ca_bundle}


@dataclass(frozen=True)
class ControlRef:
    """A control in a clause. `basis` annex: the quoted words require it and it decides the
    clause; advice: hardening the profile adds, which can only ever be advisory."""
    control_id: str
    parameters: dict[str, Any]
    basis: str = ANNEX

    @property
    def binding(self) -> bool:
        return self.basis == ANNEX


@dataclass(frozen=True)
class Clause:
    id: str
    section: str
    title: str
    requirement: str
    controls: tuple[ControlRef, ...] = ()
    manual: bool = False
    attest: str = ""
    quote: tuple[str, ...] = ()  # the annex's own words, verbatim

    def binding(self) -> list[ControlRef]:
        """The controls the annex requires: they alone decide the clause."""
        return [ref for ref in self.controls if ref.binding]

    def automated_controls(self, catalog: Catalog) -> list[ControlRef]:
        """The annex's controls a probe answers."""
        return [ref for ref in self.binding() if catalog.get(ref.control_id).automated]

    def is_automated(self, catalog: Catalog) -> bool:
        """Fully answered by probes: the annex's controls are all automated, nothing to attest."""
        return not self.manual and len(self.automated_controls(catalog)) == len(self.binding())

    def kind(self, catalog: Catalog) -> str:
        """automated, mixed (probes answer part of it) or manual."""
        if self.is_automated(catalog):
            return "automated"
        return "mixed" if self.automated_controls(catalog) else "manual"


@dataclass
class Profile:
    id: str
    title: str
    source: dict[str, str]
    path: Path
    clauses: list[Clause] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "source": self.source}


def builtin_profile_ids() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def resolve_profile_path(ref: str, relative_to: Path | None = None) -> Path:
    """A built-in profile id, or a path to a profile file."""
    candidate = Path(ref)
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to.parent / candidate
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"profile file not found: {candidate}")
        return candidate
    builtin = profiles_dir() / f"{ref}.yaml"
    if builtin.is_file():
        return builtin
    raise ConfigError(f"unknown profile '{ref}': not a file and not a built-in profile "
                      f"(built-in: {', '.join(builtin_profile_ids())})")


def load_profile(ref: str, catalog: Catalog, _chain: tuple[Path, ...] = (),
                 _relative_to: Path | None = None) -> Profile:
    path = resolve_profile_path(ref, _relative_to).resolve()
    if path in _chain:
        raise ConfigError(f"{path}: 'extends' loops back: "
                          f"{' -> '.join(str(p) for p in _chain + (path,))}")
    doc = load_yaml(path)
    if doc.data is None:  # nothing but blanks and comments
        raise ConfigError(f"{path}: the file is empty; expected a profile (id, title, clauses)")
    doc.validate(load_json_schema(profiles_dir() / "profile.schema.json"))
    data = doc.data
    clauses: list[Clause] = []
    source = dict(data.get("source", {}))
    if "extends" in data:
        try:
            parent_path = resolve_profile_path(data["extends"], path)
        except ConfigError as exc:
            raise ConfigError(f"{doc.where(['extends'])}: {exc}") from None
        parent = load_profile(str(parent_path), catalog, _chain + (path,))
        clauses = list(parent.clauses)
        source = source or parent.source
    clauses = _apply_exclude(clauses, data.get("exclude", []), doc)
    clauses = _apply_overrides(clauses, data.get("overrides", {}), catalog, doc)
    known = {c.id for c in clauses}
    for index, raw in enumerate(data.get("clauses", [])):
        where = ["clauses", index]
        if raw["id"] in known:
            raise ConfigError(f"{doc.where(where + ['id'])}: duplicate clause id '{raw['id']}' "
                              "(to change an inherited clause use 'overrides')")
        known.add(raw["id"])
        refs = []
        for cindex, ref in enumerate(raw.get("controls", [])):
            cpath = where + ["controls", cindex]
            if ref["control"] not in catalog:
                raise ConfigError(f"{doc.where(cpath + ['control'])}: unknown control id "
                                  f"'{ref['control']}' (see `annexscan controls list`)")
            params = catalog.get(ref["control"]).check_parameters(
                ref.get("parameters", {}), doc, cpath + ["parameters"])
            _check_files(ref.get("parameters", {}), doc, cpath + ["parameters"])
            refs.append(ControlRef(ref["control"], params, ref.get("basis", ANNEX)))
        if not raw.get("manual") and not any(r.binding for r in refs):
            raise ConfigError(f"{doc.where(where + ['controls'])}: clause '{raw['id']}' has only "
                              "advice controls: give it a control with 'basis: annex' or make it "
                              "'manual: true'")
        quote = raw.get("quote", ())
        clauses.append(Clause(id=raw["id"], section=raw["section"], title=raw["title"],
                              requirement=" ".join(raw["requirement"].split()),
                              controls=tuple(refs), manual=bool(raw.get("manual")),
                              attest=" ".join(raw.get("attest", "").split()),
                              quote=(quote,) if isinstance(quote, str) else tuple(quote)))
    if not clauses:
        raise ConfigError(f"{doc.where(['clauses'])}: profile has no clauses")
    return Profile(id=data["id"], title=data["title"], source=source, path=path,
                   clauses=clauses)


def _check_files(given: dict[str, Any], doc: YamlDoc, path: list) -> None:
    """The files a profile names in parameters are what they must be, before any probe."""
    for name, check in FILE_PARAMETERS.items():
        if given.get(name):
            check(Path(given[name]), doc.where(path + [name]))


def _apply_exclude(clauses: list[Clause], exclude: list[str], doc) -> list[Clause]:
    ids = {c.id for c in clauses}
    for index, clause_id in enumerate(exclude):
        if clause_id not in ids:
            raise ConfigError(f"{doc.where(['exclude', index])}: excluded clause '{clause_id}' "
                              "is not in the extended profile")
    return [c for c in clauses if c.id not in exclude]


def _apply_overrides(clauses: list[Clause], overrides: dict, catalog: Catalog, doc) -> list[Clause]:
    by_id = {c.id: c for c in clauses}
    for clause_id, per_control in overrides.items():
        if clause_id not in by_id:
            raise ConfigError(f"{doc.where(['overrides', clause_id])}: overridden clause "
                              f"'{clause_id}' is not in the extended profile")
        clause = by_id[clause_id]
        refs = list(clause.controls)
        for control_id, params in per_control.items():
            path = ["overrides", clause_id, control_id]
            positions = [i for i, r in enumerate(refs) if r.control_id == control_id]
            if not positions:
                raise ConfigError(f"{doc.where(path)}: clause '{clause_id}' has no control "
                                  f"'{control_id}' to override")
            for i in positions:
                merged = {**refs[i].parameters, **params}
                checked = catalog.get(control_id).check_parameters(merged, doc, path)
                refs[i] = ControlRef(control_id, checked, refs[i].basis)
            _check_files(params, doc, path)
        by_id[clause_id] = Clause(**{**clause.__dict__, "controls": tuple(refs)})
    return [by_id[c.id] for c in clauses]
