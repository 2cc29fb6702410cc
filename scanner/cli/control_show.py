"""`annexscan controls show ID`: everything about one control, in one place.

What it checks and what each verdict means; its parameters (with `--profile`, the value each
clause of that profile gives them); its remediation rendered with the defaults or with each
clause's parameters; whether `annexscan remediate` can fix it, or why not; and which clauses of
the built-in profiles use it.

Prose wraps at word boundaries. Configuration snippets are printed as code, one line of the
snippet per line of the terminal: a line wider than the terminal overflows (the terminal folds
it) rather than being re-wrapped, so it can be copied whole. Every text, the snippets too, goes
through the terminal escaping: a profile given with `--profile` is hostile input.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from scanner.catalog.controls import Catalog, Control, load_catalog
from scanner.catalog.profiles import Clause, ControlRef, Profile, builtin_profile_ids, load_profile
from scanner.catalog.remediation import check_remediation, render_remediation
from scanner.catalog.yamldoc import schema_error
from scanner.cli.show import control_head, parameter_text, value_text
from scanner.errors import ConfigError
from scanner.remediation.fixes import Fixes, load_fixes
from scanner.reporters.terminal import indented, labelled, printable

Use = tuple[Clause, ControlRef]
SNIPPET_INDENT = 8


def controls_show_command(args: argparse.Namespace, console: Console) -> int:
    catalog = load_catalog()
    control = find_control(catalog, args.control)
    profile = load_profile(args.profile, catalog) if args.profile else None
    uses = _uses(profile, control.id) if profile else []
    for block in (_head(control), _parameters(control, profile, uses)):
        console.print(block)
        console.print()
    _print_remediation(control, profile, uses, console)
    console.print()
    console.print(_fix(control, load_fixes(catalog), uses))
    console.print()
    console.print(_builtin_uses(control, catalog))
    return 0


def find_control(catalog: Catalog, control_id: str) -> Control:
    """The control, or a ConfigError naming the closest known ids."""
    if control_id in catalog:
        return catalog.get(control_id)
    ids = {c.id.lower(): c.id for c in catalog}
    close = [ids[i] for i in difflib.get_close_matches(control_id.lower(), ids, n=3, cutoff=0.5)]
    hint = f"closest: {', '.join(close)}" if close else "see `annexscan controls list`"
    raise ConfigError(f"unknown control id '{printable(control_id)}' ({hint})")


def _uses(profile: Profile, control_id: str) -> list[Use]:
    return [(clause, ref) for clause in profile.clauses for ref in clause.controls
            if ref.control_id == control_id]


def _use_name(use: Use) -> str:
    clause, ref = use
    return printable(clause.id) + ("" if ref.binding else " (advice)")


def _heading(text: str) -> Text:
    return Text(text, style="bold")


def _head(control: Control) -> Group:
    """Id, kind, probe or collector, severity; title, description, what each verdict means."""
    verdicts = [("pass", control.pass_means), ("fail", control.fail_means),
                ("not applicable", control.na_means)]
    body = Group(Text(printable(control.title), style="italic"),
                 Text(printable(" ".join(control.description.split()))), Text(),
                 labelled([(name, Text(printable(means))) for name, means in verdicts if means],
                          "dim"))
    return Group(control_head(control), indented(body, 4))


def _parameters(control: Control, profile: Profile | None, uses: list[Use]) -> Group:
    """Each parameter: type, default, description; with a profile, each clause's value."""
    if not control.parameters:
        return Group(_heading("parameters"), indented(Text("none", style="dim"), 4))
    rows = []
    for param in control.parameters.values():
        lines: list[RenderableType] = [
            parameter_text(param), Text(printable(" ".join(param.description.split())))]
        if profile is not None and uses:
            lines.append(Text(f"in {printable(profile.id)}:", style="dim"))
            lines.append(indented(labelled([(Text(_use_name(use)),
                                             Text(value_text(use[1].parameters.get(param.name))))
                                            for use in uses]), 2))
        rows.append((Text(printable(param.name)), Group(*lines)))
    return Group(_heading("parameters"), indented(labelled(rows), 4))


def _print_remediation(control: Control, profile: Profile | None, uses: list[Use],
                       console: Console) -> None:
    """The remediation with the defaults, or once per distinct rendering of the profile's
    clauses (clauses whose parameters render the same text share one)."""
    if control.remediation is None:
        console.print(_heading("remediation"))
        console.print(indented(Text("none in the catalog: a manual control, attested with "
                                    "evidence", style="dim"), 4))
        return
    if not uses:
        heading = "remediation, with the catalog's defaults" + (
            f" (no clause of {printable(profile.id)} uses this control)" if profile else "")
        _print_rendered(heading, render_remediation(control, {}), console)
        return
    rendered: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for use in uses:
        check_remediation(control, use[1].parameters, profile.id)  # names the profile on error
        one = render_remediation(control, use[1].parameters)
        rendered.setdefault(repr(one), (one, []))[1].append(_use_name(use))
    for index, (one, names) in enumerate(rendered.values()):
        if index:
            console.print()
        _print_rendered(f"remediation in {printable(profile.id)} for {', '.join(names)}", one,
                        console)


def _print_rendered(heading: str, remediation: dict[str, Any], console: Console) -> None:
    console.print(_heading(heading))
    console.print(indented(Text(printable(remediation["text"])), 4))
    for snippet in remediation["snippets"]:
        console.print(indented(Text(f"{printable(snippet['implementation'])}:", style="dim"), 4))
        for line in snippet["text"].splitlines():  # code: never re-wrapped, see the docstring
            console.print(Text(" " * SNIPPET_INDENT + printable(line)), soft_wrap=True)


def _fix(control: Control, fixes: Fixes, uses: list[Use]) -> Group:
    """What `annexscan remediate` does for this control and why it is safe, or why not."""
    fix = fixes.fixes.get(control.id)
    if fix is None:
        why = fixes.not_automated.get(control.id) or (
            "a manual control, nothing on a host to change" if not control.automated
            else "no decision recorded in controls/fixes")
        return Group(_heading("automated fix"),
                     indented(Text(f"no automated fix: {printable(' '.join(why.split()))}"), 4))
    does = "; ".join(printable(task["name"]) for task in fix.tasks)
    rows = [("safe", Text(printable(" ".join(fix.safe.split()))))]
    rows += [("not done", Text(printable(" ".join(fix.leaves.split()))))] if fix.leaves else []
    refused = [_use_name(use) for use in uses if any(
        schema_error(use[1].parameters.get(name), schema) is not None
        for name, schema in fix.parameters.items())]
    rows += [("except", Text(f"{', '.join(refused)}: a parameter value the fix does not take"))
             ] if refused else []
    return Group(_heading("automated fix"), indented(Group(
        Text(f"annexscan remediate can fix this: {does}."), labelled(rows, "dim")), 4))


def _builtin_uses(control: Control, catalog: Catalog) -> Group:
    """Each built-in profile's clauses that use the control: where it matters."""
    rows = []
    for profile_id in builtin_profile_ids():
        names = [_use_name(use) for use in _uses(load_profile(profile_id, catalog), control.id)]
        if names:
            rows.append((Text(printable(profile_id)), Text(", ".join(names))))
    body = labelled(rows) if rows else Text("no built-in profile uses it", style="dim")
    return Group(_heading("in the built-in profiles"), indented(body, 4))
