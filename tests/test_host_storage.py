"""host.disk_encryption, host.raid and host.backups through the real LocalTransport: real mounts,
loop devices and LUKS headers made here, real encrypted files made with gpg/age/openssl/7z/zip.
What this machine cannot build (an active dm-crypt stack, md arrays) comes from recorded tool
output in tests/data/host_storage, fed to the same collectors."""

from __future__ import annotations

import json
import os
import re
import shutil
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from scanner.checks import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes import collector_registry
from scanner.hostprobes import backups as backups_module
from scanner.model import ProbeResult, Status
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


# ---------------------------------------------------------------- host.disk_encryption

def luks_file(path: Path, luks_type: str, *extra: str) -> Path:
    need("cryptsetup")
    key = path.with_suffix(".key")
    key.write_text(PASSPHRASE)
    sh("truncate", "-s", "40M", path)
    sh("cryptsetup", "luksFormat", "--batch-mode", "--type", luks_type, "--pbkdf", "pbkdf2",
       "--pbkdf-force-iterations", "1000", "--key-file", key, *extra, path)
    return path


@pytest.fixture
def cleanup():
    """Commands undoing what a test set up (umount, close, detach), run last-first, always."""
    undo: list[list[str]] = []
    yield undo
    for command in reversed(undo):
        subprocess.run(command, capture_output=True)


def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mount)")


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
    assert verdict.status == Status.FAIL and "128-bit effective AES < 256" in verdict.reason


def test_disk_root_and_plain_dir_fail(catalog, tmp_path):
    verdict, collected = run_control(catalog, "host.disk_encryption", local(),
                                     mounts=["/", str(tmp_path)])
    if collected.data["mounts"][str(tmp_path)].get("crypt"):
        pytest.skip("this machine's temporary directory is encrypted")
    assert verdict.status == Status.FAIL
    assert re.search(f"{tmp_path}: (not encrypted: .* has no dm-crypt layer|on .* not a block "
                     "device)", verdict.reason)


def test_disk_real_loop_and_tmpfs_mounts_fail(catalog, tmp_path, cleanup):
    as_root()
    sh("truncate", "-s", "16M", tmp_path / "plain.img")
    mnt = mount_ext4(attach(tmp_path / "plain.img", cleanup), tmp_path / "mnt", cleanup)
    (tmp_path / "t").mkdir()
    sh("mount", "-t", "tmpfs", "annexscan-tmpfs", tmp_path / "t")
    cleanup.append(["umount", str(tmp_path / "t")])
    verdict, _ = run_control(catalog, "host.disk_encryption", local(),
                             mounts=[str(mnt), str(tmp_path / "t")])
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
        r"cryptsetup status luks-data$": (0, recorded(status), "") if status.endswith(".txt")
        else (1, "", status)}), timeout=10)


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
        assert "not AES" in verdict.reason
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
    ctx.transport.recorded.pop(r"cryptsetup status luks-data$")
    verdict, _ = run_control(catalog, "host.disk_encryption", ctx, mounts=["/srv/data"])
    assert verdict.status == Status.ERROR and "command not found" in verdict.reason


# ---------------------------------------------------------------- host.raid

def mdstat_root(tmp_path: Path, fixture: str | None) -> HostContext:
    (tmp_path / "proc").mkdir(exist_ok=True)
    if fixture:
        shutil.copy(DATA / fixture, tmp_path / "proc" / "mdstat")
    return local(str(tmp_path))


@pytest.mark.parametrize("fixture,level,expected,words", [
    ("mdstat-raid1-healthy.txt", "raid1", Status.PASS, ""),
    ("mdstat-raid1-healthy.txt", "RAID1", Status.PASS, ""),
    ("mdstat-raid1-check.txt", "raid1", Status.PASS, ""),
    ("mdstat-imsm.txt", "1", Status.PASS, ""),
    ("mdstat-raid5.txt", None, Status.PASS, ""),
    ("mdstat-raid1-degraded.txt", "raid1", Status.FAIL, "faulty member sdb2"),
    ("mdstat-raid1-recovery.txt", "raid1", Status.FAIL, "recovery 21.4%"),
    ("mdstat-raid1-resync.txt", "raid1", Status.FAIL, "md1: resync DELAYED"),
    ("mdstat-raid0.txt", "raid1", Status.FAIL, "level raid0, not raid1"),
    ("mdstat-raid0.txt", None, Status.FAIL, "level raid0 has no redundancy"),
    ("mdstat-raid5.txt", "raid1", Status.FAIL, "level raid5, not raid1"),
    ("mdstat-inactive.txt", "raid1", Status.FAIL, "md127: inactive"),
    ("mdstat-none.txt", "raid1", Status.FAIL, "no md array"),
])
def test_raid_verdicts(catalog, tmp_path, fixture, level, expected, words):
    verdict, _ = run_control(catalog, "host.raid", mdstat_root(tmp_path, fixture), level=level)
    assert verdict.status == expected, verdict.reason
    assert words in verdict.reason


