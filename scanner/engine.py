"""Scan orchestration: which probes a set of profiles needs, probing every target
concurrently, and turning observations into clause verdicts."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from scanner.scope import portspec
from scanner.catalog.controls import Catalog
from scanner.catalog.remediation import check_remediation, render_remediation
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations, probe_failed
from scanner.catalog.contract import clause_result, contract_once, is_contract, unprobed
from scanner.model import (ClauseResult, ControlResult, ProbeResult, ScanResult, Status,
                           TargetResult)
from scanner.probes import Probe, ProbeRequest
from scanner.probes.budget import target_budget
from scanner.probes.registry import probe_registry
from scanner.probes.ports import require_nmap
from scanner.catalog.profiles import Clause, ControlRef, Profile
from scanner.scope.recorded import recorded_access
from scanner.scope.targets import Target
from scanner.transports.ssh import SshAccess

# Probes every network probe builds on, in order: what is open, then what each open port speaks.
FOUNDATION = ("ports", "service")
NETWORK_PROBES = ("ports", "service", "fingerprint", "tls", "ssh", "http", "latency")
PROBE_ORDER = NETWORK_PROBES + ("host",)
NO_NETWORK = "network probes do not run on the local target"
NO_ACCESS = ("host checks need SSH access (--ssh-user/--ssh-key or an inventory); "
             "until then this is for an attestation")
TO_FIX = (Status.FAIL, Status.ADVISORY)  # the verdicts that carry their control's remediation


@dataclass
class ScanOptions:
    timeout: float = 5.0
    ca_bundle: Path | None = None
    # Targets at once. A target's probes mostly wait (nmap's timing, handshakes), so 16 fills
    # two cores: 100 hosts took 109-114 s at 16 against 152 s at 8 (bench/README.md).
    concurrency: int = 16
    nmap_host_timeout_s: int = 900
    sudo: bool = False  # for the local target; remote targets take it from their SshAccess
    host_root: str = "/"
    command_timeout: float = 30.0
    target_budget_s: float | None = None  # None: derived from the timeouts (probes/budget.py)
    dask_scheduler: str | None = None  # tcp://HOST:PORT: targets scanned on its workers


@dataclass
class ScanPlan:
    profiles: list[Profile]
    catalog: Catalog
    request: ProbeRequest
    probes: list[str] = field(default_factory=list)
    scopes: dict[str, str] = field(default_factory=dict)  # profile id -> the ports it covers

    def refs(self, profile: Profile | None = None) -> list[ControlRef]:
        return [ref for p in self.profiles if profile in (None, p) for c in p.clauses
                for ref in c.controls if self.catalog.get(ref.control_id).automated]

    def observations_for(self, profile: Profile, observations: Observations) -> Observations:
        """What `profile` would have seen scanned alone: the ports probed for another profile
        of the run are dropped, so its verdicts never depend on what else is scanned."""
        scope = self.scopes.get(profile.id)
        if scope is None or scope == self.request.port_spec:
            return observations
        return Observations({name: _scoped(result, scope)
                             for name, result in observations.results.items()})


def _scoped(result: ProbeResult, scope: str) -> ProbeResult:
    """A network probe's result restricted to the ports of `scope` (port lists, per-port maps)."""
    if result.probe not in NETWORK_PROBES:
        return result
    data = {}
    for key, value in result.data.items():
        if key in ("open_ports", "filtered_ports"):
            value = [p for p in value if portspec.covers(scope, p)]
        elif key == "scanned":
            value = scope
        elif isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
            value = {p: v for p, v in value.items() if portspec.covers(scope, p)}
        data[key] = value
    return replace(result, data=data)


def _ports_named(params: dict) -> tuple[list[str], set[int]]:
    """The port specs and ports a network control's parameters name: `ports` (an nmap spec or a
    list), `port`, and the `port` of each item of a list parameter (e.g. `forbidden`)."""
    specs: list[str] = []
    ports: set[int] = set()
    for name, value in params.items():
        if name == "ports" and isinstance(value, str):
            specs.append(value)
        elif name == "port" and isinstance(value, int):
            ports.add(value)
        elif isinstance(value, list):
            ports |= {v for v in value if name == "ports" and isinstance(v, int)}
            ports |= {v["port"] for v in value
                      if isinstance(v, dict) and isinstance(v.get("port"), int)}
    return specs, ports


