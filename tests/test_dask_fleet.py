"""`scan --dask-scheduler`: the lab scanned by a real Dask scheduler and two real workers
(`dask scheduler` / `dask worker` from the venv) on 127.0.0.230-239 inside the namespace, with
the verdicts of a local scan; a worker killed mid-scan; what crosses the wire."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from conftest import DATA
from scanner import __version__
from scanner.scope.access import ENV_PASSPHRASE, ENV_SUDO_PASSWORD
from scanner.catalog.controls import load_catalog
from scanner.cli.main import main
from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan, scan_target
from scanner.errors import ConfigError
from scanner.fleet import wire
from scanner.fleet.address import scheduler_address
from scanner.fleet.dask_runner import DaskTargetPool
from scanner.evidence.journal import load
from scanner.lab.procs import Proc
from scanner.model import ScanResult, TargetResult, to_jsonable
from scanner.catalog.profiles import load_profile
from scanner.scope.targets import Target
from scanner.transports.ssh import SshAccess

DASK = Path(sys.executable).with_name("dask")
THREADS = 4  # per worker: 8 targets at once, as a local scan's --concurrency
COMMAND_S = 120.0  # host commands on a loaded machine (apt takes its time)
SCHEDULER = "127.0.0.230"
START_S = 60.0


class Cluster:
    """A real scheduler and `workers` real workers (each under its nanny) on loopback."""

    def __init__(self, workdir: Path, workers: int = 2, port: int = 8786,
                 scheduler_env: dict[str, str] | None = None) -> None:
        self.address = f"tcp://{SCHEDULER}:{port}"
        self.procs: list[Proc] = []
        workdir.mkdir(parents=True, exist_ok=True)
        # Each on its own address, its HTTP endpoints (health, metrics) too: by default they
        # listen on 0.0.0.0, open on every lab host.
        self._start("scheduler", [str(DASK), "scheduler", "--host", SCHEDULER, "--port",
                                  str(port), "--no-dashboard", "--dashboard-address",
                                  f"{SCHEDULER}:0", "--no-show"], workdir, scheduler_env)
        for n in range(workers):
            host = f"127.0.0.{231 + n}"
            self._start(f"worker{n}", [str(DASK), "worker", self.address, "--host", host,
                                       "--nthreads", str(THREADS), "--nanny", "--no-dashboard",
                                       "--dashboard-address", f"{host}:0", "--local-directory",
                                       str(workdir), "--name", f"w{n}"], workdir)
        from distributed import Client

        self.client = Client(self.address, timeout=START_S, set_as_default=False,
                             direct_to_workers=False)
        try:
            self.client.wait_for_workers(workers, timeout=START_S)
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, cmd: list[str], workdir: Path,
               env: dict[str, str] | None = None) -> None:
        self.procs.append(Proc(name, cmd, workdir / f"{name}.log",
                               env={**os.environ, **(env or {})}, death_signal=signal.SIGKILL))

    def worker_pid(self, address: str) -> int:
        """The pid of the process running a worker's tasks (under its nanny)."""
        return self.client.run(os.getpid, workers=[address])[address]

    def stop(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            proc.stop()


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    if not DASK.exists():
        pytest.skip("the dask CLI is not installed (pip install annexscan[fleet])")
    running = Cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.stop()


def lab_jobs(lab, options: ScanOptions) -> list[ScanJob]:
    """Every lab host, network and host checks (3douest over SSH where a host has sshd)."""
    catalog = load_catalog()
    profiles = [load_profile(str(DATA / "all-network.yaml"), catalog),
                load_profile("3douest", catalog)]
    plan = plan_scan(profiles, catalog, options)
    known = lab.write_known_hosts()
    return [ScanJob(Target(h.address, h.address), plan,
                    SshAccess(user="root", key_file=lab.ssh_client_key, known_hosts=known,
                              use_agent=False) if h.ssh_port else None)
            for h in lab.hosts.values()]


def verdicts(targets, profile: str | None = None) -> dict:
    """address -> clause -> (clause status, control statuses); timings left out."""
    return {t.address: {(c.profile, c.clause_id): (c.status.value,
                                                   [(k.control_id, k.status.value)
                                                    for k in c.controls])
                        for c in t.results if profile in (None, c.profile)} for t in targets}


def reasons(targets) -> dict:
    return {(t.address, c.clause_id): [k.reason for k in c.controls]
            for t in targets for c in t.results}


@pytest.fixture(scope="module")
def local_scan(lab) -> tuple[ScanResult, float]:
    """Asked for before `cluster`, so it runs first: a Dask process listening where the lab's
    hosts are scanned would show in the cluster's scan only, and fail the comparison."""
    options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle, command_timeout=COMMAND_S)
    started = time.perf_counter()
    result = run_scan(lab_jobs(lab, options), options)
    return result, time.perf_counter() - started


