"""Effective sshd configuration, per connection context (needs root: sshd reads the host keys).

`sshd -T` alone prints the global settings and ignores Match blocks, so a `Match User deploy`
re-enabling passwords would go unseen. The collector reads the config file and its Includes
(only paths it derives from them, size- and count-capped), finds every Match block, builds a
connection each block matches (scanner.hostprobes.sshd_match) and runs `sshd -T -C` for it,
plus one "any other connection". A block no connection can be built for is listed as
unresolved, never silently skipped. One context per block covers every value a connection can
get: where several blocks match, each keyword comes from one of them.
"""

from __future__ import annotations

import fnmatch
import shlex
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, _absent, list_dir, read_optional, unreadable
from scanner.hostprobes.sshd_match import (FILLER, MatchBlock, config_lines, connection_for,
                                           parse_match, spec_text)
from scanner.transports.base import HostContext

SSHD_CONFIG = "/etc/ssh/sshd_config"
MAX_BYTES, MAX_FILES, MAX_DEPTH, MAX_CONTEXTS = 256 * 1024, 64, 16, 64
Config = dict[str, list[str]]


def parse_sshd_t(text: str) -> Config:
    """`sshd -T` prints one lowercase `keyword value` per line; some keywords repeat."""
    config: Config = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            config.setdefault(key.lower(), []).append(value.strip())
    return config


def sshd_t(out: Collected, ctx: HostContext, config_file: str = SSHD_CONFIG,
           spec: dict[str, str] | None = None, mounts: tuple[str, ...] = ()
           ) -> tuple[Config | None, str | None]:
    """(configuration, None) or (None, why not) of `sshd -T` (with `-C spec` for a Match
    context); a missing sshd is `out.commands[-1].missing_tool`.

    `mounts`: Include directories that, under a sysroot, are bind-mounted from the image over
    the scanning machine's own in a private mount namespace (sshd opens Include paths as
    written), so sshd reads the image's files and nothing on the machine changes."""
    argv = ["sshd", "-T", "-f", ctx.path(config_file)] + (["-C", spec_text(spec)] if spec else [])
    command = shlex.join(argv)
    if mounts:
        binds = " && ".join(shlex.join(["mount", "--bind", ctx.path(d), d]) for d in mounts)
        command = shlex.join(["unshare", "-m", "sh", "-c", f"{binds} && exec {command}"])
    result = out.run(ctx, command, sudo=True)
    if result.ok:
        return parse_sshd_t(result.stdout), None
    needs_root = result.permission_denied or "no hostkeys available" in result.stderr
    return None, result.explain() + (" (sshd -T needs root: use --sudo)" if needs_root else "")


def _read_capped(out: Collected, ctx: HostContext, path: str) -> str | None:
    """A config file's text (None when absent), refused past MAX_BYTES (`head`, not `cat`: an
    Include of /dev/zero must not stream forever)."""
    result = out.run(ctx, shlex.join(["head", "-c", str(MAX_BYTES + 1), "--", ctx.path(path)]),
                     sudo=True)
    if not result.ok:
        if _absent(result):
            return None
        raise unreadable(result)
    if len(result.stdout.encode()) > MAX_BYTES:
        raise Unreadable(f"{path} is larger than {MAX_BYTES} bytes: not read")
    return result.stdout


def _include_dir(arg: str) -> str:
    return (arg if arg.startswith("/") else "/etc/ssh/" + arg).rpartition("/")[0] or "/"


def _include_paths(out: Collected, ctx: HostContext, arg: str) -> list[str]:
    """An Include argument as sshd resolves it (relative to /etc/ssh, glob sorted)."""
    path = arg if arg.startswith("/") else "/etc/ssh/" + arg
    directory, _, name = path.rpartition("/")
    if any(c in directory for c in "*?["):
        raise Unreadable(f"Include {arg}: wildcards in directory names are not followed")
    if not any(c in name for c in "*?["):
        return [path]
    entries = list_dir(out, ctx, directory or "/", sudo=True) or []
    return [f"{directory}/{e}" for e in entries
            if fnmatch.fnmatchcase(e, name) and not e.startswith(".")]


def read_tree(out: Collected, ctx: HostContext, config_file: str
              ) -> tuple[list[MatchBlock], list[str], list[str], list[str]]:
    """(Match blocks, unresolved blocks, files read, directories Included from)."""
    blocks: list[MatchBlock] = []
    unresolved: list[str] = []
    files: list[str] = []
    included: list[str] = []

    def walk(path: str, depth: int, outer: list[tuple[str, str]]) -> None:
        """`outer`: criteria of the Match block the Include sits in; sshd applies the included
        file's Match blocks only to connections that match it too."""
        if depth > MAX_DEPTH:
            raise Unreadable(f"Include nesting deeper than {MAX_DEPTH} at {path}")
        if len(files) >= MAX_FILES:
            raise Unreadable(f"more than {MAX_FILES} sshd config files")
        text = _read_capped(out, ctx, path)
        if text is None:
            if depth == 0:
                raise Unreadable(f"{path} is absent")
            return  # sshd skips an Include that matches nothing
        files.append(path)
        current = outer
        for number, keyword, args in config_lines(text):
            if keyword == "include":
                for arg in args:
                    included.append(_include_dir(arg))
                    for child in _include_paths(out, ctx, arg):
                        walk(child, depth + 1, current)
            elif keyword == "match":
                block = parse_match(f"{path}:{number}", args)
                if isinstance(block, str):
                    unresolved.append(block)
                    continue
                block.criteria = outer + block.criteria
                current = block.criteria
                blocks.append(block)

    walk(config_file, 0, [])
    return blocks, unresolved, files, included


