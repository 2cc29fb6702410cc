"""The `profiles` and `controls` commands: what the catalog and the profiles hold.

Clauses and controls are shown one block each, not as table rows: a requirement or a default
list needs the width of the line, and a table of five columns at 80 columns splits words.
Every text comes from a YAML file a user may have written, so it is shown as rich Text (no
markup) after the terminal escaping.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from scanner.catalog.controls import Catalog, Control, load_catalog
from scanner.catalog.profiles import Clause, ControlRef, Profile, builtin_profile_ids, load_profile
from scanner.cli.show import control_head, parameter_text, plain_text, value_text
from scanner.reporters.terminal import indented, labelled, printable


def profiles_command(args: argparse.Namespace, console: Console) -> int:
    catalog = load_catalog()
    if args.action == "list":
        profiles_table(catalog, console)
    elif args.action == "show":
        show_profile(load_profile(args.profile, catalog), catalog, console)
    elif args.action == "validate":
        for path in args.paths:
            profile = load_profile(str(Path(path)), catalog)
            console.print(Text(f"{printable(path)}: valid profile '{printable(profile.id)}', "
                               f"{len(profile.clauses)} clauses"))
    elif args.action == "coverage":
        coverage_table(args.profiles or builtin_profile_ids(), catalog, console)
    elif args.action == "export":
        from scanner.cli.oscal_command import profiles_export_command
        return profiles_export_command(args, console)
    return 0


def profiles_table(catalog: Catalog, console: Console) -> None:
    table = Table(title="built-in profiles")
    table.add_column("id", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("source", ratio=1)
    table.add_column("clauses", justify="right", no_wrap=True)
    for pid in builtin_profile_ids():
        profile = load_profile(pid, catalog)
        source = [profile.source.get(key) for key in ("issuer", "title", "version")]
        table.add_row(Text(printable(profile.id)), Text(printable(profile.title)),
                      Text(", ".join(plain_text(s) for s in source if s)),
                      str(len(profile.clauses)))
    console.print(table)


def show_profile(profile: Profile, catalog: Catalog, console: Console) -> None:
    console.print(labelled([(Text(printable(profile.id), style="bold"),
                             Text(printable(profile.title)))]))
    console.print("source:", highlight=False)
    console.print(indented(labelled([(Text(f"{printable(key)}:"), Text(plain_text(value)))
                                     for key, value in profile.source.items()]), 2))
    console.print(f"{len(profile.clauses)} clauses", highlight=False)
    for clause in profile.clauses:
        console.print()
        console.print(_clause_block(clause, catalog))


def _clause_block(clause: Clause, catalog: Catalog) -> Group:
    """The clause's id, section and title; its requirement; the annex's own words (verbatim);
    the controls that verify it, or the evidence that attests it."""
    head = labelled([(Text(printable(clause.id), style="bold"),
                      Text(f"({printable(clause.section)})  {printable(clause.title)}"))])
    rows = [("annex", Text(printable(q), style="italic")) for q in clause.quote]
    rows += [("control" if ref.binding else "advice", _ref_text(ref, catalog))
             for ref in clause.controls]
    rows += [("attest", Text(printable(clause.attest)))] if clause.manual else []
    return Group(head, indented(Group(Text(printable(clause.requirement)),
                                      labelled(rows, "dim")), 4))


def _ref_text(ref: ControlRef, catalog: Catalog) -> Text:
    """The control, with the parameters this profile sets away from the catalog's defaults."""
    defaults = catalog.get(ref.control_id).defaults()
    changed = {k: v for k, v in ref.parameters.items() if defaults.get(k) != v}
    return Text(" ".join([printable(ref.control_id)] + ([value_text(changed)] if changed else [])))


def coverage_table(refs: list[str], catalog: Catalog, console: Console) -> None:
    table = Table(title="clause coverage per profile")
    # share: clauses a probe answers at least in part; advice: controls the profile adds
    for column in ("profile", "clauses", "automated", "mixed", "manual", "share", "advice"):
        table.add_column(column, justify="right" if column != "profile" else "left",
                         no_wrap=True)
    for ref in refs:
        profile = load_profile(ref, catalog)
        kinds = [c.kind(catalog) for c in profile.clauses]
        total = len(kinds)
        auto, mixed = kinds.count("automated"), kinds.count("mixed")
        advice = sum(not r.binding for c in profile.clauses for r in c.controls)
        table.add_row(Text(printable(profile.id)), str(total), str(auto), str(mixed),
                      str(kinds.count("manual")), f"{(auto + mixed) / total:.0%}", str(advice))
    console.print(table)


def controls_command(args: argparse.Namespace, console: Console) -> int:
    if args.action == "show":
        from scanner.cli.control_show import controls_show_command
        return controls_show_command(args, console)
    catalog = list(load_catalog())
    console.print(f"control catalog: {len(catalog)} controls (a profile may set any parameter; "
                  "the default applies otherwise; `annexscan controls show ID` tells everything "
                  "about one: remediation, automated fix, profiles using it)", highlight=False)
    for control in catalog:
        console.print()
        console.print(_control_block(control))
    return 0


def _control_block(control: Control) -> Group:
    """id, kind, probe, severity; the title; each parameter with its type and default."""
    params = labelled([(Text(printable(p.name)), parameter_text(p))
                       for p in control.parameters.values()])
    body = params if control.parameters else Text("no parameters", style="dim")
    return Group(control_head(control),
                 indented(Group(Text(printable(control.title)), body), 4))
