"""Remediation: what to change when a control fails, rendered with the profile's parameters.

A control's `remediation` section (controls/*.yaml) holds Jinja2 templates: a short `text` and
configuration `snippets` for the common implementations. They render in a sandbox, strictly (a
name that is not a parameter or a helper below is an error), with the control's effective
parameters, so a profile's ports or TLS minimum show rather than the catalog default. The
output is plain text: every report escapes it like any other text.
"""

from __future__ import annotations

import math
import re
import shlex
from functools import lru_cache
from typing import Any, Protocol

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from scanner.errors import ConfigError

TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


class Remediable(Protocol):
    """What rendering needs of a catalog Control (kept structural: the catalog imports us)."""
    id: str
    remediation: dict[str, Any] | None

    def defaults(self) -> dict[str, Any]: ...


class RemediationError(ConfigError):
    """A template that does not parse or render; `part` is its place in the section
    (["text"], ["snippets", 1, "text"])."""

    def __init__(self, control_id: str, part: list[Any], message: str) -> None:
        named = ".".join(str(step) for step in part)
        super().__init__(f"control {control_id}: remediation.{named}: {message}")
        self.part, self.detail = part, message


def tls_protocols(minimum: str) -> list[str]:
    """OpenSSL protocol names (nginx, Apache) from `minimum` up: "1.2" -> TLSv1.2 TLSv1.3."""
    return ["TLSv1" if v == "1.0" else f"TLSv{v}"
            for v in TLS_VERSIONS[TLS_VERSIONS.index(minimum):]]


def comma(values: Any) -> str:
    """A list as "22, 80, 443"."""
    return ", ".join(str(v) for v in values)


def ceil_div(value: float, by: float) -> int:
    return math.ceil(value / by)


def schedule_days(schedule: list[dict[str, Any]] | None, at_least: int | None = None
                  ) -> int | None:
    """Days a backup series must reach back, the bound for pruning: its steps' days, and at
    least `at_least`. None when nothing bounds it (a last step without days runs back to the
    oldest backup kept, so pruning could only break it)."""
    if schedule and schedule[-1]["days"] is None:
        return at_least
    return max(sum(step["days"] for step in schedule or []), at_least or 0) or None


def every(days: int) -> str:
    """A backup step's rhythm in words: daily, weekly, every 3 days."""
    return {1: "daily", 7: "weekly"}.get(days, f"every {days} days")


# IANA cipher suite name components -> the OpenSSL cipher-string aliases that exclude them
_OPENSSL_ALIASES = {"NULL": "eNULL", "anon": "aNULL", "EXPORT": "EXP", "EXPORT40": "EXP",
                    "EXPORT1024": "EXP", "DES40": "EXP", "RC4": "RC4", "RC2": "RC2",
                    "DES": "DES", "3DES": "3DES", "IDEA": "IDEA", "MD5": "MD5"}


def openssl_ciphers(forbidden: list[str] | None, forward_secrecy: bool | None) -> str:
    """An OpenSSL cipher string (nginx, Apache, HAProxy): AEAD suites with ECDHE/DHE when
    forward secrecy is required, else HIGH; the forbidden components excluded."""
    base = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20" if forward_secrecy else "HIGH"
    excluded = dict.fromkeys(["aNULL", "eNULL"] + [_OPENSSL_ALIASES[c] for c in forbidden or []
                                                    if c in _OPENSSL_ALIASES])
    return ":".join([base, *(f"!{alias}" for alias in excluded)])


_HELPERS = {"tls_protocols": tls_protocols, "comma": comma, "ceil_div": ceil_div,
            "schedule_days": schedule_days, "every": every, "openssl_ciphers": openssl_ciphers,
            "quote": shlex.quote}
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                            trim_blocks=True, lstrip_blocks=True)
_ENV.globals.update(_HELPERS)
_ENV.filters.update({"comma": comma, "quote": shlex.quote})


@lru_cache(maxsize=512)
def _template(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=512)
def _names(source: str) -> frozenset[str]:
    """The names a template reads that it does not set itself."""
    return frozenset(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))


def _render(control: Remediable, part: list[Any], source: str, context: dict[str, Any]) -> str:
    try:
        return _template(source).render(context)
    except jinja2.TemplateError as exc:  # syntax, an undefined name, a sandbox refusal
        raise RemediationError(control.id, part, f"{type(exc).__name__}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RemediationError(control.id, part, f"{type(exc).__name__}: {exc}") from None


def render_remediation(control: Remediable, params: dict[str, Any]) -> dict[str, Any] | None:
    """{text, snippets: [{implementation, language, text}]} for `control` with the effective
    `params` (its defaults under them), or None when it has no remediation. A snippet that
    renders empty (a rule its parameters switch off) is left out."""
    section = control.remediation
    if section is None:
        return None
    context = {**control.defaults(), **params}
    text = " ".join(_render(control, ["text"], section["text"], context).split())
    snippets = []
    for index, snippet in enumerate(section.get("snippets", [])):
        body = _render(control, ["snippets", index, "text"], snippet["text"], context)
        body = "\n".join(line.rstrip() for line in body.strip("\n").splitlines())
        if body.strip():
            snippets.append({"implementation": snippet["implementation"],
                             "language": snippet["language"], "text": body + "\n"})
    return {"text": text, "snippets": snippets}


def first_sentence(text: str) -> str:
    """A remediation text up to its first full stop before a capital: its one-line form."""
    end = re.search(r"[.!?](?=\s+[A-Z])", text)
    return text[:end.end()] if end else text


def check_templates(control: Remediable) -> None:
    """Raise RemediationError when a template names anything but a parameter or a helper
    (in any branch, not only those the defaults take), or fails with the defaults."""
    section = control.remediation
    if section is None:
        return
    known = set(control.defaults()) | set(_ENV.globals)
    parts = [(["text"], section["text"])] + [(["snippets", i, "text"], s["text"])
                                             for i, s in enumerate(section.get("snippets", []))]
    for part, source in parts:
        try:
            names = _names(source)
        except jinja2.TemplateSyntaxError as exc:
            raise RemediationError(control.id, part, f"line {exc.lineno}: {exc.message}") \
                from None
        unknown = sorted(names - known)
        if unknown:
            raise RemediationError(control.id, part,
                                   f"unknown name(s) {', '.join(unknown)} (parameters: "
                                   f"{', '.join(sorted(control.defaults())) or 'none'})")
    render_remediation(control, {})


def check_remediation(control: Remediable, params: dict[str, Any], profile_id: str) -> None:
    """Render once with a profile's parameters, before any probe: a value a template cannot
    take (an empty list it indexes) is a configuration error naming the profile."""
    try:
        render_remediation(control, params)
    except RemediationError as exc:
        raise RemediationError(control.id, exc.part,
                               f"{exc.detail} (parameters of profile {profile_id})") from None
