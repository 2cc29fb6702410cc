"""Writing a JSON document whose big arrays are produced while it is written.

`dump(document, out)` writes exactly what `json.dumps(document, indent=2, ensure_ascii=False,
default=str)` would, except that an `Items` anywhere in it is an array whose items are taken
from an iterable one at a time (a report over a thousand targets never holds them all), and a
`Compact` value is written on one line.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, TextIO


class Items:
    """An array written item by item (each item may itself hold Items)."""

    def __init__(self, items: Iterable[Any]):
        self.items = items


class Compact:
    """A value written on one line, without spaces (an array item read by programs, not
    people: a target of a fleet's report)."""

    def __init__(self, value: Any):
        self.value = value


def _streams(value: Any) -> bool:
    if isinstance(value, Items):
        return True
    if isinstance(value, dict):
        return any(_streams(v) for v in value.values())
    if isinstance(value, list):
        return any(_streams(v) for v in value)
    return False


def dump(value: Any, out: TextIO, level: int = 0) -> None:
    """Write value as indented JSON at nesting `level` (the caller has written the indent)."""
    if isinstance(value, Compact):
        out.write(json.dumps(value.value, ensure_ascii=False, separators=(",", ":"), default=str))
        return
    if not _streams(value):
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        out.write(text.replace("\n", "\n" + "  " * level) if level else text)
        return
    inner = "\n" + "  " * (level + 1)
    if isinstance(value, dict):
        out.write("{")
        for i, (key, item) in enumerate(value.items()):
            out.write(("," if i else "") + inner + json.dumps(str(key), ensure_ascii=False)
                      + ": ")
            dump(item, out, level + 1)
        out.write("\n" + "  " * level + "}")
        return
    out.write("[")
    empty = True
    for item in (value.items if isinstance(value, Items) else value):
        out.write(("" if empty else ",") + inner)
        dump(item, out, level + 1)
        empty = False
    out.write("]" if empty else "\n" + "  " * level + "]")
