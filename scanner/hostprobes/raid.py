"""Linux software RAID (md) arrays, from /proc/mdstat, and hardware RAID controllers, from the PCI
devices bound to a RAID driver in /sys/bus/pci/drivers (both read under the sysroot when one is
set; `lspci`, for the controller's model name, only on the live host).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.transports.base import HostContext

# md0 : active (auto-read-only) raid1 sdb1[1] sda1[0](F)
_ARRAY = re.compile(r"^(?P<name>md\S*)\s*:\s*(?P<state>active|inactive)"
                    r"(?:\s+\((?P<ro>[^)]*)\))?(?P<rest>.*)$")
_MEMBER = re.compile(r"^(?P<dev>[^\s\[]+)\[(?P<role>\d+)\](?P<flags>(?:\([A-Z]\))*)$")
_COUNTS = re.compile(r"\[(\d+)/(\d+)\]\s+\[([U_]+)\]")
# [=>....]  recovery = 12.6% (...) finish=...   or   resync=DELAYED / resync=PENDING
_SYNC = re.compile(r"\b(resync|recovery|reshape|check|repair)\s*=\s*(\S+)")
# Linux drivers of RAID controllers (whose arrays md cannot see): Broadcom/LSI MegaRAID and
# Fusion-MPT (IR firmware), HPE Smart Array, Microchip/Adaptec, Areca, 3ware, IBM, ATTO, ...
HW_RAID_DRIVERS = frozenset({
    "megaraid_sas", "megaraid", "megaraid_mbox", "mpt3sas", "mpt2sas", "mptsas", "hpsa", "cciss",
    "smartpqi", "aacraid", "arcmsr", "3w-9xxx", "3w-sas", "3w-xxxx", "ips", "ipr", "pmcraid",
    "esas2r", "hptiop", "stex", "mvumi", "dpt_i2o"})
_BOUND = re.compile(r"(?P<driver>[\w.-]+)/(?P<slot>[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])")


def _member(token: str) -> dict[str, Any] | None:
    match = _MEMBER.match(token)
    if not match:
        return None
    return {"device": match["dev"], "role": int(match["role"]),
            "flags": re.findall(r"\(([A-Z])\)", match["flags"])}


def parse_mdstat(text: str) -> dict[str, Any]:
    personalities: list[str] = []
    arrays: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("Personalities"):
            personalities = re.findall(r"\[(\w+)\]", line)
        elif match := _ARRAY.match(line):
            tokens = match["rest"].split()
            level = tokens.pop(0) if tokens and not _MEMBER.match(tokens[0]) else None
            arrays.append({"name": match["name"], "state": match["state"],
                           "read_only": match["ro"], "level": level,
                           "members": [m for t in tokens if (m := _member(t))],
                           "raid_disks": None, "working_disks": None, "status": None,
                           "sync": None, "container": False})
        elif arrays and line[:1].isspace():
            array = arrays[-1]
            if counts := _COUNTS.search(line):
                array.update(raid_disks=int(counts[1]), working_disks=int(counts[2]),
                             status=counts[3])
            if sync := _SYNC.search(line):
                array["sync"] = {"action": sync[1], "progress": sync[2]}
            # IMSM/DDF firmware RAID: the metadata container is an always-inactive md device
            if re.search(r"super external:(imsm|ddf)\b", line):
                array["container"] = True
    return {"personalities": personalities, "arrays": arrays}


def _controllers(out: Collected, ctx: HostContext) -> dict[str, Any]:
    """PCI devices bound to a hardware RAID driver; `controllers_error` when that is unknowable."""
    drivers = ctx.path("/sys/bus/pci/drivers")
    found = out.run(ctx, f"find {shlex.quote(drivers)} -mindepth 2 -maxdepth 2 -name '*:*' "
                         "-printf '%P\\0'")
    if not found.ok:
        if "No such file" in found.stderr and not found.missing_tool and ctx.root == "/":
            return {"controllers": []}  # sysfs is always there: no PCI bus, no PCI controller
        return {"controllers": [], "controllers_error": f"hardware RAID controllers cannot be "
                                                        f"seen: {found.explain()}"}
    bound = [m for entry in found.stdout.split("\0") if (m := _BOUND.fullmatch(entry))]
    controllers = [{"driver": m["driver"], "slot": m["slot"], "model": None} for m in bound
                   if m["driver"] in HW_RAID_DRIVERS]
    if controllers and ctx.root == "/":
        names = out.run(ctx, "lspci -D")  # naming only: a missing lspci is no finding
        for line in names.stdout.splitlines() if names.ok else []:
            slot, _, model = line.partition(" ")
            for controller in controllers:
                if controller["slot"] == slot:
                    controller["model"] = model[:200]
    return {"controllers": controllers}


@collector("raid")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected()
    result = out.read(ctx, "/proc/mdstat")
    if result.ok:
        out.data = {"md_driver": True, **parse_mdstat(result.stdout)}
    elif "No such file" in result.stderr and not result.missing_tool:
        if ctx.root != "/":
            out.error = f"{ctx.path('/proc/mdstat')} is not in the sysroot: RAID state unknown"
        else:  # md creates /proc/mdstat when it loads, and it loads to assemble any array
            out.data = {"md_driver": False, "personalities": [], "arrays": []}
    else:
        out.error = result.explain()
    if not out.error:
        out.data.update(_controllers(out, ctx))
    return out
