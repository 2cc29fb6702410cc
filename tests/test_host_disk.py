"""host.disk_encryption through the real LocalTransport: real mounts, loop devices and LUKS
headers made here. What this machine cannot build (an active dm-crypt stack) comes from recorded
tool output in tests/data/host_storage, fed to the same collector; `cryptsetup luksDump` still
runs for real on a real LUKS header."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from scanner.model import Status
from scanner.transports.base import HostContext
from storage_support import (DATA, Rewriting, as_root, crypt_host, local, luks_file,
                             run_control, sh)


@pytest.fixture
def cleanup():
    """Commands undoing what a test set up (umount, close, detach), run last-first, always."""
    undo: list[list[str]] = []
    yield undo
    for command in reversed(undo):
        subprocess.run(command, capture_output=True)


def attach(image: Path, undo: list) -> str:
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode:
        pytest.skip(f"no loop device: losetup: {loop.stderr.strip()}")
    undo.append(["losetup", "-d", loop.stdout.strip()])
    return loop.stdout.strip()


def mount_ext4(device: str, mnt: Path, undo: list) -> Path:
    sh("mkfs.ext4", "-q", device)
    mnt.mkdir()
    sh("mount", device, mnt)
    undo.append(["umount", str(mnt)])
    return mnt


def test_disk_on_real_dm_crypt(catalog, tmp_path, cleanup):
    """The full path on real volumes: AES-XTS 512 passes at 256 bits, AES-XTS 256 fails."""
    as_root()
    mounts = {}
    for bits in (512, 256):
        loop = attach(luks_file(tmp_path / f"c{bits}.img", "luks2", "--key-size", str(bits)),
                      cleanup)
        name = f"annexscan-test-{os.getpid()}-{bits}"
        opened = subprocess.run(["cryptsetup", "open", "--key-file", str(tmp_path / f"c{bits}.key"),
                                 loop, name], capture_output=True, text=True)
        if opened.returncode:
            reason = (opened.stderr.strip().splitlines() or ["?"])[0]
            pytest.skip(f"dm-crypt unavailable here: cryptsetup open: {reason}")
        cleanup.append(["cryptsetup", "close", name])
        mounts[bits] = str(mount_ext4(f"/dev/mapper/{name}", tmp_path / f"m{bits}", cleanup))
    verdict, _ = run_control(catalog, "host.disk_encryption", local(), mounts=[mounts[512]])
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed[mounts[512]]["crypt"][0]["effective_key_bits"] == 256
    verdict, _ = run_control(catalog, "host.disk_encryption", local(), mounts=list(mounts.values()))
    assert verdict.status == Status.FAIL and "128-bit effective key < 256" in verdict.reason


def test_disk_root_and_plain_dir_fail(catalog, tmp_path):
    verdict, collected = run_control(catalog, "host.disk_encryption", local(),
                                     mounts=["/", str(tmp_path)])
    if collected.data["mounts"][str(tmp_path)].get("crypt"):
        pytest.skip("this machine's temporary directory is encrypted")
    assert verdict.status == Status.FAIL
    assert re.search(f"{tmp_path}: (not encrypted: .* has no dm-crypt layer|on .* not a block "
                     "device)", verdict.reason)


@pytest.fixture
def plain_mounts(tmp_path, cleanup) -> tuple[Path, Path]:
    """A real plain ext4 loop mount and a tmpfs, both unmounted after the test."""
    as_root()
    sh("truncate", "-s", "16M", tmp_path / "plain.img")
    mnt = mount_ext4(attach(tmp_path / "plain.img", cleanup), tmp_path / "mnt", cleanup)
    (tmp_path / "t").mkdir()
    sh("mount", "-t", "tmpfs", "annexscan-tmpfs", tmp_path / "t")
    cleanup.append(["umount", str(tmp_path / "t")])
    return mnt, tmp_path / "t"


def test_disk_real_loop_and_tmpfs_mounts_fail(catalog, plain_mounts):
    mnt, tmpfs = plain_mounts
    verdict, _ = run_control(catalog, "host.disk_encryption", local(),
                             mounts=[str(mnt), str(tmpfs)])
    assert verdict.status == Status.FAIL
    assert re.search(r"/dev/loop\d+ \(loop\) has no dm-crypt layer", verdict.reason)
    assert "t: on annexscan-tmpfs (tmpfs), not a block device" in verdict.reason


def test_disk_missing_mount_and_missing_tools_are_errors(catalog):
    verdict, _ = run_control(catalog, "host.disk_encryption", local(), mounts=["/no/such/mount"])
    assert verdict.status == Status.ERROR and "does not exist" in verdict.reason
    for tool in ("findmnt", "lsblk"):
        ctx = HostContext(Rewriting(absent=[tool]), timeout=10)
        verdict, _ = run_control(catalog, "host.disk_encryption", ctx)
        assert verdict.status == Status.ERROR and "command not found" in verdict.reason, tool


LUKS_FORMATS = {"status-luks2-xts512.txt": ["luks2"], "status-luks2-integrity.txt": ["luks2"],
                "status-luks2-xts256.txt": ["luks2", "--key-size", "256"],
                "status-luks1-cbc256.txt": ["luks1", "--cipher", "aes-cbc-essiv:sha256",
                                            "--key-size", "256"]}


@pytest.mark.parametrize("status,expected,effective", [
    ("status-luks2-xts512.txt", Status.PASS, 256), ("status-luks2-integrity.txt", Status.PASS, 256),
    ("status-luks1-cbc256.txt", Status.PASS, 256), ("status-luks2-xts256.txt", Status.FAIL, 128),
    ("status-plain-serpent.txt", Status.FAIL, 256), ("status-opal.txt", Status.ERROR, None)])
def test_disk_recorded_crypt_stacks(catalog, tmp_path, status, expected, effective):
    luks = LUKS_FORMATS.get(status, ["luks2"])  # a real header, dumped by the real luksDump
    backing = luks_file(tmp_path / "backing.img", *luks)
    verdict, collected = run_control(catalog, "host.disk_encryption",
                                     crypt_host(tmp_path, status, backing), mounts=["/srv/data"])
    assert verdict.status == expected, verdict.reason
    layer = verdict.observed["/srv/data"].get("crypt", [{}])[0]
    assert layer.get("effective_key_bits") == effective
    if status in LUKS_FORMATS:
        assert layer["luks"]["version"] == int(luks[0][-1])
        assert layer["luks"]["cipher"] == layer["cipher"]
        assert layer["luks"]["keyslots"] == [{"slot": 0, "pbkdf": "pbkdf2"}]
    if status == "status-plain-serpent.txt":
        assert "not aes" in verdict.reason
    for command in collected.commands:  # luksDump salts and digests are not kept
        assert not re.search(r"(?m)^\s+(?:[0-9a-f]{2} ){8}", command.stdout)
    assert any("[redacted]" in c.stdout for c in collected.commands) == ("PLAIN" not in (
        DATA / status).read_text())  # luksDump runs for LUKS mappings only


def test_disk_plain_pv_missing_cryptsetup_or_root(catalog, tmp_path):
    ctx = crypt_host(tmp_path, "status-luks2-xts512.txt", lsblk="lsblk-lvm-plain-and-luks.json")
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, mounts=["/srv/data"])
    assert verdict.status == Status.FAIL and "/dev/sdb1 (part)" in verdict.reason
    ctx = crypt_host(tmp_path, "Cannot initialize device-mapper, running as non-root user.")
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, mounts=["/srv/data"])
    assert verdict.status == Status.ERROR and "--sudo" in verdict.reason
    ctx = crypt_host(tmp_path, "status-luks2-xts512.txt", absent=["cryptsetup"])
    ctx.transport.recorded.pop(r"cryptsetup status -- luks-data$")
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, mounts=["/srv/data"])
    assert verdict.status == Status.ERROR and "command not found" in verdict.reason


def test_disk_second_data_mount_unencrypted(catalog, tmp_path):
    """By default every block-device mount is judged: / is on LUKS (AES-XTS, 512-bit key), but
    /srv/archive is a plain partition. /boot, /boot/efi (left out), a squashfs snap, NFS, tmpfs
    and a bind mount of the root device are not data mounts of their own."""
    ctx = crypt_host(tmp_path, "status-luks2-xts512.txt")
    verdict, collected = run_control(catalog, "host.disk_encryption", ctx)
    assert collected.data["discovered"] == ["/", "/boot", "/boot/efi", "/srv/archive"]
    assert verdict.status == Status.FAIL
    assert verdict.reason == "/srv/archive: not encrypted: /dev/sdc1 (part) -> /dev/sdc (disk) " \
                             "has no dm-crypt layer"
    assert set(verdict.observed) == {"/", "/srv/archive"}
    root = verdict.observed["/"]
    assert root["effective_key_bits"] == 256 and root["crypt"][0]["key_bits"] == 512
    assert root["crypt"][0]["luks"]["key_bits"] == 512  # the real header's, from luksDump
    assert "every block-device mount (/, /srv/archive; left out: /boot" in verdict.expected
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, exclude_mounts=None)
    assert verdict.status == Status.FAIL and "/boot: not encrypted" in verdict.reason
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, mounts=["/"])
    assert verdict.status == Status.PASS, verdict.reason


def test_disk_discovers_real_loop_mount(catalog, plain_mounts):
    """On this machine: a plain ext4 loop mount is found without being named; tmpfs is not."""
    mnt, tmpfs = plain_mounts
    verdict, collected = run_control(catalog, "host.disk_encryption", local())
    assert str(mnt) in collected.data["discovered"]
    assert str(tmpfs) not in collected.data["discovered"]
    assert verdict.status == Status.FAIL
    assert re.search(rf"{mnt}: not encrypted: /dev/loop\d+ \(loop\) has no dm-crypt layer",
                     verdict.reason)
    verdict, _ = run_control(catalog, "host.disk_encryption", local(), exclude_mounts=[str(mnt)])
    assert str(mnt) not in verdict.observed


@pytest.mark.parametrize("status,params,expected,words", [
    ("status-luks2-xts256.txt", {"min_key_bits": None}, Status.PASS, "[not checked: min_key_bits]"),
    ("status-luks2-xts256.txt", {"min_key_bits": 128}, Status.PASS, "at least 128 bits"),
    ("status-luks2-xts256.txt", {}, Status.FAIL, "128-bit effective key < 256"),
    ("status-plain-serpent.txt", {"cipher": None}, Status.PASS, "[not checked: cipher]"),
    ("status-plain-serpent.txt", {"cipher": "serpent"}, Status.PASS, "with SERPENT"),
    ("status-plain-serpent.txt", {}, Status.FAIL, "serpent-xts-plain64, not aes"),
    ("status-cipher-null.txt", {"cipher": None, "min_key_bits": None}, Status.FAIL,
     "cipher_null-ecb: no encryption at all"),
])
def test_disk_sub_rules_switch_off(catalog, tmp_path, status, params, expected, words):
    ctx = crypt_host(tmp_path, status)
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, mounts=["/srv/data"], **params)
    assert verdict.status == expected, verdict.reason
    assert words in (verdict.reason if expected == Status.FAIL else verdict.expected)


def test_disk_device_name_never_becomes_an_option(catalog, tmp_path):
    """A device-mapper name from the host that looks like an option stays an operand."""
    ctx = crypt_host(tmp_path, "status-luks2-xts512.txt")
    hostile = (DATA / "lsblk-lvm-on-luks.json").read_text().replace("/dev/mapper/luks-data",
                                                                    "/dev/mapper/--help")
    ctx.transport.recorded[r"lsblk .* /dev/mapper/vg0-data$"] = (0, hostile, "")
    verdict, collected = run_control(catalog, "host.disk_encryption", ctx, mounts=["/srv/data"])
    assert verdict.status == Status.ERROR and "/dev/mapper/--help status" in verdict.reason
    status = next(c for c in collected.commands if c.command.startswith("cryptsetup status"))
    assert status.command == "cryptsetup status -- --help" and "Usage:" not in status.stdout
