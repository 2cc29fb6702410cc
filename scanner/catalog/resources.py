"""Where the built-in data lives: the repo checkout, or the installed resource packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
_PACKAGES = {"controls": "annexscan_controls", "profiles": "annexscan_profiles",
             "reports/schema": "annexscan_report_schema"}


def data_dir(name: str) -> Path:
    """Directory of built-in `controls`, `profiles` or `reports/schema` files."""
    local = _REPO / name
    if local.is_dir():
        return local
    # Installed: the data directories are namespace packages (no __init__.py among the YAML).
    spec = importlib.util.find_spec(_PACKAGES[name])
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"annexscan data '{name}' is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def controls_dir() -> Path:
    return data_dir("controls")


def profiles_dir() -> Path:
    return data_dir("profiles")


def report_schema_path() -> Path:
    return data_dir("reports/schema") / "report.schema.json"
