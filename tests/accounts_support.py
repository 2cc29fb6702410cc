"""Helpers shared by the host account tests (passwords, keys, sockets, sshd): sysroot trees,
a transport running as nobody, real hashes and SSH keys, sshd -T in a private /run, and the
real collector + check of a control."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes import Collected
from scanner.hostprobes.registry import collector_registry
from scanner.model import ProbeResult, Status, to_jsonable
from scanner.transports.base import HostContext
from scanner.transports.local import LocalTransport

DATA = Path(__file__).parent / "data" / "host_accounts"
P, F, E, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE


def need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} installed")


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


class NobodyTransport(LocalTransport):
    """Commands as uid 65534: real `Permission denied` from real files (root sees everything)."""

    def run(self, command, timeout, sudo=False):
        if os.geteuid() == 0:
            command = f"setpriv --reuid=65534 --regid=65534 --clear-groups sh -c " \
                      f"{shlex.quote(command)}"
        return super().run(command, timeout)


def collect_and_check(catalog, control_id: str, root: Path | str = "/", transport=None,
                      **params) -> tuple[Collected, object]:
    """Run the control's real collector, then its check, as the host probe would."""
    control = catalog.get(control_id)
    merged = {**control.defaults(), **params}
    ctx = HostContext(transport or LocalTransport(), timeout=10, root=str(root))
    collected = collector_registry()[control.collector](ctx, [merged])
    obs = Observations({"host": ProbeResult("host", "local", {
        control.collector: {**collected.data, "error": collected.error}})})
    return collected, evaluate(control_id, obs, merged)


def dump(collected: Collected, verdict) -> str:
    """Everything a report would show: data, evidence and verdict."""
    return json.dumps(to_jsonable([collected.data, [c.evidence() for c in collected.commands],
                                   verdict]))


@pytest.fixture
def open_root():
    """A sysroot every user may traverse (pytest's tmp_path is root-only), as / is."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file only root can read")
    root = Path(tempfile.mkdtemp(prefix="annexscan-root-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def real_hashes() -> dict[str, str]:
    """user -> shadow password field, every hash made by the real tools."""
    need("openssl", "mkpasswd")

    def tool(*cmd: str) -> str:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    return {"sha512": tool("openssl", "passwd", "-6", "s3cret-sha512"),
            "yescrypt": tool("mkpasswd", "-m", "yescrypt", "s3cret-yes"),
            "bcrypt": tool("mkpasswd", "-m", "bcrypt", "s3cret-bc"),
            "md5": tool("openssl", "passwd", "-1", "s3cret-md5"),
            "sha256": tool("openssl", "passwd", "-5", "s3cret-sha256"),
            "des": tool("mkpasswd", "-m", "descrypt", "s3cret"),
            "bsdi": tool("mkpasswd", "-m", "bsdicrypt", "s3cret"),
            "lockedmd5": "!" + tool("openssl", "passwd", "-1", "old"),
            "nopw": "!", "daemon": "*", "rhelnew": "!!", "empty": ""}


def shadow_file(hashes: dict[str, str]) -> str:
    return "".join(f"{user}:{field}:19700:0:99999:7:::\n" for user, field in hashes.items())


# ---------------------------------------------------------------- sshd

SSHD = Path("/usr/sbin/sshd")
STOCK = Path("/usr/share/openssh/sshd_config")  # Debian's stock sshd_config


class PrivateRunTransport(LocalTransport):
    """Each command in its own mount namespace whose /run is an empty tmpfs plus /run/sshd."""

    def run(self, command, timeout, sudo=False):
        inner = f"mount -t tmpfs none /run && mkdir -m 755 /run/sshd && exec sh -c " \
                f"{shlex.quote(command)}"
        return super().run(f"unshare -m sh -c {shlex.quote(inner)}", timeout)


def need_root_sshd() -> None:
    need("ssh-keygen", "unshare")
    if not SSHD.exists():
        pytest.skip("needs openssh-server (/usr/sbin/sshd)")
    if os.geteuid() != 0:
        pytest.skip("sshd -T needs root (and a mount namespace here)")


def ssh_key(path: Path, kind: str, bits: int | None = None) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", path.name, "-f", str(path)]
                   + (["-b", str(bits)] if bits else []), check=True)
    return Path(f"{path}.pub").read_text()


def debian_root(tmp_path: Path, keys: dict[str, str], drop_in: str = "",
                bob: str | None = None) -> Path:
    """Stock Debian sshd_config + 50-key-only.conf; alice has an RSA key, bob `bob` if given."""
    if not STOCK.exists():
        pytest.skip("needs Debian's openssh-server (/usr/share/openssh/sshd_config)")
    assert "Include /etc/ssh/sshd_config.d/*.conf" in STOCK.read_text()
    files = {"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n"
                           "alice:x:1000:1000::/home/alice:/bin/bash\n"
                           "bob:x:1001:1001::/home/bob:/bin/bash\n",
             "etc/ssh/sshd_config": STOCK.read_text(),
             "etc/ssh/sshd_config.d/50-key-only.conf":
                 f"HostKey {keys['host']}\nPasswordAuthentication no\n{drop_in}",
             "home/alice/.ssh/authorized_keys": keys["rsa"]}
    if bob:
        files["home/bob/.ssh/authorized_keys"] = bob
    return write_tree(tmp_path / "root", files)
