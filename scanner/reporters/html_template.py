"""The HTML report's Jinja2 environment: the package's templates, overridable from a directory.

A team's `--template-dir` is searched first, then the package's templates/ (which an override
may also extend or include as "builtin/NAME"). The templates are the user's code, like a
profile; the values they render are hostile. So the environment is sandboxed (a template calls
nothing on the data, which is plain dicts and strings: html_values), autoescape is on for every
template, and every printed string has its control characters shown as visible escapes.
"""

from __future__ import annotations

import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from jinja2 import (BaseLoader, ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader,
                    StrictUndefined, TemplateNotFound, TemplateSyntaxError)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from scanner.errors import ConfigError
from scanner.reporters.terminal import printable

PAGE = "report.html.j2"
SCRIPT = "filter.js.j2"
MAX_TEMPLATE_BYTES = 1 << 20  # a user's template larger than this is refused


class _UserLoader(FileSystemLoader):
    """A team's template directory: files of at most MAX_TEMPLATE_BYTES."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        for folder in self.searchpath:
            path = Path(folder, *template.split("/"))
            if path.is_file() and path.stat().st_size > MAX_TEMPLATE_BYTES:
                raise ConfigError(f"--template-dir: {path}: larger than "
                                  f"{MAX_TEMPLATE_BYTES} bytes")
        return super().get_source(environment, template)


def _shown(value: Any) -> Any:
    """Every value a template prints: text with its control characters (ESC, bidi overrides...)
    as visible escapes; markup the templates made is left as it is."""
    if isinstance(value, str) and not value.isprintable() and not isinstance(value, Markup):
        return printable(value, keep="\n\t")  # (every character it escapes is unprintable)
    return value


class _Sandbox(SandboxedEnvironment):
    """The sandbox, reading a view dict's own keys first: `clause.status` is its key, found
    without the failed attribute lookup (the dearest step of a page) and never a dict method."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def environment(template_dir: Path | None = None) -> SandboxedEnvironment:
    """The templates, a team's directory first; raises ConfigError for a missing directory."""
    if template_dir is None:
        return _builtin_environment()
    if not template_dir.is_dir():
        raise ConfigError(f"--template-dir {template_dir}: not a directory")
    return _environment(_UserLoader(template_dir, followlinks=False))


@lru_cache(maxsize=1)
def _builtin_environment() -> SandboxedEnvironment:
    """The package's templates alone, compiled once per process."""
    return _environment()


def _environment(*first: BaseLoader) -> SandboxedEnvironment:
    builtin = PackageLoader("scanner.reporters", "templates")
    return _Sandbox(loader=ChoiceLoader([*first, builtin, PrefixLoader({"builtin": builtin})]),
                    autoescape=True, undefined=StrictUndefined, finalize=_shown,
                    trim_blocks=True, lstrip_blocks=True, auto_reload=False)


def user_templates(template_dir: Path) -> list[str]:
    """The template names (*.j2) a team's directory holds."""
    return sorted(name for name in FileSystemLoader(template_dir).list_templates()
                  if name.endswith(".j2"))


def template_error(exc: Exception, template_dir: Path | None) -> ConfigError | None:
    """A template's own error as one line naming its file and line; None for an error that
    did not come from a template (a bug of ours, raised as is)."""
    if isinstance(exc, TemplateSyntaxError):
        where = exc.filename or exc.name or "template"
        return ConfigError(f"{where}:{exc.lineno}: template syntax error: {exc.message}")
    if isinstance(exc, TemplateNotFound):
        inside = f" in {template_dir} or" if template_dir else " in"
        return ConfigError(f"template {exc.name} not found{inside} the built-in templates")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return None
    frame = frames[-1]
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return ConfigError(f"{frame.filename}:{frame.lineno}: template error: {message}")
