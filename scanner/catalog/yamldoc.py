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
        """Raise ConfigError for the first (deepest, best-placed) schema violation. JSON Schema
        knows text keys only: a key YAML reads as a number, a date or null is refused first
        (jsonschema would fail to rank errors whose paths mix keys of several types)."""
        odd = _non_text_key(self.data, [])
        if odd is not None:
            path, key = odd
            raise ConfigError(f"{self.where(path)}: the key {key!r} must be text (quote it)")
        best = schema_error(self.data, schema)
        if best is not None:
            raise ConfigError(f"{self.where(best.absolute_path)}: {_explain(best)}")


def schema_error(data: Any, schema: dict) -> jsonschema.ValidationError | None:
    """The best-placed violation of `schema` (draft 2020-12), or None when `data` is valid."""
    validator = _validator(schema)
    if validator.is_valid(data):
        return None
    return jsonschema.exceptions.best_match(validator.iter_errors(data))


_VALIDATORS: dict[int, tuple[dict, jsonschema.Draft202012Validator]] = {}


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    """One validator per schema object (kept alive here, so its id stays its own): a fresh one
    re-resolves every $ref, which dominated reading a fleet's journal."""
    kept = _VALIDATORS.get(id(schema))
    if kept is None or kept[0] is not schema:
        if len(_VALIDATORS) >= 256:  # schemas built on the fly (a parameter's) are not kept
            _VALIDATORS.clear()
        kept = _VALIDATORS[id(schema)] = (schema, jsonschema.Draft202012Validator(schema))
    return kept[1]


def json_path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top)"


def _non_text_key(data: Any, path: list) -> tuple[list, Any] | None:
    """(where, key) of the first mapping key that is not a string, or None."""
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                return path, key
            found = _non_text_key(value, path + [key])
            if found:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _non_text_key(value, path + [index])
            if found:
                return found
    return None


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
        step = _stand_in(step) or step
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


# Characters of a value from the file that a message may quote: a file that is no YAML of the
# expected kind (a private key, /etc/shadow, named by mistake or by `extends:`) is never
# printed back into a terminal or a CI log, only described.
MAX_QUOTED = 40


def _stand_in(value: Any) -> str | None:
    """What a message shows instead of `value` when it is too long to quote (None: quote it)."""
    shown = repr(value)
    if len(shown) <= MAX_QUOTED and shown.isprintable():
        return None
    return f"<{type(value).__name__} of {len(shown)} characters, not quoted>"


def quoted(value: Any) -> str:
    """`value` as a message may show it: its repr, or a stand-in when that is too long."""
    return _stand_in(value) or repr(value)


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, with the values it quotes from the file replaced when long."""
    message = error.message
    extras = list(error.instance) if error.validator == "additionalProperties" and \
        isinstance(error.instance, dict) else []
    for value in [error.instance, *extras]:
        stand_in = _stand_in(value)
        if stand_in:
            message = message.replace(repr(value), stand_in)
    return message


def _explain(error: jsonschema.ValidationError) -> str:
    message = _message(error)
    if error.validator == "additionalProperties":
        return f"{message} (allowed: {', '.join(sorted(error.schema.get('properties', {})))})"
    if error.validator in ("oneOf", "anyOf") and error.context:
        reasons = sorted({_message(c) for c in error.context})
        return f"{message}; expected one of the alternatives: {'; '.join(reasons)}"
    return f"expected {error.validator} {error.validator_value!r}: {message}" \
        if error.validator in ("pattern", "enum", "const") else message


# Bounds for files other people write (attestations, waivers, inventories): an alias bomb
# expands a few hundred bytes into billions of nodes, deep nesting overflows the stack.
MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 200_000  # counted with every alias expanded, as a reader of the data sees them
MAX_NUMBER_CHARS = 4300
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than MAX_YAML_DEPTH before recursing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_YAML_DEPTH} levels",
                                           problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(node count, depth) of the graph with aliases expanded, computed once per shared node
    (iteratively, so neither the count nor the stack grows with the expansion). An alias inside
    its own anchor (`&a [*a]`) is a cycle: refused, since no expansion of it is finite."""
    done: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in done:
            continue
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) \
            else list(node.value) if isinstance(node, yaml.SequenceNode) else []
        if not children_done:
            if id(node) in open_nodes:
                raise yaml.MarkedYAMLError(problem="an alias refers to its own anchor (a cycle)",
                                           problem_mark=node.start_mark)
            _check_scalar(node)
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in done)
            continue
        open_nodes.discard(id(node))
        sizes = [done[id(k)] for k in kids]
        done[id(node)] = (min(1 + sum(s for s, _ in sizes), MAX_YAML_NODES + 1),
                          1 + max((d for _, d in sizes), default=0))
    return done[id(root)]


def _check_scalar(node: yaml.Node) -> None:
    """A number longer than Python converts by default (4300 digits) is refused before it is
    built: a long sexagesimal (`1:0:0:...`) costs quadratic time to construct."""
    if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
        raise yaml.MarkedYAMLError(problem=f"a number longer than {MAX_NUMBER_CHARS} characters",
                                   problem_mark=node.start_mark)


def read_text_capped(path: Path) -> str:
    """A text file other people wrote (YAML, inventory, target list), read within the byte
    cap: a huge file or /dev/zero is refused, bytes that are not UTF-8 are a ConfigError."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL in the path
        raise ConfigError(f"{path}: cannot read: not a valid file name") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB: refused")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def load_yaml(path: Path) -> YamlDoc:
    """Parse a YAML file within the bounds above; a syntax error, a value YAML cannot build (a
    13th month) or an excess becomes a ConfigError naming the file (and line where there is
    one)."""
    text = read_text_capped(path)
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader refuses control characters right here
        root = loader.get_single_node()
        if root is not None:
            nodes, depth = _expanded_size(root)
            if nodes > MAX_YAML_NODES or depth > MAX_YAML_DEPTH:
                raise ConfigError(f"{path}: aliases expand to more than {MAX_YAML_NODES} nodes "
                                  f"or {MAX_YAML_DEPTH} levels: refused (YAML alias bomb?)")
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: malformed YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: malformed YAML: character "
                          f"U+{exc.character:04X} is not allowed in YAML") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    except (ValueError, OverflowError, IndexError, KeyError, AttributeError, TypeError) as exc:
        # PyYAML's constructors trust their input: a timestamp 2024-13-45 (ValueError), an
        # explicit tag on a value not of its form (`!!int ''`, `!!bool maybe`, `!!timestamp x`)
        raise ConfigError(f"{path}: malformed YAML: a value cannot be built "
                          f"({type(exc).__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDoc(path, data, root)


def load_json_schema(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
