"""Transports run commands on a host: over SSH (paramiko) or on this machine (`local`)."""

from scanner.transports.base import CommandResult, Transport, TransportError

__all__ = ["CommandResult", "Transport", "TransportError"]
