"""YAML for Ansible from hostile values: dumped by PyYAML, never concatenated, and any string
that came from a report marked `!unsafe`, so Ansible never evaluates Jinja inside it."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import yaml

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Unsafe(str):
    """A string Ansible must take as it is (`!unsafe`): never a template."""


class _Dumper(yaml.SafeDumper):
    pass


def _text(tag: str):
    """Multi-line text as a literal block (`|`), as a person would write a template."""
    def represent(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar(tag, str(value), style="|" if "\n" in value else None)
    return represent


_Dumper.add_representer(str, _text("tag:yaml.org,2002:str"))
_Dumper.add_representer(Unsafe, _text("!unsafe"))


def neutral(value: Any) -> Any:
    """`value` with every string in it (dict keys aside) that Ansible would template marked
    Unsafe. Only those: ansible-core 2.19 turns an `!unsafe '1.2'` into a float when a
    template reads it."""
    if isinstance(value, str):
        return Unsafe(value) if any(mark in value for mark in ("{{", "{%", "{#")) else value
    if isinstance(value, dict):
        return {key: neutral(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [neutral(item) for item in value]
    return value


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def comment(lines: list[str], width: int = 100) -> str:
    """`# ` lines, wrapped; control characters (a newline would end the comment) escaped."""
    out = []
    for line in lines:
        text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)
        out += [f"# {part}".rstrip() for part in
                textwrap.wrap(text, width - 2, subsequent_indent="    ") or [""]]
    return "\n".join(out) + "\n"