def _scope(refs: list[ControlRef], catalog: Catalog) -> str:
    """The ports one profile's network controls cover, plus 22, 80 and 443."""
    specs, ports = [], {22, 80, 443}
    for ref in refs:
        if catalog.get(ref.control_id).probe in NETWORK_PROBES:
            named = _ports_named(ref.parameters)
            specs += named[0]
            ports |= named[1]
    return portspec.union(specs, ports)


def plan_scan(profiles: list[Profile], catalog: Catalog, options: ScanOptions) -> ScanPlan:
    """Work out the probes and their parameters from the controls the profiles use. The ports
    are probed once for the union of the profiles' scopes; each profile is judged on its own."""
    plan = ScanPlan(profiles, catalog, ProbeRequest(
        timeout=options.timeout, nmap_host_timeout_s=options.nmap_host_timeout_s,
        sudo=options.sudo, host_root=options.host_root,
        command_timeout=options.command_timeout))
    needed = {catalog.get(ref.control_id).probe for ref in plan.refs()}
    for profile in profiles:  # a profile's parameters may break a template: said before probing
        for ref in plan.refs(profile):
            check_remediation(catalog.get(ref.control_id), ref.parameters, profile.id)
    if needed & set(NETWORK_PROBES):
        needed |= set(FOUNDATION)
    for ref in plan.refs():
        control = catalog.get(ref.control_id)
        if control.probe == "host":
            plan.request.host_collectors.setdefault(control.collector, []).append(ref.parameters)
    plan.probes = [p for p in PROBE_ORDER if p in needed]
    params_of = lambda cid: [ref.parameters for ref in plan.refs() if ref.control_id == cid]  # noqa: E731
    request = plan.request
    request.http_ports = sorted({params["port"] for params in params_of("http.https_redirect")}) or [80]
    request.http_paths = sorted({params["path"] for params in params_of("http.response_time")}) or ["/"]
    request.http_timeout = max([options.timeout] + [params["max_seconds"] + 1
                                                    for params in params_of("http.response_time")])
    crawls = params_of("http.forms_over_tls")  # one crawl, within the widest limits asked
    request.crawl_limits = {k: max(p[k] for p in crawls) for k in crawls[0]} if crawls else None
    latency = params_of("net.latency")
    if latency:
        request.latency_ports, request.latency_samples = latency[0]["ports"], latency[0]["samples"]
        request.latency_method = latency[0]["method"]
    plan.scopes = {p.id: _scope(plan.refs(p), catalog) for p in profiles}
    request.port_spec = portspec.union(plan.scopes.values())
    udp = [p["udp_ports"] for p in params_of("net.allowed_ports") if p.get("udp_ports")]
    request.udp_port_spec = portspec.union(udp) if udp else None
    request.ca_bundle = options.ca_bundle
    request.ca_bundles = sorted({Path(p["ca_bundle"]) for p in params_of("tls.certificate")
                                 if p.get("ca_bundle")})
    request.budget_s = options.target_budget_s or target_budget(request, plan.probes)
    return plan


def preflight(plan: ScanPlan, targets: list[Target]) -> None:
    """Fail before any traffic when a tool the plan needs is missing."""
    if "ports" in plan.probes and any(not t.local for t in targets):
        require_nmap()


@dataclass
class ScanJob:
    """One target, the plan of its profiles, and how to log in to it (None: no host checks)."""
    target: Target
    plan: ScanPlan
    access: SshAccess | None = None


def skip_reason(probe: str | None, target: Target, access: SshAccess | None) -> str | None:
    """Why a probe does not run on this target (None: it runs)."""
    if probe in NETWORK_PROBES and target.local:
        return NO_NETWORK
    if probe == "host" and not target.local and access is None:
        return NO_ACCESS
    return None