def test_raid_degraded_observed(catalog, tmp_path):
    ctx = mdstat_root(tmp_path, "mdstat-raid1-degraded.txt")
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.observed["md0"]["status"] == "U_" and "degraded [1/2]" in verdict.reason
    assert verdict.observed["md1"]["members"] == ["sdb2(F)", "sda2"]


def test_raid_missing_mdstat(catalog, tmp_path):
    verdict, _ = run_control(catalog, "host.raid", mdstat_root(tmp_path, None))
    assert verdict.status == Status.ERROR and "not in the sysroot" in verdict.reason
    mdstat_root(tmp_path, "mdstat-raid1-healthy.txt")
    ctx = HostContext(Rewriting(absent=["cat"]), 10, root=str(tmp_path))
    verdict, _ = run_control(catalog, "host.raid", ctx)
    assert verdict.status == Status.ERROR and "command not found" in verdict.reason
    if os.path.exists("/proc/mdstat"):
        pytest.skip("this kernel has the md driver loaded")
    verdict, _ = run_control(catalog, "host.raid", local())  # live: no md driver, no RAID
    assert verdict.status == Status.FAIL and "md driver is not loaded" in verdict.reason


# ---------------------------------------------------------------- host.backups

def _gpg(*args: str) -> list[str]:
    return ["gpg", "--homedir", "{home}", "--batch", "--quiet", "--pinentry-mode", "loopback",
            "--passphrase", PASSPHRASE, "--trust-model", "always", *args, "-o", "{out}", "{sql}"]


SAMPLES = {  # each made from {sql}, a small SQL dump, into {out}
    "gpg": _gpg("--symmetric"), "gpg-armor": _gpg("--symmetric", "--armor"),
    "gpg-pubkey": _gpg("--encrypt", "-r", "annexscan-test@example.org"),
    "gpg-cast5": _gpg("--symmetric", "--cipher-algo", "CAST5"), "gpg-signed": _gpg("--sign"),
    "sig": _gpg("--detach-sign"), "openssl": ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass",
                                             f"pass:{PASSPHRASE}", "-in", "{sql}", "-out", "{out}"],
    "age": ["age", "-r", "{age}", "-o", "{out}", "{sql}"],
    "age-armor": ["age", "-a", "-r", "{age}", "-o", "{out}", "{sql}"],
    "7z-mhe": ["7z", "a", "-t7z", f"-p{PASSPHRASE}", "-mhe=on", "{out}", "{sql}"],
    "zip-aes": ["7z", "a", "-tzip", "-mem=AES256", f"-p{PASSPHRASE}", "{out}", "{sql}"],
    "7z-clear": ["7z", "a", "-t7z", "-mhc=off", "{out}", "{sql}"],
    "7z-packed": ["7z", "a", "-t7z", f"-p{PASSPHRASE}", "{out}", "{tables}"],  # LZMA header
    "zip-crypto": ["zip", "-q", "-j", "-P", PASSPHRASE, "{out}", "{sql}"],
    "zip": ["zip", "-q", "-j", "{out}", "{sql}"], "tar.gz": ["tar", "czf", "{out}", "{sql}"],
    "tar": ["tar", "cf", "{out}", "{sql}"]}


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    """One real file per format, made by the real tools."""
    need("gpg", "openssl", "age", "age-keygen", "7z", "zip", "tar")
    base = tmp_path_factory.mktemp("samples")
    (base / "home").mkdir(mode=0o700)
    (base / "tables").mkdir()  # enough entries that 7z packs its header with LZMA
    for i in range(40):
        (base / "tables" / f"table_{i}.sql").write_text(f"row {i}\n")
    sql = base / "dump.sql"
    sql.write_text("CREATE TABLE clients(name text, iban text);\n" * 20)
    sh("gpg", "--homedir", base / "home", "--batch", "--quiet", "--passphrase", "",
       "--quick-gen-key", "annexscan-test@example.org", "future-default", "default", "never")
    sh("age-keygen", "-o", base / "age.key")
    names = {"home": base / "home", "sql": sql, "tables": base / "tables",
             "age": re.search(r"age1\w+", (base / "age.key").read_text())[0]}
    for name, command in SAMPLES.items():
        sh(*[arg.format(**names, out=base / f"{name}.sample") for arg in command])
    return {"sql": sql} | {name: base / f"{name}.sample" for name in SAMPLES}


