"""Anti-malware on the host: the common Linux engines recognised by their packages (dpkg or
rpm database), systemd units and running processes (ENGINES), and for ClamAV, the signature
age from its version line and the build time in the header of its databases (daily/main/
bytecode .cvd or .cld); Defender's from `mdatp health`. The other engines keep their
signature state inside their own agents."""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, list_dir, read_optional
from scanner.hostprobes.filetimes import host_now, running_processes
from scanner.transports.base import HostContext


@dataclass(frozen=True)
class Engine:
    title: str
    packages: tuple[str, ...]   # deb or rpm names
    units: tuple[str, ...]      # systemd units
    processes: tuple[str, ...]  # process names (comm, at most 15 characters)
    age_command: str | None = None  # prints the minutes since the last signature update


ENGINES = {
    "clamav": Engine("ClamAV", ("clamav", "clamav-daemon"),
                     ("clamav-daemon.service", "clamav-freshclam.service"), ("clamd",)),
    "mdatp": Engine("Microsoft Defender for Endpoint", ("mdatp",), ("mdatp.service",),
                    ("wdavdaemon",), "mdatp health --field definitions_updated_minutes_ago"),
    "eset": Engine("ESET Endpoint/Server Security", ("eea", "efs", "esets"),
                   ("eea.service", "efs.service", "esets.service"), ("esets_daemon",)),
    "sophos": Engine("Sophos Protection for Linux", ("sophos-spl", "sav-linux"),
                     ("sophos-spl.service", "sav-protect.service"), ("sophos_watchdog", "savd")),
    "falcon": Engine("CrowdStrike Falcon", ("falcon-sensor",), ("falcon-sensor.service",),
                     ("falcon-sensor", "falcond")),
    "deepsecurity": Engine("Trend Micro Deep Security Agent", ("ds-agent", "ds_agent"),
                           ("ds_agent.service",), ("ds_agent",)),
    "sentinelone": Engine("SentinelOne", ("sentinelagent",), ("sentinelone.service",),
                          ("s1-agent", "s1-orchestrator")),
    "bitdefender": Engine("Bitdefender GravityZone", ("bitdefender-security-tools",),
                          ("bdsec.service",), ("bdsecd",)),
    "trellix": Engine("Trellix (McAfee) Endpoint Security", ("mfetp", "mcafeetp"),
                      ("mfetpd.service",), ("mfetpd",)),
    "kaspersky": Engine("Kaspersky Endpoint Security", ("kesl",), ("kesl.service",), ("kesl",)),
}
CLAMAV_BINARIES = ["clamscan", "clamdscan"]
DEFAULT_DB_DIR = "/var/lib/clamav"
FRESHCLAM_CONFS = ["/etc/clamav/freshclam.conf", "/etc/freshclam.conf"]
DATABASE = re.compile(r"^(daily|main|bytecode)\.(cvd|cld)$")
VERSION = re.compile(r"ClamAV (\S+?)(?:/(\d+)/(.+))?$", re.M)


def parse_clam_version(text: str) -> dict[str, Any] | None:
    """"ClamAV 1.0.3/27100/Mon Nov 20 08:12:34 2023": engine, daily version and its date
    (the date is the host's local time; read as UTC, within a day)."""
    match = VERSION.search(text.strip())
    if not match:
        return None
    built = None
    if match[3]:
        try:
            stamp = datetime.strptime(match[3].strip(), "%a %b %d %H:%M:%S %Y")
            built = stamp.replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass  # an unknown date format: the database headers still give the date
    return {"engine": match[1], "daily_version": int(match[2]) if match[2] else None,
            "built": built}


def parse_cvd_header(header: str) -> dict[str, Any] | None:
    """The 512-byte CVD/CLD header "ClamAV-VDB:20 Nov 2023 08-12 -0500:27100:sigs:flevel:
    md5:dsig:builder:stime"; the build time is stime, else the date field."""
    if not header.startswith("ClamAV-VDB:"):
        return None
    fields = header.strip().split(":")
    if len(fields) > 8 and fields[8].strip().isdigit():
        built = float(fields[8].strip())
    else:
        try:
            built = datetime.strptime(fields[1], "%d %b %Y %H-%M %z").timestamp()
        except (ValueError, IndexError):
            return None
    version = fields[2] if len(fields) > 2 else ""
    return {"version": int(version) if version.isdigit() else None, "built": built}


def _database_dir(out: Collected, ctx: HostContext) -> str:
    for path in FRESHCLAM_CONFS:
        match = re.search(r"^\s*DatabaseDirectory\s+(\S+)", read_optional(out, ctx, path) or "",
                          re.M)
        if match:
            return match[1]
    return DEFAULT_DB_DIR