def probe_target(job: ScanJob) -> dict[str, ProbeResult]:
    """Every probe of the plan on one target, within the target's time budget: each probe may
    use what is left of it (request.deadline); one that overruns it is abandoned, and the
    probes not yet run are errors that say the budget was spent."""
    registry = probe_registry()
    target, plan = job.target, job.plan
    request = ProbeRequest(**{**plan.request.__dict__, "open_ports": [], "services": {},
                              "ssh_access": job.access})
    request.deadline = time.monotonic() + request.budget_s if request.budget_s else None
    results: dict[str, ProbeResult] = {}
    for name in plan.probes:
        if skip_reason(name, target, job.access):
            continue
        if name in NETWORK_PROBES[1:] and results.get("ports") and results["ports"].error:
            results[name] = ProbeResult(name, target.address, error="the port scan failed")
            continue
        if target.unresolved:
            results[name] = ProbeResult(name, target.address, error=target.unresolved)
            continue
        results[name] = _within_budget(registry[name], target, request)
        if name == "ports" and not results[name].error:
            request.open_ports = results[name].data["open_ports"]
        if name == "service" and not results[name].error:
            request.services = results[name].data["services"]
    return results


def _within_budget(probe: Probe, target: Target, request: ProbeRequest) -> ProbeResult:
    """`probe.run`, or an error once the target's budget is spent. The probe runs in a thread
    of its own, waited for until the budget's end plus a timeout (a probe keeping to the budget
    reports its own error by then); past that it is left to finish, its result unused."""
    left = request.seconds_left()
    if left is None:
        return probe.run(target, request)
    spent = f"the target's time budget of {request.budget_s:g} s was spent"
    if left <= 0:
        return ProbeResult(probe.name, target.address, error=f"not run: {spent}")
    done: list[ProbeResult] = []
    worker = threading.Thread(target=lambda: done.append(probe.run(target, request)),
                              name=f"{probe.name} {target.address}", daemon=True)
    worker.start()
    worker.join(left + request.timeout)
    if done:
        return done[0]
    return ProbeResult(probe.name, target.address, error=f"stopped waiting: {spent}",
                       duration_s=round(left + request.timeout, 3))


def judge_clause(clause: Clause, profile: Profile, job: ScanJob,
                 observations: Observations) -> ClauseResult:
    return clause_result(clause, profile,
                         [judge_control(ref, job, observations) for ref in clause.controls])


def judge_control(ref: ControlRef, job: ScanJob, observations: Observations) -> ControlResult:
    """One control's verdict; a failing advice control is `advisory`, never `fail`."""
    control = job.plan.catalog.get(ref.control_id)
    made = partial(ControlResult, ref.control_id, control.title, control.severity,
                   parameters=ref.parameters, basis=ref.basis)
    skipped = skip_reason(control.probe, job.target, job.access)
    if not control.automated or skipped:
        return unprobed(ref, job.plan.catalog,
                        Status.NOT_APPLICABLE if skipped == NO_NETWORK else Status.MANUAL,
                        skipped or "answered by an attestation")
    started = time.perf_counter()
    verdict = evaluate(ref.control_id, observations, ref.parameters)
    elapsed = round(time.perf_counter() - started, 6)
    foundation = FOUNDATION if control.probe in NETWORK_PROBES else ()
    probes = list(dict.fromkeys(p for p in (*foundation, control.probe)
                                if p in observations.results))
    status, reason = verdict.status, verdict.reason
    evidence = {"probes": probes, **verdict.evidence}
    if status == Status.FAIL and not ref.binding:
        status = Status.ADVISORY
    failed = next((p for p in probes if observations.failure(p)), None)
    if status == Status.ERROR and failed:  # said once, in the target's probe errors
        reason, evidence["failed_probe"] = probe_failed(failed), failed
    fix = render_remediation(control, ref.parameters) if status in TO_FIX else None
    return made(status=status, expected=verdict.expected, observed=verdict.observed,
                reason=reason, evidence=evidence, duration_s=elapsed,
                probe_duration_s=round(sum(observations.results[p].duration_s
                                           for p in probes), 3), remediation=fix)


def scan_target(job: ScanJob) -> TargetResult:
    probes = probe_target(job)
    observations = Observations(probes)
    result = TargetResult(target=job.target.name, address=job.target.address,
                          access=recorded_access(job.access, job.target.name))
    result.probes = {name: {"duration_s": p.duration_s, "error": observations.failure(name)}
                     for name, p in probes.items()}
    result.evidence = {name: p.evidence for name, p in probes.items()}
    for profile in job.plan.profiles:
        seen = job.plan.observations_for(profile, observations)
        for clause in profile.clauses:
            if not is_contract(clause, job.plan.catalog):  # judged once: judge_contract
                result.results.append(judge_clause(clause, profile, job, seen))
    return result


