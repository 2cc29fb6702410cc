"""The control catalog: generic checks with typed parameters, loaded from controls/*.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from scanner.errors import ConfigError
from scanner.catalog.remediation import RemediationError, check_templates
from scanner.catalog.resources import controls_dir
from scanner.catalog.yamldoc import YamlDoc, load_json_schema, load_yaml


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    schema: dict
    default: Any = None


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    description: str
    kind: str  # automated | manual
    severity: str
    pass_means: str
    fail_means: str
    na_means: str | None = None  # the catalog's `not_applicable`: when the verdict is N/A
    probe: str | None = None
    collector: str | None = None
    parameters: dict[str, Parameter] = field(default_factory=dict)
    source: str = ""
    # the raw `remediation` section: Jinja2 templates (scanner.catalog.remediation renders them)
    remediation: dict[str, Any] | None = None

    @property
    def automated(self) -> bool:
        return self.kind == "automated"

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.parameters.items()}

    def check_parameters(self, given: dict[str, Any], where: YamlDoc, path: list) -> dict[str, Any]:
        """Merge `given` over the defaults; unknown names and wrong types raise ConfigError."""
        merged = self.defaults()
        for name, value in given.items():
            if name not in self.parameters:
                known = ", ".join(sorted(self.parameters)) or "none"
                raise ConfigError(f"{where.where(path + [name])}: unknown parameter '{name}' for "
                                  f"control {self.id} (known: {known})")
            try:
                jsonschema.validate(value, self.parameters[name].schema)
            except jsonschema.ValidationError as exc:
                raise ConfigError(f"{where.where(path + [name] + list(exc.absolute_path))}: "
                                  f"parameter '{name}' of {self.id}: {exc.message}") from None
            merged[name] = value
        return merged


class Catalog:
    def __init__(self, controls: dict[str, Control]):
        self.controls = controls

    def __contains__(self, control_id: str) -> bool:
        return control_id in self.controls

    def get(self, control_id: str) -> Control:
        return self.controls[control_id]

    def __iter__(self):
        return iter(sorted(self.controls.values(), key=lambda c: c.id))


def load_catalog(directory: Path | None = None) -> Catalog:
    directory = directory or controls_dir()
    schema = load_json_schema(directory / "catalog.schema.json")
    controls: dict[str, Control] = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = load_yaml(path)
        doc.validate(schema)
        for index, raw in enumerate(doc.data["controls"]):
            if raw["id"] in controls:
                raise ConfigError(f"{doc.where(['controls', index, 'id'])}: duplicate control id "
                                  f"'{raw['id']}' (first in {controls[raw['id']].source})")
            params = {name: Parameter(name, p["description"], p["schema"], p.get("default"))
                      for name, p in raw.get("parameters", {}).items()}
            for name, param in params.items():
                _check_default(param, doc, ["controls", index, "parameters", name, "default"])
            controls[raw["id"]] = Control(
                id=raw["id"], title=raw["title"], description=raw["description"],
                kind=raw["kind"], severity=raw["severity"], pass_means=raw["pass"],
                fail_means=raw["fail"], na_means=raw.get("not_applicable"),
                probe=raw.get("probe"), collector=raw.get("collector"),
                parameters=params,
                source=str(path), remediation=raw.get("remediation"))
            try:
                check_templates(controls[raw["id"]])
            except RemediationError as exc:
                raise ConfigError(f"{doc.where(['controls', index, 'remediation', *exc.part])}:"
                                  f" {exc}") from None
    return Catalog(controls)


def _check_default(param: Parameter, doc: YamlDoc, path: list) -> None:
    try:
        jsonschema.validate(param.default, param.schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"{doc.where(path[:-1] + ['schema'])}: not a valid JSON Schema: "
                          f"{exc.message}") from None
    except jsonschema.ValidationError as exc:
        raise ConfigError(f"{doc.where(path)}: default does not match its schema: {exc.message}") \
            from None
