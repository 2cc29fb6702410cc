"""Plug-in discovery: checks, host collectors and reporters are the modules of their package."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType


@functools.cache
def submodules(package_name: str) -> tuple[ModuleType, ...]:
    """Every module of a package, imported once (importing a check or collector registers it)."""
    package = importlib.import_module(package_name)
    return tuple(importlib.import_module(f"{package_name}.{info.name}")
                 for info in pkgutil.iter_modules(package.__path__))
