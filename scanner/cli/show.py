"""Values and parameter types as a reader writes them: YAML flow text, never Python reprs.

A default of `None` reads `null`, `True` reads `true`, `{'file': 'x'}` reads `{file: x}`: what a
profile author types in YAML. Every string is escaped for the terminal (server- and file-supplied
text may carry control characters), so the result is safe to print with markup off; wrap it in
`rich.markup.escape` when markup is on. A control's head line and each parameter's type and
default read the same in `controls list` and `controls show`.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from rich.table import Table
from rich.text import Text

from scanner.catalog.controls import Control, Parameter
from scanner.reporters.terminal import labelled, printable


def value_text(value: Any) -> str:
    """`value` as one line of YAML flow text (a string is quoted only when YAML needs it)."""
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True,
                              sort_keys=False)
    except yaml.YAMLError:  # not plain data (a date, an object): its own text
        text = str(value)
    text = text.strip()
    if text.endswith("\n..."):  # the end-of-document mark YAML adds after a lone scalar
        text = text[:-4].rstrip()
    return printable(text)


def plain_text(value: Any) -> str:
    """A string as it is (descriptive text, not something to type into YAML), else YAML."""
    return printable(value) if isinstance(value, str) else value_text(value)


def schema_text(schema: dict) -> str:
    """A JSON schema in words: `integer >= 1`, `number or null`, `one of '1.0', '1.1'`,
    `list of integer from 1 to 65535`, `mapping (port, service)`."""
    if "enum" in schema:
        return "one of " + ", ".join(value_text(v) for v in schema["enum"])
    types = schema.get("type", "any value")
    types = types if isinstance(types, list) else [types]
    words = [_type_text(t, schema) for t in types if t != "null"] or ["null"]
    if "null" in types and words != ["null"]:
        words.append("null")
    return " or ".join(words)


def _type_text(kind: str, schema: dict) -> str:
    if kind == "array":
        items = schema.get("items")
        return f"list of {_item_text(items)}" if items else "list"
    if kind == "object":
        names = list(schema.get("properties", {}))
        return f"mapping ({', '.join(names)})" if names else "mapping"
    if "minimum" in schema and "maximum" in schema:
        return f"{kind} from {value_text(schema['minimum'])} to {value_text(schema['maximum'])}"
    bounds = [f"{sign} {value_text(schema[key])}" for key, sign in
              (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
               ("exclusiveMaximum", "<")) if key in schema]
    return " ".join([kind, ", ".join(bounds)]) if bounds else kind


def _item_text(items: dict) -> str:
    text = schema_text(items)
    return f"({text})" if " or " in text or text.startswith("one of") else text


def control_head(control: Control) -> Table:
    """The control's id, then its kind, probe or collector, and severity (list and show)."""
    how = [control.kind] + [f"{word} {printable(name)}" for word, name in
                            (("probe", control.probe), ("collector", control.collector)) if name]
    return labelled([(Text(printable(control.id), style="bold"),
                      Text(", ".join(how + [f"severity {control.severity}"])))])


def parameter_text(param: Parameter) -> Text:
    """A parameter's type (from its schema) and, below, its default as YAML."""
    return Text.assemble(printable(schema_text(param.schema)), "\n",
                         ("default: ", "dim"), value_text(param.default))
