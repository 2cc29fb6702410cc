"""One OpenSSH sshd per lab host that has SSH, with host keys and config in the work dir."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from scanner.lab.hosts import HostSpec
from scanner.lab.procs import Proc

SSHD = Path("/usr/sbin/sshd")  # sshd refuses to start unless run by its absolute path
PRIVSEP_DIR = Path("/run/sshd")


class KeyGen:
    """Runs the ssh-keygen commands in the background (RSA 3072 takes most of a second)."""

    def __init__(self) -> None:
        self._running: list[tuple[list[str], subprocess.Popen[bytes]]] = []

    def add(self, key_type: str, path: Path, bits: int | None = None, comment: str = "") -> Path:
        path.unlink(missing_ok=True)
        cmd = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
        if bits:
            cmd += ["-b", str(bits)]
        self._running.append((cmd, subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        return path

    def wait(self) -> None:
        for cmd, proc in self._running:
            out, _ = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"{' '.join(cmd)} failed: {out.decode(errors='replace')}")
        self._running.clear()


def host_keys(workdir: Path, host: HostSpec, keygen: KeyGen) -> list[Path]:
    """Queue an ed25519 and an RSA 3072 host key for `host` (ready after `keygen.wait()`)."""
    return [keygen.add("ed25519", workdir / f"ssh-{host.name}-ed25519", comment=host.name),
            keygen.add("rsa", workdir / f"ssh-{host.name}-rsa", 3072, comment=host.name)]


def render(workdir: Path, host: HostSpec, keys: list[Path], authorized_keys: Path) -> Path:
    if host.ssh is None:
        raise ValueError(f"lab host {host.name} has no sshd")
    options = {
        "ListenAddress": f"{host.address}:22",
        # Keeps sshd off /run/sshd.pid; holds 1, sshd's pid in its own PID namespace (see start).
        "PidFile": str(workdir / f"sshd-{host.name}.pid"),
        "AuthorizedKeysFile": str(authorized_keys),
        "StrictModes": "no",
        "UsePAM": "no",
        "LogLevel": "VERBOSE",
        **host.ssh,
    }
    lines = [f"HostKey {key}" for key in keys] + [f"{k} {v}" for k, v in options.items()]
    conf = workdir / f"sshd-{host.name}.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start(workdir: Path, host: HostSpec, conf: Path) -> Proc:
    """Run sshd as process 1 of a PID namespace of its own.

    sshd's per-connection processes fork and exit, and their orphans go to the namespace's
    process 1: sshd reaps them, and they all die with it. Outside, they would go to the machine's
    init, which here does not reap them (zombies). unshare ignores SIGTERM (Proc.stop signals
    sshd itself) and passes SIGTERM on to sshd when it is killed.
    """
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    cmd = ["unshare", "--pid", "--kill-child=SIGTERM", "--",
           str(SSHD), "-D", "-e", "-f", str(conf)]
    return Proc(f"sshd {host.name} ({host.address}:22)", cmd, workdir / f"sshd-{host.name}.log",
                death_signal=signal.SIGKILL)
