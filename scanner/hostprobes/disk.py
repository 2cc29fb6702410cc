"""Block-device stack under given mount points: findmnt -> lsblk -s -> cryptsetup status/luksDump.

Without a list of mount points, the data mounts are found with `findmnt -l`: every filesystem on
a block device (/dev/...), once per device, except read-only images (squashfs, ISO).
Every command inspects the live host (a sysroot of files cannot hold a device stack), and
cryptsetup needs root. The collector only observes; host.disk_encryption judges.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.transports.base import CommandResult, HostContext

_BITS = re.compile(r"(\d+)\s*\[?bits\]?")
_IMAGE_FSTYPES = {"squashfs", "iso9660", "udf", "erofs"}  # read-only images (snaps, media)
# luksDump prints salts and digests as hex pairs, continued on indented lines: not kept.
_HEX_LINE = re.compile(r"^(\s*(?:MK digest|MK salt|Salt|Digest):\s*|\s+)(?:[0-9a-f]{2} ){2,}"
                       r"[0-9a-f]{0,2}\s*$", re.MULTILINE)


def parse_status(text: str) -> dict[str, Any]:
    """`cryptsetup status NAME`: `  key: value` lines under `/dev/mapper/NAME is active.`"""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    bits = {k: int(m.group(1)) for k in ("keysize", "integrity keysize")
            if (m := _BITS.search(fields.get(k, "")))}
    return {"active": " is active" in text, "type": fields.get("type"),
            "cipher": fields.get("cipher"), "key_bits": bits.get("keysize"),
            "integrity": fields.get("integrity"), "integrity_key_bits": bits.get(
                "integrity keysize"), "hw_encryption": fields.get("encryption"),
            "reencryption": fields.get("reencryption")}


def parse_luks_dump(text: str) -> dict[str, Any]:
    """LUKS1 (`Cipher name`/`Cipher mode`/`MK bits`, `Key Slot N: ENABLED`) and LUKS2
    (`cipher:` in Data segments, `N: luks2` keyslots with `Key:` and `PBKDF:`) dumps."""
    fields: dict[str, str] = {}
    slots: list[dict[str, Any]] = []
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            continue
        if re.fullmatch(r"key slot \d+", key):  # LUKS1
            if value == "ENABLED":
                slots.append({"slot": int(key.split()[-1]), "pbkdf": "pbkdf2"})
        elif key.isdigit() and value in ("luks2", "reencrypt"):  # LUKS2 keyslot header
            slots.append({"slot": int(key)})
        elif slots and key in ("pbkdf", "key") and key not in slots[-1]:
            slots[-1][key] = value
        fields.setdefault(key, value)
    version = int(fields["version"]) if fields.get("version", "").isdigit() else None
    if version == 1:
        cipher = f"{fields.get('cipher name')}-{fields.get('cipher mode')}"
        bits = fields.get("mk bits", "")
    else:
        cipher = fields.get("cipher")
        bits = next((s["key"] for s in slots if "key" in s), "")
    match = _BITS.search(bits) or re.fullmatch(r"(\d+)", bits)
    return {"version": version, "cipher": cipher, "key_bits": int(match.group(1)) if match
            else None, "keyslots": [{"slot": s["slot"], "pbkdf": s.get("pbkdf")} for s in slots]}


def stack_paths(node: dict[str, Any]) -> list[list[dict[str, str]]]:
    """Root-to-leaf paths of an inverse (`lsblk -s`) tree: each is one way down to a disk."""
    here = {"name": node.get("name"), "type": node.get("type")}
    below = node.get("children") or []
    return [[here] + rest for child in below for rest in stack_paths(child)] or [[here]]


def _crypt_layers(tree: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(crypt device, the device it decrypts) pairs, once each."""
    found: dict[str, str | None] = {}

    def walk(node: dict[str, Any]) -> None:
        children = node.get("children") or []
        if node.get("type") == "crypt":
            found.setdefault(node["name"], children[0]["name"] if children else None)
        for child in children:
            walk(child)
    walk(tree)
    return list(found.items())


def _failed(result: CommandResult, what: str) -> str:
    root = " (needs root: use --sudo)" if result.permission_denied or "non-root" in \
        result.stderr else ""
    return f"cannot read {what}: {result.explain()}{root}"


