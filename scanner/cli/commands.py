"""The `scan` command: targets and options in, the journal, reports and summary out."""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scanner.evidence import attestations
from scanner.scope.access import build_access, check_access, check_options, ssh_alias_target
from scanner.catalog.controls import Catalog, load_catalog
from scanner.engine import (ScanJob, ScanOptions, ScanPlan, contract_of, plan_scan, preflight,
                            run_scan, scan_settings, stop_on_signals)
from scanner.errors import ConfigError
from scanner.fleet.address import scheduler_address
from scanner.evidence.journal import VERSION as JOURNAL_VERSION, JournalWriter, journal_home
from scanner.evidence.journal import key as journal_key, load as load_journal
from scanner.model import ScanResult, TargetResult
from scanner.catalog.profiles import Profile, builtin_profile_ids, load_profile
from scanner.evidence.bundle import load_signing_key, write_bundle
from scanner.evidence.bundle_verify import chain_head
from scanner.outputs import check_outputs
from scanner.scope.pemfiles import check_ca_bundle
from scanner.reporters.registry import parse_formats, report_names, write_all
from scanner.reporters.terminal import print_summary
from scanner.scope.inventory import load_inventory
from scanner.scope.targets import Target, parse_targets, scanned_once
from scanner.transports.ssh import SshAccess


def load_profiles(refs: list[str], catalog: Catalog) -> list[Profile]:
    profiles = [load_profile(ref, catalog) for ref in refs]
    ids = [p.id for p in profiles]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"profile id given twice: {', '.join(duplicates)}")
    return profiles


def scan_options(args: argparse.Namespace) -> ScanOptions:
    if not 0 < args.timeout < float("inf"):  # nan too: it compares false
        raise ConfigError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.target_budget is not None and not 0 < args.target_budget < float("inf"):
        raise ConfigError(f"--target-budget must be a positive number of seconds, "
                          f"got {args.target_budget}")
    if args.ca_bundle:
        check_ca_bundle(args.ca_bundle, "--ca-bundle")
    check_options(args)
    fleet = getattr(args, "dask_scheduler", None)  # `demo` has no such option
    fleet = fleet and scheduler_address(fleet)
    return ScanOptions(timeout=args.timeout, ca_bundle=args.ca_bundle,
                       concurrency=args.concurrency, sudo=args.sudo, host_root=args.sysroot,
                       command_timeout=args.command_timeout,
                       target_budget_s=args.target_budget, dask_scheduler=fleet)


@dataclass
class Entry:
    """A target as asked for: which profiles, which access."""
    target: Target
    profiles: list[str]
    access: SshAccess | None
    key_origin: str = "--ssh-key"  # what gave the key file, for error messages


def entries_from_args(args: argparse.Namespace) -> list[Entry]:
    entries = []
    if args.targets:
        if not args.profiles:
            raise ConfigError("scan needs at least one --profile (built-in: "
                              f"{', '.join(builtin_profile_ids())})")
        for spec in args.targets:
            name, access = ssh_alias_target(spec, build_access(args))
            entries += [Entry(t, args.profiles, access)
                        for t in parse_targets([name], strict=args.strict_targets)]
    if args.inventory:
        for host in load_inventory(args.inventory):
            profiles = host.get("profiles") or args.profiles
            if not profiles:
                raise ConfigError(f"inventory {args.inventory}: host {host.name} has no "
                                  "annexscan_profiles and no --profile was given")
            (target,) = parse_targets([host.get("host", host.name)], strict=args.strict_targets)
            if host.get("host") and "." in host.name:
                target = Target(host.name, target.address, target.unresolved)
            origin = f"inventory {args.inventory}: host {host.name[:80]!r}: " \
                "ansible_ssh_private_key_file" if "key" in host.vars else "--ssh-key"
            entries.append(Entry(target, list(profiles), build_access(args, host.vars), origin))
    if not entries:
        raise ConfigError("no target given: name targets or pass --inventory")
    return entries


def plan_jobs(entries: list[Entry], catalog: Catalog, options: ScanOptions) -> list[ScanJob]:
    """One plan per distinct profile list, shared by the targets that use it."""
    plans: dict[tuple[str, ...], ScanPlan] = {}
    jobs, checked = [], set()
    for entry in entries:
        key = tuple(entry.profiles)
        if key not in plans:
            plans[key] = plan_scan(load_profiles(entry.profiles, catalog), catalog, options)
        if entry.access:
            check_access(entry.access, checked, entry.key_origin)
        if options.dask_scheduler and entry.target.local:
            raise ConfigError("the target 'local' would audit a Dask worker, not this "
                              "machine: scan it without --dask-scheduler")
        jobs.append(ScanJob(entry.target, plans[key], entry.access))
    return jobs


@dataclass
class ScanDone:
    """What a scan leaves once reported: its targets are on disk (the journal), not in memory."""
    exit_code: int
    duration_s: float


