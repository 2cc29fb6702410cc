"""Checks: turn probe observations into a verdict per control. No network access here.

A check is a function decorated with `@check(control_id)` in one of this package's modules;
scanner.checks.registry lists those modules.
"""
