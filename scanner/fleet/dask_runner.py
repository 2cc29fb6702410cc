"""Targets scanned by the workers of an existing Dask cluster, results streamed back as each
target finishes: `DaskTargetPool` is an Executor of `scan_target` that the engine's own loop
uses in place of its thread pool (same `on_done`, same interruption, same result).

One Dask task per target, each running the engine's own `scan_target` on a worker, so the worker
obeys the same bounds (timeouts, target budget, sslyze in its killable child) and gives the same
verdicts as a local scan. A plan (profiles and catalog, ~100 KB) crosses the wire once, as a
task the targets depend on: should the worker holding it die, the scheduler computes it again
elsewhere (scattered data would be lost with it). The engine hands over at most --concurrency
targets at a time, so the client's memory does not grow with the fleet.

A worker dying costs nothing: the scheduler gives its targets to another worker. A target
whose workers keep dying (the scheduler's `allowed-failures`) becomes an `error` result saying
so, as does a target a worker refused or failed: never a pass. Each target is a task keyed by
its address, so it is scanned and delivered once.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from concurrent.futures import CancelledError, Executor, Future
from dataclasses import replace
from typing import Any, Callable

import distributed
from distributed import Client, KilledWorker

from scanner import __version__
from scanner.engine import ScanJob, ScanOptions, ScanPlan, scan_target
from scanner.errors import ConfigError
from scanner.fleet import wire
from scanner.model import TargetResult
from scanner.scope.targets import Target
from scanner.transports.ssh import SshAccess

NO_WORKER_S = 60.0  # how long a scan waits with no worker at all before it gives up
POLL_S = 2.0        # how often the client checks that the cluster still has a worker


class FleetLost(RuntimeError):
    """The cluster went away mid-scan (no worker left, or the scheduler lost), in a scan
    without a stop event (library use); with one, the scan is interrupted instead."""


def scan_on_worker(plan: ScanPlan, target: Target, access: SshAccess | None,
                   version: str) -> bytes:
    """Runs on a worker: one target scanned exactly as a local scan would, its result capped."""
    wire.check_worker(plan, access, version)
    _allow_children()
    result = scan_target(ScanJob(target, plan, wire.with_worker_secrets(access)))
    return wire.result_to_wire(result)


def _allow_children() -> None:
    """A nanny (`dask worker`'s default) starts its worker as a daemonic multiprocessing child,
    and multiprocessing lets no daemonic process start one: sslyze's killable child
    (probes/isolation.py) could not start, every TLS probe would be an error. The worker's own
    flag is cleared; the nanny stops its worker by its own handle, which is unchanged."""
    process = multiprocessing.current_process()
    if process.daemon:
        process.daemon = False


def _plan(plan: ScanPlan) -> ScanPlan:
    """The plan as a task of its own: recomputed, not lost, when its worker dies."""
    return plan


def not_scanned(job: ScanJob, reason: str) -> TargetResult:
    """The engine's answer for a target it could not probe (every probe an error giving the
    reason, the clauses judged as usual), made on the client without any traffic."""
    return scan_target(replace(job, target=replace(job.target, unresolved=reason)))


class DaskTargetPool(Executor):
    """`submit(scan_target, job)` runs on the cluster; the client talks to the scheduler alone
    (results come through it, never from a worker directly)."""

    def __init__(self, options: ScanOptions, stop: threading.Event | None = None) -> None:
        """`stop`: the engine's interruption; a lost cluster sets it, and the targets it held
        come back as not scanned (the journal's `--resume` scans them)."""
        self.address, self._stop = options.dask_scheduler, stop
        try:
            self.client = Client(self.address, timeout=max(options.timeout, 10.0),
                                 set_as_default=False, direct_to_workers=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--dask-scheduler {self.address}: cannot connect ({exc})") \
                from None
        try:
            self.client.wait_for_workers(1, timeout=NO_WORKER_S)
        except TimeoutError:
            self.client.close()
            raise ConfigError(f"--dask-scheduler {self.address}: no worker joined within "
                              f"{NO_WORKER_S:g} s (start `dask worker {self.address}`)") from None
        self._scan = uuid.uuid4().hex[:12]
        self._plans: dict[int, distributed.Future] = {}
        self._pending: dict[str, tuple[Future, ScanJob, distributed.Future]] = {}
        self._seen: set[str] = set()  # task keys: one per target address
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watch = threading.Thread(target=self._watch_workers, daemon=True,
                                       name=f"annexscan dask watch {self.address}")
        self._watch.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if fn is not scan_target or kwargs or len(args) != 1:
            raise TypeError("DaskTargetPool runs scan_target(job) only")
        job: ScanJob = args[0]
        key = f"annexscan-{self._scan}-{job.target.address}"
        with self._lock:
            if key in self._seen:  # a target is scanned and delivered once
                raise ValueError(f"target {job.target.address} submitted twice")
            self._seen.add(key)
            plan = self._plans.get(id(job.plan))
            if plan is None:
                plan = self._plans[id(job.plan)] = self.client.submit(
                    _plan, job.plan, key=f"annexscan-{self._scan}-plan-{len(self._plans)}",
                    pure=False)
            remote = self.client.submit(scan_on_worker, plan, job.target,
                                        wire.without_secrets(job.access), __version__,
                                        key=key, pure=False)
            local: Future = Future()
            local.set_running_or_notify_cancel()
            self._pending[key] = (local, job, remote)
        remote.add_done_callback(self._deliver)
        return local

    def _deliver(self, remote: distributed.Future) -> None:
        """Runs in Dask's callback thread: the result decoded, or an error result saying why."""
        with self._lock:
            local, job, _ = self._pending.pop(remote.key, (None, None, None))
        if local is None or local.done():
            return
        lost = f"the Dask scheduler {self.address} dropped it"
        if remote.status == "cancelled":
            self._lost([(local, job, remote)], lost)
            return
        try:
            result = _collect(remote, job)
        except (CancelledError, OSError) as exc:  # the scheduler went away while fetching it
            self._lost([(local, job, remote)], f"{lost} ({type(exc).__name__})")
            return
        except BaseException as exc:  # noqa: BLE001 - the engine's loop re-raises it
            local.set_exception(exc)
            return
        local.set_result(result)
        remote.release()

    def _watch_workers(self) -> None:
        """Give up what is pending once the cluster has had no worker (or no scheduler) for
        NO_WORKER_S: the engine's loop would otherwise wait for ever."""
        alone_since: float | None = None
        while not self._closed.wait(POLL_S):
            try:
                workers = self.client.nthreads()
            except Exception:  # noqa: BLE001 - a lost scheduler is no worker at all
                workers = {}
            if workers:
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since > NO_WORKER_S:
                self._lost(self._take_pending(), f"no Dask worker (or no scheduler) at "
                           f"{self.address} for {NO_WORKER_S:g} s")

    def _take_pending(self) -> list[tuple[Future, ScanJob, distributed.Future]]:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        return pending

    def _lost(self, pending: list[tuple[Future, ScanJob, distributed.Future]],
              why: str) -> None:
        """The cluster lost these targets: the scan stops as when interrupted (the engine lists
        a result with a failed probe after `stop` as unscanned), or FleetLost without `stop`."""
        if self._stop is not None:
            self._stop.set()
        for local, job, remote in pending:
            remote.cancel()
            if local.done():
                continue
            if self._stop is not None:
                local.set_result(not_scanned(job, f"not scanned: {why}"))
            else:
                local.set_exception(FleetLost(why))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stops the watch; what is still queued on the cluster is cancelled there (the
        engine's loop only leaves with targets pending when it is itself failing)."""
        self._closed.set()
        for local, _, remote in self._take_pending():
            remote.cancel()
            local.set_exception(FleetLost("the scan stopped"))
        self.client.close()


def _collect(remote: distributed.Future, job: ScanJob) -> TargetResult:
    """The target's result, or an error result saying why the cluster gave none."""
    if remote.status == "finished":
        try:
            return wire.result_from_wire(remote.result())
        except (ValueError, KeyError, TypeError) as exc:
            return not_scanned(job, f"not scanned: its worker's answer was refused: {exc}"[:500])
    error = remote.exception()
    if isinstance(error, KilledWorker):
        reason = ("every Dask worker that scanned it died (as many times as the scheduler's "
                  "distributed.scheduler.allowed-failures allows)")
    elif isinstance(error, wire.WorkerRefused):
        reason = str(error)
    else:
        reason = f"its Dask worker failed: {type(error).__name__}: {error}"[:500]
    return not_scanned(job, f"not scanned: {reason}")
