"""host.firewall, host.time_sync, and the recorded outputs of tools this machine cannot run.

Real parts first: nftables/iptables rulesets loaded in a private network namespace and read by
the real collector. Outputs of ufw, firewalld, chrony, ntpd and dnf are replayed from
tests/data through the real collectors. Patches, logs and anti-malware have their own files."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from hostsys_helpers import (COLLECTOR, NFT_DROP, RECORDED, collect, collect_in_netns, judge,
                             local, nft_setup, recorded, replay)
from scanner.catalog.controls import load_catalog
from scanner.model import Status

# ---------------------------------------------------------------- firewall


def test_firewall_nft_policy_drop_passes(tmp_path):
    seen = collect_in_netns(nft_setup(tmp_path, NFT_DROP % "drop"))
    verdict = judge("host.firewall", seen["data"] | {"error": seen["error"]})
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed["default_drop"]["ipv4"] == ["nft inet filter input"]
    assert any(c["command"] == "nft -j list ruleset" for c in seen["commands"])


def test_firewall_nft_policy_accept_fails(tmp_path):
    seen = collect_in_netns(nft_setup(tmp_path, NFT_DROP % "accept"))
    verdict = judge("host.firewall", seen["data"])
    assert verdict.status == Status.FAIL and "accepted by default" in verdict.reason
    assert "policy accept" in verdict.reason


def test_firewall_ipv4_only_table_leaves_ipv6_open(tmp_path):
    seen = collect_in_netns(nft_setup(tmp_path, (NFT_DROP % "drop").replace("inet", "ip")))
    verdict = judge("host.firewall", seen["data"])
    if seen["data"]["ipv6_enabled"] is False:
        pytest.skip("IPv6 is disabled in this kernel")
    assert verdict.status == Status.FAIL and verdict.reason.startswith("IPv6 input")


def test_firewall_iptables_nft_drop_policy_passes(tmp_path):
    if not shutil.which("iptables"):
        pytest.skip("iptables not installed (apt-get install iptables)")
    seen = collect_in_netns("iptables -P INPUT DROP && iptables -A INPUT -i lo -j ACCEPT && "
                             "ip6tables -A INPUT -j REJECT")
    tools = seen["data"]["tools"]
    assert tools["iptables"]["policy"] == "DROP" and tools["ip6tables"]["last_rule"] == "REJECT"
    assert judge("host.firewall", seen["data"]).status == Status.PASS


def test_firewall_unreadable_without_root_is_error(tmp_path):
    seen = collect_in_netns(nft_setup(tmp_path, NFT_DROP % "drop"), as_nobody=True)
    verdict = judge("host.firewall", seen["data"])
    assert verdict.status == Status.ERROR and "--sudo" in verdict.reason


# ---------------------------------------------------------------- recorded tool outputs

CASES = yaml.safe_load((RECORDED.parent / "recorded_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_recorded_tool_outputs(case):
    answers = {cmd: (code, recorded(out[1:]) if out.startswith("@") else out, err)
               for cmd, (code, out, err) in case["answers"].items()}
    answers.setdefault("cat /proc/sys/net/ipv6/conf/all/disable_ipv6", (0, "0\n", ""))
    verdict = judge(case["control"], collect(case["control"], replay(answers)))
    assert verdict.status.value == case["status"], verdict.reason
    assert case.get("reason", "") in verdict.reason
    assert verdict.status == Status.PASS or verdict.reason


# ---------------------------------------------------------------- evidence

def test_no_secret_in_data_or_evidence(tmp_path):
    """These collectors read configuration only: no shadow file, key or hash in what they keep."""
    root = shutil.copytree(RECORDED.parent / "logs-compliant", tmp_path / "root")
    for control in COLLECTOR:
        collected = collect(control, local(root))
        text = json.dumps([collected.data] + [c.evidence() for c in collected.commands])
        assert not re.search(r"shadow|PRIVATE KEY|\$(1|5|6|y)\$", text), control


@pytest.mark.parametrize("control,collector_name,data", [
    ("host.firewall", "firewall", {"tools": {"nft": {"installed": False},
                                            "iptables": {"installed": False}}}),
    ("host.time_sync", "time", {"sources": {"timedatectl": {"installed": False},
                                            "chrony": {"installed": False}}}),
])
def test_no_observation_tool_is_an_error_never_a_fail(control, collector_name, data):
    """Issue rule: a missing tool proves nothing about the host; error, never fail or pass."""
    from scanner.checks.registry import evaluate
    from scanner.checks.base import Observations
    from scanner.model import ProbeResult

    obs = Observations({"host": ProbeResult("host", "local",
                                            {collector_name: {**data, "error": None}})})
    verdict = evaluate(control, obs, load_catalog().get(control).defaults())
    assert verdict.status == Status.ERROR and "cannot be read" in verdict.reason