def _databases(out: Collected, ctx: HostContext, directory: str) -> dict[str, Any]:
    databases: dict[str, Any] = {}
    for name in list_dir(out, ctx, directory) or []:
        if DATABASE.match(name):
            path = f"{directory.rstrip('/')}/{name}"
            result = out.run(ctx, f"head -c 512 -- {shlex.quote(ctx.path(path))}")
            if not result.ok:
                raise Unreadable(result.explain())
            result.stdout = result.stdout.rstrip()  # the header is padded to 512 bytes
            databases[path] = parse_cvd_header(result.stdout) or {"unreadable_header": True}
    return databases


def _packages(out: Collected, ctx: HostContext, names: list[str]) -> set[str] | None:
    """Which of `names` the package database lists as installed; None: no database answered."""
    sysroot = ctx.root != "/"
    admindir = f"--admindir={shlex.quote(ctx.path('/var/lib/dpkg'))} " if sysroot else ""
    result = out.run(ctx, f"dpkg-query {admindir}-W -f='${{Package}} ${{Status}}\\n' "
                          + " ".join(names))
    if not result.missing_tool and (result.ok or "no packages found" in result.stderr):
        return {line.split()[0] for line in result.stdout.splitlines()
                if line.endswith(" installed")}
    dbroot = f"--root {shlex.quote(ctx.root)} " if sysroot else ""
    result = out.run(ctx, f"rpm -q {dbroot}--qf '%{{NAME}}\\n' " + " ".join(names))
    lines = result.stdout.splitlines()
    if result.missing_tool or result.error or (
            not result.ok and not any(line.endswith(" is not installed") for line in lines)):
        return None
    return {line.strip() for line in lines} & set(names)


def _units(out: Collected, ctx: HostContext, units: list[str]) -> dict[str, str] | None:
    """systemctl's state of each unit; None on a sysroot or without an answering systemd."""
    if ctx.root != "/":
        return None
    result = out.run(ctx, "systemctl is-active " + " ".join(units))
    states = result.stdout.split()
    return dict(zip(units, states)) if len(states) == len(units) else None


def _clamav(out: Collected, ctx: HostContext) -> dict[str, Any]:
    """ClamAV's binaries and databases. On a sysroot, clamscan reads the sysroot's databases
    (--database) and clamdscan, which would ask this machine's daemon, is not run."""
    directory = _database_dir(out, ctx)
    binaries = {}
    for binary in CLAMAV_BINARIES if ctx.root == "/" else CLAMAV_BINARIES[:1]:
        option = "" if ctx.root == "/" else f" --database={shlex.quote(ctx.path(directory))}"
        result = out.run(ctx, f"{binary}{option} --version")
        if not result.missing_tool:
            binaries[binary] = {"output": (result.stdout or result.stderr).strip(),
                                **(parse_clam_version(result.stdout) or {})}
    return {"binaries": binaries, "database_dir": directory,
            "databases": _databases(out, ctx, directory)}


def _signature_age(out: Collected, ctx: HostContext, command: str) -> float | None:
    """Days since the engine's last signature update, as its own agent tells; None on a
    sysroot (the agent of this machine would answer) or when it does not."""
    if ctx.root != "/":
        return None
    result = out.run(ctx, command, sudo=True)
    value = result.stdout.strip().strip('"').split(" ")[0]
    return round(int(value) / 1440, 2) if result.ok and value.isdigit() else None


def looked_for() -> str:
    """What the collector searches, for a `manual` answer."""
    return (f"packages {', '.join(p for e in ENGINES.values() for p in e.packages)}; "
            f"services {', '.join(u for e in ENGINES.values() for u in e.units)}; "
            f"processes {', '.join(p for e in ENGINES.values() for p in e.processes)}; "
            f"binaries {', '.join(CLAMAV_BINARIES)}")


@collector("antivirus")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    """Per engine: installed packages, unit states, running processes (None: not observable),
    and the signature age where its agent tells it (Defender)."""
    out = Collected(data={"engines": {}, "looked_for": looked_for()})
    try:
        out.data["now"] = host_now(out, ctx)
        packages = _packages(out, ctx, [p for e in ENGINES.values() for p in e.packages])
        units = _units(out, ctx, [u for e in ENGINES.values() for u in e.units])
        processes = running_processes(out, ctx)
        out.data |= {"package_db": packages is not None, "systemd": units is not None,
                     "process_list": processes is not None, "clamav": _clamav(out, ctx)}
        for name, engine in ENGINES.items():
            found = {
                "title": engine.title,
                "packages": None if packages is None else sorted(packages & set(engine.packages)),
                "units": None if units is None else {u: units[u] for u in engine.units},
                "processes": None if processes is None else sorted(processes &
                                                                   set(engine.processes))}
            if engine.age_command and (found["packages"] or found["processes"]):
                found["signature_age_days"] = _signature_age(out, ctx, engine.age_command)
            out.data["engines"][name] = found
    except Unreadable as exc:
        out.error = str(exc)
    return out
