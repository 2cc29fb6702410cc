"""Every probe, listed: a new kind of observation is a module of its own and a line here."""

from __future__ import annotations

from scanner.probes.base import Probe
from scanner.probes.fingerprint import FingerprintProbe
from scanner.probes.host import HostProbe
from scanner.probes.http import HttpProbe
from scanner.probes.latency import LatencyProbe
from scanner.probes.ports import PortsProbe
from scanner.probes.service import ServiceProbe
from scanner.probes.ssh import SshProbe
from scanner.probes.tls import TlsProbe

PROBES: dict[str, Probe] = {probe.name: probe for probe in (
    PortsProbe(), ServiceProbe(), FingerprintProbe(), TlsProbe(), SshProbe(), HttpProbe(),
    LatencyProbe(), HostProbe())}


def probe_registry() -> dict[str, Probe]:
    return PROBES