def scan_settings(jobs: list[ScanJob], options: ScanOptions
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The profiles' summaries and the options a report states, known before the first probe
    (the journal's header holds them; a resumed scan must plan the same)."""
    profiles = {p.id: p.summary() for job in jobs for p in job.plan.profiles}
    plans = list({id(job.plan): job.plan for job in jobs}.values())
    bundles = {str(b) for p in plans for b in [p.request.ca_bundle, *p.request.ca_bundles] if b}
    return list(profiles.values()), {
        "timeout_s": options.timeout,
        "probes": [n for n in PROBE_ORDER if any(n in p.probes for p in plans)],
        "port_spec": "; ".join(dict.fromkeys(p.request.port_spec for p in plans)),
        # the largest, when targets are judged on different profiles
        "target_budget_s": max((p.request.budget_s or 0 for p in plans), default=None),
        "ca_bundle": ", ".join(sorted(bundles)) or None}


def run_scan(jobs: list[ScanJob], options: ScanOptions,
             on_done: Callable[[TargetResult], None] | None = None,
             stop: threading.Event | None = None, pool: Executor | None = None) -> ScanResult:
    """Scan every job, `options.concurrency` targets at once. Each finished target goes to
    `on_done` (the journal) and is dropped, so the returned result's `targets` is empty; without
    `on_done` they are kept in a list, in the jobs' order (a few targets: tests, library use).

    Once `stop` is set no new target starts; the running ones finish (within their time
    budget). Those that come back with a failed probe are not kept, since the interruption may
    be the cause (Ctrl-C reaches nmap and sslyze too): they are listed as unscanned with the
    targets never started, and the result is marked incomplete.

    `pool` is where `scan_target` runs: by default threads of this process; for
    `options.dask_scheduler`, the caller's scanner.fleet DaskTargetPool (which sets `stop` if
    the cluster is lost)."""
    if options.dask_scheduler and pool is None:
        raise ValueError("options.dask_scheduler: pass pool=DaskTargetPool(options, stop) "
                         "(scanner.fleet.dask_runner), or the scan would run here")
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    kept: list[tuple[int, TargetResult]] = []
    unscanned: list[int] = []
    waiting = iter(enumerate(jobs))
    width = max(1, options.concurrency)
    with pool or ThreadPoolExecutor(max_workers=width) as pool:
        running: dict[Future[TargetResult], int] = {}
        while True:
            while len(running) < width and not (stop and stop.is_set()):
                item = next(waiting, None)
                if item is None:
                    break
                running[pool.submit(scan_target, item[1])] = item[0]
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                index, result = running.pop(future), future.result()
                if stop and stop.is_set() and result.probe_errors():
                    unscanned.append(index)
                elif on_done:
                    on_done(result)
                else:
                    kept.append((index, result))
    unscanned += [index for index, _ in waiting]
    profiles, settings = scan_settings(jobs, options)
    return ScanResult(
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        profiles=profiles, targets=[result for _, result in sorted(kept, key=lambda k: k[0])],
        options={**settings, "duration_s": round(time.perf_counter() - t0, 3)},
        complete=not unscanned,
        unscanned=[{"target": jobs[i].target.name, "address": jobs[i].target.address}
                   for i in sorted(unscanned)],
        contract=contract_of(jobs))


def contract_of(jobs: list[ScanJob]) -> list[ClauseResult]:
    """The contract's clauses of every profile the jobs use, judged once."""
    return contract_once((p, job.plan.catalog) for job in jobs for p in job.plan.profiles)



@contextmanager
def stop_on_signals(notice: Callable[[str], None]) -> Iterator[threading.Event]:
    """An event the first SIGINT or SIGTERM sets (saying so through `notice`) instead of
    killing the scan; a second one acts as usual. Outside the main thread, where no signal
    handler can be set, the event is never set."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: object) -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
        stop.set()
        notice(f"{signal.Signals(signum).name}: stopping: no new target starts, the running "
               "ones finish; the reports will be marked incomplete (a second signal gives up "
               "the reports; the journal keeps every finished target for --resume)")

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
