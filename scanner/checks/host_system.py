"""Checks on the system's defences seen from inside: firewall, patches, clock, log retention,
anti-malware."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scanner.checks.base import Finding, Observations, aggregate, check, passed
from scanner.model import Status, Verdict

NFT_FAMILIES = {"ip": ["ipv4"], "ip6": ["ipv6"], "inet": ["ipv4", "ipv6"]}
FIREWALL_TOOLS = "nft, iptables, ufw, firewall-cmd"


# ---------------------------------------------------------------- firewall

def _drops(policy: str | None, last_rule: str | None, accepts_all: bool) -> bool:
    """A chain drops unsolicited input: drop policy or a final match-all drop/reject, and no
    earlier rule accepting every packet."""
    return not accepts_all and ((policy or "").lower() == "drop"
                                or (last_rule or "").lower() in ("drop", "reject"))


def default_drop(tools: dict[str, Any]) -> dict[str, list[str]]:
    """Per address family, what drops unsolicited input. A drop in any input base chain is
    final in nftables, so one dropping chain per family is enough."""
    covered: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for chain in tools.get("nft", {}).get("chains", []):
        if _drops(chain["policy"], chain["last_rule"], chain["accepts_all"]):
            for family in NFT_FAMILIES[chain["family"]]:
                covered[family].append(f"nft {chain['family']} {chain['table']} "
                                       f"{chain['chain']}")
    for name, family in (("iptables", "ipv4"), ("ip6tables", "ipv6")):
        tool = tools.get(name, {})
        if "policy" in tool and _drops(tool["policy"], tool["last_rule"], tool["accepts_all"]):
            covered[family].append(f"{name} INPUT")
    ufw, firewalld = tools.get("ufw", {}), tools.get("firewalld", {})
    if ufw.get("active") and ufw.get("incoming") in ("deny", "reject"):
        covered["ipv4"].append("ufw")
        covered["ipv6"].append("ufw")
    if firewalld.get("running") and firewalld.get("target") not in (None, "ACCEPT"):
        covered["ipv4"].append(f"firewalld zone {firewalld.get('zone')}")
        covered["ipv6"].append(f"firewalld zone {firewalld.get('zone')}")
    return covered


def _firewall_seen(name: str, tool: dict[str, Any]) -> str:
    if tool.get("error"):
        return f"unreadable ({tool['error']})"
    if name == "nft":
        return ", ".join(f"{c['family']} {c['table']} {c['chain']} policy {c['policy']}"
                         f"{', accepts all' if c['accepts_all'] else ''}"
                         for c in tool["chains"]) or "no input filter chain"
    if name in ("iptables", "ip6tables"):
        return f"policy {tool['policy']}" + (f", ends with -j {tool['last_rule']}" if
                                             tool["last_rule"] else "") + \
            (", a rule accepts all" if tool["accepts_all"] else "")
    if name == "ufw":
        return f"{'active' if tool['active'] else 'inactive'}, default {tool['incoming']} incoming"
    if not tool.get("running"):
        return "not running"
    return f"running, default zone {tool.get('zone')} target {tool.get('target')}"


@check("host.firewall")
def firewall(obs: Observations, params: dict) -> Verdict:
    data = obs.host("firewall")
    tools = {name: tool for name, tool in data["tools"].items() if tool.get("installed")}
    expected = ("unsolicited input dropped by default for IPv4 and, when enabled, IPv6: an "
                "nftables/iptables input chain with policy drop or a final drop/reject rule "
                "(and no accept-all rule), ufw active denying incoming, or firewalld running "
                "with a non-ACCEPT zone")
    if not tools:
        # A missing tool proves nothing about the kernel's rules: error, never fail.
        return Verdict(Status.ERROR, expected=expected, observed={"tools": []},
                       reason=f"no firewall tool installed ({FIREWALL_TOOLS}): the input "
                              "policy cannot be read")
    covered = default_drop(tools)
    families = ["ipv4"] + (["ipv6"] if data.get("ipv6_enabled") is not False else [])
    observed = {"ipv6_enabled": data.get("ipv6_enabled"),
                "default_drop": {f: covered[f] for f in families},
                "tools": {name: _firewall_seen(name, tool) for name, tool in tools.items()}}
    open_families = [f for f in families if not covered[f]]
    if not open_families:
        return Verdict(Status.PASS, expected=expected, observed=observed)
    errors = [f"{name}: {tool['error']}" for name, tool in tools.items() if tool.get("error")]
    missing = " and ".join(f.replace("ip", "IP") for f in open_families)
    if errors:
        return Verdict(Status.ERROR, expected=expected, observed=observed,
                       reason=f"{missing} default drop not shown, and " + "; ".join(errors))
    seen = "; ".join(f"{name}: {text}" for name, text in observed["tools"].items())
    return Verdict(Status.FAIL, expected=expected, observed=observed,
                   reason=f"{missing} input is accepted by default ({seen})")


# ---------------------------------------------------------------- patches

def _on(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def automatic_problems(manager: str, auto: dict[str, Any]) -> tuple[list[str], str | None]:
    """What keeps security updates from installing by themselves; second item: why it cannot
    be told (a service manager that does not answer)."""
    if manager == "apt":
        problems = [] if auto["unattended_upgrades_installed"] else [
            "unattended-upgrades is not installed"]
        for key, name in (("update_package_lists", "Update-Package-Lists"),
                          ("unattended_upgrade", "Unattended-Upgrade")):
            if not _on(auto[key]):
                problems.append(f"APT::Periodic::{name} is {auto[key] or 'unset'}")
        if not any("security" in origin.lower() for origin in auto["origins"]):
            problems.append("no security origin in Unattended-Upgrade::Origins-Pattern/"
                            "Allowed-Origins")
        return problems, None
    if auto["config"] is None:
        return [f"no automatic updates ({'dnf-automatic' if manager == 'dnf' else 'yum-cron'} "
                "is not installed)"], None
    enabled = [u for u, state in auto["units"].items() if state.startswith("enabled")]
    apply = _on(auto["apply_updates"])
    if any(u.endswith("-install.timer") for u in enabled) or (apply and enabled):
        return [], None
    if auto["units_error"]:
        return [], auto["units_error"]
    problems = [] if apply else [f"{auto['config']}: apply_updates = "
                                 f"{auto['apply_updates'] or 'unset'}"]
    if not enabled:
        problems.append("not scheduled: " + ", ".join(f"{u} {state}"
                                                      for u, state in auto["units"].items()))
    return problems, None


@check("host.patches")
def patches(obs: Observations, params: dict) -> Verdict:
    data = obs.host("packages")
    if not data.get("manager"):
        return Verdict(Status.NOT_APPLICABLE,
                       reason="no supported package manager (apt-get, dnf, yum) on the host")
    pending = data["pending_security"]
    expected = f"at most {params['max_pending']} pending security updates" + (
        ", automatic security updates enabled" if params["require_automatic"] else "")
    problems = []
    if data.get("security_source") is False:
        problems.append("no security repository in the APT sources")
    if len(pending) > params["max_pending"]:
        shown = ", ".join(pending[:10]) + (f" and {len(pending) - 10} more"
                                           if len(pending) > 10 else "")
        problems.append(f"{len(pending)} pending security updates > {params['max_pending']}: "
                        f"{shown}")
    auto_problems, unknown = automatic_problems(data["manager"], data["automatic"])
    observed = {"manager": data["manager"], "pending_security_count": len(pending),
                "pending_security": pending[:50], "upgradable": data.get("upgradable"),
                "security_source": data.get("security_source"),
                "automatic": data["automatic"]}
    if params["require_automatic"]:
        if unknown and not problems:
            return Verdict(Status.ERROR, expected=expected, observed=observed,
                           reason=f"cannot tell whether automatic updates run: {unknown}")
        problems += auto_problems
    return passed(not problems, expected, observed, "; ".join(problems))


# ---------------------------------------------------------------- time

@check("host.time_sync")
def time_sync(obs: Observations, params: dict) -> Verdict:
    sources = {n: s for n, s in obs.host("time")["sources"].items() if s.get("installed")}
    expected = "the clock synchronised to a time source (timedatectl, chrony, ntpd or OpenNTPD)"
    observed = {name: source.get("detail") for name, source in sources.items()}
    if not sources:
        # Without a tool to ask, synchronisation is unknown, not disproved.
        return Verdict(Status.ERROR, expected=expected, observed={},
                       reason="no time synchronisation tool found (timedatectl, chronyc, ntpq, "
                              "ntpctl): synchronisation cannot be read")
    answers = {name: s["synchronised"] for name, s in sources.items()}
    details = "; ".join(f"{name}: {detail}" for name, detail in observed.items())
    if True in answers.values():
        return Verdict(Status.PASS, expected=expected, observed=observed)
    if False in answers.values():
        return Verdict(Status.FAIL, expected=expected, observed=observed,
                       reason=f"the clock is not synchronised ({details})")
    return Verdict(Status.ERROR, expected=expected, observed=observed,
                   reason=f"no time tool could tell whether the clock is synchronised ({details})")


# ---------------------------------------------------------------- log retention

def _journald_finding(journal: dict[str, Any], min_days: int) -> Finding:
    observed = {k: journal[k] for k in ("storage", "persistent", "max_retention",
                                        "system_max_use", "files")}
    days = journal["max_retention_days"]
    if journal["max_retention"] and days is None:
        return Finding("journald", Status.ERROR, observed,
                       f"MaxRetentionSec={journal['max_retention']} is not a time span")
    if days is None or days == 0:
        size = journal["system_max_use"] or "default, 10% of the filesystem up to 4G"
        return Finding("journald", Status.FAIL, observed,
                       f"no MaxRetentionSec: the persistent journal is pruned by size only "
                       f"(SystemMaxUse={size}), so {min_days} days cannot be shown; set "
                       "MaxRetentionSec, or keep the journal volatile and forward it to syslog")
    if days < min_days:
        return Finding("journald", Status.FAIL, observed,
                       f"MaxRetentionSec={journal['max_retention']} deletes entries after "
                       f"{days:g} days < {min_days}")
    return Finding("journald", Status.PASS, observed)


def _logrotate_finding(block: dict[str, Any], min_days: int) -> Finding:
    key = f"logrotate {block['file']}: {' '.join(block['patterns'])}"
    observed = {k: block[k] for k in ("period", "rotate", "maxage", "days_kept")}
    observed["days_kept"] = {"none": "unlimited", "size": "unknown (size-based)"}.get(
        block["limit"], block["days_kept"])
    if block["limit"] == "size":
        return Finding(key, Status.FAIL, observed, "rotated by size (size/maxsize or no period)"
                       ": the days kept cannot be shown")
    if block["limit"] != "none" and block["days_kept"] < min_days:
        how = f"maxage {block['maxage']}" if block["limit"] == "maxage" else \
            f"rotate {block['rotate']} {block['period']}"
        return Finding(key, Status.FAIL, observed,
                       f"keeps {block['days_kept']:g} days ({how}) < {min_days}")
    return Finding(key, Status.PASS, observed)


def _auditd_findings(auditd: dict[str, Any], require: bool) -> list[Finding]:
    findings = []
    if auditd["configured"]:
        observed = {k: auditd[k] for k in ("max_log_file_action", "num_logs", "max_log_file_mb")}
        action = auditd["max_log_file_action"]
        findings.append(Finding("auditd logs", Status.FAIL, observed,
                                f"max_log_file_action = {action}: the oldest of {auditd['num_logs']}"
                                f" x {auditd['max_log_file_mb']} MB files is deleted, so the days "
                                "kept cannot be shown (use keep_logs)")
                        if action == "rotate" else Finding("auditd logs", Status.PASS, observed))
    if require:
        running = auditd["running"]
        status = {True: Status.PASS, False: Status.FAIL}.get(running, Status.ERROR)
        reason = {True: "", False: "auditd is not running" + (
            "" if auditd["configured"] else " (not installed: no /etc/audit/auditd.conf)")}.get(
            running, "cannot tell whether auditd runs (no pgrep, systemctl did not answer)")
        findings.append(Finding("auditd running", status, running, reason))
    return findings


@check("host.log_retention")
def log_retention(obs: Observations, params: dict) -> Verdict:
    data = obs.host("logs")
    min_days = params["min_days"]
    expected = (f"every persistent log store keeps at least {min_days} days (journald "
                "MaxRetentionSec, logrotate rotate x period and maxage, auditd keep_logs)"
                + (", auditd running" if params["require_auditd"] else ""))
    journal, logrotate = data["journald"], data["logrotate"]
    findings = []
    if journal and journal["persistent"]:
        findings.append(_journald_finding(journal, min_days))
    findings += [_logrotate_finding(b, min_days) for b in (logrotate or {}).get("blocks", [])]
    stores = len(findings) + bool(data["auditd"]["configured"])
    findings += _auditd_findings(data["auditd"], params["require_auditd"])
    if not stores:
        volatile = journal is not None
        return Verdict(Status.FAIL if volatile else Status.ERROR, expected=expected,
                       observed={"journald": journal, "logrotate": logrotate,
                                 "auditd": data["auditd"]},
                       reason="journald keeps logs in memory only (Storage="
                              f"{journal['storage']}) and no other log store is configured"
                       if volatile else "no log store found (no journald, logrotate or auditd "
                                        "configuration)")
    return aggregate(findings, expected, "no log store found")


# ---------------------------------------------------------------- anti-malware

def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@check("host.antivirus")
def antivirus(obs: Observations, params: dict) -> Verdict:
    data = obs.host("antivirus")
    limit = params["max_signature_age_days"]
    expected = f"an anti-malware engine with signatures at most {limit} days old"
    engines = data["engines"]
    if not engines:
        return Verdict(Status.FAIL, expected=expected, observed={"engines": {}},
                       reason="no anti-malware engine found (looked for ClamAV clamscan, "
                              "clamdscan)")
    dated = {path: db["built"] for path, db in data["databases"].items() if db.get("built")}
    dated |= {engine: e["built"] for engine, e in engines.items() if e.get("built")}
    observed: dict[str, Any] = {"engines": {n: e["output"] for n, e in engines.items()},
                                "database_dir": data["database_dir"],
                                "signatures": {k: _iso(v) for k, v in dated.items()}}
    if not dated:
        unreadable = [p for p, db in data["databases"].items() if db.get("unreadable_header")]
        if unreadable:
            return Verdict(Status.ERROR, expected=expected, observed=observed,
                           reason=f"signature database header not understood: {unreadable}")
        return Verdict(Status.FAIL, expected=expected, observed=observed,
                       reason=f"the engine has no signature database (none in "
                              f"{data['database_dir']})")
    age = (data["now"] - max(dated.values())) / 86400
    observed["signature_age_days"] = round(age, 1)
    return passed(age <= limit, expected, observed,
                  f"the newest signatures are {age:.1f} days old (> {limit})")
