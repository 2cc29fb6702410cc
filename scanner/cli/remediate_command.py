"""`annexscan remediate RESULT.json -o fix.yml`: an Ansible playbook (and its inventory) for the
failures of a saved scan. Nothing is run here and Ansible is not imported: the playbook is
written for a person to read, then run with ansible-playbook."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from scanner.catalog.controls import load_catalog
from scanner.errors import ConfigError
from scanner.outputs import check_output_file, write_file
from scanner.remediation.fixes import load_fixes
from scanner.remediation.inventory import Login, inventory_text
from scanner.remediation.playbook import (Plan, Selection, attest_lines, build_plan,
                                           check_selection, fix_lines)
from scanner.remediation.yamlout import comment, dump, neutral
from scanner.reporters.load import load_result
from scanner.scope.inventory import load_inventory
from scanner.scope.targets import LOCAL


def add_remediate_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "remediate", help="write an Ansible playbook fixing the failures of a saved scan",
        description="Read a JSON result written by `scan` and write an Ansible playbook with "
        "one play per target: tasks for the failing controls that have a safe automated fix "
        "(idempotent, tagged with their clause and control ids), and in its header every "
        "other failure with what to do. An inventory is written beside it. Review the "
        "playbook, run it with ansible-playbook (--check first), then scan again and compare "
        "with `annexscan diff`. The inventory logs in to each target as the scan did: its "
        "report records how (user, port, key path, jump host, sudo; never a secret).",
        epilog="exit codes:\n  0  playbook and inventory written\n  2  unreadable RESULT.json, "
        "a login (recorded or given) unsafe to hand to ssh, an id the report does not hold, or an "
        "output path that cannot be written",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path, metavar="RESULT.json")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PLAYBOOK.yml",
                        help="the playbook to write (atomically, never through a symlink)")
    parser.add_argument("-i", "--inventory-output", type=Path, metavar="PATH",
                        help="where to write the inventory (default: beside the playbook, "
                        "NAME.inventory.yml)")
    parser.add_argument("--clause", action="append", default=[], metavar="ID",
                        help="fix only this clause; repeatable")
    parser.add_argument("--control", action="append", default=[], metavar="ID",
                        help="fix only this control; repeatable")
    parser.add_argument("--include-advisory", action="store_true",
                        help="also fix advice controls that are not met (default: the annex's "
                        "failing clauses only)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="set a playbook variable (a file path such as sshd_config_path, a "
                        "reload command); a list variable takes a comma-separated value")
    group = parser.add_argument_group(
        "login", "The inventory logs in as the scan did, from the SSH access its report "
        "records for each target; these options override it (field by field), and give a "
        "login to a target the scan did not log in to.")
    group.add_argument("--ssh-user", metavar="USER")
    group.add_argument("--ssh-key", metavar="FILE", help="private key file (its path is written)")
    group.add_argument("--ssh-port", type=int, metavar="N")
    group.add_argument("--ssh-jump", metavar="[USER@]HOST[:PORT]")
    group.add_argument("--sudo", action="store_true", help="become root with sudo")
    group.add_argument("--scan-inventory", type=Path, metavar="FILE",
                       help="the inventory the scan read (per-host user, key, port, jump, sudo)")


def remediate_command(args: argparse.Namespace, console: Console) -> int:
    inventory_path = args.inventory_output or \
        args.output.with_name(f"{args.output.name.rsplit('.', 1)[0]}.inventory.yml")
    if inventory_path.resolve() == args.output.resolve():
        raise ConfigError(f"-i {inventory_path}: the same file as the playbook")
    check_output_file(args.output, "-o")
    check_output_file(inventory_path, "-i")
    catalog = load_catalog()
    fixes = load_fixes(catalog)
    play_vars = _vars(args.var, {n: v for a in fixes.areas.values() for n, v in a.vars.items()})
    result = load_result(args.result)
    selection = Selection(frozenset(args.clause), frozenset(args.control), args.include_advisory)
    check_selection(result, selection)
    plan = build_plan(result, catalog, fixes, selection, play_vars)
    logins = _logins(args)
    hosts = [(t.target, t.address, _login(logins.get(t.target, logins[None]), t.access))
             for t in result.targets if t.target in plan.targets]
    write_file(inventory_path, inventory_text(hosts, args.result).encode(), "-i")
    write_file(args.output, _playbook_text(plan, args.result, args.output, inventory_path)
               .encode(), "-o")
    console.print(f"wrote {escape(str(args.output))}: {plan.tasks} task(s) for "
                  f"{len(plan.plays)} target(s); {len(plan.by_hand)} failure(s) to fix by hand "
                  f"and {len(plan.to_attest)} clause(s) to attest, listed in its header",
                  highlight=False, soft_wrap=True)
    bare = sum(1 for _, address, login in hosts if login is None and address != LOCAL)
    console.print(f"wrote {escape(str(inventory_path))}" + (
        f": {bare} target(s) with no SSH access recorded and none given hold only "
        "ansible_host (its header names them)" if bare else ""), highlight=False)
    return 0


def _vars(given: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or name not in defaults:
            raise ConfigError(f"--var {item[:80]!r}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(sorted(defaults))}")
        if isinstance(defaults[name], list):
            out[name] = neutral([v.strip() for v in value.split(",") if v.strip()])
        elif isinstance(defaults[name], dict):
            raise ConfigError(f"--var {name}: a mapping; set it with ansible-playbook -e")
        else:
            out[name] = neutral(value)
    return out


def _logins(args: argparse.Namespace) -> dict[str | None, Login]:
    """Target name -> login; None: the command line's, for every other target."""
    given = Login(args.ssh_user, args.ssh_port, args.ssh_key, args.ssh_jump, args.sudo or None)
    out: dict[str | None, Login] = {None: given.checked("--ssh-*")}
    for host in load_inventory(args.scan_inventory) if args.scan_inventory else []:
        login = Login(host.get("user"), host.get("port"), host.get("key"), host.get("jump"),
                      host.get("sudo")).over(given)
        out[host.name] = login.checked(f"--scan-inventory {args.scan_inventory}: {host.name}")
    return out


def _login(given: Login, access: dict[str, Any] | None) -> Login | None:
    """The options' login over the one the report records; None when neither gives any."""
    if access is None:
        return None if given == Login() else given
    return given.over(Login.recorded(access))


def _playbook_text(plan: Plan, report: Path, playbook: Path, inventory: Path) -> str:
    lines = [f"Written by annexscan remediate from {report}. Review it, then run",
             f"ansible-playbook -i {inventory} {playbook} --check --diff, then without "
             "--check; scan again and compare: annexscan diff OLD.json NEW.json.",
             "Each task is tagged with its clause ids and control id (--tags to run some).", ""]
    lines += ["The automated fixes, why each is safe, and what each leaves undone:"] + \
        [f"- {line}" for line in fix_lines(plan) or ["none"]] + [""]
    lines += ["Failures with no safe automated fix: nothing is attempted for them."] + \
        [f"- {line}" for line in plan.by_hand or ["none"]] + [""]
    lines += ["Manual clauses (an attestation answers them):"] + \
        [f"- {line}" for line in attest_lines(plan) or ["none"]]
    body = dump(plan.plays) if plan.plays else "[]\n"
    return comment(lines) + "\n" + body