def _crypt_info(out: Collected, ctx: HostContext, name: str, backing: str | None) -> dict:
    """cipher and key of an active mapping, plus the LUKS header of the device beneath it."""
    status = out.run(ctx, f"cryptsetup status -- {shlex.quote(name.removeprefix('/dev/mapper/'))}",
                     sudo=True)
    if not status.ok:
        return {"device": name, "backing": backing, "error": _failed(status, f"{name} status")}
    info = {"device": name, "backing": backing, **parse_status(status.stdout)}
    if backing and (info["type"] or "").startswith("LUKS"):
        dump = out.run(ctx, f"cryptsetup luksDump -- {shlex.quote(backing)}", sudo=True)
        dump.stdout = _HEX_LINE.sub(r"\1[redacted]", dump.stdout)
        info["luks"] = parse_luks_dump(dump.stdout) if dump.ok else {
            "error": _failed(dump, f"the LUKS header of {backing}")}
    return info


def _mount(out: Collected, ctx: HostContext, mount: str) -> dict[str, Any]:
    found = out.run(ctx, f"findmnt -J -o TARGET,SOURCE,FSTYPE --target {shlex.quote(mount)}")
    if not found.ok:
        return {"error": f"{mount} does not exist on the host (findmnt found no filesystem)"
                if found.exit_code == 1 and not found.stderr.strip() else
                _failed(found, f"the filesystem of {mount}")}
    fs = json.loads(found.stdout)["filesystems"][-1]  # the last one is on top of the others
    source = re.sub(r"\[.*\]$", "", fs["source"] or "")  # btrfs: /dev/sda2[/@home]
    entry: dict[str, Any] = {"target": fs["target"], "source": source, "fstype": fs["fstype"]}
    if not source.startswith("/dev/"):
        return {**entry, "block_device": False, "paths": [], "crypt": []}
    tree = out.run(ctx, f"lsblk -J -s -p -o NAME,TYPE,FSTYPE {shlex.quote(source)}")
    if not tree.ok:
        return {**entry, "error": _failed(tree, f"the device stack of {source}")}
    root = json.loads(tree.stdout)["blockdevices"][0]
    entry.update(block_device=True, paths=stack_paths(root))
    if missing := next((p for p in entry["paths"] if all(d["type"] != "crypt" for d in p)), None):
        entry["crypt"] = []  # one unencrypted way down is enough: no need for cryptsetup
        entry["unencrypted_path"] = missing
        return entry
    entry["crypt"] = [_crypt_info(out, ctx, name, backing) for name, backing in _crypt_layers(root)]
    return entry


def data_mounts(listing: dict[str, Any]) -> list[str]:
    """Mount points of `findmnt -J -l` on block devices, the first one of each device."""
    found: dict[str, str] = {}
    for fs in listing["filesystems"]:
        source = re.sub(r"\[.*\]$", "", fs["source"] or "")
        if source.startswith("/dev/") and fs["fstype"] not in _IMAGE_FSTYPES:
            found.setdefault(source, fs["target"])
    return list(found.values())


def _discover(out: Collected, ctx: HostContext) -> dict[str, Any]:
    listing = out.run(ctx, "findmnt -J -l -o TARGET,SOURCE,FSTYPE")
    if not listing.ok:
        return {"discovery_error": _failed(listing, "the mounted filesystems")}
    try:
        return {"discovered": data_mounts(json.loads(listing.stdout))}
    except (ValueError, KeyError, TypeError) as exc:
        return {"discovery_error": f"unreadable `{listing.command}` output: "
                                   f"{type(exc).__name__}: {exc}"}


@collector("disk")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"mounts": {}})
    wanted = {m for p in params for m in p["mounts"] or []}
    if any(p["mounts"] is None for p in params):
        out.data.update(_discover(out, ctx))
        wanted.update(out.data.get("discovered", []))
    for mount in sorted(wanted):
        try:
            out.data["mounts"][mount] = _mount(out, ctx, mount)
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # unexpected tool output
            out.data["mounts"][mount] = {"error": f"unreadable output for {mount}: "
                                                  f"{type(exc).__name__}: {exc}"}
    return out