def backup_dir(root: Path, samples: dict[str, Path], files: dict[str, tuple[str, float]],
               path: str = "var/backups/annexscan") -> HostContext:
    """files: name under the backup dir -> (sample, age in hours); mtimes set with os.utime."""
    where = root / path
    where.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for name, (sample, hours) in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples[sample], where / name)
        os.utime(where / name, (now - hours * 3600, now - hours * 3600))
    return local(str(root))


ENCRYPTED = ["gpg", "gpg-armor", "gpg-pubkey", "openssl", "age", "age-armor", "7z-mhe", "zip-aes"]


def daily(sample: str, days: int, start_hours: float = 2) -> dict[str, tuple[str, float]]:
    return {f"db-{d:03}.sql.gpg": (sample, start_hours + 24 * d) for d in range(days)}


def test_backups_every_encrypted_format_passes(catalog, tmp_path, samples):
    files = {f"{i}/{name}.bak": (name, 1 + i) for i, name in enumerate(ENCRYPTED)}
    files |= {"SHA256SUMS": ("sql", 1), "db.sql.gpg.sig": ("sig", 1),  # sidecars, not backups
              "a/b/too-deep.sql": ("sql", 1)}
    verdict, collected = run_control(catalog, "host.backups", backup_dir(tmp_path, samples, files))
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed["files"] == len(ENCRYPTED)
    assert set(verdict.observed["formats"]) == {
        "openpgp-symmetric", "openpgp-pubkey-encrypted", "openssl-enc", "age", "7z", "zip-aes"}
    listed = [f["path"] for f in collected.data["locations"]["/var/backups/annexscan"]["files"]]
    assert "/var/backups/annexscan/0/gpg.bak" in listed and not any("too-deep" in p for p in listed)


@pytest.mark.parametrize("annex,params,days,start,expected,words", [
    ("Teranga", {"max_age_hours": 26, "min_retention_days": 365}, 370, 2, Status.PASS, ""),
    ("Teranga", {"max_age_hours": 26, "min_retention_days": 365}, 300, 2, Status.FAIL,
     "oldest backup is 299.1 days old < 365"),
    ("Teranga", {"max_age_hours": 26, "min_retention_days": 365}, 370, 30, Status.FAIL,
     "newest backup is 30.0 h old > 26 h"),
    ("SISTEC", {"max_age_hours": 26, "min_versions": 7}, 7, 2, Status.PASS, ""),
    ("SISTEC", {"max_age_hours": 26, "min_versions": 7}, 6, 2, Status.FAIL, "6 backup files < 7"),
    ("3D OUEST", {"min_retention_days": 99}, 100, 2, Status.PASS, ""),
    ("3D OUEST", {"min_retention_days": 99}, 90, 2, Status.FAIL, "< 99"),
])
def test_backups_annex_thresholds(catalog, tmp_path, samples, annex, params, days, start,
                                  expected, words):
    ctx = backup_dir(tmp_path, samples, daily("gpg", days, start))
    verdict, _ = run_control(catalog, "host.backups", ctx, **params)
    assert verdict.status == expected, f"{annex}: {verdict.reason}"
    assert words in verdict.reason