def execute_scan(entries: list[Entry], args: argparse.Namespace, console: Console) -> ScanDone:
    """Validate every input, then probe into the journal, report and print the summary."""
    catalog = load_catalog()
    formats = parse_formats(args.format)
    options = scan_options(args)
    directory = _output_dir(args)
    jobs = plan_jobs(entries, catalog, options)
    for plan in {id(j.plan): j.plan for j in jobs}.values():
        preflight(plan, [j.target for j in jobs if j.plan is plan])
    known = attestations.clause_ids([p for j in jobs for p in j.plan.profiles])
    attested = attestations.load_attestations(args.attestations, known) \
        if args.attestations else []
    waived = attestations.load_waivers(args.waivers, known, catalog) if args.waivers else []
    if args.sign_key:
        load_signing_key(args.sign_key)  # a bad key fails now, not after the scan
    check_outputs(directory, args.bundle, report_names(formats))  # before any traffic
    now = datetime.now(timezone.utc)
    with journal_home(directory) as home:
        writer = JournalWriter(home, _journal_header(jobs, options, args, now),
                               partial(attestations.apply_target, attestations=attested,
                                       waivers=waived, now=now),
                               resume=bool(getattr(args, "resume", None)))
        for note in writer.notes:
            console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        done = writer.done()
        run = _probe([j for j in jobs if journal_key(j.target) not in done], options, writer,
                     args, console)
        writer.close(run.complete, run.unscanned)
        result = load_journal(home)
        result.contract = contract_of(jobs)  # judged once per scan, not on each target
        attestations.apply_contract(result.contract, attested, now)
        reports = directory or (home if args.bundle else None)
        paths = write_all(result, formats, reports, args.embed_evidence,
                          template_dir=args.template_dir) if reports else []
        for path in paths if directory else []:
            console.print(f"wrote {path}", highlight=False)
        if args.bundle:
            files = attestations.evidence_files(args.attestations, attested) if attested else []
            write_bundle(result, args.bundle, home, paths, files, args.sign_key)
            console.print(f"wrote {args.bundle} ({'signed' if args.sign_key else 'hash-chained'}"
                          f"; chain head {chain_head(args.bundle)}: keep it to compare at "
                          "verify)", highlight=False)
        print_summary(result, console)
        return ScanDone(result.exit_code(), result.options["duration_s"])


def _output_dir(args: argparse.Namespace) -> Path | None:
    """-o, or the directory --resume names (they must agree when both are given)."""
    resume = getattr(args, "resume", None)  # `demo` has no --resume
    if resume and args.output_dir and args.output_dir.resolve() != resume.resolve():
        raise ConfigError(f"--resume {resume} and -o {args.output_dir}: a resumed scan "
                          "writes into the directory it resumes; give one of them")
    return resume or args.output_dir


def _journal_header(jobs: list[ScanJob], options: ScanOptions, args: argparse.Namespace,
                    now: datetime) -> dict[str, Any]:
    """The journal's header: what a report states, plus what a resumed command must match
    (each target's profiles and access, the attestation and waiver files' contents)."""
    profiles, settings = scan_settings(jobs, options)
    plan = [[j.target.name, [p.id for p in j.plan.profiles], repr(j.access)] for j in jobs]
    inputs = {"plan": _digest(json.dumps(plan).encode()),
              **{name: _digest(path.read_bytes()) if path else None
                 for name, path in (("attestations", args.attestations),
                                    ("waivers", args.waivers))}}
    return {"journal_version": JOURNAL_VERSION, "started_at": now.isoformat(timespec="seconds"),
            "profiles": profiles, "options": settings, "inputs": inputs,
            "targets": [{"name": j.target.name, "address": j.target.address} for j in jobs]}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _probe(jobs: list[ScanJob], options: ScanOptions, writer: JournalWriter,
           args: argparse.Namespace, console: Console) -> ScanResult:
    """run_scan into the journal, with a progress bar; SIGINT/SIGTERM stop it cleanly."""
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=args.no_progress, transient=True) as progress:
        task = progress.add_task(f"scanning {len(jobs)} target(s)", total=len(jobs))

        def finished(target: TargetResult) -> None:
            writer.append(target)
            progress.advance(task)

        def notice(text: str) -> None:
            console.print(f"annexscan: {text}", highlight=False, markup=False, soft_wrap=True)

        with stop_on_signals(notice) as stop:
            return run_scan(jobs, options, on_done=finished, stop=stop,
                            pool=_cluster(options, stop))


def _cluster(options: ScanOptions, stop: threading.Event) -> Executor | None:
    """The Dask cluster's pool for --dask-scheduler (distributed is imported then only)."""
    if not options.dask_scheduler:
        return None
    from scanner.fleet.dask_runner import DaskTargetPool
    return DaskTargetPool(options, stop)


def scan_command(args: argparse.Namespace, console: Console) -> int:
    entries, notes = scanned_once(entries_from_args(args), lambda e: e.target,
                                  lambda a, b: (a.profiles, a.access) == (b.profiles, b.access))
    for note in notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    return execute_scan(entries, args, console).exit_code

