"""Hypothesis settings and hostile-text strategies shared by the tests/test_fuzz_*.py files.

CI runs the "ci" profile: derandomized (the same examples every run, so a red CI is a real
regression, not a lucky draw), no example database written into the work tree, and few enough
examples to keep the three fuzz files under a minute. A longer fuzz run, with fresh random
examples each time and failures saved under .hypothesis/ for replay:

    ANNEXSCAN_FUZZ=long .venv/bin/python -m scanner.netns -- \\
        .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz_*.py
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import time
from typing import Callable, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from scanner.errors import ConfigError

T = TypeVar("T")

settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=100, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("ANNEXSCAN_FUZZ", "ci"))

# Generous: every example takes milliseconds; this catches hangs and quadratic blow-ups only
# (2 shared cores). Asserted by `outcome`, not Hypothesis' deadline, which fails on slow replays.
SECONDS_PER_EXAMPLE = 10.0

# Pieces that break naive parsers: option dashes, whitespace and control characters, NUL,
# zone ids, CIDR and URL syntax, file references, quotes, escapes, non-ASCII digits and dots.
HOSTILE_PIECES = [
    "-", "--", "-oN", " -oN x", "-iL", "%", "%lo", "%25", "%eth0", "%-oN", "::", "::1", "fe80::1",
    "127.0.0.1", "10.0.0.0/30", "/", "/64", "@", "@/etc/shadow", "local", "http://", "https://",
    "[", "]", ":", ":22", ".", "..", "#", "=", "'", '"', "\\", "$(id)", "`id`", ";", "|", "&",
    " ", "\t", "\n", "\r", "\x00", "\x0b", "\x1b[31m", "\x7f", "\u00a0", "\u2028", "\u0660",
    "\uff0e", "\u0130", "xn--", "a" * 64, "9" * 70, "web1", "example.org", "*", "~", ",",
]

hostile_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(HOSTILE_PIECES), max_size=8).map("".join),
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=4)),
             max_size=6).map("".join),
)


# The target rule, written here independently of scanner/scope/targets.py: a loosened regex there fails.
LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
ZONE = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")  # an interface name


def is_hostname(text: str) -> bool:
    """Labels of letters, digits and inner dashes, at most 253 characters, one final dot
    allowed; all-numeric names are refused (nmap and resolvers would read them as addresses)."""
    labels = (text[:-1] if text.endswith(".") else text).split(".")
    return 0 < len(text) <= 253 and all(LABEL.match(label) for label in labels) \
        and not all(label.isdigit() for label in labels)


def is_ip(text: str) -> bool:
    """An IP address whose zone id, if any, is an interface name."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    zone = getattr(address, "scope_id", None)
    return zone is None or bool(ZONE.match(zone))


def is_canonical_ip(text: str) -> bool:
    return is_ip(text) and str(ipaddress.ip_address(text)) == text


def assert_safe(value: str) -> None:
    """Never an option nor more than one argument, whatever splits it (python-nmap uses shlex)."""
    assert not value.startswith(("-", "@")), value
    assert value.isprintable() and not any(c.isspace() for c in value), repr(value)
    assert shlex.split(value) == [value], repr(value)


def outcome(call: Callable[[], T], what: str) -> T | ConfigError:
    """What `call` returns, or the ConfigError it raises (the project's clean input error),
    within SECONDS_PER_EXAMPLE. Any other exception propagates: a traceback fails the test."""
    start = time.monotonic()
    try:
        result: T | ConfigError = call()
    except ConfigError as exc:
        result = exc
    took = time.monotonic() - start
    assert took < SECONDS_PER_EXAMPLE, f"{what} took {took:.1f} s"
    return result
