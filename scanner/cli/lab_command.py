"""`annexscan lab up|down|status|exec`: the demo lab, started and stopped by hand."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from scanner.errors import ConfigError
from scanner.lab.hosts import LabHost, expected_verdicts
from scanner.lab.state import NAME_ENV, lab_name

LAB_EPILOG = f"""exit codes:
  0  up: the lab runs (or already ran); down: stopped (or was not up);
     status: up, every server running
  1  status: the lab is not up
  2  error (not root, a program missing, a server did not start: what was
     started is stopped again)
  3  status: up, but a server has stopped (annexscan lab down; annexscan lab up)
  exec: the exit status of COMMAND

{NAME_ENV}=NAME runs a lab of another name (its own namespace, same addresses)."""


def add_lab_parser(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser(
        "lab", help="start, use and stop the demo lab by hand",
        description="The lab `annexscan demo` scans (real nginx TLS, OpenSSH and raw TCP "
        "servers on 127.0.0.2-8), kept running in a network namespace of its own so you can "
        "try commands against it. Needs root.", epilog=LAB_EPILOG)
    actions = lab.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "up", help="start the lab", epilog=LAB_EPILOG,
        description="Start the lab's servers in the network namespace annexscan-lab (nothing "
        "else listens there), then show its hosts, the 3douest clauses each is expected to "
        "pass or fail, and how to run commands there. Runs until `annexscan lab down`; "
        "saying `up` again just shows it.")
    actions.add_parser(
        "down", help="stop the lab", epilog=LAB_EPILOG,
        description="Stop every server of the lab and anything else left in its namespace, "
        "then remove the namespace and the lab's keys and certificates. Nothing to do when "
        "the lab is not up (exit 0).")
    actions.add_parser(
        "status", help="is the lab up? its hosts", epilog=LAB_EPILOG,
        description="Say whether the lab is up, which of its servers run, and its hosts.")
    run = actions.add_parser(
        "exec", help="run a command in the lab's network namespace", epilog=LAB_EPILOG,
        description="Run COMMAND (no shell) inside the running lab's network namespace, where "
        "127.0.0.2-8 are the lab's hosts, e.g. `annexscan lab exec -- annexscan scan "
        "127.0.0.3 -p 3douest`. Same as `ip netns exec annexscan-lab COMMAND`.")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]",
                     help="the command and its arguments, passed as they are")


def lab_command(args: argparse.Namespace, console: Console) -> int:
    from scanner.lab import detached

    name = lab_name()
    if args.action == "up":
        record, already = detached.up(name)
        console.print(f"lab {name} is {'already ' if already else ''}up", highlight=False)
        show_running(record, console)
        show_expected(record, console)
        show_usage(name, record, console)
        return 0
    if args.action == "down":
        stopped = detached.down(name)
        console.print(f"lab {name} stopped; its namespace, keys and certificates removed"
                      if stopped else f"lab {name} is not up: nothing to stop", highlight=False)
        return 0
    if args.action == "status":
        return _status(name, console)
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise ConfigError("lab exec: give the command to run, e.g. "
                          "annexscan lab exec -- annexscan scan 127.0.0.3 -p 3douest")
    return detached.exec_in(name, argv)


def _status(name: str, console: Console) -> int:
    from scanner.lab import detached
    from scanner.lab.state import LabState

    detached.require_root()
    record = LabState(name).read()
    if record is None or not detached.keeper_alive(record):
        console.print(f"lab {name} is down" + (" (a stale state: annexscan lab down cleans it)"
                                               if record else ""), highlight=False)
        return 1
    running = detached.servers_alive(record)
    since = dt.datetime.fromtimestamp(float(record.get("started_at", 0))).strftime("%H:%M:%S")
    console.print(f"lab {name} is up since {since}", highlight=False)
    show_running(record, console)
    stopped = [server for server, up in running.items() if not up]
    if stopped:
        console.print(f"stopped: {', '.join(stopped)}; restart the lab: annexscan lab down; "
                      "annexscan lab up", highlight=False, markup=False)
        return 3
    return 0


def hosts_table(hosts: Iterable[LabHost], title: str) -> Table:
    table = Table(title=title)
    table.add_column("host", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("open ports", overflow="fold", max_width=16)  # the text gets the room
    table.add_column("what it shows", overflow="fold")
    for host in hosts:
        table.add_row(host.name, host.address, ", ".join(map(str, host.open_ports)) or "none",
                      host.description)
    return table


def _hosts(record: dict[str, Any]) -> list[LabHost]:
    return [LabHost(**host) for host in record.get("hosts", [])]


def show_running(record: dict[str, Any], console: Console) -> None:
    servers = ", ".join(str(s.get("name")) for s in record.get("servers", []))
    console.print(f"servers: {servers}; keys and certificates in {record.get('workdir')}",
                  highlight=False, markup=False)
    console.print(hosts_table(_hosts(record), "lab hosts (real nginx, OpenSSH and TCP servers)"))


def show_expected(record: dict[str, Any], console: Console) -> None:
    profile, verdicts = expected_verdicts()
    table = Table(title=f"what a scan with -p {profile} finds (network probes; other "
                  "clauses stay manual)")
    for column in ("host", "fails (or error)", "passes"):
        table.add_column(column)
    for host in _hosts(record):
        got = verdicts.get(host.name, {})
        failing = [*got.get("fail", []), *(f"{c} (error)" for c in got.get("error", []))]
        table.add_row(f"{host.name} {host.address}", "\n".join(failing) or "none",
                      "\n".join(got.get("pass", [])) or "none")
    console.print(table)


def show_usage(name: str, record: dict[str, Any], console: Console) -> None:
    profile, _ = expected_verdicts()
    scan = (f"annexscan lab exec -- annexscan scan 127.0.0.3 -p {profile} "
            f"--ca-bundle {record.get('ca_bundle')} -o reports/lab")
    console.print("Run commands where only the lab listens (or: ip netns exec "
                  f"{name} COMMAND):", highlight=False, markup=False)
    console.print(f"  {scan}", highlight=False, markup=False, soft_wrap=True)  # one line to copy
    console.print("With host checks over SSH (the lab's sshds run on this machine, so they "
                  "report on it):", highlight=False, markup=False)
    console.print(f"  {scan} --ssh --ssh-key {record.get('ssh_key')} "
                  f"--known-hosts {record.get('known_hosts')}",
                  highlight=False, markup=False, soft_wrap=True)
    console.print("Stop the lab: annexscan lab down", highlight=False)
