"""Input filtering as each firewall tool on the host shows it: the nftables ruleset (which also
holds iptables-nft and firewalld-nft rules), iptables/ip6tables, ufw and firewalld.

Every tool that exists is read (they can coexist: iptables-legacy rules are invisible to nft),
and each is summarised per address family; checks/host_system.py decides."""

from __future__ import annotations

import json
import re
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.transports.base import CommandResult, HostContext

DENIED = ("permission denied", "operation not permitted", "must be root", "need to be root")
FAMILIES = {"ip": ["ipv4"], "ip6": ["ipv6"], "inet": ["ipv4", "ipv6"]}
PASSIVE = {"counter", "log"}  # statements that neither match nor decide
DROP_TARGETS = {"DROP", "REJECT"}


def _verdict(expr: list[dict[str, Any]]) -> str | None:
    """The verdict of an nft rule that matches every packet ("drop", "accept"...), else None."""
    verdicts = []
    for statement in expr:
        (key, value), = statement.items()
        if key in PASSIVE:
            continue
        if key in ("accept", "drop", "reject"):
            verdicts.append(key)
        elif key == "xt" and value.get("type") == "target" and value.get("name") in DROP_TARGETS:
            verdicts.append("drop")  # an iptables-nft REJECT/DROP target
        else:
            return None  # a match, a jump, a limit...: not every packet
    return verdicts[0] if verdicts else None


def parse_nft_json(text: str) -> list[dict[str, Any]]:
    """The filter chains on the input hook, with their policy, the verdict of their last
    rule when it matches everything, and whether an earlier rule accepts everything."""
    items = json.loads(text).get("nftables", [])
    chains: dict[tuple, dict[str, Any]] = {}
    for item in items:
        chain = item.get("chain")
        if chain and chain.get("hook") == "input" and chain.get("type") == "filter" \
                and chain.get("family") in FAMILIES:
            chains[(chain["family"], chain["table"], chain["name"])] = {
                "family": chain["family"], "table": chain["table"], "chain": chain["name"],
                "policy": chain.get("policy", "accept"), "rules": 0, "last_rule": None,
                "accepts_all": False}
    for item in items:
        rule = item.get("rule")
        summary = rule and chains.get((rule["family"], rule["table"], rule["chain"]))
        if summary:
            verdict = _verdict(rule.get("expr", []))
            summary["rules"] += 1
            summary["last_rule"] = verdict
            summary["accepts_all"] = summary["accepts_all"] or verdict == "accept"
    return list(chains.values())


def parse_iptables_input(text: str) -> dict[str, Any]:
    """`iptables -S INPUT`: the policy, the target of the last rule when it has no match,
    and whether a rule accepts everything."""
    policy, last, accepts_all, rules = None, None, False, 0
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["-P", "INPUT"] and len(words) > 2:
            policy = words[2]
        elif words[:2] == ["-A", "INPUT"]:
            rules += 1
            options = re.sub(r"-m comment --comment (\"[^\"]*\"|\S+)", "", line).split()[2:]
            target = options[1] if options[:1] == ["-j"] and len(options) >= 2 else None
            last = target
            accepts_all = accepts_all or target == "ACCEPT"
    return {"policy": policy, "rules": rules, "last_rule": last, "accepts_all": accepts_all}


def parse_ufw_status(text: str) -> dict[str, Any]:
    """`ufw status verbose`: "Status: active" and "Default: deny (incoming), ..."."""
    status = re.search(r"^Status:\s*(\S+)", text, re.M)
    incoming = re.search(r"(\w+) \(incoming\)", text)
    return {"active": bool(status) and status[1].lower() == "active",
            "incoming": incoming[1].lower() if incoming else None}


def parse_firewalld(state: str, zone: str) -> dict[str, Any]:
    """`firewall-cmd --state` and `--list-all` (the default zone): its target decides what
    unmatched input gets (default/%%REJECT%%/DROP reject it, ACCEPT lets it in)."""
    name = zone.splitlines()[0].split()[0] if zone.strip() else None
    target = re.search(r"^\s*target:\s*(\S+)", zone, re.M)
    return {"running": state.strip() == "running", "zone": name,
            "target": target[1] if target else None}


def _unusable(result: CommandResult) -> str | None:
    """Why a present tool gave no usable answer (None: it answered)."""
    if result.ok:
        return None
    text = (result.stderr + result.stdout).lower()
    hint = " (reading the firewall needs root: use --sudo)" if any(w in text for w in DENIED) \
        else ""
    return result.explain() + hint


def _tool(out: Collected, ctx: HostContext, command: str) -> tuple[dict[str, Any], str | None]:
    result = out.run(ctx, command, sudo=True)
    if result.missing_tool:
        return {"installed": False}, None
    error = _unusable(result)
    return {"installed": True, "error": error}, None if error else result.stdout


def _firewalld(out: Collected, ctx: HostContext) -> dict[str, Any]:
    state = out.run(ctx, "firewall-cmd --state", sudo=True)
    if state.missing_tool:
        return {"installed": False}
    if state.stdout.strip() == "not running":  # exit 252: installed but stopped
        return {"installed": True, "error": None, "running": False}
    if _unusable(state):
        return {"installed": True, "error": _unusable(state)}
    found, zone = _tool(out, ctx, "firewall-cmd --list-all")
    return found if zone is None else {**found, **parse_firewalld(state.stdout, zone)}


@collector("firewall")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"tools": {}})
    tools = out.data["tools"]
    tools["nft"], text = _tool(out, ctx, "nft -j list ruleset")
    if text is not None:
        try:
            tools["nft"]["chains"] = parse_nft_json(text)
        except (ValueError, KeyError, AttributeError) as exc:
            tools["nft"]["error"] = f"`nft -j list ruleset` printed no usable JSON: {exc}"
    for name in ("iptables", "ip6tables"):
        tools[name], text = _tool(out, ctx, f"{name} -S INPUT")
        if text is not None:
            tools[name].update(parse_iptables_input(text))
    tools["ufw"], text = _tool(out, ctx, "ufw status verbose")
    if text is not None:
        tools["ufw"].update(parse_ufw_status(text))
    tools["firewalld"] = _firewalld(out, ctx)
    ipv6 = out.run(ctx, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6")
    # no such file: the kernel has no IPv6; another failure: unknown, so IPv6 is judged too
    out.data["ipv6_enabled"] = ipv6.stdout.strip() == "0" if ipv6.ok else \
        (False if "no such file" in ipv6.stderr.lower() else None)
    return out
