"""Authenticated SSH transport (paramiko): key file or agent, passphrase, jump host,
known_hosts policy, ~/.ssh/config aliases, and sudo whose password never reaches a log."""

from __future__ import annotations

import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from scanner.errors import ConfigError
from scanner.transports.base import DEFAULT_MAX_OUTPUT, Capped, CommandResult, TransportError

_SUDO_PROMPT = "annexscan-sudo:"
DEFAULT_USER = "root"
DEFAULT_PORT = 22


@dataclass
class SshAccess:
    """How to log in. The secrets are excluded from repr so they cannot leak into a log."""
    user: str | None = None
    port: int | None = None
    key_file: Path | None = None
    passphrase: str | None = field(default=None, repr=False)
    use_agent: bool = True
    jump: str | None = None  # [user@]host[:port], like ProxyJump
    known_hosts: Path | None = None
    insecure_accept_host_key: bool = False
    sudo_password: str | None = field(default=None, repr=False)
    ssh_config: Path | None = None
    sudo: bool = False  # run root-only commands through sudo
    alias: str | None = None  # the ~/.ssh/config Host entry the target was named by


def load_key(path: Path, passphrase: str | None) -> paramiko.PKey:
    """A private key file. paramiko 5 wants the passphrase as bytes, and raises TypeError (not
    PasswordRequiredException) for a protected OpenSSH key loaded without one."""
    return paramiko.PKey.from_path(path, passphrase.encode() if passphrase else None)


def host_config(alias: str, config_file: Path | None = None) -> dict:
    """The ~/.ssh/config settings for a host name or alias ({} without a config file)."""
    path = config_file or Path("~/.ssh/config").expanduser()
    if not path.is_file():
        return {}
    try:
        return paramiko.SSHConfig.from_path(str(path)).lookup(alias)
    except (paramiko.SSHException, ImportError, ValueError, KeyError) as exc:
        # paramiko's message quotes the line: the file may be no ssh config (/etc/shadow)
        raise ConfigError(f"ssh config {path}: paramiko cannot read it for host "
                          f"{alias[:80]!r} ({type(exc).__name__})") from None


@dataclass(frozen=True)
class SshLogin:
    """What a scan logs in to one target with, once ssh config and defaults are applied."""
    hostname: str  # the ssh config HostName of the name looked up (the name itself without one)
    user: str
    port: int
    key_file: Path | None
    jump: str | None


def resolve_login(name: str, access: SshAccess) -> SshLogin:
    """The access's own values, else the ssh config's for its alias or `name` (User, Port,
    IdentityFile, ProxyJump, HostName), else root on port 22 (not ssh's local user name). The
    one resolution: the transport logs in with it, the report records it (scanner.scope.recorded),
    the target's alias is resolved by it (scanner.scope.access)."""
    lookup = access.alias or name
    config = host_config(lookup, access.ssh_config)
    port = access.port or _config_port(config.get("port"), lookup, access.ssh_config)
    identity = config.get("identityfile")
    return SshLogin(
        hostname=config.get("hostname") or lookup, port=port,
        user=access.user or config.get("user") or DEFAULT_USER,
        key_file=access.key_file or (Path(identity[0]).expanduser() if identity else None),
        jump=access.jump or config.get("proxyjump"))


def _config_port(value: str | None, lookup: str, config_file: Path | None) -> int:
    if value is None:
        return DEFAULT_PORT
    if not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
        raise ConfigError(f"ssh config {config_file or '~/.ssh/config'}: the Port of host "
                          f"{lookup[:80]!r} is not a port number 1-65535")
    return int(value)


def _parse_jump(spec: str) -> tuple[str | None, str, int]:
    user, _, hostport = spec.rpartition("@")
    host, _, port = hostport.partition(":")
    return (user or None), host, int(port or 22)


