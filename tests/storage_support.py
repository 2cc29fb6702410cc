"""Helpers shared by the host storage tests (disk, RAID, backups): run one control's collector
and check over a real transport, a LocalTransport that can hide tools or replay output, real
LUKS headers and a host whose dm-crypt stack is replayed from recorded output."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes.registry import collector_registry
from scanner.model import ProbeResult
from scanner.transports.base import CommandResult, HostContext
from scanner.transports.local import LocalTransport

DATA = Path(__file__).parent / "data" / "host_storage"
PASSPHRASE = "correct-horse-annexscan"


def run_control(catalog, control_id: str, ctx: HostContext, **over):
    control = catalog.get(control_id)
    params = {**control.defaults(), **over}
    collected = collector_registry()[control.collector](ctx, [params])
    obs = Observations({"host": ProbeResult("host", "local", {
        control.collector: {**collected.data, "error": collected.error}})})
    return evaluate(control_id, obs, params), collected


def local(root: str = "/") -> HostContext:
    return HostContext(LocalTransport(), timeout=10, root=root)


class Rewriting(LocalTransport):
    """The real machine, with some commands replaced: `absent` tools renamed so the shell really
    answers 127, `recorded` regexes answered from recorded output (tools needing dm-crypt), or
    everything run as `nobody`."""

    def __init__(self, absent=(), recorded=None, nobody: bool = False):
        super().__init__()
        self.absent, self.recorded, self.nobody = absent, recorded or {}, nobody

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        for pattern, (code, out, err) in self.recorded.items():
            if re.search(pattern, command):
                return CommandResult(command, code, out, err)
        for tool in self.absent:
            command = re.sub(rf"(^|[;|&] *){tool} ", rf"\1annexscan-absent-{tool} ", command)
        if self.nobody:  # an unprivileged login without --sudo
            command = f"setpriv --reuid=65534 --regid=65534 --clear-groups sh -c " \
                      f"{shlex.quote(command)}"
        return super().run(command, timeout, sudo)


def sh(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True,
                          text=True).stdout


def need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (see the Makefile's system packages)")


def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mount)")


def luks_file(path: Path, luks_type: str, *extra: str) -> Path:
    need("cryptsetup")
    key = path.with_suffix(".key")
    key.write_text(PASSPHRASE)
    sh("truncate", "-s", "40M", path)
    sh("cryptsetup", "luksFormat", "--batch-mode", "--type", luks_type, "--pbkdf", "pbkdf2",
       "--pbkdf-force-iterations", "1000", "--key-file", key, *extra, path)
    return path


def crypt_host(tmp_path: Path, status: str, backing: Path | None = None, absent=(),
               lsblk: str = "lsblk-lvm-on-luks.json") -> HostContext:
    """/srv/data on LVM on LUKS, from recorded findmnt/lsblk/cryptsetup-status output; the LUKS
    layer's backing device is a real LUKS file here, so `cryptsetup luksDump` runs for real."""
    backing = backing or luks_file(tmp_path / "luks2.img", "luks2")

    def recorded(name: str) -> str:
        return (DATA / name).read_text().replace("BACKING", str(backing))
    return HostContext(Rewriting(absent=absent, recorded={
        r"findmnt .*--target /srv/data$": (0, recorded("findmnt-srv-data.json"), ""),
        r"lsblk .* /dev/mapper/vg0-data$": (0, recorded(lsblk), ""),
        r"cryptsetup status -- luks-data$": (0, recorded(status), "") if status.endswith(".txt")
        else (1, "", status),
        # a second host layout, for discovery: / on the LUKS stack above, /srv/archive plain
        r"findmnt -J -l ": (0, recorded("findmnt-list-two-data.json"), ""),
        r"findmnt .*--target /$": (0, recorded("findmnt-root.json"), ""),
        r"findmnt .*--target /srv/archive$": (0, recorded("findmnt-srv-archive.json"), ""),
        r"lsblk .* /dev/sdc1$": (0, recorded("lsblk-plain-part.json"), "")}), timeout=10)


def mdstat_root(tmp_path: Path, fixture: str | None, pci: dict[str, str] | None = None,
                sysfs: bool = True) -> HostContext:
    """/proc/mdstat from `fixture`, and /sys/bus/pci/drivers/DRIVER/SLOT symlinks to the devices
    for `pci` (slot -> driver; a SATA controller on ahci by default)."""
    (tmp_path / "proc").mkdir(exist_ok=True)
    if fixture:
        shutil.copy(DATA / fixture, tmp_path / "proc" / "mdstat")
    for slot, driver in (pci or {"0000:00:1f.2": "ahci"}).items() if sysfs else ():
        (tmp_path / "sys/devices/pci0000:00" / slot).mkdir(parents=True, exist_ok=True)
        bound = tmp_path / "sys/bus/pci/drivers" / driver
        bound.mkdir(parents=True, exist_ok=True)
        for name in ("bind", "unbind", "uevent", "new_id"):
            (bound / name).touch()
        if not (bound / slot).is_symlink():
            (bound / slot).symlink_to(f"../../../../devices/pci0000:00/{slot}")
    return local(str(tmp_path))
