"""Host observations over a transport (SSH or local): runs the collectors the controls need."""

from __future__ import annotations

from scanner.hostprobes import collector_registry
from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, register, timed
from scanner.targets import Target
from scanner.transports.base import HostContext, Transport, TransportError
from scanner.transports.local import LocalTransport
from scanner.transports.ssh import SshTransport


def open_transport(target: Target, request: ProbeRequest) -> Transport:
    if target.local:
        return LocalTransport()
    if request.ssh_access is None:
        raise TransportError("no SSH access configured")
    return SshTransport(target.name, target.address, request.ssh_access, request.timeout)


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
                registry = collector_registry()
                for name, params in sorted(request.host_collectors.items()):
                    try:
                        collected = registry[name](ctx, params)
                    except Exception as exc:  # noqa: BLE001 - one collector bug, not the scan
                        result.data[name] = {"error": f"collector crashed: "
                                                      f"{type(exc).__name__}: {exc}"}
                        continue
                    result.data[name] = {**collected.data, "error": collected.error}
                    result.evidence[name] = [c.evidence() for c in collected.commands]
            finally:
                if transport is not None:
                    transport.close()

        return timed(self.name, target, body)


register(HostProbe())
