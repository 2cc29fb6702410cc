"""Log retention: journald (settings and the journal itself, see journal.py), logrotate blocks
with the days their configuration guarantees, auditd, and for every store whose deletion
depends on size, the archives on disk as evidence of how far back it really reaches.

Days guaranteed by a time-based rotation are exact calendar minima: `rotate N daily` N days,
`weekly` 7N, `monthly` the shortest N consecutive months (12 -> 365), `yearly` 365N; a
rotation that also depends on size (size, maxsize, no period) guarantees nothing by itself."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, list_dir, parse_ini, read_optional
from scanner.hostprobes.filetimes import file_stats, host_now, running_processes
from scanner.hostprobes.journal import journal_evidence, read_settings
from scanner.transports.base import HostContext

DAYS_PER_UNIT = {  # systemd.time(7) spans, in days; a bare number is seconds
    "us": 1e-6 / 86400, "usec": 1e-6 / 86400, "ms": 1e-3 / 86400, "msec": 1e-3 / 86400,
    "s": 1 / 86400, "sec": 1 / 86400, "second": 1 / 86400, "seconds": 1 / 86400,
    "m": 1 / 1440, "min": 1 / 1440, "minute": 1 / 1440, "minutes": 1 / 1440,
    "h": 1 / 24, "hr": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
    "d": 1, "day": 1, "days": 1, "w": 7, "week": 7, "weeks": 7,
    "M": 30.44, "month": 30.44, "months": 30.44, "y": 365.25, "year": 365.25, "years": 365.25}
PERIOD_DAYS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "yearly": 365}  # shortest spans
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # a common year: shortest
SCRIPT_DIRECTIVES = {"postrotate", "prerotate", "firstaction", "lastaction", "preremove"}
# logrotate's built-in tabooext list: files it skips in an included directory
TABOO = re.compile(r"(,v|\.cfsaved|\.disabled|\.dpkg-\w+|\.rhn-cfg-tmp-.*|\.rpmnew|\.rpmorig|"
                   r"\.rpmsave|\.swp|\.ucf-\w+|~)$")


def timespan_days(value: str) -> float | None:
    """A systemd time span ("1year", "52w 1d", "3600") in days; None if it does not parse."""
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", value)
    if not parts or re.sub(r"[\d.\sA-Za-z]", "", value):
        return None
    for number, unit in parts:
        factor = DAYS_PER_UNIT.get(unit) or DAYS_PER_UNIT.get(unit.lower()) if unit else 1 / 86400
        if factor is None:
            return None
        total += float(number) * factor
    return total


def rotation_days(period: str, count: int) -> float:
    """Days `count` rotations of `period` cover at the least (logrotate rotates monthly on the
    first run of a new month, yearly of a new year)."""
    if period != "monthly":
        return round(count * PERIOD_DAYS[period], 4)
    years, rest = divmod(count, 12)
    return years * 365 + min(sum(MONTH_DAYS[(start + i) % 12] for i in range(rest))
                             for start in range(12))


# ---------------------------------------------------------------- logrotate

@dataclass
class Rotation:
    """Rotation settings in force for a block (or the globals a block inherits)."""
    period: str | None = None  # None: logrotate's default is size-based (1M)
    rotate: int = 0
    maxage: int | None = None
    maxsize: bool = False
    olddir: str | None = None

    def summary(self, source: str, patterns: list[str]) -> dict[str, Any]:
        """Days of old logs the configuration guarantees: rotate x period, capped by maxage.
        size_based: deletion depends on size (size, maxsize, no period), so only the archives
        on disk can show the days kept; limit "none": nothing ever deletes them."""
        size_based = self.rotate > 0 and (self.period is None or self.maxsize)
        days, limit = None, "size" if size_based else "none"
        if not size_based and self.rotate >= 0:
            days, limit = rotation_days(self.period or "daily", self.rotate), "rotate"
        if self.maxage is not None and (days is None or self.maxage < days):
            days, limit = self.maxage, "maxage"  # for a size-based block: a cap, not a floor
        return {"file": source, "patterns": patterns, "period": self.period,
                "rotate": self.rotate, "maxage": self.maxage, "maxsize": self.maxsize,
                "olddir": self.olddir, "size_based": size_based, "days_kept": days,
                "limit": limit}


@dataclass
class LogrotateParser:
    """Reads logrotate.conf the way logrotate does: globals apply to the blocks after them,
    `include` pulls files (or a directory's files) in place, scripts are skipped."""
    load: Callable[[str], list[tuple[str, str]]]  # include target -> [(file, text)]
    defaults: Rotation = field(default_factory=Rotation)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    included: set[str] = field(default_factory=set)  # an include loop is read once

    def parse(self, source: str, text: str) -> None:
        block: Rotation | None = None
        patterns: list[str] = []
        in_script = False
        for raw in text.splitlines():
            line = raw.strip()
            if in_script:
                in_script = line != "endscript"
                continue
            if not line or line.startswith("#"):
                continue
            for piece in re.split(r"([{}])", line):
                piece = piece.strip()
                if piece == "{":
                    block = Rotation(**vars(self.defaults))
                elif piece == "}":
                    if block is not None:
                        self.blocks.append(block.summary(source, patterns))
                    block, patterns = None, []
                elif piece and block is None and piece[0] in "/\"'*~":
                    patterns += [p.strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|\S+",
                                                                    piece)]
                elif piece:
                    in_script = self._directive(piece, block or self.defaults)

    def _directive(self, line: str, target: Rotation) -> bool:
        """Apply one directive; True when it opens a script that runs to `endscript`."""
        word, arg = (line.split(None, 1) + [""])[:2]
        word, arg = word.lower(), arg.strip()
        if word in SCRIPT_DIRECTIVES:
            return True
        if word in PERIOD_DAYS or word == "monthly":
            target.period = word
        elif word == "size":
            target.period = None
        elif word == "maxsize":
            target.maxsize = True
        elif word == "rotate" and re.fullmatch(r"-?\d+", arg):
            target.rotate = int(arg)
        elif word == "maxage" and arg.isdigit():
            target.maxage = int(arg)
        elif word == "olddir" and arg:
            target.olddir = arg.strip("\"'")
        elif word == "noolddir":
            target.olddir = None
        elif word == "include" and target is self.defaults and arg not in self.included:
            self.included.add(arg)
            for name, text in self.load(arg):
                self.parse(name, text)
        return False


