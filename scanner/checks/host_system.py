"""Checks on the system's defences seen from inside: firewall, patches, clock (log retention
and anti-malware have their own modules)."""

from __future__ import annotations

from typing import Any

from scanner.checks.base import Observations, check
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


def _lists_problem(lists: dict[str, Any], max_age: float) -> str | None:
    """Why pending updates computed from these package lists cannot be trusted, if so."""
    if lists["age_days"] is None:
        return "no package list or metadata file to date the lists by"
    if lists["age_days"] > max_age:
        return (f"the package lists are {lists['age_days']:g} days old (> {max_age:g}; newest "
                f"{lists['newest']}): pending updates computed from them cannot be trusted "
                "(apt-get update / dnf makecache has not run)")
    return None


@check("host.patches")
def patches(obs: Observations, params: dict) -> Verdict:
    """Stale lists only hide updates, so pending updates found on them still fail; a clean
    result on stale lists is an error."""
    data = obs.host("packages")
    if not data.get("manager"):
        return Verdict(Status.NOT_APPLICABLE,
                       reason="no supported package manager (apt-get, dnf, yum) on the host")
    max_pending, max_age = params["max_pending"], params["max_list_age_days"]
    pending = data["pending_security"]
    parts = [] if max_pending is None else [
        f"at most {max_pending} pending security updates" + (
            f", computed from package lists at most {max_age:g} days old" if max_age is not None
            else " (the lists' age not checked)")]
    parts += ["automatic security updates enabled"] if params["require_automatic"] else []
    expected = "; ".join(parts) or "nothing (max_pending and require_automatic are null)"
    observed = {"manager": data["manager"], "pending_security_count": len(pending),
                "pending_security": pending[:50], "upgradable": data.get("upgradable"),
                "security_source": data.get("security_source"), "lists": data["lists"],
                "automatic": data["automatic"]}
    problems, unknown = [], []
    if max_pending is not None:
        if data.get("security_source") is False:
            problems.append("no security repository in the APT sources")
        if len(pending) > max_pending:
            shown = ", ".join(pending[:10]) + (f" and {len(pending) - 10} more"
                                               if len(pending) > 10 else "")
            problems.append(f"{len(pending)} pending security updates > {max_pending}: {shown}")
        stale = _lists_problem(data["lists"], max_age) if max_age is not None else None
        unknown += [stale] if stale else []
    if params["require_automatic"]:
        auto_problems, why = automatic_problems(data["manager"], data["automatic"])
        problems += auto_problems
        unknown += [f"cannot tell whether automatic updates run: {why}"] if why else []
    if not parts:
        return Verdict(Status.NOT_APPLICABLE, expected=expected, observed=observed,
                       reason="nothing to check: max_pending and require_automatic are null")
    if problems:
        return Verdict(Status.FAIL, expected=expected, observed=observed,
                       reason="; ".join(problems + unknown))
    return Verdict(Status.ERROR if unknown else Status.PASS, expected=expected,
                   observed=observed, reason="; ".join(unknown))


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
