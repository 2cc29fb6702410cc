"""ssh.mfa: the host's sshd configuration and PAM stack (real `sshd -T` on sysroot configs),
and the key probe against real OpenSSH servers on loopback in a private network namespace."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.probes.base import ProbeRequest
from scanner.probes.host import HostProbe
from scanner.model import Status
from scanner.scope.targets import Target
from scanner.transports.local import LocalTransport
from scanner.transports.ssh import SshAccess
from test_host_accounts import NobodyTransport, collect_and_check, need, write_tree

P, F, E, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE
SSHD = Path("/usr/sbin/sshd")
OTP_ONLY = {"second_factor_methods": ["keyboard-interactive"]}
KBD = {"UsePAM": "yes", "KbdInteractiveAuthentication": "yes", "PasswordAuthentication": "no",
       "AuthenticationMethods": "publickey,keyboard-interactive"}
DEBIAN_OTP = {"etc/pam.d/sshd": "# PAM for sshd\n@include common-auth\naccount required "
                                "pam_nologin.so\n@include common-account\n",
              "etc/pam.d/common-auth": "auth required pam_google_authenticator.so\n"
                                       "auth [success=1 default=ignore] pam_unix.so nullok\n"
                                       "auth requisite pam_deny.so\n",
              "etc/pam.d/common-account": "account required pam_unix.so\n"}
UNIX_ONLY = {"etc/pam.d/sshd": "@include common-auth\n",
             "etc/pam.d/common-auth": "auth [success=1 default=ignore] pam_unix.so nullok\n"}


def need_sshd_t() -> None:
    need("ssh-keygen")
    if not SSHD.exists():
        pytest.skip("needs openssh-server (/usr/sbin/sshd)")
    if os.geteuid() != 0:
        pytest.skip("sshd -T needs root")


def sysroot(root: Path, options: dict[str, str], files: dict[str, str]) -> Path:
    """A host tree: sshd_config with `options` and a real host key, plus `files`."""
    key = root / "etc/ssh/ssh_host_ed25519_key"
    key.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = "".join(f"{k} {v}\n" for k, v in {"HostKey": str(key), **options}.items())
    return write_tree(root, {"etc/ssh/sshd_config": config, **files})


RHEL_OATH = {"etc/pam.d/sshd": "auth       substack     password-auth\n"
                               "auth       include      postlogin\n",
             "etc/pam.d/password-auth": "auth required pam_env.so\n"
                                        "auth required pam_oath.so usersfile=/etc/users.oath\n"
                                        "auth sufficient pam_unix.so\n",
             "etc/pam.d/postlogin": "session optional pam_lastlog.so\n"}
CONFIG_CASES = {
    # name: (sshd options, files, params, status, words in the reason)
    "debian-otp": (KBD, DEBIAN_OTP, OTP_ONLY, P, ""),
    "rhel-oath-substack": (KBD, RHEL_OATH, OTP_ONLY, P, ""),
    "pam-other-fallback": (KBD, {"etc/pam.d/other": "auth required pam_u2f.so\n"}, OTP_ONLY, P,
                           ""),
    "kbd-is-unix-password-accepted": (KBD, UNIX_ONLY, {}, P, ""),
    "kbd-is-unix-password-refused": (KBD, UNIX_ONLY, OTP_ONLY, F, "only the Unix password"),
    "otp-nullok": (KBD, {**DEBIAN_OTP, "etc/pam.d/common-auth":
                         "auth required pam_google_authenticator.so nullok\n"}, OTP_ONLY, F,
                   "only the Unix password"),
    "otp-optional": (KBD, {**DEBIAN_OTP, "etc/pam.d/common-auth":
                           "auth optional pam_google_authenticator.so\n"}, OTP_ONLY, F,
                     "no accepted second factor"),
    "otp-commented": (KBD, {**DEBIAN_OTP, "etc/pam.d/common-auth":
                            "#auth required pam_google_authenticator.so\n"}, OTP_ONLY, F, ""),
    "key-alone": ({"KbdInteractiveAuthentication": "no"}, UNIX_ONLY, {}, F,
                  "AuthenticationMethods any"),
    "key-only-alternative": ({**KBD, "AuthenticationMethods":
                              "publickey,keyboard-interactive publickey"}, DEBIAN_OTP, {}, F,
                             "publickey has no accepted second factor"),
    "password-second": ({"PasswordAuthentication": "yes", "AuthenticationMethods":
                         "publickey,password"}, UNIX_ONLY, {}, P, ""),
    "password-second-refused": ({"PasswordAuthentication": "yes", "AuthenticationMethods":
                                 "publickey,password"}, UNIX_ONLY, OTP_ONLY, F,
                                "publickey,password"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_host_configuration(catalog, tmp_path, case):
    need_sshd_t()
    options, files, params, status, words = CONFIG_CASES[case]
    root = sysroot(tmp_path, options, files)
    collected, verdict = collect_and_check(catalog, "ssh.mfa", root, **params)
    assert verdict.status == status, verdict.reason
    assert words in verdict.reason
    assert verdict.observed["key login"] == "local target: no key login to probe"
    assert collected.commands[0].command.startswith("sshd -T -f ")


def test_otp_module_is_reported(catalog, tmp_path):
    need_sshd_t()
    root = sysroot(tmp_path, KBD, RHEL_OATH)
    _, verdict = collect_and_check(catalog, "ssh.mfa", root, **OTP_ONLY)
    config = verdict.observed["sshd configuration"]
    assert config["otp_modules"] == ["required pam_oath.so usersfile=/etc/users.oath"]
    assert config["authenticationmethods"] == "publickey,keyboard-interactive"


def test_missing_config_or_no_root_is_error(catalog, tmp_path):
    need_sshd_t()
    _, verdict = collect_and_check(catalog, "ssh.mfa", write_tree(tmp_path / "empty", {
        "etc/hostname": "x\n"}))
    assert verdict.status == E and "No such file" in verdict.reason
    need("setpriv")
    _, verdict = collect_and_check(catalog, "ssh.mfa", "/", NobodyTransport())
    assert verdict.status == E and "needs root" in verdict.reason


class NoSbinTransport(LocalTransport):
    """Commands in a mount namespace where /usr/sbin is an empty tmpfs: sshd is not installed."""

    def run(self, command, timeout, sudo=False):
        hidden = f"mount -t tmpfs none /usr/sbin && exec sh -c {shlex.quote(command)}"
        return super().run(f"unshare -m sh -c {shlex.quote(hidden)}", timeout)


def test_sshd_not_installed_is_not_applicable(catalog, tmp_path):
    need("unshare")
    if os.geteuid() != 0:
        pytest.skip("hiding sshd needs root (a mount namespace)")
    _, verdict = collect_and_check(catalog, "ssh.mfa", tmp_path, NoSbinTransport())
    assert verdict.status == NA and "not installed" in verdict.reason


# ------------------------------------------------------------ real sshd, key probe

MFA_HOST, KEY_ONLY_HOST = "127.0.0.71", "127.0.0.72"


def _lab_ready() -> tuple[bool, str]:
    from scanner.lab import in_private_netns

    if not (SSHD.exists() and shutil.which("ssh-keygen") and shutil.which("unshare")):
        return False, "needs openssh-server, ssh-keygen and unshare"
    if os.geteuid() != 0 or not in_private_netns():
        return False, ("needs root in a private network namespace: /tmp/venv/bin/python -m "
                       "scanner.netns -- /tmp/venv/bin/python -m pytest -q tests/test_mfa.py")
    return True, ""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two real sshds: one asking keyboard-interactive after the key, one key-only."""
    ok, why = _lab_ready()
    if not ok:
        pytest.skip(why)
    from scanner.lab import sshd
    from scanner.lab.hosts import MODERN_SSH, HostSpec

    work = tmp_path_factory.mktemp("mfa-lab")
    specs = [HostSpec("mfa", MFA_HOST, "key then keyboard-interactive", ssh={
                 **MODERN_SSH, "KbdInteractiveAuthentication": "yes",
                 # UsePAM no: OpenSSH 9.2 still answers partial success after the key.
                 "AuthenticationMethods": "publickey,keyboard-interactive"}),
             HostSpec("keyonly", KEY_ONLY_HOST, "the key alone logs in", ssh=MODERN_SSH)]
    keygen = sshd.KeyGen()
    host_keys = {s.name: sshd.host_keys(work, s, keygen) for s in specs}
    client, stranger = work / "client", work / "stranger"
    keygen.add("ed25519", client, comment="scanner")
    keygen.add("ed25519", stranger, comment="not authorized")
    keygen.wait()
    authorized = work / "authorized_keys"
    shutil.copyfile(f"{client}.pub", authorized)
    procs, roots = [], {}
    try:
        for spec in specs:
            conf = sshd.render(work, spec, host_keys[spec.name], authorized)
            procs.append(sshd.start(work, spec, conf))
            # the host's own view: its sshd_config is the running one
            roots[spec.address] = write_tree(work / f"root-{spec.name}", {
                "etc/ssh/sshd_config": conf.read_text(), **UNIX_ONLY})
        known = work / "known_hosts"
        known.write_text("".join(
            f"{s.address} {Path(f'{host_keys[s.name][0]}.pub').read_text().split(' ')[0]} "
            f"{Path(f'{host_keys[s.name][0]}.pub').read_text().split(' ')[1]}\n" for s in specs))
        _wait_listening([s.address for s in specs], procs)
        yield {"client": client, "stranger": stranger, "known": known, "roots": roots,
               "work": work}
    finally:
        for proc in procs:
            proc.stop()


