"""One help layout for every command: prose wrapped to the terminal, lists kept as lists.

argparse either re-flows every description and epilog into one paragraph (losing the exit-code
lists) or prints them raw (lines past 80 columns). This formatter re-wraps each paragraph and
each list item on its own, continuation lines under the item's text:

    exit codes:
      4  interrupted: the reports cover the finished targets only and say complete: false;
         finish with the same command and --resume DIR
"""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Iterator

_ITEM = re.compile(r"( *)(\S+ {2,})")  # "  4  text": a list item, its text after the key


def _logical_lines(text: str) -> Iterator[tuple[str, int, str]]:
    """(first-line prefix, hanging indent, words) for each paragraph or list item; a blank
    line is ("", 0, "")."""
    prefix, hang, words = "", 0, []
    for line in text.splitlines():
        lead = len(line) - len(line.lstrip())
        if words and line.strip() and lead == hang:  # the item or paragraph goes on
            words.append(line.strip())
            continue
        if words:
            yield prefix, hang, " ".join(words)
            words = []
        if not line.strip():
            yield "", 0, ""
            continue
        item = _ITEM.match(line)
        prefix = item.group(0) if item and lead else " " * lead
        hang = len(prefix)
        words = [line[hang:].strip()]
    if words:
        yield prefix, hang, " ".join(words)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for prefix, hang, words in _logical_lines(text):
            out.append(textwrap.fill(words, width, initial_indent=indent + prefix,
                                     subsequent_indent=indent + " " * hang,
                                     break_long_words=False, break_on_hyphens=False)
                       if words else "")
        return "\n".join(out)


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand parser under it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from parsers(child)


def apply_help_format(parser: argparse.ArgumentParser) -> None:
    """Every command of `parser` formats its help with HelpFormatter."""
    for each in parsers(parser):
        each.formatter_class = HelpFormatter
