"""A command's output must be read whole even when its exit status comes first.

SSH does not order a channel's `exit-status` request after its last data: OpenSSH under load
sent it first (8 lost outputs in 300 commands to an sshd slowed by strace). A transport that
returns at the exit status loses the output, and an empty listing can then read as a pass.
This server sends the exit status, then the output a moment later, then EOF: real SSH
(paramiko's server side) on loopback, read by the real transport.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from scanner.transports.ssh import SshAccess, SshTransport

ADDRESS = "127.0.0.44"  # none of the lab's addresses (127.0.0.2-8)
LATE_OUTPUT = b"".join(b"tcp LISTEN 0 128 0.0.0.0:%d\n" % port for port in range(20, 40))


class _Server(paramiko.ServerInterface):
    def __init__(self) -> None:
        self.command = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.command.set()
        return True


def _serve(listener: socket.socket, host_key: paramiko.PKey, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        transport = paramiko.Transport(conn)
        transport.add_server_key(host_key)
        server = _Server()
        try:
            transport.start_server(server=server)
            channel = transport.accept(5)
            if channel is None or not server.command.wait(5):
                continue
            channel.send_exit_status(0)  # first, as sshd may
            time.sleep(0.5)  # past the transport's poll: the old one had returned by now
            channel.sendall(LATE_OUTPUT)
            channel.shutdown_write()  # EOF: the output is complete
            time.sleep(0.2)
            channel.close()
        except (paramiko.SSHException, OSError, EOFError):
            pass
        finally:
            transport.close()


@pytest.fixture
def exit_status_first(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    host_key = paramiko.RSAKey.generate(2048)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{ADDRESS} {host_key.get_name()} {host_key.get_base64()}\n")
    client_key = tmp_path / "client"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(client_key))
    listener = socket.create_server((ADDRESS, 22))
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, host_key, stop), daemon=True)
    thread.start()
    try:
        yield known_hosts, client_key
    finally:
        stop.set()
        listener.close()
        thread.join(10)


def test_output_sent_after_the_exit_status_is_kept(exit_status_first):
    known_hosts, client_key = exit_status_first
    access = SshAccess(user="auditor", key_file=client_key, known_hosts=known_hosts,
                       use_agent=False)
    transport = SshTransport(ADDRESS, ADDRESS, access, 5.0)
    try:
        result = transport.run("ss -tlnH", timeout=10.0)
    finally:
        transport.close()
    assert result.exit_code == 0, result.error
    assert result.stdout.encode() == LATE_OUTPUT, "the listing was cut: read as 'nothing open'"
    assert result.duration_s < 5
