"""Where the built-in data lives: the repo checkout, or the installed resource packages."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
_PACKAGES = {"controls": "annexscan_controls", "profiles": "annexscan_profiles",
             "reports/schema": "annexscan_report_schema"}


def data_dir(name: str) -> Path:
    """Directory of built-in `controls`, `profiles` or `reports/schema` files."""
    local = _REPO / name
    if local.is_dir():
        return local
    return Path(str(resources.files(_PACKAGES[name])))


def controls_dir() -> Path:
    return data_dir("controls")


def profiles_dir() -> Path:
    return data_dir("profiles")


def report_schema_path() -> Path:
    return data_dir("reports/schema") / "report.schema.json"
