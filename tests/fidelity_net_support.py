"""Targets of the clause-fidelity suite's network half: boxes (what runs on one loopback address),
started together as a fleet, each scanned once by the real engine with the real profiles.

A box is data: a host of the standard lab as it is, or servers of its own on an address of
127.0.0.140-159 (nginx, sshd and raw listeners through scanner.lab; STARTTLS/TLS, UDP and ICMP
servers of this process).
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from net_support import Responder, UdpService
from scanner.catalog.controls import Catalog
from scanner.checks.base import Observations
from scanner.engine import ScanJob, ScanOptions, judge_control, plan_scan, probe_target
from scanner.lab import HOSTS, Lab
from scanner.lab.certs import LabCA
from scanner.lab.hosts import CertKind, HostSpec, Listener, Web
from scanner.lab.starttls import StarttlsServer, server_context
from scanner.model import ControlResult
from scanner.catalog.profiles import ControlRef, Profile
from scanner.scope.targets import Target

ADDRESSES = [f"127.0.0.{i}" for i in range(140, 160)]
IGNORE_ALL = Path("/proc/sys/net/ipv4/icmp_echo_ignore_all")
TIMEOUT = 2.0  # seconds, every network operation of a scan


@dataclass(frozen=True)
class Service:
    """A server of this process (scanner.lab.starttls): `tls` is "none" (clear text only),
    "starttls" (offered) or "implicit" (TLS from the first byte)."""
    protocol: str
    port: int
    tls: str = "none"
    client_renegotiation: bool = False


@dataclass(frozen=True)
class Box:
    """What runs on one address. `lab`: that host of scanner.lab.hosts.HOSTS, nothing else.
    `ping`: answer ICMP echo after that many seconds; while any box of a fleet sets it, the
    kernel answers no ping, so a box without it is deaf to pings."""
    name: str
    lab: str | None = None
    cert: CertKind | None = None
    web: tuple[Web, ...] = ()
    ssh: tuple[tuple[str, str], ...] | None = None
    listeners: tuple[Listener, ...] = ()
    services: tuple[Service, ...] = ()
    udp: tuple[int, ...] = ()
    ping: float | None = None

    def spec(self, address: str) -> HostSpec | None:
        """The scanner.lab part (nginx, sshd, listeners), None when there is none."""
        if not (self.web or self.ssh is not None or self.listeners):
            return None
        return HostSpec(self.name, address, f"fidelity case box {self.name}", cert=self.cert,
                        web=self.web, ssh=dict(self.ssh) if self.ssh is not None else None,
                        listeners=self.listeners)


def lab_box(name: str) -> Box:
    if name not in HOSTS:
        raise ValueError(f"no lab host {name}")
    return Box(name, lab=name)


@dataclass(frozen=True)
class Site:
    """A running box: where it is and the CA its certificates chain to."""
    address: str
    ca_bundle: Path | None


@contextmanager
def fleet(boxes: set[Box], lab: Lab) -> Iterator[dict[str, Site]]:
    """Start every box (the standard lab's hosts come from `lab`, already running); yields box
    name -> site."""
    by_name: dict[str, Box] = {}
    for box in sorted(boxes, key=lambda b: b.name):
        if by_name.setdefault(box.name, box) != box:
            raise ValueError(f"two different boxes named {box.name}")
    own = [b for b in by_name.values() if b.lab is None]
    if len(own) > len(ADDRESSES):
        raise ValueError(f"{len(own)} boxes for {len(ADDRESSES)} addresses")
    address = dict(zip((b.name for b in own), ADDRESSES))
    sites = {b.name: Site(lab.hosts[b.lab].address, lab.ca_bundle)
             for b in by_name.values() if b.lab}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fidelity-net-")))
        specs = {b.name: s for b in own if (s := b.spec(address[b.name]))}
        if specs:
            lab_ca = stack.enter_context(Lab(work / "lab", hosts=list(specs.values()))).ca_bundle
        ca = LabCA(work)
        for box in own:
            tls = any(service.tls != "none" for service in box.services)
            if tls and box.cert:
                raise ValueError(f"box {box.name}: nginx and own TLS services need one CA")
            sites[box.name] = Site(address[box.name], ca.ca_bundle if tls
                                   else lab_ca if box.name in specs else None)
            _start_own(stack, box, address[box.name], ca)
        delays = {address[b.name]: b.ping for b in own if b.ping is not None}
        if delays:
            stack.enter_context(_kernel_pings_off())
            stack.enter_context(Responder(delays))
        yield sites


def _start_own(stack: ExitStack, box: Box, address: str, ca: LabCA) -> None:
    """The servers of this process on one box."""
    cert = ca.issue(box.name, address, "valid") if box.services else None
    for service in box.services:
        context = None if service.tls == "none" or cert is None else server_context(
            cert.cert, cert.key, client_renegotiation=service.client_renegotiation)
        stack.enter_context(StarttlsServer(service.protocol, address, service.port, context,
                                           implicit=service.tls == "implicit"))
    for port in box.udp:
        stack.enter_context(UdpService(address, port, answers=True))


@contextmanager
def _kernel_pings_off() -> Iterator[None]:
    before = IGNORE_ALL.read_text()
    IGNORE_ALL.write_text("1\n")
    try:
        yield
    finally:
        IGNORE_ALL.write_text(before)


@dataclass(frozen=True)
class Ask:
    """One control ref of one profile to judge on a box; `key` names it in the answer."""
    key: tuple
    profile: Profile
    ref: ControlRef


def judge_all(sites: dict[str, Site], asks: dict[str, list[Ask]], catalog: Catalog
              ) -> dict[tuple[str, tuple], ControlResult]:
    """Scan each box once, concurrently, with a plan of the real profiles asked about on it, and
    judge every ask there as the engine does. Returns (box name, ask key) -> result."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(lambda name: _judge_box(sites[name], asks[name], catalog), asks)
        return {(name, ask.key): result for name, results in zip(asks, done)
                for ask, result in results}


def _judge_box(site: Site, asks: list[Ask], catalog: Catalog
               ) -> list[tuple[Ask, ControlResult]]:
    profiles = list({ask.profile.id: ask.profile for ask in asks}.values())
    options = ScanOptions(timeout=TIMEOUT, ca_bundle=site.ca_bundle)
    plan = plan_scan(profiles, catalog, options)
    # Every probe of those profiles but latency, unless asked: with kernel pings off, a ping
    # left unanswered costs seconds per sample.
    if not any(catalog.get(ask.ref.control_id).probe == "latency" for ask in asks):
        plan.probes = [p for p in plan.probes if p != "latency"]
    job = ScanJob(Target(site.address, site.address), plan)
    observations = Observations(probe_target(job))
    return [(ask, judge_control(ask.ref, job, plan.observations_for(ask.profile, observations)))
            for ask in asks]

