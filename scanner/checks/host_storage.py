"""Checks on storage seen from inside the host: encryption at rest, software RAID, backups."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from scanner.checks.base import Finding, Observations, aggregate, check
from scanner.model import Status, Verdict

REDUNDANT_LEVELS = {"raid1", "raid4", "raid5", "raid6", "raid10"}
BUSY_SYNC = {"resync", "recovery", "reshape"}  # redundancy not (yet) whole; check/repair are scrubs
SHOWN = 5  # file names quoted in a reason


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


def _backup_expected(params: dict) -> str:
    parts = [f"in {params['path']}: newest backup at most {params['max_age_hours']:g} h old"]
    if params["min_retention_days"]:
        parts.append(f"oldest at least {params['min_retention_days']} days old")
    if params["min_versions"]:
        parts.append(f"at least {params['min_versions']} backup files")
    if params["require_encryption"]:
        parts.append("every file encrypted (OpenPGP, age, openssl enc, LUKS, AES zip, "
                     "7z with encrypted header)")
    return ", ".join(parts)


def _names(files: list[dict[str, Any]], why: str = "format") -> str:
    shown = ", ".join(f"{f['path']} ({f[why]})" for f in files[:SHOWN])
    return shown + (f" and {len(files) - SHOWN} more" if len(files) > SHOWN else "")


@check("host.backups")
def backups(obs: Observations, params: dict) -> Verdict:
    where = obs.host("backups")["locations"][params["path"]]
    expected = _backup_expected(params)
    if where.get("error"):
        return Verdict(Status.ERROR, expected, reason=where["error"])
    if not where["exists"] or not where["directory"]:
        what = "does not exist" if not where["exists"] else f"is a {where['kind']}"
        return Verdict(Status.ERROR, expected, {"path": params["path"]},
                       f"the backup location {params['path']} {what} on the host: wrong path, "
                       "or the backup volume is not mounted")
    files = [f for f in where["files"] if not f["sidecar"]]
    if not files:
        return Verdict(Status.FAIL, expected, {"path": params["path"], "files": 0},
                       f"no backup file in {params['path']} (two levels deep)")
    now, hour = where["now"], 3600.0
    newest = files[0]
    oldest = where["oldest"] or files[-1]  # the listing is newest first
    count = len(files) + where["total"] - len(where["files"])  # sidecars aside
    observed: dict[str, Any] = {
        "path": params["path"], "files": count,
        "newest": {"path": newest["path"], "age_hours": round((now - newest["mtime"]) / hour, 1)},
        "oldest": {"path": oldest["path"], "age_days": round((now - oldest["mtime"]) / 86400, 1)},
        "formats": dict(Counter(f["format"] for f in files)),
        "truncated": where["truncated"]}
    fails, unknown = [], []
    if observed["newest"]["age_hours"] > params["max_age_hours"]:
        fails.append(f"newest backup is {observed['newest']['age_hours']} h old "
                     f"> {params['max_age_hours']:g} h")
    if params["min_retention_days"] and observed["oldest"]["age_days"] < params[
            "min_retention_days"]:
        fails.append(f"oldest backup is {observed['oldest']['age_days']} days old "
                     f"< {params['min_retention_days']}")
    if params["min_versions"] and count < params["min_versions"]:
        fails.append(f"{count} backup files < {params['min_versions']}")
    if params["require_encryption"]:
        clear = [f for f in files if f["encrypted"] is False]
        weak = [f for f in files if f["encrypted"] and f["weak"]]
        unsure = [f for f in files if f["encrypted"] is None]
        observed.update(clear=[f["path"] for f in clear], weak=[f["path"] for f in weak],
                        unverified=[f["path"] for f in unsure])
        if clear:
            fails.append(f"{len(clear)} file(s) in clear: {_names(clear)}")
        if weak:
            fails.append(f"{len(weak)} file(s) weakly encrypted: {_names(weak, 'weak')}")
        if unsure:
            unknown.append(f"encryption of {len(unsure)} file(s) not verifiable: "
                           f"{_names(unsure, 'unverified')}")
        if where["truncated"]:
            unknown.append(f"only the newest {len(where['files'])} of {where['total']} files "
                           "were checked for encryption")
    if fails:
        return Verdict(Status.FAIL, expected, observed, "; ".join(fails + unknown))
    if unknown:
        return Verdict(Status.ERROR, expected, observed, "; ".join(unknown))
    return Verdict(Status.PASS, expected, observed)
