"""host.backups: the series of backups in one location, judged day by day on the host's calendar
against the profile's schedule, plus recency, retention, versions and encryption by file header.

Several files written the same day are one version. Every threshold may be null: that sub-rule
is not checked, and `expected` lists only the ones that were.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from scanner.checks.base import Observations, check
from scanner.hostprobes.backups import is_backup
from scanner.model import Status, Verdict

SHOWN = 5  # file names quoted in a reason
SHOWN_GAPS = 10  # missing dates or spans quoted in a reason
OBSERVED = 50  # paths listed in `observed` per kind of problem (the reason gives the counts)
_ENCRYPTED = "every file encrypted (OpenPGP, age, openssl enc, LUKS, AES zip, 7z with " \
             "encrypted header)"


def _every(days: int) -> str:
    return {1: "daily", 7: "weekly"}.get(days, f"every {days} days")


def _schedule_text(schedule: list[dict[str, Any]]) -> str:
    parts, offset = [], 0
    for step in schedule:
        span = f"for {step['days']} days" if step["days"] else "back to the oldest kept"
        parts.append(f"{_every(step['every_days'])} {span}" + (
            f" (from day {offset})" if offset else ""))
        offset += step["days"] or 0
    return "a backup " + ", then ".join(parts) + " (no gap longer than the interval)"


def _expected(params: dict) -> str:
    rules = {"max_age_hours": lambda v: f"newest backup at most {v:g} h old",
             "schedule": _schedule_text,
             "min_retention_days": lambda v: f"oldest backup at least {v} days old",
             "min_versions": lambda v: f"at least {v} versions (distinct days)",
             "require_encryption": lambda v: _ENCRYPTED}
    done = [rule(params[name]) for name, rule in rules.items() if params[name]]
    skipped = [name for name in rules if not params[name]]
    return (f"in {params['path']}, files named {params['pattern']} (checksum and signature "
            f"sidecars aside): " + ("; ".join(done) or "at least one backup file") +
            (f" [not checked: {', '.join(skipped)}]" if skipped else ""))


@dataclass
class Series:
    """Which days of the host's calendar have a backup; before `seen_from` nothing was listed."""
    today: date
    days: set[date]
    seen_from: date | None

    def runs_missing(self, lo: date, hi: date) -> list[tuple[date, date]]:
        runs, start, day = [], None, lo
        while day <= hi:
            if day in self.days and start:
                runs.append((start, day - timedelta(1)))
                start = None
            elif day not in self.days and not start:
                start = day
            day += timedelta(1)
        return runs + ([(start, hi)] if start else [])


def _span(run: tuple[date, date]) -> str:
    first, last = run
    return str(first) if first == last else f"{first} to {last} ({(last - first).days + 1} days)"


