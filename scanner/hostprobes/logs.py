"""Log retention settings: journald, logrotate and auditd configuration, and whether auditd runs.

Also home of the small file helpers the other host_system collectors share (read a file or a
directory that may be absent, INI-style `key = value` parsing)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, list_dir, parse_ini, read_optional, unreadable
from scanner.transports.base import HostContext

DAYS_PER_UNIT = {  # systemd.time(7) spans, in days; a bare number is seconds
    "us": 1e-6 / 86400, "usec": 1e-6 / 86400, "ms": 1e-3 / 86400, "msec": 1e-3 / 86400,
    "s": 1 / 86400, "sec": 1 / 86400, "second": 1 / 86400, "seconds": 1 / 86400,
    "m": 1 / 1440, "min": 1 / 1440, "minute": 1 / 1440, "minutes": 1 / 1440,
    "h": 1 / 24, "hr": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
    "d": 1, "day": 1, "days": 1, "w": 7, "week": 7, "weeks": 7,
    "M": 30.44, "month": 30.44, "months": 30.44, "y": 365.25, "year": 365.25, "years": 365.25}
PERIOD_DAYS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "monthly": 365.25 / 12,
               "yearly": 365.25}
SCRIPT_DIRECTIVES = {"postrotate", "prerotate", "firstaction", "lastaction", "preremove"}
# logrotate's built-in tabooext list: files it skips in an included directory
TABOO = re.compile(r"(,v|\.cfsaved|\.disabled|\.dpkg-\w+|\.rhn-cfg-tmp-.*|\.rpmnew|\.rpmorig|"
                   r"\.rpmsave|\.swp|\.ucf-\w+|~)$")
JOURNALD_DIRS = ["/etc/systemd/journald.conf.d", "/usr/lib/systemd/journald.conf.d"]


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


# ---------------------------------------------------------------- logrotate

@dataclass
class Rotation:
    """Rotation settings in force for a block (or the globals a block inherits)."""
    period: str | None = None  # None: logrotate's default is size-based (1M)
    rotate: int = 0
    maxage: int | None = None
    maxsize: bool = False

    def summary(self, source: str, patterns: list[str]) -> dict[str, Any]:
        """Days of old logs kept for sure: rotate x period, capped by maxage; None when the
        rotation depends on size (size, maxsize, no period), so days cannot be shown."""
        if self.period is None or self.maxsize:
            days, limit = None, "size"
        elif self.rotate < 0:
            days, limit = (self.maxage, "maxage") if self.maxage else (None, "none")
        else:
            days, limit = round(self.rotate * PERIOD_DAYS[self.period], 2), "rotate"
            if self.maxage is not None and self.maxage < days:
                days, limit = self.maxage, "maxage"
        return {"file": source, "patterns": patterns, "period": self.period,
                "rotate": self.rotate, "maxage": self.maxage, "maxsize": self.maxsize,
                "days_kept": days, "limit": limit}


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
        if word in PERIOD_DAYS:
            target.period = word
        elif word == "size":
            target.period = None
        elif word == "maxsize":
            target.maxsize = True
        elif word == "rotate" and re.fullmatch(r"-?\d+", arg):
            target.rotate = int(arg)
        elif word == "maxage" and arg.isdigit():
            target.maxage = int(arg)
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


# ---------------------------------------------------------------- journald and auditd

def collect_journald(out: Collected, ctx: HostContext) -> dict[str, Any] | None:
    """Effective [Journal] settings: main file, then drop-ins by name (/etc masks /usr/lib)."""
    main = "/etc/systemd/journald.conf"
    text = read_optional(out, ctx, main)
    if text is None:
        main = "/usr/lib/systemd/journald.conf"
        text = read_optional(out, ctx, main)
    dropins: dict[str, str] = {}
    for directory in reversed(JOURNALD_DIRS):  # /etc last, so it masks a same-named file
        for name in list_dir(out, ctx, directory) or []:
            if name.endswith(".conf"):
                dropins[name] = f"{directory}/{name}"
    if text is None and not dropins:
        return None
    settings: dict[str, str] = {}
    files = [main] if text is not None else []
    for name in sorted(dropins):
        content = read_optional(out, ctx, dropins[name])
        if content is not None:
            files.append(dropins[name])
            settings.update(parse_ini(content).get("Journal", {}))
    settings = {**parse_ini(text or "").get("Journal", {}), **settings}
    storage = settings.get("storage", "auto").lower()
    journal_dir = list_dir(out, ctx, "/var/log/journal") is not None
    retention = settings.get("maxretentionsec", "")
    return {"files": files, "storage": storage, "var_log_journal": journal_dir,
            "persistent": storage == "persistent" or (storage == "auto" and journal_dir),
            "max_retention": retention or None,
            "max_retention_days": timespan_days(retention) if retention else None,
            "system_max_use": settings.get("systemmaxuse") or None,
            "forward_to_syslog": settings.get("forwardtosyslog", "yes").lower()}


def _auditd_running(out: Collected, ctx: HostContext) -> bool | None:
    result = out.run(ctx, "pgrep -x auditd")
    if result.missing_tool:
        result = out.run(ctx, "systemctl is-active auditd")
        if result.stdout.strip() in ("active", "inactive", "failed"):
            return result.stdout.strip() == "active"
        return None
    if result.exit_code in (0, 1):
        return result.exit_code == 0
    raise unreadable(result)


def collect_auditd(out: Collected, ctx: HostContext) -> dict[str, Any]:
    text = read_optional(out, ctx, "/etc/audit/auditd.conf", sudo=True)
    config = parse_ini(text or "")[""]
    return {"configured": text is not None, "running": _auditd_running(out, ctx),
            "max_log_file_action": config.get("max_log_file_action", "rotate").lower()
            if text is not None else None,
            "num_logs": config.get("num_logs"), "max_log_file_mb": config.get("max_log_file")}


@collector("logs")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected()
    try:
        out.data = {"journald": collect_journald(out, ctx),
                    "logrotate": collect_logrotate(out, ctx),
                    "auditd": collect_auditd(out, ctx)}
    except Unreadable as exc:
        out.error = str(exc)
    return out
