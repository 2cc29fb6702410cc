"""Probes: one module per kind of observation, all behind `Probe.run(target, request)`;
scanner.probes.registry lists them."""

from scanner.probes.base import Probe, ProbeRequest

__all__ = ["Probe", "ProbeRequest"]
