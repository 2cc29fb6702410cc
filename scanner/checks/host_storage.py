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


def _crypt_problem(layer: dict[str, Any], params: dict) -> tuple[Status, str] | None:
    if layer.get("error"):
        return Status.ERROR, layer["error"]
    if (layer.get("cipher") or "").startswith("cipher_null"):
        return Status.FAIL, f"{layer['device']} uses {layer['cipher']}: no encryption at all"
    if not layer.get("cipher") or not layer.get("key_bits"):
        what = f"hardware encryption ({layer['hw_encryption']})" if layer.get("hw_encryption") \
            else "no cipher reported"
        return Status.ERROR, f"{layer['device']}: {what}; the cipher cannot be verified"
    algo, bits = cipher_strength(layer["cipher"], layer["key_bits"],
                                 layer.get("integrity_key_bits"))
    if params["cipher"] and not algo.startswith(params["cipher"].lower()):
        return Status.FAIL, f"{layer['device']} uses {layer['cipher']}, not {params['cipher']}"
    if params["min_key_bits"] and bits < params["min_key_bits"]:
        return Status.FAIL, (f"{layer['device']} uses {layer['cipher']} with a {layer['key_bits']}"
                             f"-bit key: {bits}-bit effective key < {params['min_key_bits']}")
    return None


def _layer_observed(layer: dict[str, Any]) -> dict[str, Any]:
    seen = {k: layer.get(k) for k in ("device", "type", "cipher", "key_bits", "integrity", "luks")}
    if layer.get("cipher") and layer.get("key_bits"):
        seen["effective_key_bits"] = cipher_strength(layer["cipher"], layer["key_bits"],
                                                     layer.get("integrity_key_bits"))[1]
    return seen


def _mount_finding(mount: str, entry: dict[str, Any], params: dict) -> Finding:
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
    problems = [p for layer in entry["crypt"] if (p := _crypt_problem(layer, params))]
    observed["crypt"] = [_layer_observed(layer) for layer in entry["crypt"]]
    if sizes := [c["effective_key_bits"] for c in observed["crypt"] if "effective_key_bits" in c]:
        observed["effective_key_bits"] = min(sizes)
    status = Status.FAIL if any(s == Status.FAIL for s, _ in problems) else \
        Status.ERROR if problems else Status.PASS
    return Finding(mount, status, observed, "; ".join(text for _, text in problems))


def _disk_expected(params: dict, mounts: list[str]) -> str:
    rules = ([f"with {params['cipher'].upper()}"] if params["cipher"] else []) + (
        [f"an effective key of at least {params['min_key_bits']} bits (XTS halves the raw key)"]
        if params["min_key_bits"] else [])
    skipped = [name for name in ("cipher", "min_key_bits") if not params[name]]
    where = ", ".join(mounts) if params["mounts"] is not None else \
        f"every block-device mount ({', '.join(mounts) or 'none found'}; " \
        f"left out: {', '.join(params['exclude_mounts'] or []) or 'none'})"
    return (f"{where} on dm-crypt/LUKS (not cipher_null)" + "".join(f", {r}" for r in rules) +
            (f" [not checked: {', '.join(skipped)}]" if skipped else ""))


@check("host.disk_encryption")
def disk_encryption(obs: Observations, params: dict) -> Verdict:
    data = obs.host("disk")
    if params["mounts"] is None and data.get("discovery_error"):
        return Verdict(Status.ERROR, _disk_expected(params, []), reason=data["discovery_error"])
    mounts = params["mounts"] if params["mounts"] is not None else [
        m for m in data["discovered"] if m not in (params["exclude_mounts"] or [])]
    expected = _disk_expected(params, mounts)
    if not mounts:
        return Verdict(Status.ERROR, expected, {"discovered": data["discovered"]},
                       "no data filesystem on a block device is mounted: nothing to judge")
    return aggregate([_mount_finding(m, data["mounts"][m], params) for m in mounts], expected, "")


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


def _no_software_raid(data: dict, expected: str, observed: dict, why: str) -> Verdict:
    """No md array: a hardware RAID controller is for an attestation, nothing at all fails."""
    observed["hardware_controllers"] = data["controllers"]
    if data["controllers"]:
        named = ", ".join(f"{c['driver']} at {c['slot']}" + (f" ({c['model']})" if c["model"]
                                                              else "") for c in data["controllers"])
        return Verdict(Status.MANUAL, expected, observed,
                       f"{why}; hardware RAID controller {named}: its arrays, level and health "
                       "are not visible here, attest them (controller tool output)")
    if data.get("controllers_error"):
        return Verdict(Status.ERROR, expected, observed, f"{why}; {data['controllers_error']}")
    return Verdict(Status.FAIL, expected, observed,
                   f"{why}, and no PCI device is bound to a hardware RAID driver: the host has no "
                   "RAID")


@check("host.raid")
def raid(obs: Observations, params: dict) -> Verdict:
    data = obs.host("raid")
    level = _level(params["level"])
    expected = (f"every md array active, all members up, level {level}" if level else
                "every md array active, all members up, at a redundant level") + \
        " (or a hardware RAID controller, attested)"
    if not data["md_driver"]:
        return _no_software_raid(data, expected, {"/proc/mdstat": "absent"},
                                 "no /proc/mdstat: the md driver is not loaded, so no software "
                                 "RAID")
    arrays = [a for a in data["arrays"] if not a["container"]]
    if not arrays:
        return _no_software_raid(data, expected, {"arrays": [], "personalities": data[
            "personalities"]}, "no md array in /proc/mdstat, so no software RAID")
    return aggregate([_array_finding(a, level) for a in arrays], expected, "")