def _logrotate_loader(out: Collected, ctx: HostContext) -> Callable[[str], list[tuple[str, str]]]:
    def load(path: str) -> list[tuple[str, str]]:
        names = list_dir(out, ctx, path)
        if names is None:
            return []
        if names == [ctx.path(path)]:  # `ls` of a plain file names the file itself
            text = read_optional(out, ctx, path)
            return [] if text is None else [(path, text)]
        files = []
        for name in names:
            if not TABOO.search(name):
                text = read_optional(out, ctx, f"{path.rstrip('/')}/{name}")
                if text is not None:
                    files.append((f"{path.rstrip('/')}/{name}", text))
        return files
    return load


def collect_logrotate(out: Collected, ctx: HostContext) -> dict[str, Any] | None:
    """Every logrotate block with the days it keeps; None when logrotate is not set up."""
    text = read_optional(out, ctx, "/etc/logrotate.conf")
    if text is None:
        return None
    parser = LogrotateParser(_logrotate_loader(out, ctx))
    parser.parse("/etc/logrotate.conf", text)
    return {"blocks": parser.blocks}


# ---------------------------------------------------------------- evidence on disk

ARCHIVE = re.compile(r"^(?P<stem>.+?)(?:\.\d+|-\d{8,10})(?:\.[A-Za-z0-9]+)?$")