def _wait_listening(addresses: list[str], procs) -> None:
    deadline = time.monotonic() + 10
    for address in addresses:
        while True:
            try:
                socket.create_connection((address, 22), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or any(p.exited() for p in procs):
                    raise RuntimeError("\n".join(p.log_tail() for p in procs))
                time.sleep(0.05)


def scan_mfa(catalog, servers, address: str, key: Path, known: Path | None = None, **params):
    """ssh.mfa through the real host probe, as a scan of a remote target runs it."""
    merged = {**catalog.get("ssh.mfa").defaults(), **params}
    access = SshAccess(user="root", key_file=key, use_agent=False,
                       known_hosts=known or servers["known"])
    request = ProbeRequest(timeout=5, ssh_access=access, host_root=str(servers["roots"][address]),
                           command_timeout=10, host_collectors={"mfa": [merged]})
    result = HostProbe().run(Target(address, address), request)
    assert result.error is None, result.error
    return result, evaluate("ssh.mfa", Observations({"host": result}), merged)


@pytest.mark.lab
def test_second_factor_required_passes(catalog, servers):
    result, verdict = scan_mfa(catalog, servers, MFA_HOST, servers["client"])
    assert verdict.status == P, verdict.reason
    assert verdict.observed["key login"]["outcome"] == "partial"
    assert verdict.observed["key login"]["remaining"] == ["keyboard-interactive"]
    # the scan itself cannot log in with the key alone: the host side is unavailable
    assert "transport_error" in result.data


@pytest.mark.lab
def test_remaining_method_must_be_accepted(catalog, servers):
    _, verdict = scan_mfa(catalog, servers, MFA_HOST, servers["client"],
                          second_factor_methods=["password"])
    assert verdict.status == F and "asks for keyboard-interactive" in verdict.reason


@pytest.mark.lab
def test_key_alone_fails(catalog, servers):
    result, verdict = scan_mfa(catalog, servers, KEY_ONLY_HOST, servers["client"])
    assert verdict.status == F
    assert "alone logged in as root@127.0.0.72:22" in verdict.reason
    # the transport opened, so the host's own configuration was read over SSH too
    assert "AuthenticationMethods any" in verdict.reason
    assert result.data["transport"].startswith("ssh://root@127.0.0.72")


@pytest.mark.lab
def test_wrong_key_is_error(catalog, servers):
    _, verdict = scan_mfa(catalog, servers, KEY_ONLY_HOST, servers["stranger"])
    assert verdict.status == E and "refused the key" in verdict.reason


@pytest.mark.lab
def test_host_key_mismatch_is_error(catalog, servers):
    wrong = servers["work"] / "wrong_known_hosts"
    lines = servers["known"].read_text().splitlines()
    wrong.write_text(f"{KEY_ONLY_HOST} {lines[0].split(' ', 1)[1]}\n")  # mfa host's key
    _, verdict = scan_mfa(catalog, servers, KEY_ONLY_HOST, servers["client"], known=wrong)
    assert verdict.status == E and "host key mismatch" in verdict.reason


@pytest.mark.lab
def test_unknown_host_is_error(catalog, servers):
    empty = servers["work"] / "empty_known_hosts"
    empty.write_text("")
    _, verdict = scan_mfa(catalog, servers, MFA_HOST, servers["client"], known=empty)
    assert verdict.status == E and "not in known_hosts" in verdict.reason


def test_key_probe_loads_an_encrypted_key_with_its_passphrase(tmp_path):
    """paramiko 5 wants the passphrase as bytes: a str once crashed the collector."""
    import subprocess

    from scanner.hostprobes.mfa import ProbeFailure, _load_keys
    from scanner.transports.ssh import SshAccess

    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", str(key)],
                   check=True)
    (loaded,) = _load_keys(SshAccess(key_file=key, passphrase="open sesame"), key)
    assert loaded.get_name() == "ssh-ed25519"
    with pytest.raises(ProbeFailure, match="encrypted: give its passphrase"):
        _load_keys(SshAccess(key_file=key), key)
