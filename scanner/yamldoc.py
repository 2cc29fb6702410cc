"""YAML loading that keeps line numbers, so schema errors can point at the offending line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from scanner.errors import ConfigError


@dataclass
class YamlDoc:
    path: Path
    data: Any
    root: yaml.Node | None

    def line_of(self, json_path: Iterable[Any]) -> int | None:
        """1-based line of the node at `json_path` (keys and indexes), or of its nearest parent."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for step in json_path:
            child = _child(node, step)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def where(self, json_path: Iterable[Any]) -> str:
        path = list(json_path)
        line = self.line_of(path)
        loc = f"{self.path}:{line}" if line else str(self.path)
        field = _dotted(path)
        return f"{loc}: field '{field}'" if field else loc

    def validate(self, schema: dict) -> None:
        """Raise ConfigError for the first (deepest, best-placed) schema violation."""
        best = schema_error(self.data, schema)
        if best is not None:
            raise ConfigError(f"{self.where(best.absolute_path)}: {_explain(best)}")


def schema_error(data: Any, schema: dict) -> jsonschema.ValidationError | None:
    """The best-placed violation of `schema` (draft 2020-12), or None when `data` is valid."""
    return jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data))


def json_path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top)"


def _child(node: yaml.Node | None, step: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


def _dotted(path: list[Any]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"{error.message} (allowed: {', '.join(sorted(error.schema.get('properties', {})))})"
    if error.validator in ("oneOf", "anyOf") and error.context:
        reasons = sorted({c.message for c in error.context})
        return f"{error.message}; expected one of the alternatives: {'; '.join(reasons)}"
    return f"expected {error.validator} {error.validator_value!r}: {error.message}" \
        if error.validator in ("pattern", "enum", "const") else error.message


def load_yaml(path: Path) -> YamlDoc:
    """Parse a YAML file; a syntax error becomes a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: malformed YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    return YamlDoc(path, data, root)


def load_json_schema(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