def archive_evidence(out: Collected, ctx: HostContext, log: str, olddir: str | None,
                     keep: int, now: float) -> list[dict[str, Any]]:
    """Per live log matching `log` (a logrotate pattern), its rotated copies (name.1,
    name.2.gz, name-20261101): how many, how old the oldest, and whether `keep` are reached
    (then rotation is already deleting). A pattern whose directory is a glob is not listed."""
    directory = posixpath.dirname(log)
    if olddir:
        directory = posixpath.normpath(posixpath.join(directory, olddir))
    if re.search(r"[*?\[]", directory) or not directory.startswith("/"):
        return []
    base = posixpath.basename(log)
    logs: dict[str, list[float]] = {}
    for stat in file_stats(out, ctx, directory, sudo=True) or []:
        name = posixpath.basename(stat.path)
        match = ARCHIVE.match(name)
        if match and fnmatch.fnmatchcase(match["stem"], base):
            logs.setdefault(posixpath.join(posixpath.dirname(log), match["stem"]),
                            []).append(stat.mtime)
    return [{"log": name, "archives": len(times), "full": keep > 0 and len(times) >= keep,
             "oldest_days": round((now - min(times)) / 86400, 2)}
            for name, times in sorted(logs.items())]


def add_archive_evidence(out: Collected, ctx: HostContext, blocks: list[dict[str, Any]],
                         now: float) -> None:
    """Blocks whose deletion depends on size get what their archives show."""
    for block in blocks:
        if block["size_based"]:
            block["archives"] = [entry for pattern in block["patterns"] for entry in
                                 archive_evidence(out, ctx, pattern, block["olddir"],
                                                  block["rotate"], now)]


# ---------------------------------------------------------------- journald and auditd

def collect_journald(out: Collected, ctx: HostContext, now: float) -> dict[str, Any] | None:
    found = read_settings(out, ctx)
    if found is None:
        return None
    files, settings = found
    storage = settings.get("storage", "auto").lower()
    journal_dir = list_dir(out, ctx, "/var/log/journal") is not None
    retention = settings.get("maxretentionsec", "")
    persistent = storage == "persistent" or (storage == "auto" and journal_dir)
    return {"files": files, "storage": storage, "var_log_journal": journal_dir,
            "persistent": persistent, "max_retention": retention or None,
            "max_retention_days": timespan_days(retention) if retention else None,
            "size_settings": {k: settings[k] for k in ("systemmaxuse", "systemkeepfree",
                                                       "systemmaxfiles", "systemmaxfilesize")
                              if k in settings},
            "forward_to_syslog": settings.get("forwardtosyslog", "yes").lower(),
            "evidence": journal_evidence(out, ctx, settings, now) if persistent else None}


def _auditd_running(out: Collected, ctx: HostContext) -> bool | None:
    processes = running_processes(out, ctx)
    if processes is not None:
        return "auditd" in processes
    if ctx.root != "/":  # a sysroot: this machine's service manager would answer, not its own
        return None
    result = out.run(ctx, "systemctl is-active auditd")
    if result.stdout.strip() in ("active", "inactive", "failed"):
        return result.stdout.strip() == "active"
    return None


def collect_auditd(out: Collected, ctx: HostContext, now: float) -> dict[str, Any]:
    text = read_optional(out, ctx, "/etc/audit/auditd.conf", sudo=True)
    config = parse_ini(text or "")[""]
    action = config.get("max_log_file_action", "rotate").lower() if text is not None else None
    num_logs = config.get("num_logs", "5")
    data = {"configured": text is not None, "running": _auditd_running(out, ctx),
            "max_log_file_action": action, "num_logs": num_logs,
            "max_log_file_mb": config.get("max_log_file"), "archives": None}
    if action == "rotate":  # auditd deletes the oldest of num_logs files (log + archives)
        keep = int(num_logs) - 1 if num_logs.isdigit() else 0
        data["archives"] = archive_evidence(out, ctx, config.get(
            "log_file", "/var/log/audit/audit.log"), None, keep, now)
    return data


@collector("logs")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected()
    try:
        now = host_now(out, ctx)
        logrotate = collect_logrotate(out, ctx)
        if logrotate is not None:
            add_archive_evidence(out, ctx, logrotate["blocks"], now)
        out.data = {"journald": collect_journald(out, ctx, now), "logrotate": logrotate,
                    "auditd": collect_auditd(out, ctx, now)}
    except Unreadable as exc:
        out.error = str(exc)
    return out
