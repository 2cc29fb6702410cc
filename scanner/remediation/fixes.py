"""The safe automated fixes, as data (controls/fixes/*.yaml, schema fixes.schema.json): for a
control, the Ansible tasks that fix it and the parameters they use; for the others, why no fix
is attempted. Every control id must be one of the catalog's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.catalog.controls import Catalog
from scanner.catalog.resources import controls_dir
from scanner.catalog.yamldoc import load_json_schema, load_yaml
from scanner.errors import ConfigError


@dataclass(frozen=True)
class Fix:
    control_id: str
    area: str        # the file it comes from: its playbook vars and handlers
    safe: str        # why automating it is safe
    leaves: str      # what it does not do
    parameters: dict[str, dict]  # parameter -> the JSON Schema its value must meet
    tasks: list[dict]


@dataclass(frozen=True)
class Area:
    name: str
    vars: dict[str, Any]
    handlers: list[dict]


@dataclass
class Fixes:
    fixes: dict[str, Fix] = field(default_factory=dict)
    areas: dict[str, Area] = field(default_factory=dict)
    not_automated: dict[str, str] = field(default_factory=dict)  # control -> why


def load_fixes(catalog: Catalog, directory: Path | None = None) -> Fixes:
    directory = directory or controls_dir() / "fixes"
    schema = load_json_schema(directory / "fixes.schema.json")
    out = Fixes()
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = load_yaml(path)
        doc.validate(schema)
        data = doc.data or {}
        area = Area(path.stem, data.get("vars", {}), data.get("handlers", []))
        out.areas[area.name] = area
        for section in ("fixes", "not_automated"):
            for control_id, entry in data.get(section, {}).items():
                where = doc.where([section, control_id])
                if control_id not in catalog:
                    raise ConfigError(f"{where}: unknown control id '{control_id}' (not in the "
                                      "control catalog)")
                if control_id in seen:
                    raise ConfigError(f"{where}: control '{control_id}' already has a decision "
                                      f"in {seen[control_id]}")
                seen[control_id] = str(path)
                if section == "not_automated":
                    out.not_automated[control_id] = entry
                    continue
                known = catalog.get(control_id).parameters
                for name in entry["parameters"]:
                    if name not in known:
                        raise ConfigError(f"{doc.where([section, control_id, 'parameters', name])}"
                                          f": control {control_id} has no parameter '{name}'")
                out.fixes[control_id] = Fix(control_id, area.name, entry["safe"],
                                            entry.get("leaves", ""), entry["parameters"],
                                            entry["tasks"])
    return out
