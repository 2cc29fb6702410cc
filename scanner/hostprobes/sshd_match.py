"""sshd_config Match blocks: the lines of the config files, and for each Match block one
connection it matches, as an `sshd -T -C` spec.

Matching follows OpenSSH's match.c and servconf.c: comma-separated pattern lists with `*`, `?`
and `!` negation (a list of negations alone never matches), CIDR or wildcard address lists,
`LocalPort` as one number, `Group` through the user's groups. Every value put in a spec is
validated here, so nothing read from a config file can add a criterion or an option.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Iterator

from scanner.scope.targets import is_address

# `-C` keys; values for criteria a block does not use (TEST-NET addresses, a reserved name).
FILLER = {"user": "annexscan-other", "host": "annexscan-other.invalid", "addr": "192.0.2.1",
          "laddr": "192.0.2.2", "lport": "22"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")
_FILLS = ("", "annexscan", "a")


@dataclass
class MatchBlock:
    where: str  # file:line
    line: str  # the Match line as written
    criteria: list[tuple[str, str]] = field(default_factory=list)  # (criterion lowercased, list)


def config_lines(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, keyword lowercased, arguments) of each directive, as sshd splits them."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if not words:
            continue
        keyword, _, rest = words[0].partition("=")
        yield number, keyword.lower(), ([rest] if rest else []) + words[1:]


def parse_match(where: str, args: list[str]) -> MatchBlock | str:
    """The block of a `Match` line, or why it cannot be evaluated."""
    words = [w for arg in args for w in (arg.split("=", 1) if "=" in arg else [arg]) if w]
    block = MatchBlock(where, "Match " + " ".join(args))
    if [w.lower() for w in words] == ["all"]:
        return block
    if len(words) % 2:
        return f"{where}: {block.line}: criterion without a value"
    for name, value in zip(words[::2], words[1::2]):
        if name.lower() not in MATCHERS:
            return f"{where}: {block.line}: criterion {name} is not evaluated by annexscan"
        block.criteria.append((name.lower(), value))
    return block


def pattern(text: str, pat: str) -> bool:
    """OpenSSH match_pattern: `*` any run, `?` one character, everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat)
    return re.fullmatch(regex, text, re.S) is not None


def pattern_list(text: str, patterns: str, lower: bool = False) -> int:
    """1 positive match, -1 a negated pattern matched, 0 no match (match_pattern_list)."""
    text = text.lower() if lower else text
    found = 0
    for pat in patterns.split(","):
        negated = pat.startswith("!")
        pat = pat[1:] if negated else pat
        if pattern(text, pat.lower() if lower else pat):
            if negated:
                return -1
            found = 1
    return found


def address_list(addr: str, patterns: str) -> int:
    """addr_match_list: entries are CIDR networks or wildcard patterns, `!` negates."""
    found = 0
    ip = ipaddress.ip_address(addr)
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        entry = entry[1:] if negated else entry
        if "/" in entry:
            try:
                hit = ip in ipaddress.ip_network(entry, strict=False)
            except ValueError:
                return 0  # sshd rejects the whole list
        else:
            hit = pattern(addr, entry)
        if hit:
            if negated:
                return -1
            found = 1
    return found


def _fills(pat: str) -> Iterator[str]:
    for fill in _FILLS:
        yield pat.replace("*", fill).replace("?", "a")


def _address_candidates(patterns: str) -> Iterator[str]:
    for entry in patterns.split(","):
        if entry.startswith("!"):
            continue
        if "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            yield str(net.network_address + (1 if net.num_addresses > 2 else 0))
        else:
            for fill in ("1", "1.1", "1.1.1", "1::1"):
                yield entry.replace("*", fill).replace("?", "1")


def _candidates(patterns: str, valid: re.Pattern[str], lower: bool) -> list[str]:
    return [c for p in patterns.split(",") if not p.startswith("!") for c in _fills(p)
            if valid.match(c) and pattern_list(c, patterns, lower) == 1]


MATCHERS = {"user": "user", "group": "user", "host": "host", "address": "addr",
            "localaddress": "laddr", "localport": "lport", "rdomain": "rdomain"}


def connection_for(block: MatchBlock, groups_of: dict[str, list[str]] | None,
                   lport: str) -> dict[str, str] | str | None:
    """A `-C` connection the block matches (criteria it does not use get FILLER values), why
    none can be built, or None when no connection can ever match (a list of negations only).
    `groups_of` is user -> groups on the host, None if unknown."""
    spec = {**FILLER, "lport": lport}
    users: list[str] | None = None
    if any(name != "localport" and all(p.startswith("!") for p in patterns.split(","))
           for name, patterns in block.criteria):
        return None
    for name, patterns in block.criteria:
        if name == "user":
            users = [u for u in (users if users is not None else _candidates(
                patterns, _NAME, False)) if pattern_list(u, patterns) == 1]
        elif name == "group":
            if groups_of is None:
                return f"{block.line}: the host's groups are unknown (Match Group needs them)"
            members = [u for u, groups in sorted(groups_of.items()) if _NAME.match(u)
                       and any(pattern_list(g, patterns) == 1 for g in groups)
                       and not any(pattern_list(g, patterns) == -1 for g in groups)]
            users = [u for u in (users if users is not None else members) if u in members]
        elif name == "host":
            found = _candidates(patterns, _HOST, True)
            if not found:
                return f"{block.line}: no host name matches {patterns}"
            spec["host"] = found[0]
        elif name in ("address", "localaddress"):
            found = [a for a in _address_candidates(patterns)
                     if is_address(a) and address_list(a, patterns) == 1]
            if not found:
                return f"{block.line}: no address matches {patterns}"
            spec[MATCHERS[name]] = found[0]
        elif name == "localport":
            if not patterns.isdigit() or not 0 < int(patterns) < 65536:
                return f"{block.line}: LocalPort {patterns} is not a port number"
            spec["lport"] = str(int(patterns))
        else:  # rdomain
            found = _candidates(patterns, _NAME, False)
            if not found:
                return f"{block.line}: no routing domain name matches {patterns}"
            spec["rdomain"] = found[0]
    if users is not None:
        if not users:
            return f"{block.line}: no user name (or group member on the host) matches"
        spec["user"] = users[0]
    return spec


def spec_text(spec: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in spec.items())
