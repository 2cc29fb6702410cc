"""Checks: turn probe observations into a verdict per control. No network access here."""

from scanner.checks.base import evaluate, check_registry

__all__ = ["evaluate", "check_registry"]