def _groups_of(out: Collected, ctx: HostContext) -> dict[str, list[str]] | None:
    """user -> group names (primary and supplementary) from /etc/passwd and /etc/group. None
    under a sysroot: sshd resolves groups with the scanning machine's own user database."""
    if ctx.root != "/":
        return None
    passwd, group = (read_optional(out, ctx, p) or "" for p in ("/etc/passwd", "/etc/group"))
    names = {f[2]: f[0] for f in (line.split(":") for line in group.splitlines()) if len(f) > 3}
    groups: dict[str, list[str]] = {}
    for fields in (line.split(":") for line in passwd.splitlines()):
        if len(fields) > 3 and fields[0]:
            groups.setdefault(fields[0], []).append(names.get(fields[3], fields[3]))
    for fields in (line.split(":") for line in group.splitlines()):
        for member in fields[3].split(",") if len(fields) > 3 else []:
            if member.strip():
                groups.setdefault(member.strip(), []).append(fields[0])
    return groups


def _global(out: Collected, ctx: HostContext, config_file: str, mounts: tuple[str, ...] = ()
            ) -> tuple[Config | None, str | None]:
    """The global settings. A Match LocalPort/LocalAddress block makes a plain `sshd -T`
    refuse: sshd is then asked for a connection no specific block matches."""
    config, why = sshd_t(out, ctx, config_file, mounts=mounts)
    if config is None and "connection test specification" in out.commands[-1].stderr:
        config, why = sshd_t(out, ctx, config_file, FILLER, mounts)
    return config, why


def effective(out: Collected, ctx: HostContext, config_file: str = SSHD_CONFIG
              ) -> dict[str, Any]:
    """{installed, error, config_absent, contexts: [{name, spec, config}], unresolved, inert
    (blocks that match no connection), files}."""
    view: dict[str, Any] = {"installed": None, "error": None, "config_absent": False,
                            "contexts": [], "unresolved": [], "inert": [], "files": []}
    config, why = _global(out, ctx, config_file)
    if config is None:
        last = out.commands[-1]
        view["installed"] = False if last.missing_tool else None
        view["config_absent"] = last.error is None and "no such file" in last.stderr.lower()
        view["error"] = why
        return view
    view["installed"] = True
    mounts: tuple[str, ...] = ()
    try:
        blocks, view["unresolved"], view["files"], included = read_tree(out, ctx, config_file)
        groups = _groups_of(out, ctx) if any(
            name == "group" for b in blocks for name, _ in b.criteria) else None
    except Unreadable as exc:
        view["error"] = f"Match blocks not evaluated: {exc}"
        return view
    if included and ctx.root != "/":
        mounts = tuple(sorted(set(included)))
        config, why = _global(out, ctx, config_file, mounts)
        if config is None:
            view["error"] = why
            return view
    if not blocks:
        view["contexts"] = [{"name": "every connection (no Match block)", "spec": None,
                             "config": config}]
        return view
    ports = list(dict.fromkeys(config.get("port", [FILLER["lport"]])))
    wanted: list[tuple[str, dict[str, str] | str | None]] = [
        (f"any other connection to port {port}", {**FILLER, "lport": port}) for port in ports]
    wanted += [(f"{b.line} ({b.where})", connection_for(b, groups, ports[0])) for b in blocks]
    if len(wanted) > MAX_CONTEXTS:
        view["unresolved"].append(f"{len(wanted) - MAX_CONTEXTS} of {len(wanted)} contexts "
                                  f"(ports, Match blocks) past the first {MAX_CONTEXTS} were "
                                  "not evaluated")
        wanted = wanted[:MAX_CONTEXTS]
    seen: dict[str, Config] = {}
    for name, spec in wanted:
        if isinstance(spec, str):
            view["unresolved"].append(spec)
            continue
        if spec is None:
            view["inert"].append(f"{name}: negated patterns only, matches no connection")
            continue
        text = spec_text(spec)
        if text not in seen:
            found, why = sshd_t(out, ctx, config_file, spec, mounts)
            if found is None:
                view["error"] = why
                return view
            seen[text] = found
        view["contexts"].append({"name": name, "spec": text, "config": seen[text]})
    return view


@collector("sshd")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"configs": {}})
    for config_file in sorted({p["config_file"] for p in params}):
        view = effective(out, ctx, config_file)
        if view["installed"] is False:
            out.data["installed"] = False
            return out
        if view["error"]:
            out.error = view["error"]
            return out
        out.data["configs"][config_file] = {k: view[k] for k in ("contexts", "unresolved",
                                                                  "inert", "files")}
    out.data["installed"] = True
    return out
