"""host.log_retention: every persistent log store keeps min_days, shown by the configuration
when it guarantees the days (time-based rotation), else by the logs on disk.

A size limit (journald's SystemMaxUse/SystemKeepFree/SystemMaxFiles, logrotate size/maxsize,
auditd rotate) or a MaxRetentionSec cap never proves the days by itself: the oldest entry or
archive must be at least min_days old. Younger, the store fails when its size limit is already
deleting (journal at its cap, every archive slot used), and is an error otherwise (the host's
logs may simply be younger than min_days)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scanner.checks.base import Finding, Observations, aggregate, check
from scanner.model import Status, Verdict


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _journal_observed(journal: dict[str, Any]) -> dict[str, Any]:
    observed = {k: journal[k] for k in ("storage", "persistent", "max_retention",
                                        "size_settings", "files")}
    ev = journal["evidence"]
    if ev:
        observed["journal"] = {
            "files": ev["files"], "disk_mib": round(ev["disk_bytes"] / 2**20, 1),
            "oldest_entry": _iso(ev["oldest_entry"]) if ev["oldest_entry"] else None,
            "horizon_days": ev["horizon_days"], "horizon_source": ev["source"],
            "caps_mib": {k: round(v / 2**20, 1) for k, v in ev["caps"].items()
                         if k != "max_files" and v is not None},
            "max_files": ev["caps"].get("max_files"), "at_size_cap": ev["at_size_cap"]}
    return observed


def journald_finding(journal: dict[str, Any], min_days: int) -> Finding:
    observed = _journal_observed(journal)
    days, ev = journal["max_retention_days"], journal["evidence"]
    if journal["max_retention"] and days is None:
        return Finding("journald", Status.ERROR, observed,
                       f"MaxRetentionSec={journal['max_retention']} is not a time span")
    if days and days < min_days:
        return Finding("journald", Status.FAIL, observed,
                       f"MaxRetentionSec={journal['max_retention']} deletes entries after "
                       f"{days:g} days < {min_days}")
    if not ev["oldest_entry"]:
        return Finding("journald", Status.ERROR, observed, "the persistent journal has no file "
                       "in /var/log/journal: the days it keeps cannot be shown")
    horizon = ev["horizon_days"]
    if horizon >= min_days:
        return Finding("journald", Status.PASS, observed)
    held = (f"the journal reaches back {horizon:g} days (oldest entry "
            f"{_iso(ev['oldest_entry'])}) < {min_days}")
    if ev["at_size_cap"]:
        return Finding("journald", Status.FAIL, observed, f"{held}, and it is pruned by size ("
                       f"{'; '.join(ev['at_size_cap'])}), whatever MaxRetentionSec says")
    projected = ""
    if horizon > 0 and ev["disk_bytes"]:
        days_at_cap = ev["caps"]["max_use"] / (ev["disk_bytes"] / horizon)
        projected = f"; at the observed rate SystemMaxUse would hold about {days_at_cap:.0f} days"
    return Finding("journald", Status.ERROR, observed, f"{held}; no size cap is reached yet, so "
                   f"the host's journal may simply be younger: {min_days} days cannot be shown "
                   f"yet{projected}")


def archives_finding(key: str, entries: list[dict[str, Any]], how: str,
                     min_days: int) -> Finding:
    """A store deleted by size: judged on its archives on disk."""
    if not entries:
        return Finding(key, Status.ERROR, entries, f"{how}: no archive on disk shows the days "
                       "kept")
    old = [e for e in entries if e["oldest_days"] >= min_days]
    full = [e for e in entries if e not in old and e["full"]]
    young = [e for e in entries if e not in old and not e["full"]]
    if full:
        return Finding(key, Status.FAIL, entries, f"{how}: " + "; ".join(
            f"{e['log']} keeps {e['archives']} archives, the oldest {e['oldest_days']:g} days old"
            f" < {min_days}, and deletes the next" for e in full))
    if young:
        return Finding(key, Status.ERROR, entries, f"{how}: " + "; ".join(
            f"{e['log']} has {e['archives']} archives, the oldest {e['oldest_days']:g} days old"
            for e in young) + f", not yet {min_days}: the days kept cannot be shown yet")
    return Finding(key, Status.PASS, entries)


def logrotate_finding(block: dict[str, Any], min_days: int) -> Finding:
    key = f"logrotate {block['file']}: {' '.join(block['patterns'])}"
    days = block["days_kept"]
    if block["limit"] == "maxage" and days < min_days:
        return Finding(key, Status.FAIL, block, f"keeps {days:g} days (maxage {days}) < "
                       f"{min_days}")
    if block["size_based"]:
        how = (f"rotated by size ({'maxsize' if block['maxsize'] else 'size or no period'}, "
               f"rotate {block['rotate']})")
        finding = archives_finding(key, block.get("archives", []), how, min_days)
        finding.observed = {**{k: block[k] for k in ("period", "rotate", "maxage")},
                            "archives": finding.observed}
        return finding
    observed = {k: block[k] for k in ("period", "rotate", "maxage", "days_kept")}
    if block["limit"] == "none":
        observed["days_kept"] = "unlimited"
    elif days < min_days:
        return Finding(key, Status.FAIL, observed, f"keeps {days:g} days (rotate "
                       f"{block['rotate']} {block['period'] or 'daily'}) < {min_days}")
    return Finding(key, Status.PASS, observed)


def auditd_findings(auditd: dict[str, Any], min_days: int | None,
                    require_running: bool) -> list[Finding]:
    findings = []
    if auditd["configured"] and min_days is not None:
        observed = {k: auditd[k] for k in ("max_log_file_action", "num_logs", "max_log_file_mb")}
        if auditd["max_log_file_action"] == "rotate":
            finding = archives_finding(
                "auditd logs", auditd["archives"] or [], f"max_log_file_action = rotate deletes "
                f"the oldest of {auditd['num_logs']} x {auditd['max_log_file_mb']} MB files",
                min_days)
            finding.observed = {**observed, "archives": finding.observed}
            findings.append(finding)
        else:
            findings.append(Finding("auditd logs", Status.PASS, observed))
    if require_running:
        running = auditd["running"]
        status = {True: Status.PASS, False: Status.FAIL}.get(running, Status.ERROR)
        reason = {True: "", False: "auditd is not running" + (
            "" if auditd["configured"] else " (not installed: no /etc/audit/auditd.conf)")}.get(
            running, "cannot tell whether auditd runs (no complete /proc, systemctl did not "
                     "answer)")
        findings.append(Finding("auditd running", status, running, reason))
    return findings


@check("host.log_retention")
def log_retention(obs: Observations, params: dict) -> Verdict:
    data = obs.host("logs")
    min_days, require_auditd = params["min_days"], bool(params["require_auditd"])
    parts = [] if min_days is None else [
        f"every persistent log store keeps at least {min_days} days, shown by a time-based "
        "rotation (logrotate rotate x period, maxage) or by its oldest entry or archive on disk "
        "(journald, size-based logrotate, auditd rotate); MaxRetentionSec and size caps only "
        "limit"]
    parts += ["auditd running"] if require_auditd else []
    expected = "; ".join(parts) or "nothing (min_days and require_auditd are null)"
    journal, logrotate = data["journald"], data["logrotate"]
    findings = []
    if min_days is not None:
        if journal and journal["persistent"]:
            findings.append(journald_finding(journal, min_days))
        findings += [logrotate_finding(b, min_days) for b in (logrotate or {}).get("blocks", [])]
        if not findings and not data["auditd"]["configured"]:
            volatile = journal is not None
            return Verdict(Status.FAIL if volatile else Status.ERROR, expected=expected,
                           observed={"journald": journal, "logrotate": logrotate,
                                     "auditd": data["auditd"]},
                           reason="journald keeps logs in memory only (Storage="
                                  f"{journal['storage']}) and no other log store is configured"
                           if volatile else "no log store found (no journald, logrotate or "
                                            "auditd configuration)")
    findings += auditd_findings(data["auditd"], min_days, require_auditd)
    return aggregate(findings, expected, "nothing to check: min_days and require_auditd are "
                                         "null")