def _judge_schedule(series: Series, schedule: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(failures, unknowns): every run of `every_days` or more days without a backup is a gap,
    except that the run reaching today may be `every_days` long (today's backup may be due)."""
    fails, unknown, offset = [], [], 0
    oldest = min(series.days) if series.days else series.today
    for index, step in enumerate(schedule):
        every, hi = step["every_days"], series.today - timedelta(offset)
        if step["days"] is None and index < len(schedule) - 1:
            return [], [f"schedule step {index + 1} has days: null, so the steps after it can "
                        "never be reached: give it a number of days"]
        lo = hi - timedelta(step["days"] - 1) if step["days"] else \
            min(oldest, hi - timedelta(every - 1))
        if series.seen_from and (lo < series.seen_from or step["days"] is None):
            unknown.append(f"{_every(every)} series before {series.seen_from} not seen (only "
                           "the newest files are listed)")
            lo = series.seen_from
        gaps = [run for run in series.runs_missing(lo, hi)
                if (run[1] - run[0]).days + 1 > (every if offset == 0 and run[1] == hi
                                                 else every - 1)]
        if gaps:
            shown = ", ".join(_span(g) for g in gaps[:SHOWN_GAPS])
            more = f" and {len(gaps) - SHOWN_GAPS} more" if len(gaps) > SHOWN_GAPS else ""
            fails.append(f"{_every(every)} series ({lo} to {hi}) has no backup on {shown}{more}")
        offset += step["days"] or 0
    return fails, unknown


def _names(files: list[dict[str, Any]], why: str = "format") -> str:
    listed = ", ".join(f"{f['path']} ({f[why]})" for f in files[:SHOWN])
    return listed + (f" and {len(files) - SHOWN} more" if len(files) > SHOWN else "")


def _encryption(files: list[dict[str, Any]], observed: dict) -> tuple[list[str], list[str]]:
    clear = [f for f in files if f["encrypted"] is False]
    weak = [f for f in files if f["encrypted"] and f["weak"]]
    unsure = [f for f in files if f["encrypted"] is None]
    observed.update({name: [f["path"] for f in found[:OBSERVED]] for name, found in (
        ("clear", clear), ("weak", weak), ("unverified", unsure))})
    fails = [f"{len(clear)} file(s) in clear: {_names(clear)}"] if clear else []
    if weak:
        fails.append(f"{len(weak)} file(s) weakly encrypted: {_names(weak, 'weak')}")
    unknown = [f"encryption of {len(unsure)} file(s) not verifiable: "
               f"{_names(unsure, 'unverified')}"] if unsure else []
    return fails, unknown


@check("host.backups")
def backups(obs: Observations, params: dict) -> Verdict:
    where = obs.host("backups")["locations"][params["path"]]
    expected = _expected(params)
    if where.get("error"):
        return Verdict(Status.ERROR, expected, reason=where["error"])
    if not where["exists"] or not where["directory"]:
        what = "does not exist" if not where["exists"] else f"is a {where['kind']}"
        return Verdict(Status.ERROR, expected, {"path": params["path"]},
                       f"the backup location {params['path']} {what} on the host: wrong path, "
                       "or the backup volume is not mounted")
    matching = [f for f in where["files"] if is_backup(f, params["pattern"])]
    files = [f for f in matching if not f["sidecar"]]
    others = len(where["files"]) - len(matching)
    observed: dict[str, Any] = {"path": params["path"], "pattern": params["pattern"],
                                "files": len(files), "other_files": others,
                                "truncated": where["truncated"]}
    if not files:
        return Verdict(Status.FAIL, expected, observed,
                       f"no backup file named {params['pattern']} in {params['path']} (two levels"
                       f" deep; {others} other file(s) do not match)")
    now, today = where["now"], date.fromisoformat(where["today"])
    series = Series(today, {date.fromisoformat(f["day"]) for f in files},
                    min(date.fromisoformat(f["day"]) for f in where["files"])
                    if where["truncated"] else None)
    newest, oldest = files[0], files[-1]  # the listing is newest first
    observed.update(
        days=len(series.days),
        newest={"path": newest["path"], "age_hours": round((now - newest["mtime"]) / 3600, 1)},
        oldest={"path": oldest["path"], "age_days": round((now - oldest["mtime"]) / 86400, 1)},
        formats=dict(Counter(f["format"] for f in files)))
    fails, unknown = [], []
    if params["max_age_hours"] and observed["newest"]["age_hours"] > params["max_age_hours"]:
        fails.append(f"newest backup is {observed['newest']['age_hours']} h old "
                     f"> {params['max_age_hours']:g} h")
    if params["schedule"]:
        gaps, unseen = _judge_schedule(series, params["schedule"])
        fails, unknown = fails + gaps, unknown + unseen
    if params["min_retention_days"] and observed["oldest"]["age_days"] < params[
            "min_retention_days"]:
        (unknown if where["truncated"] else fails).append(
            f"oldest backup {'listed ' if where['truncated'] else ''}is "
            f"{observed['oldest']['age_days']} days old < {params['min_retention_days']}")
    if params["min_versions"] and len(series.days) < params["min_versions"]:
        (unknown if where["truncated"] else fails).append(
            f"{len(series.days)} versions (distinct days, {len(files)} files) "
            f"< {params['min_versions']}")
    if params["require_encryption"]:
        bad, unsure = _encryption(files, observed)
        fails, unknown = fails + bad, unknown + unsure
        if where["truncated"]:
            unknown.append(f"only the newest {len(where['files'])} files were listed: older ones"
                           " were not checked for encryption")
    if fails:
        return Verdict(Status.FAIL, expected, observed, "; ".join(fails + unknown))
    if unknown:
        return Verdict(Status.ERROR, expected, observed, "; ".join(unknown))
    return Verdict(Status.PASS, expected, observed)