def inventory(lab, path: Path) -> Path:
    """The lab as an inventory: hosts with an sshd are logged in to with the lab key."""
    lines = ["[lab]"] + [f"{h.address} ansible_user=root ansible_ssh_private_key_file="
                         f"{lab.ssh_client_key}" if h.ssh_port else h.address
                         for h in lab.hosts.values()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.lab
def test_cli_scan_on_two_workers_equals_a_local_scan(lab, local_scan, cluster, tmp_path):
    """The flag end to end: two real workers scan the lab (TLS in sslyze's forkserver child
    inside a worker, host checks over SSH) and the report's verdicts equal the local scan's."""
    local, local_s = local_scan
    started = time.perf_counter()
    code = main(["scan", "--profile", str(DATA / "all-network.yaml"), "--profile", "3douest",
                 "--no-progress", "--timeout", "2", "--ca-bundle", str(lab.ca_bundle),
                 "--command-timeout", str(COMMAND_S), "--format", "json", "-o", str(tmp_path),
                 "--no-agent", "--known-hosts", str(lab.write_known_hosts()),
                 "--inventory", str(inventory(lab, tmp_path / "hosts.ini")),
                 "--dask-scheduler", cluster.address])
    dask_s = time.perf_counter() - started
    assert code == 1  # the lab is meant to fail
    scanned = list(load(tmp_path).targets)
    assert sorted(t.address for t in scanned) == sorted(h.address for h in lab.hosts.values())
    mismatched = {k for k, v in reasons(scanned).items() if v != reasons(local.targets)[k]}
    assert verdicts(scanned) == verdicts(local.targets), sorted(mismatched)
    good = next(t for t in scanned if t.address == lab.hosts["good"].address)
    assert good.probes["tls"]["error"] is None and good.evidence_refs["tls"]
    print(f"\nlab scan, {len(scanned)} hosts, network + SSH host checks: run_scan locally "
          f"{local_s:.1f} s; the CLI on 2 Dask workers x {THREADS} threads, journal and report "
          f"included, {dask_s:.1f} s")


def on_cluster(jobs: list[ScanJob], options: ScanOptions, on_done=None,
               stop: threading.Event | None = None):
    """run_scan with the cluster's pool, as `scan --dask-scheduler` does."""
    return run_scan(jobs, options, on_done, stop, pool=DaskTargetPool(options, stop))


def dask_jobs(lab, address: str, **options) -> tuple[list[ScanJob], ScanOptions]:
    """Every lab host with the network profile alone (faster: no host checks)."""
    options = ScanOptions(timeout=2.0, ca_bundle=lab.ca_bundle, dask_scheduler=address,
                          **options)
    catalog = load_catalog()
    plan = plan_scan([load_profile(str(DATA / "all-network.yaml"), catalog)], catalog, options)
    return [ScanJob(Target(h.address, h.address), plan) for h in lab.hosts.values()], options


def kill_busiest_worker(cluster) -> tuple[str, list]:
    """SIGKILL the worker running the most targets: its address and the task keys it held."""
    busy = {w: keys for w, keys in cluster.client.processing().items() if keys}
    victim = max(busy, key=lambda w: len(busy[w]))
    os.kill(cluster.worker_pid(victim), signal.SIGKILL)
    return victim, list(busy[victim])


@pytest.mark.lab
def test_a_worker_killed_mid_scan_costs_nothing(lab, local_scan, cluster):
    """SIGKILL to a worker running targets once the first result is back: its targets run
    again on the other worker, each target is delivered once, with the local verdicts (each
    profile is judged on its own, so the network profile's verdicts are those of the local
    scan that had 3douest beside it)."""
    local, _ = local_scan
    killed: list[tuple[str, list]] = []
    delivered: list[TargetResult] = []

    def on_done(result: TargetResult) -> None:
        delivered.append(result)
        if not killed:
            killed.append(kill_busiest_worker(cluster))

    on_cluster(*dask_jobs(lab, cluster.address), on_done)
    assert killed and killed[0][1], "the killed worker had targets running"
    assert sorted(t.address for t in delivered) == sorted(t.address for t in local.targets)
    assert verdicts(delivered) == verdicts(local.targets, "all-network")


@pytest.mark.lab
def test_a_target_whose_workers_die_is_an_error(lab, tmp_path):
    """A scheduler allowing no failure: the targets of a worker SIGKILLed mid-scan are errors
    saying their workers died (never a pass), the others are scanned as usual, each once."""
    fleet = Cluster(tmp_path / "dask", port=8789,
                    scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    on_victim: list[str] = []  # the addresses the killed worker held
    delivered: list[TargetResult] = []

    def on_done(result: TargetResult) -> None:
        delivered.append(result)
        if not on_victim:
            _, keys = kill_busiest_worker(fleet)
            on_victim.extend(str(key).rsplit("-", 1)[1] for key in keys)

    try:
        on_cluster(*dask_jobs(lab, fleet.address), on_done)
    finally:
        fleet.stop()
    assert sorted(t.address for t in delivered) == sorted(h.address for h in lab.hosts.values())
    died = [t for t in delivered if "Dask worker that scanned it died" in
            (t.probes["ports"]["error"] or "")]
    assert died and {t.address for t in died} <= set(on_victim)
    for target in died:
        assert "pass" not in {c.status.value for c in target.results}


@pytest.mark.lab
def test_a_workers_probes_keep_the_target_budget(lab, cluster):
    """The silent host (accepts, never answers) with a 3 s target budget on a worker: the
    probes past the budget are errors saying so (without it, none is), and the target ends
    within the budget and a timeout. Where the budget cuts depends on the machine's load, so
    the verdicts are not compared with a local run here."""
    jobs, options = dask_jobs(lab, cluster.address, target_budget_s=3.0)
    silent = [j for j in jobs if j.target.address == lab.hosts["silent"].address]
    (target,) = on_cluster(silent, options).targets
    assert any("time budget of 3 s" in error for error in target.probe_errors().values())
    assert sum(p["duration_s"] for p in target.probes.values()) <= 3.0 + 2.0 + 1.0


@pytest.mark.parametrize("given, canonical", [
    ("tcp://127.0.0.230:8786", "tcp://127.0.0.230:8786"),
    ("tcp://[0:0::1]:8786", "tcp://[::1]:8786"),
    ("tcp://Scheduler.Example.:8786", "tcp://scheduler.example:8786"),
])
def test_scheduler_address_is_canonical(given, canonical):
    assert scheduler_address(given) == canonical


@pytest.mark.parametrize("given, why", [
    ("127.0.0.230:8786", "expected tcp://HOST:PORT"), ("tls://10.0.0.5:8786", "expected"),
    ("tcp://10.0.0.5", "expected"), ("tcp://10.0.0.5:0", "1-65535"),
    ("tcp://10.0.0.5:65536", "1-65535"), ("tcp://user@10.0.0.5:8786", "expected"),
    ("tcp://10.0.0.5:8786/x", "expected"), ("tcp://-oProxyCommand=x:8786", "expected"),
    ("tcp://local:8786", "'local' here"), ("tcp://[127.0.0.1]:8786", "IPv6 addresses only"),
    ("tcp://[fe80::1%eth0 -x]:8786", "expected"), ("tcp://10.0.0.5:8786\n", "expected"),
])
def test_scheduler_address_refused(given, why):
    with pytest.raises(ConfigError, match=why):
        scheduler_address(given)


def test_cli_refuses_a_bad_scheduler_before_any_traffic(capsys):
    code = main(["scan", "--profile", "3douest", "--no-progress", "--dask-scheduler",
                 "http://10.0.0.5:8786", "127.0.0.250"])
    assert code == 2 and "expected tcp://HOST:PORT" in capsys.readouterr().err


def test_without_distributed_the_flag_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    code = main(["scan", "--profile", "3douest", "--no-progress", "--dask-scheduler",
                 "tcp://127.0.0.230:8786", "127.0.0.250"])
    assert code == 2 and "pip install 'annexscan[fleet]'" in capsys.readouterr().err


def test_local_target_is_refused_on_a_cluster(capsys):
    code = main(["scan", "--profile", "3douest", "--no-progress", "--dask-scheduler",
                 "tcp://127.0.0.230:8786", "local"])
    assert code == 2 and "would audit a Dask worker" in capsys.readouterr().err


def test_secrets_stay_on_the_client_and_come_from_the_worker_env(monkeypatch, tmp_path):
    access = SshAccess(user="audit", key_file=tmp_path / "key", passphrase="s3cret-pass",
                       sudo_password="sudo-s3cret")
    sent = pickle.dumps(wire.without_secrets(access))
    assert b"s3cret" not in sent and b"audit" in sent
    monkeypatch.setenv(ENV_PASSPHRASE, "worker-pass")
    monkeypatch.delenv(ENV_SUDO_PASSWORD, raising=False)
    used = wire.with_worker_secrets(pickle.loads(sent))
    assert (used.passphrase, used.sudo_password, used.key_file) == ("worker-pass", None,
                                                                    tmp_path / "key")
    assert wire.without_secrets(None) is None


def test_worker_refuses_another_version_or_a_missing_file(tmp_path):
    catalog = load_catalog()
    plan = plan_scan([load_profile("3douest", catalog)], catalog, ScanOptions())
    key = tmp_path / "key"
    key.write_text("a key")
    wire.check_worker(plan, SshAccess(key_file=key), __version__)
    with pytest.raises(wire.WorkerRefused, match="the same version"):
        wire.check_worker(plan, None, "0.0.0-other")
    with pytest.raises(wire.WorkerRefused, match=f"--known-hosts {tmp_path}/none"):
        wire.check_worker(plan, SshAccess(key_file=key, known_hosts=tmp_path / "none"),
                          __version__)


def test_results_cross_the_wire_whole_and_capped():
    from conftest import sample_result

    target = next(iter(sample_result().targets))
    back = wire.result_from_wire(wire.result_to_wire(target))
    assert to_jsonable(back) == json.loads(json.dumps(to_jsonable(target)))
    bomb = zlib.compress(b" " * (wire.MAX_RESULT + 1))  # 32 KB that inflate past the cap
    with pytest.raises(ValueError, match="inflates past"):
        wire.result_from_wire(bomb)
    for junk in (b"not zlib", zlib.compress(b"[1, 2]"), "text"):
        with pytest.raises((ValueError, KeyError, TypeError)):
            wire.result_from_wire(junk)
    huge = TargetResult("t", "192.0.2.1", evidence={"tls": {"raw": "x" * wire.MAX_RESULT}})
    with pytest.raises(wire.WorkerRefused, match="larger than"):
        wire.result_to_wire(huge)


@pytest.mark.lab
def test_a_target_a_worker_refuses_is_an_error_saying_why(lab, cluster, tmp_path):
    """A file the job names that is not on the worker: the target's probes are errors (the
    first network probe and the host probe naming it), its clauses never pass."""
    options = ScanOptions(timeout=2.0, dask_scheduler=cluster.address)
    catalog = load_catalog()
    plan = plan_scan([load_profile("3douest", catalog)], catalog, options)
    address = lab.hosts["good"].address
    access = SshAccess(user="root", key_file=lab.ssh_client_key, use_agent=False,
                       known_hosts=tmp_path / "not-here")
    (target,) = on_cluster([ScanJob(Target(address, address), plan, access)], options).targets
    why = f"not on the worker: --known-hosts {tmp_path}/not-here"
    assert all(p["error"] for p in target.probes.values())
    assert why in target.probes["ports"]["error"] and why in target.probes["host"]["error"]
    statuses = {c.status.value for c in target.results}
    assert "pass" not in statuses and "error" in statuses
    with DaskTargetPool(options) as pool:  # a target is scanned and delivered once
        job = ScanJob(Target(lab.hosts["closed"].address, lab.hosts["closed"].address), plan)
        assert pool.submit(scan_target, job).result().address == job.target.address
        with pytest.raises(ValueError, match="submitted twice"):
            pool.submit(scan_target, job)


@pytest.mark.lab
def test_a_lost_cluster_interrupts_the_scan(lab, tmp_path, monkeypatch):
    """Every worker and the scheduler gone mid-scan: the scan stops as when interrupted, the
    targets delivered are kept, the others are listed as unscanned (for --resume)."""
    import threading

    from scanner.fleet import dask_runner

    monkeypatch.setattr(dask_runner, "NO_WORKER_S", 3.0)
    fleet = Cluster(tmp_path / "dask", port=8788)
    delivered: list[TargetResult] = []

    def on_done(result: TargetResult) -> None:
        if not delivered:
            for proc in fleet.procs:
                proc.stop()
        delivered.append(result)

    stop = threading.Event()
    started = time.perf_counter()
    try:
        result = on_cluster(*dask_jobs(lab, fleet.address), on_done, stop)
    finally:
        fleet.stop()
    assert stop.is_set() and not result.complete and result.unscanned
    assert time.perf_counter() - started < 60
    addresses = {t.address for t in delivered} | {u["address"] for u in result.unscanned}
    assert addresses == {h.address for h in lab.hosts.values()}
    assert not {t.address for t in delivered} & {u["address"] for u in result.unscanned}
