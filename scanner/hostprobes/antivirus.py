"""Anti-malware presence and signature age: ClamAV engines (clamscan, clamdscan) and the build
time in the header of its signature databases (daily/main/bytecode .cvd or .cld)."""

from __future__ import annotations

import re
import shlex
import time
from datetime import datetime, timezone
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, list_dir, read_optional
from scanner.transports.base import HostContext

ENGINES = ["clamscan", "clamdscan"]
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


@collector("antivirus")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"engines": {}, "now": time.time()})
    for engine in ENGINES:
        result = out.run(ctx, f"{engine} --version")
        if not result.missing_tool:
            out.data["engines"][engine] = {"output": (result.stdout or result.stderr).strip(),
                                           **(parse_clam_version(result.stdout) or {})}
    try:
        out.data["database_dir"] = _database_dir(out, ctx)
        out.data["databases"] = _databases(out, ctx, out.data["database_dir"])
    except Unreadable as exc:
        out.error = str(exc)
    return out
