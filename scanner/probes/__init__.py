"""Probes: one module per kind of observation, all behind `Probe.run(target, request)`."""

from scanner.probes.base import Probe, ProbeRequest, probe_registry

__all__ = ["Probe", "ProbeRequest", "probe_registry"]
