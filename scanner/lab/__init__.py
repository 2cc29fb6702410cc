"""The test/demo lab: real nginx, sshd and raw TCP servers on loopback addresses to scan.

    with Lab() as lab:                      # all hosts of scanner.lab.hosts.HOSTS
        lab.hosts["good"].address           # "127.0.0.2"
        lab.ca_bundle                       # the lab CA, for --ca-bundle

Ports below 1024 and /run/sshd need root, and a clean loopback needs a private network namespace
(this machine's own services listen on 0.0.0.0): check `lab_available()` first.
`annexscan lab up` keeps a lab running between commands in a namespace of its own: see
scanner.lab.detached.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType

from scanner.lab import nginx, sshd
from scanner.lab.certs import CertFiles, LabCA
from scanner.lab.hosts import HOSTS, HostSpec, LabHost
from scanner.lab.procs import Proc

__all__ = ["HOSTS", "Lab", "LabError", "LabHost", "in_private_netns", "lab_available",
           "lab_missing"]

START_TIMEOUT = 10.0  # seconds for every server to accept connections


class LabError(RuntimeError):
    """A lab server did not start; the message names it and ends with its log tail."""


def in_private_netns() -> bool:
    """True in a network namespace of our own: ANNEXSCAN_NETNS=1, or nothing listens on TCP.

    Call it before the lab starts (the lab's own servers listen).
    """
    if os.environ.get("ANNEXSCAN_NETNS") == "1":
        return True
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(row.split()[3] == "0A" for row in rows):  # st column, 0A = LISTEN
            return False
    return True


def lab_missing() -> list[str]:
    """The programs the lab's servers need that are not installed."""
    return [name for name, found in (("nginx", nginx.nginx_binary()),
                                     (str(sshd.SSHD), sshd.SSHD.exists()),
                                     ("ssh-keygen", shutil.which("ssh-keygen")),
                                     ("unshare", shutil.which("unshare"))) if not found]


def lab_available() -> tuple[bool, str]:
    """(True, "") when the lab can run here, else (False, why) for a pytest skip reason."""
    missing = lab_missing()
    if missing:
        return False, f"the lab needs {', '.join(missing)} installed"
    if os.geteuid() != 0 or not in_private_netns():
        return False, "the lab needs root in a private network namespace: run `make test`"
    return True, ""


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


class Lab:
    """Starts the servers of the chosen lab hosts; a context manager (`with Lab() as lab:`)."""

    def __init__(self, workdir: Path | None = None,
                 hosts: list[str | HostSpec] | None = None) -> None:
        """`hosts`: names of HOSTS, or host specs of the caller's own (tests build some)."""
        unknown = sorted({h for h in hosts or [] if isinstance(h, str)} - set(HOSTS))
        if unknown:
            raise ValueError(f"unknown lab host(s) {', '.join(unknown)}; known: {', '.join(HOSTS)}")
        self._specs = [HOSTS[h] if isinstance(h, str) else h
                       for h in (hosts if hosts is not None else HOSTS)]
        self.hosts: dict[str, LabHost] = {s.name: s.public() for s in self._specs}
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="annexscan-lab-")) if workdir is None \
            else workdir.resolve()
        self.ca_bundle = self.workdir / "ca.pem"
        # A private key every lab sshd accepts (its AuthorizedKeysFile), for logins as root.
        self.ssh_client_key = self.workdir / "client-ed25519"
        self._procs: list[Proc] = []
        self._servers: dict[tuple[str, int], Proc] = {}  # (address, port) -> its server

    def start(self) -> Lab:
        """Start every server, then wait until each expected port accepts TCP connections."""
        busy = [f"{h.address}:{port}" for h in self.hosts.values() for port in h.open_ports
                if _accepts(h.address, port)]
        if busy:  # the readiness check below would take them for the lab's own servers
            raise LabError(f"lab ports already in use: {', '.join(busy)} (another lab running in "
                           "this network namespace?)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_servers()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_servers(self) -> None:
        keygen = sshd.KeyGen()
        ssh_hosts = [s for s in self._specs if s.ssh is not None]
        host_keys = {s.name: sshd.host_keys(self.workdir, s, keygen) for s in ssh_hosts}
        if ssh_hosts:
            keygen.add("ed25519", self.ssh_client_key, comment="annexscan lab client")
        ca = LabCA(self.workdir)  # while ssh-keygen runs
        certs: dict[str, CertFiles] = {
            s.name: ca.issue(s.name, s.address, s.cert) for s in self._specs if s.cert}
        web_hosts = [s for s in self._specs if s.web]
        if web_hosts:
            conf = nginx.render(self.workdir, web_hosts, certs)
            self._add(nginx.start(self.workdir, conf),
                      [(s.address, w.port) for s in web_hosts for w in s.web])
        listen_hosts = [s for s in self._specs if s.listeners]
        if listen_hosts:
            from scanner.lab import listeners  # not at the top: it also runs as __main__ (-m)
            self._add(listeners.start(self.workdir, listen_hosts),
                      [(s.address, lst.port) for s in listen_hosts for lst in s.listeners])
        keygen.wait()
        if ssh_hosts:
            authorized = self.workdir / "authorized_keys"
            shutil.copyfile(self.ssh_client_key.with_suffix(".pub"), authorized)
            # sshd reads it as the user logging in: a lab login as another user than root
            # must reach that user's own checks (e.g. sudo), not stop at this file.
            authorized.chmod(0o644)
            self.workdir.chmod(0o711)  # traversable, not listable; the private keys stay 0600
            for spec in ssh_hosts:
                conf = sshd.render(self.workdir, spec, host_keys[spec.name], authorized)
                self._add(sshd.start(self.workdir, spec, conf), [(spec.address, 22)])

    def _add(self, proc: Proc, targets: list[tuple[str, int]]) -> None:
        self._procs.append(proc)
        self._servers.update((target, proc) for target in targets)

    def _wait_ready(self) -> None:
        pending = set(self._servers)
        deadline = time.monotonic() + START_TIMEOUT
        while pending:
            for proc in self._procs:
                if proc.exited():
                    raise LabError(f"lab server {proc.name} exited with code "
                                   f"{proc.popen.returncode}; {proc.log}:\n{proc.log_tail()}")
            pending = {target for target in pending if not _accepts(*target)}
            if pending and time.monotonic() > deadline:
                late: dict[Proc, list[str]] = {}
                for address, port in sorted(pending):
                    late.setdefault(self._servers[(address, port)], []).append(f"{address}:{port}")
                raise LabError("\n".join(
                    f"lab server {proc.name} not accepting on {', '.join(targets)} after "
                    f"{START_TIMEOUT:.0f} s; {proc.log}:\n{proc.log_tail()}"
                    for proc, targets in late.items()))
            if pending:
                time.sleep(0.05)

    def write_known_hosts(self) -> Path:
        """known_hosts for the lab's sshds, so a scan logs in with host-key checking on."""
        path = self.workdir / "known_hosts"
        lines = [f"{h.address} {' '.join(pub.read_text().split()[:2])}"
                 for h in self.hosts.values() if h.ssh_port
                 for pub in sorted(self.workdir.glob(f"ssh-{h.name}-*.pub"))]
        path.write_text("\n".join(lines) + "\n")
        return path

    def servers(self) -> list[tuple[str, int]]:
        """(name, pid) of every server process running."""
        return [(proc.name, proc.popen.pid) for proc in self._procs]

    def stop(self) -> None:
        """Stop every process the lab started; remove the work dir if the lab created it."""
        while self._procs:
            self._procs.pop().stop()
        self._servers.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
