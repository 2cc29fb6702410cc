"""Clock synchronisation as each time tool on the host reports it: timedatectl (systemd, any
NTP client that disciplines the kernel clock), chronyc, ntpq (ntpd) and ntpctl (OpenNTPD).
(Named timesync.py so that it never shadows the standard `time` module; the collector is "time".)

chronyc asks chronyd's UDP command port on loopback: on chronyd's Unix socket, chronyc run as
root binds a socket file of its own in /run/chrony (and unlinks it), a write on the host."""

from __future__ import annotations

import re
from typing import Any, Callable

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.filetimes import running_processes
from scanner.transports.base import CommandResult, HostContext

NO_DAEMON = ("cannot talk to daemon", "connection refused", "nothing received",
             "no such file or directory")
LOCAL_REFERENCE = "7F7F0101"  # chrony's `local` directive: its own clock, not a time source


def parse_timedatectl(text: str) -> dict[str, Any]:
    props = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
    synced = props.get("NTPSynchronized")
    return {"synchronised": {"yes": True, "no": False}.get(synced),
            "detail": f"NTPSynchronized={synced}, NTP service {props.get('NTP', '?')}"}


def parse_chrony_tracking(text: str) -> dict[str, Any]:
    fields = {k.strip().lower(): v.strip() for k, _, v in
              (line.partition(":") for line in text.splitlines()) if v}
    reference = fields.get("reference id", "").split()[0:1] or [""]
    leap = fields.get("leap status", "")
    synced = leap.lower() in ("normal", "insert second", "delete second") \
        and reference[0] not in ("", "00000000", LOCAL_REFERENCE)
    return {"synchronised": synced, "detail": f"reference {fields.get('reference id', '?')}, "
            f"leap status {leap or '?'}, system time {fields.get('system time', '?')}"}


def parse_ntpq_peers(text: str) -> dict[str, Any]:
    """`ntpq -pn`: the system peer is marked '*' (or 'o' for a PPS peer)."""
    peers = [line.split()[0][1:] for line in text.splitlines() if line[:1] in ("*", "o")]
    return {"synchronised": bool(peers),
            "detail": f"system peer {peers[0]}" if peers else "no system peer ('*') selected"}


def parse_ntpctl(text: str) -> dict[str, Any]:
    synced = re.search(r"clock (un)?synced", text)
    return {"synchronised": None if synced is None else synced[1] is None,
            "detail": text.strip().splitlines()[0] if text.strip() else ""}


TOOLS: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = [
    ("timedatectl", "timedatectl show", parse_timedatectl),
    ("chrony", "chronyc -h 127.0.0.1,::1 -n tracking", parse_chrony_tracking),
    ("ntpd", "ntpq -pn", parse_ntpq_peers),
    ("openntpd", "ntpctl -s status", parse_ntpctl),
]


def _source(name: str, result: CommandResult, parse: Callable[[str], dict]) -> dict[str, Any]:
    if result.missing_tool:
        return {"installed": False}
    if result.ok:
        return {"installed": True, **parse(result.stdout)}
    text = (result.stdout + result.stderr).lower()
    if name != "timedatectl" and result.error is None and any(w in text for w in NO_DAEMON):
        return {"installed": True, "synchronised": False,
                "detail": f"the {name} daemon is not running ({result.explain()})"}
    return {"installed": True, "synchronised": None, "detail": result.explain()}


def _chronyd_unreachable(out: Collected, ctx: HostContext, source: dict[str, Any]) -> None:
    """chronyd may run with its command port off (`cmdport 0`): then silence on loopback is
    no proof that it does not run."""
    if source.get("synchronised") is False and "not running" in source["detail"] \
            and "chronyd" in (running_processes(out, ctx) or set()):
        source.update(synchronised=None, detail="chronyd runs but does not answer on its "
                      "command port (127.0.0.1/::1 UDP 323: cmdport 0?): " + source["detail"])


@collector("time")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"sources": {}})
    for name, command, parse in TOOLS:
        out.data["sources"][name] = _source(name, out.run(ctx, command), parse)
    _chronyd_unreachable(out, ctx, out.data["sources"]["chrony"])
    return out
