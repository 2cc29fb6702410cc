"""Open TCP ports, by nmap (connect scan unprivileged, SYN scan as root), and open UDP ports
when a control asks for them (UDP scan, root only)."""

from __future__ import annotations

import os
import re
import shutil
from xml.etree import ElementTree

import nmap

from scanner.errors import ConfigError
from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, timed
from scanner.scope.targets import Target, canonical_address

_PORT_SPEC = re.compile(r"[TU]?:?[0-9][0-9,-]*(,[TU]:[0-9][0-9,-]*)*\Z")  # \Z: no final newline


def require_nmap() -> str:
    """Path of the nmap binary, or a ConfigError telling how to install it."""
    path = shutil.which("nmap")
    if not path:
        raise ConfigError("nmap not found in PATH: the port probe needs it "
                          "(Debian/Ubuntu: apt-get install nmap)")
    return path


def nmap_arguments(request: ProbeRequest, ipv6: bool = False, udp: bool = False) -> str:
    scan_type = "-sS" if os.geteuid() == 0 else "-sT"
    rtt_ms = max(100, int(request.timeout * 1000))
    # -n: never resolve names; -Pn: a host that drops pings is still scanned.
    return (f"-n -Pn {scan_type}{' -sU' if udp else ''} -T4 --max-retries 2 "
            f"--max-rtt-timeout {rtt_ms}ms --host-timeout {request.nmap_host_timeout_s}s"
            + (" -6" if ipv6 else ""))


def udp_unavailable(request: ProbeRequest) -> str | None:
    """Why the UDP part is not scanned (None: it is)."""
    if not request.udp_port_spec:
        return "no control asks for UDP"
    if os.geteuid() != 0:
        return "a UDP scan needs root (nmap -sU)"
    return None


class PortsProbe:
    name = "ports"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        return timed(self.name, target, lambda result: self._scan(target, request, result))

    def _scan(self, target: Target, request: ProbeRequest, result: ProbeResult) -> None:
        require_nmap()
        scanner = nmap.PortScanner()
        no_udp = udp_unavailable(request)
        arguments = nmap_arguments(request, ipv6=":" in target.address, udp=not no_udp)
        ports = request.port_spec if no_udp else f"T:{request.port_spec},U:{request.udp_port_spec}"
        _refuse_options(target.address, ports)
        raw = scanner.scan(hosts=target.address, ports=ports, arguments=arguments,
                           timeout=request.nmap_host_timeout_s + 30)
        result.evidence["nmap_command"] = scanner.command_line()
        xml = scanner.get_nmap_last_output()  # bytes after scan() (str before any scan)
        result.evidence["nmap_xml"] = xml.decode("utf-8", "replace") if isinstance(xml, bytes) \
            else xml
        info = raw.get("nmap", {}).get("scaninfo", {})
        if info.get("error"):
            result.error = f"nmap: {' '.join(info['error']).strip()}"
            return
        if target.address not in scanner.all_hosts():
            result.error = "nmap returned no result for the host (host timeout or unreachable)"
            return
        host = scanner[target.address]
        if host.state() != "up":
            result.error = f"nmap reports the host {host.state()}"
            return
        tcp = host.get("tcp", {})
        result.data["open_ports"] = sorted(p for p, d in tcp.items() if d["state"] == "open")
        result.data["filtered_ports"] = sorted(p for p, d in tcp.items() if "filtered" in d["state"])
        result.data["scanned"] = request.port_spec
        result.data["scan_type"] = arguments.split()[2]
        udp = host.get("udp", {})
        result.data["udp"] = {"error": no_udp} if no_udp else {
            "scanned": request.udp_port_spec,
            "open": sorted(p for p, d in udp.items() if d["state"] == "open"),
            # no answer at all: open with a silent service, or a firewall dropping the probe
            "open_filtered": sorted(p for p, d in udp.items() if d["state"] == "open|filtered")}
        if not result.data["open_ports"] and not _answered(result.evidence["nmap_xml"]):
            # -Pn takes the host as up: with no port open or closed, nothing was learnt.
            result.error = "no port answered (all filtered or timed out): open ports unknown"


def _refuse_options(address: str, ports: str) -> None:
    """python-nmap splits the hosts string into arguments: only a canonical address (no space,
    no quote, no leading dash) and a plain port list may reach it, whatever the caller did."""
    try:
        canonical = canonical_address(address)
    except ValueError:
        canonical = None
    if canonical != address:
        raise ValueError("refusing to pass a non-canonical address to nmap")
    if not _PORT_SPEC.match(ports):
        raise ValueError("refusing to pass a malformed port list to nmap")


def _answered(nmap_xml: str) -> bool:
    """True when nmap saw at least one port answer (open or closed)."""
    root = ElementTree.fromstring(nmap_xml)
    states = [p.get("state") for p in root.iter("state")]
    extra = [e.get("state") for e in root.iter("extraports")]
    return any(s in ("open", "closed") for s in states + extra)

