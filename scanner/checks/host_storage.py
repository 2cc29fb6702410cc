"""Checks on storage seen from inside the host: encryption at rest and RAID (backups: see
host_backups)."""

from __future__ import annotations

import re
from typing import Any

from scanner.checks.base import Finding, Observations, aggregate, check
from scanner.model import Status, Verdict

REDUNDANT_LEVELS = {"raid1", "raid4", "raid5", "raid6", "raid10"}
BUSY_SYNC = {"resync", "recovery", "reshape"}  # redundancy not (yet) whole; check/repair are scrubs


def cipher_strength(cipher: str, key_bits: int, integrity_bits: int | None) -> tuple[str, int]:
    """Block cipher and effective key of a dm-crypt spec: `aes-xts-plain64` or the kernel-API
    `capi:xts(aes)-plain64`; XTS splits its key in two, an integrity key is not cipher key."""
    if capi := re.match(r"capi:(\w+)\((\w+)\)", cipher):
        mode, algo = capi.groups()
    else:
        algo, _, mode = cipher.partition("-")
    bits = key_bits - (integrity_bits or 0)
    return algo.lower(), bits // 2 if mode.lower().startswith("xts") else bits


def _crypt_problem(layer: dict[str, Any], min_bits: int) -> tuple[Status, str] | None:
    if layer.get("error"):
        return Status.ERROR, layer["error"]
    if not layer.get("cipher") or not layer.get("key_bits"):
        what = f"hardware encryption ({layer['hw_encryption']})" if layer.get("hw_encryption") \
            else "no cipher reported"
        return Status.ERROR, f"{layer['device']}: {what}; the cipher cannot be verified"
    algo, bits = cipher_strength(layer["cipher"], layer["key_bits"],
                                 layer.get("integrity_key_bits"))
    if not algo.startswith("aes"):
        return Status.FAIL, f"{layer['device']} uses {layer['cipher']}, not AES"
    if bits < min_bits:
        return Status.FAIL, (f"{layer['device']} uses {layer['cipher']} with a {layer['key_bits']}"
                             f"-bit key: {bits}-bit effective AES < {min_bits}")
    return None


def _mount_finding(mount: str, entry: dict[str, Any], min_bits: int) -> Finding:
    if entry.get("error"):
        return Finding(mount, Status.ERROR, {"error": entry["error"]}, entry["error"])
    observed = {k: entry.get(k) for k in ("target", "source", "fstype")}
    if not entry["block_device"]:
        return Finding(mount, Status.FAIL, observed, f"on {entry['source']} ({entry['fstype']}), "
                                                     "not a block device, so not dm-crypt")
    if path := entry.get("unencrypted_path"):
        chain = " -> ".join(f"{d['name']} ({d['type']})" for d in path)
        return Finding(mount, Status.FAIL, observed | {"stack": chain},
                       f"not encrypted: {chain} has no dm-crypt layer")
    problems = [p for layer in entry["crypt"] if (p := _crypt_problem(layer, min_bits))]
    observed["crypt"] = [{k: layer.get(k) for k in (
        "device", "type", "cipher", "key_bits", "integrity", "luks")} | ({"effective_key_bits":
        cipher_strength(layer["cipher"], layer["key_bits"], layer.get("integrity_key_bits"))[1]}
        if layer.get("cipher") and layer.get("key_bits") else {}) for layer in entry["crypt"]]
    status = Status.FAIL if any(s == Status.FAIL for s, _ in problems) else \
        Status.ERROR if problems else Status.PASS
    return Finding(mount, status, observed, "; ".join(text for _, text in problems))


@check("host.disk_encryption")
def disk_encryption(obs: Observations, params: dict) -> Verdict:
    mounts = obs.host("disk")["mounts"]
    findings = [_mount_finding(m, mounts[m], params["min_key_bits"]) for m in params["mounts"]]
    return aggregate(findings, f"{', '.join(params['mounts'])} on dm-crypt/LUKS with AES and an "
                               f"effective key of at least {params['min_key_bits']} bits "
                               "(XTS halves the raw key)", "no mount point to check")


def _level(name: str | None) -> str | None:
    """`RAID1`, `1` and `raid1` all name md's `raid1`."""
    if name is None:
        return None
    name = name.strip().lower()
    return f"raid{name}" if name.isdigit() else name


def _array_finding(array: dict[str, Any], level: str | None) -> Finding:
    problems = []
    if array["state"] != "active":
        problems.append(f"{array['state']}")
    if level and array["level"] != level:
        problems.append(f"level {array['level']}, not {level}")
    elif not level and array["level"] not in REDUNDANT_LEVELS:
        problems.append(f"level {array['level']} has no redundancy")
    if array["status"] and "_" in array["status"] or (array["working_disks"] or 0) < (
            array["raid_disks"] or 0):
        problems.append(f"degraded [{array['working_disks']}/{array['raid_disks']}] "
                        f"[{array['status']}]")
    if faulty := [m["device"] for m in array["members"] if "F" in m["flags"]]:
        problems.append(f"faulty member {', '.join(faulty)}")
    sync = array["sync"]
    if sync and sync["action"] in BUSY_SYNC:
        problems.append(f"{sync['action']} {sync['progress']}: redundancy not complete yet")
    observed = {k: array[k] for k in ("state", "level", "raid_disks", "working_disks", "status",
                                      "sync", "read_only")}
    observed["members"] = [m["device"] + "".join(f"({f})" for f in m["flags"])
                           for m in array["members"]]
    return Finding(array["name"], Status.FAIL if problems else Status.PASS, observed,
                   ", ".join(problems))


@check("host.raid")
def raid(obs: Observations, params: dict) -> Verdict:
    data = obs.host("raid")
    level = _level(params["level"])
    expected = (f"every md array active, all members up, level {level}" if level else
                "every md array active, all members up, at a redundant level")
    if not data["md_driver"]:
        return Verdict(Status.FAIL, expected, {"/proc/mdstat": "absent"},
                       "no /proc/mdstat: the md driver is not loaded, so the host has no software"
                       " RAID (hardware RAID is not visible to this check)")
    arrays = [a for a in data["arrays"] if not a["container"]]
    if not arrays:
        return Verdict(Status.FAIL, expected, {"arrays": [], "personalities": data[
            "personalities"]}, "no md array in /proc/mdstat: the host has no software RAID")
    return aggregate([_array_finding(a, level) for a in arrays], expected, "")
