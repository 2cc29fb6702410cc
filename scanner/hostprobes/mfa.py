"""Does a valid SSH key alone log in? Observed two ways:

- key probe (remote targets): our own paramiko Transport to the target, host key checked
  against known_hosts like the SSH transport, then `auth_publickey` with the scan's key. The
  server answers success (the key alone logged in) or partial success with the methods still
  required (a second factor), or refuses the key.
- host configuration: `sshd -T` (AuthenticationMethods, UsePAM, ...) and sshd's PAM auth stack
  with its includes. Over SSH this needs the transport, which cannot open when the server
  demands a second factor: the key probe alone then decides.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import paramiko

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable
from scanner.hostprobes.passwords import pam_stack
from scanner.hostprobes.sshd import sshd_t
from scanner.transports.base import HostContext
from scanner.transports.ssh import SshAccess, load_key, resolve_login

SSHD_SETTINGS = ("authenticationmethods", "usepam", "kbdinteractiveauthentication",
                 "passwordauthentication", "pubkeyauthentication")


class ProbeFailure(Exception):
    """The key probe could not tell: no connection, host key, unusable key."""


def _load_keys(access: SshAccess, key_file: Path | None) -> list[paramiko.PKey]:
    """The scan's key (--ssh-key or the ssh_config IdentityFile), else the agent's keys."""
    if key_file is None:
        return list(paramiko.Agent().get_keys()) if access.use_agent else []
    try:
        return [load_key(key_file, access.passphrase)]
    except (paramiko.PasswordRequiredException, TypeError):
        raise ProbeFailure(f"the key {key_file} is encrypted: give its passphrase "
                           "(ANNEXSCAN_SSH_PASSPHRASE)") from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise ProbeFailure(f"cannot load the key {key_file}: {exc}") from None


def _known_hosts(access: SshAccess) -> paramiko.HostKeys | None:
    """The known host keys, or None when the scan trusts any host key."""
    if access.insecure_accept_host_key:
        return None
    path = access.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    return paramiko.HostKeys(str(path)) if path.is_file() else paramiko.HostKeys()


def _check_host_key(server_key: paramiko.PKey, known: paramiko.HostKeys | None,
                    name: str) -> None:
    """Same rules as paramiko's SSHClient with RejectPolicy (what the SSH transport uses)."""
    if known is None:
        return
    entries = known.lookup(name)
    if entries is None:
        raise ProbeFailure(f"{name} is not in known_hosts: add its key, or pass "
                           "--insecure-accept-host-key to trust it on first use")
    ours = entries.get(server_key.get_name()) or list(entries.values())[0]
    if ours != server_key:
        raise ProbeFailure(f"host key mismatch for {name}: the server offers "
                           f"{server_key.get_name()} {server_key.fingerprint}, known_hosts has "
                           f"{ours.get_name()} {ours.fingerprint}")


def _prefer_known_type(transport: paramiko.Transport, known: paramiko.HostKeys | None,
                       name: str) -> None:
    """Ask first for the host key type known_hosts has, as SSHClient does."""
    entries = known.lookup(name) if known is not None else None
    if not entries:
        return
    options = transport.get_security_options()
    wanted = list(entries.keys())[0]
    if wanted == "ssh-rsa":
        wanted = next((t for t in ("rsa-sha2-512", "rsa-sha2-256") if t in options.key_types),
                      wanted)
    options.key_types = [wanted] + [t for t in options.key_types if t != wanted]


def _try_keys(transport: paramiko.Transport, user: str,
              keys: list[paramiko.PKey]) -> dict[str, Any]:
    for key in keys:
        try:
            remaining = transport.auth_publickey(user, key)
        except paramiko.BadAuthenticationType as exc:
            raise ProbeFailure(f"the server does not accept public keys for {user} "
                               f"(it offers {', '.join(exc.allowed_types)})") from None
        except paramiko.AuthenticationException:
            continue
        return {"outcome": "partial" if remaining else "authenticated",
                "remaining": list(remaining), "key": key.fingerprint}
    return {"outcome": "refused", "remaining": [], "key": ", ".join(k.fingerprint for k in keys)}


def key_probe(ctx: HostContext, access: SshAccess) -> dict[str, Any]:
    """{ran, user, target, outcome, remaining, key, error}: authenticated, partial, refused."""
    login = resolve_login(ctx.address, access)  # as the scan's own SSH transport logs in
    port, user = login.port, login.user
    name = ctx.address if port == 22 else f"[{ctx.address}]:{port}"
    report: dict[str, Any] = {"ran": False, "user": user, "target": f"{ctx.address}:{port}",
                              "outcome": None, "remaining": [], "key": None, "error": None}
    if login.jump:
        report["skipped"] = "the target is behind a jump host: key login not probed"
        return report
    try:
        keys = _load_keys(access, login.key_file)
        if not keys:
            report["skipped"] = "no SSH key or agent key to log in with"
            return report
        report["ran"] = True
        known = _known_hosts(access)
        sock = socket.create_connection((ctx.address, port), timeout=ctx.timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = transport.auth_timeout = ctx.timeout
            _prefer_known_type(transport, known, name)
            transport.start_client(timeout=ctx.timeout + 1)  # > banner_timeout (silent ports)
            if not transport.initial_kex_done:
                raise ProbeFailure(f"no SSH key exchange with {name} within {ctx.timeout:g}s")
            _check_host_key(transport.get_remote_server_key(), known, name)
            report.update(_try_keys(transport, user, keys))
        finally:
            transport.close()
    except ProbeFailure as exc:
        report["error"] = str(exc)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        report["error"] = f"SSH to {name}: {type(exc).__name__}: {exc}"
    return report


def _host_side(out: Collected, ctx: HostContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """(sshd: {installed, settings, error}, pam: {auth, service, error})."""
    sshd: dict[str, Any] = {"installed": None, "settings": {}, "error": None}
    pam: dict[str, Any] = {"auth": [], "service": None, "error": None}
    config, why = sshd_t(out, ctx)
    if config is None:
        if out.commands[-1].missing_tool:
            sshd["installed"] = False
        else:
            sshd["error"] = why
        return sshd, pam
    sshd.update(installed=True, settings={k: " ".join(config.get(k, [])) for k in SSHD_SETTINGS})
    try:
        for service in ("sshd", "other"):  # PAM falls back to "other" without a service file
            stack = pam_stack(out, ctx, service, {"auth"})
            if stack is not None:
                pam.update(service=service, auth=[line.to_dict() for line in stack])
                break
    except Unreadable as exc:
        pam["error"] = str(exc)
    return sshd, pam


@collector("mfa")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected()
    access = ctx.ssh_access
    out.data["key_probe"] = key_probe(ctx, access) if isinstance(access, SshAccess) else {
        "ran": False, "skipped": "local target: no key login to probe"}
    out.data["sshd"], out.data["pam"] = _host_side(out, ctx)
    return out
