"""Host observations over a transport (SSH or local): runs the collectors the controls need."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from scanner.hostprobes.registry import collector_registry
from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, timed
from scanner.scope.targets import Target
from scanner.transports.base import HostContext, Transport, TransportError
from scanner.transports.local import LocalTransport
from scanner.transports.ssh import SshTransport


COLLECTORS_AT_ONCE = 6  # concurrent SSH channels; OpenSSH allows 10 sessions per connection


def open_transport(target: Target, request: ProbeRequest) -> Transport:
    if target.local:
        return LocalTransport()
    if request.ssh_access is None:
        raise TransportError("no SSH access configured")
    return SshTransport(target.name, target.address, request.ssh_access, request.timeout)


def _collect(name: str, ctx: HostContext, params: list[dict]) -> tuple[dict, list | None]:
    try:
        collected = collector_registry()[name](ctx, params)
    except Exception as exc:  # noqa: BLE001 - one collector bug must not sink the others
        return {"error": f"collector crashed: {type(exc).__name__}: {exc}"}, None
    return ({**collected.data, "error": collected.error},
            [c.evidence() for c in collected.commands])


class HostProbe:
    name = "host"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            transport, error = None, None
            try:
                transport = open_transport(target, request)
                result.data["transport"] = transport.describe()
            except TransportError as exc:
                error = str(exc)
                result.data["transport_error"] = error
            sudo = request.sudo if target.local else bool(request.ssh_access and
                                                           request.ssh_access.sudo)
            ctx = HostContext(transport, timeout=request.command_timeout, root=request.host_root,
                              sudo=sudo, transport_error=error, address=target.address,
                              ssh_access=None if target.local else request.ssh_access)
            try:
                # Collectors share the connection: SSH multiplexes their channels, so they run
                # side by side instead of paying each command's round trip in turn.
                with ThreadPoolExecutor(max_workers=COLLECTORS_AT_ONCE) as pool:
                    futures = {name: pool.submit(_collect, name, ctx, params)
                               for name, params in sorted(request.host_collectors.items())}
                for name, future in futures.items():
                    data, evidence = future.result()
                    result.data[name] = data
                    if evidence is not None:
                        result.evidence[name] = evidence
            finally:
                if transport is not None:
                    transport.close()

        return timed(self.name, target, body)