def test_backups_clear_and_weak_files_fail(catalog, tmp_path, samples):
    clear = ["sql", "tar.gz", "tar", "zip", "7z-clear", "gpg-signed"]
    files = daily("gpg", 2) | {f"clear-{n}": (n, 3) for n in clear}
    files |= {"weak.zip": ("zip-crypto", 3), "weak.gpg": ("gpg-cast5", 3)}
    verdict, collected = run_control(catalog, "host.backups", backup_dir(tmp_path, samples, files))
    assert verdict.status == Status.FAIL
    assert f"{len(clear)} file(s) in clear" in verdict.reason
    kept = json.dumps([c.evidence() for c in collected.commands]) + json.dumps(collected.data)
    assert "CREATE TABLE" not in kept and PASSPHRASE not in kept
    assert all("not kept" in c.stdout for c in collected.commands if "head -v" in c.command)
    assert sorted(verdict.observed["clear"]) == sorted(f"/var/backups/annexscan/clear-{n}"
                                                       for n in clear)
    assert "ZipCrypto" in verdict.reason and "OpenPGP cipher CAST5" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)),
                             require_encryption=False)
    assert verdict.status == Status.PASS, verdict.reason


def test_backups_unverifiable_7z_is_error(catalog, tmp_path, samples):
    ctx = backup_dir(tmp_path, samples, daily("gpg", 1) | {"tables.7z": ("7z-packed", 5)})
    verdict, _ = run_control(catalog, "host.backups", ctx)
    assert verdict.status == Status.ERROR and "7z -mhe=on" in verdict.reason


def test_backups_location_missing_file_or_empty(catalog, tmp_path, samples):
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)))
    assert verdict.status == Status.ERROR and "does not exist" in verdict.reason
    (tmp_path / "var/backups").mkdir(parents=True)
    (tmp_path / "var/backups/annexscan").write_text("not a directory")
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)))
    assert verdict.status == Status.ERROR and "is a regular file" in verdict.reason
    verdict, _ = run_control(catalog, "host.backups", backup_dir(tmp_path, samples, {},
                                                                 path="srv/empty"),
                             path="/srv/empty")
    assert verdict.status == Status.FAIL and "no backup file" in verdict.reason
    ctx = HostContext(Rewriting(absent=["find"]), timeout=10, root=str(tmp_path))
    verdict, _ = run_control(catalog, "host.backups", ctx, path="/srv/empty")
    assert verdict.status == Status.ERROR and "annexscan-absent-find: not found" in verdict.reason


def test_backups_symlinked_location(catalog, tmp_path, samples):
    backup_dir(tmp_path, samples, daily("age", 2), path="mnt/nas/backups")
    (tmp_path / "var/backups").mkdir(parents=True)
    (tmp_path / "var/backups/annexscan").symlink_to(tmp_path / "mnt/nas/backups")
    verdict, _ = run_control(catalog, "host.backups", local(str(tmp_path)))
    assert verdict.status == Status.PASS and verdict.observed["files"] == 2


def test_backups_truncated_listing(catalog, tmp_path, samples, monkeypatch):
    monkeypatch.setattr(backups_module, "MAX_FILES", 3)
    ctx = backup_dir(tmp_path, samples, daily("gpg", 5))
    verdict, _ = run_control(catalog, "host.backups", ctx)
    assert verdict.status == Status.ERROR and "only the newest 3 of 5 files" in verdict.reason
    assert verdict.observed["files"] == 5 and verdict.observed["oldest"]["age_days"] == 4.1
    verdict, _ = run_control(catalog, "host.backups", ctx, min_versions=6)
    assert verdict.status == Status.FAIL and "5 backup files < 6" in verdict.reason


def test_backups_unreadable_need_root(catalog, samples):
    as_root()
    need("setpriv")
    root = Path(tempfile.mkdtemp(prefix="annexscan-nobody-"))  # pytest's tmp is root-only
    try:
        root.chmod(0o755)
        backup_dir(root, samples, daily("gpg", 2))
        for part in ("var", "var/backups", "var/backups/annexscan"):
            (root / part).chmod(0o755)
        (root / "var/backups/annexscan/db-000.sql.gpg").chmod(0o600)
        ctx = HostContext(Rewriting(nobody=True), timeout=10, root=str(root))
        verdict, _ = run_control(catalog, "host.backups", ctx)
        assert verdict.status == Status.ERROR and "permission denied: use --sudo" in verdict.reason
        (root / "var/backups/annexscan").chmod(0o700)
        verdict, _ = run_control(catalog, "host.backups", ctx)
        assert verdict.status == Status.ERROR and "needs root: use --sudo" in verdict.reason
    finally:
        shutil.rmtree(root)