class SshTransport:
    def __init__(self, name: str, address: str, access: SshAccess, timeout: float,
                 max_output: int = DEFAULT_MAX_OUTPUT):
        self.max_output = max_output
        login = resolve_login(name, access)
        self.address = address
        self.port, self.user, self.key_file, self.jump = \
            login.port, login.user, login.key_file, login.jump
        self.access = access
        self.timeout = timeout
        self._clients: list[paramiko.SSHClient] = []
        try:
            self._client = self._connect()
        except BaseException:
            # A failed login must not leave paramiko's transport thread running (it spins).
            self.close()
            raise

    def describe(self) -> str:
        via = f" via {self.jump}" if self.jump else ""
        return f"ssh://{self.user}@{self.address}:{self.port}{via}"

    def _new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.access.insecure_accept_host_key:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            known = self.access.known_hosts or Path("~/.ssh/known_hosts").expanduser()
            if known.is_file():
                client.load_host_keys(str(known))
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self._clients.append(client)
        return client

    def _login(self, client: paramiko.SSHClient, host: str, port: int, user: str,
               sock=None) -> None:
        try:
            client.connect(host, port=port, username=user,
                           key_filename=str(self.key_file) if self.key_file else None,
                           passphrase=self.access.passphrase, allow_agent=self.access.use_agent,
                           look_for_keys=self.key_file is None, timeout=self.timeout,
                           banner_timeout=self.timeout, auth_timeout=self.timeout,
                           channel_timeout=self.timeout, sock=sock)
        except paramiko.BadHostKeyException as exc:
            raise TransportError(f"host key mismatch for {host}: the server offers "
                                 f"{exc.key.get_name()} {exc.key.fingerprint}, known_hosts has "
                                 f"{exc.expected_key.fingerprint}") from None
        except paramiko.PasswordRequiredException:
            raise TransportError(f"the key {self.key_file} is encrypted: give its passphrase "
                                 "(ANNEXSCAN_SSH_PASSPHRASE)") from None
        except paramiko.AuthenticationException as exc:
            raise TransportError(f"authentication as {user}@{host} refused: {exc}") from None
        except paramiko.SSHException as exc:
            message = str(exc)
            if "not found in known_hosts" in message:
                message = (f"{host} is not in known_hosts: add its key, or pass "
                           "--insecure-accept-host-key to trust it on first use")
            elif "decrypt" in message.lower() or "passphrase" in message.lower():
                message = f"cannot decrypt the key {self.key_file}: wrong passphrase?"
            raise TransportError(f"SSH to {host}:{port}: {message}") from None
        except (OSError, EOFError) as exc:
            raise TransportError(f"cannot connect to {host}:{port}: "
                                 f"{type(exc).__name__}: {exc}") from None

    def _connect(self) -> paramiko.SSHClient:
        sock = None
        if self.jump:
            juser, jhost, jport = _parse_jump(self.jump)
            jump_client = self._new_client()
            self._login(jump_client, jhost, jport, juser or self.user)
            try:
                sock = jump_client.get_transport().open_channel(
                    "direct-tcpip", (self.address, self.port), ("127.0.0.1", 0),
                    timeout=self.timeout)
            except (paramiko.SSHException, OSError) as exc:
                raise TransportError(f"jump host {jhost} cannot reach "
                                     f"{self.address}:{self.port}: {exc}") from None
        client = self._new_client()
        self._login(client, self.address, self.port, self.user, sock)
        return client

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        wrapped, stdin = command, None
        if sudo and self.user != "root":
            if self.access.sudo_password is not None:
                wrapped = f"sudo -S -p {_SUDO_PROMPT} -- sh -c {shlex.quote(command)}"
                stdin = self.access.sudo_password + "\n"
            else:
                wrapped = f"sudo -n -- sh -c {shlex.quote(command)}"
        start = time.perf_counter()
        try:
            channel = self._client.get_transport().open_session(timeout=self.timeout)
            channel.exec_command(f"LC_ALL=C; export LC_ALL; {wrapped}")
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            out = Capped("stdout", self.max_output)
            err = Capped("stderr", self.max_output)
            code = _drain(channel, out, err, timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(command, None, duration_s=round(time.perf_counter() - start, 3),
                                 error=f"SSH channel failed: {exc}")
        result = CommandResult.from_streams(command, code, out, err,
                                            round(time.perf_counter() - start, 3), timeout)
        result.stderr = result.stderr.replace(_SUDO_PROMPT, "")
        return result

    def close(self) -> None:
        for client in reversed(self._clients):
            client.close()


def _drain(channel: paramiko.Channel, out: Capped, err: Capped, timeout: float) -> int | None:
    """Read stdout and stderr until exit and EOF; None (channel closed, command stopped) at `timeout`
    or once a stream is past its cap."""
    deadline = time.monotonic() + timeout
    channel.settimeout(0.1)
    while True:
        try:
            while channel.recv_ready():
                if not out.add(channel.recv(65536)):
                    return _stop(channel)
            while channel.recv_stderr_ready():
                if not err.add(channel.recv_stderr(65536)):
                    return _stop(channel)
        except socket.timeout:
            pass
        # SSH does not order the exit status after the last data (sshd under load sends it
        # first): the output is whole only at EOF. A command leaving a child that holds its
        # stdout then runs to its timeout, an error, rather than losing output to a false pass.
        if channel.exit_status_ready() and (channel.eof_received or channel.closed) \
                and not channel.recv_ready() and not channel.recv_stderr_ready():
            return channel.recv_exit_status()
        if time.monotonic() > deadline:
            return _stop(channel)
        time.sleep(0.01)


def _stop(channel: paramiko.Channel) -> None:
    """Close the channel: sshd hangs up on the command, whose next write fails."""
    channel.close()
    return None
