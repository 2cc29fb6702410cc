"""Pending security updates, the age of the package lists they are computed from, and
automatic-update settings (apt on Debian/Ubuntu, dnf/yum on RHEL-likes).

Nothing is refreshed, installed or written: apt only simulates from the lists already on the
host, with its cache files, locks and planner log (/var/log/apt/eipp.log.xz, which `apt-get -s`
writes as root) switched off by options (APT_READ_ONLY); dnf runs cache-only. On a sysroot,
apt and dpkg-query read the sysroot's own lists and status (`-o Dir=`, `--admindir`).
The lists' age is the newest modification time of the security origin's Release files (apt
stamps them with the server's Last-Modified) or of apt's update-success-stamp, on the host's
clock; dnf/yum: the newest repomd.xml of the metadata cache."""

from __future__ import annotations

import re
import shlex
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, list_dir, parse_ini, read_optional
from scanner.hostprobes.filetimes import FileStat, file_stats, host_now
from scanner.transports.base import CommandResult, HostContext

APT_READ_ONLY = ("-o Debug::NoLocking=1 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "
                 "-o Dir::Log::Planner=")
APT_LISTS = "/var/lib/apt/lists"
APT_STAMP = "/var/lib/apt/periodic/update-success-stamp"
RPM_CACHES = {"dnf": "/var/cache/dnf", "yum": "/var/cache/yum"}
APT_TOKEN = re.compile(r'"(?P<quoted>[^"]*)"|(?P<comment>//[^\n]*|/\*.*?\*/|#(?!clear|include)'
                       r'[^\n]*)|(?P<punct>[{};])|(?P<word>[^\s{};"]+)', re.S)
# apt.conf(5): parts files are [A-Za-z0-9_.-], with no extension or ".conf"
APT_PART = re.compile(r"^[A-Za-z0-9_-]+(\.conf)?$")
INST = re.compile(r"^Inst (\S+) \[[^\]]*\] \(([^)]*)\)")
ADVISORY = re.compile(r"^(\S+-\S+)\s+\S+\s+(\S+)\s*$")  # dnf/yum: ID  Severity/Sec.  package
RPM_AUTOMATIC = {  # tool -> (config file, timers or services that run it)
    "dnf": ("/etc/dnf/automatic.conf", ["dnf-automatic.timer", "dnf-automatic-install.timer"]),
    "yum": ("/etc/yum/yum-cron.conf", ["yum-cron.service"]),
}


def parse_apt_config(text: str, config: dict[str, list[str]]) -> None:
    """apt.conf syntax into `config` (lowercased full key -> values): `A::B "v";`, nested
    `A { B "v"; };` scopes, list items `"v";`, `#clear`, and //, /* */ and # comments."""
    scope: list[str] = []
    words: list[str] = []
    for match in APT_TOKEN.finditer(text):
        if match["comment"]:
            continue
        token = match["punct"]
        if token is None:
            words.append(match["quoted"] if match["quoted"] is not None else match["word"])
        elif token == "{":
            scope.append(words[0] if words else "")
            words = []
        elif token == "}":
            scope = scope[:-1]
            words = []
        else:
            _apt_statement(scope, words, config)
            words = []


def _apt_statement(scope: list[str], words: list[str], config: dict[str, list[str]]) -> None:
    if not words:
        return
    if words[0] == "#clear":
        prefix = "::".join(scope + words[1:2]).lower()
        for key in [k for k in config if k == prefix or k.startswith(prefix + "::")]:
            del config[key]
    elif len(words) == 1 and scope:  # a list item of the enclosing scope
        config.setdefault("::".join(scope).lower(), []).append(words[0])
    elif len(words) >= 2 and not words[0].startswith("#"):
        config["::".join(scope + [words[0]]).lower()] = [words[1]]


def parse_apt_simulation(text: str) -> dict[str, Any]:
    """`apt-get -s` output: upgraded packages, and those coming from a security origin
    ("Debian-Security:12/bookworm-security", "Ubuntu:22.04/jammy-security")."""
    upgrades = [(m[1], m[2]) for m in map(INST.match, text.splitlines()) if m]
    return {"upgradable": len(upgrades),
            "pending_security": sorted({pkg for pkg, origin in upgrades
                                        if "security" in origin.lower()})}


def parse_advisories(text: str) -> list[str]:
    """`dnf/yum updateinfo list --security`: the packages that security advisories update."""
    return sorted({m[2] for m in map(ADVISORY.match, text.splitlines()) if m})


def _require(result: CommandResult) -> str:
    if not result.ok:
        hint = " (needs root: use --sudo)" if result.permission_denied else ""
        raise Unreadable(result.explain() + hint)
    return result.stdout


def lists_age(stats: list[FileStat], now: float) -> dict[str, Any]:
    """How old the freshest relevant metadata is: the security origin's files when some are
    named so, else all of them."""
    security = [s for s in stats if "security" in s.path.rsplit("/", 1)[-1].lower()]
    chosen = security or stats
    if not chosen:
        return {"files": [], "newest": None, "age_days": None}
    newest = max(chosen, key=lambda s: s.mtime)
    return {"files": sorted(s.path for s in chosen)[:20], "newest": newest.path,
            "age_days": round((now - newest.mtime) / 86400, 2)}


def _apt_lists(out: Collected, ctx: HostContext) -> dict[str, Any]:
    now = host_now(out, ctx)
    stats = file_stats(out, ctx, APT_LISTS, "*Release") or []
    age = lists_age(stats, now)
    stamp = file_stats(out, ctx, APT_STAMP.rsplit("/", 1)[0], "update-success-stamp") or []
    if stamp and (age["age_days"] is None or now - stamp[0].mtime < age["age_days"] * 86400):
        age |= {"newest": stamp[0].path, "age_days": round((now - stamp[0].mtime) / 86400, 2)}
    return age


def _apt(out: Collected, ctx: HostContext) -> dict[str, Any]:
    root = "" if ctx.root == "/" else f"-o Dir={shlex.quote(ctx.root)} "
    policy = _require(out.run(ctx, f"apt-cache {root}{APT_READ_ONLY} policy"))
    origins = re.findall(r"^\s+release (.*)$", policy, re.M)
    if not [o for o in origins if o.strip() != "a=now"]:
        raise Unreadable("APT has no package lists (apt-get update never ran, or the lists "
                         "were cleaned): pending updates cannot be known")
    simulation = _require(out.run(ctx, f"apt-get {root}{APT_READ_ONLY} -s dist-upgrade"))
    config: dict[str, list[str]] = {}
    files = []
    for name in list_dir(out, ctx, "/etc/apt/apt.conf.d") or []:
        if APT_PART.match(name):
            files.append(f"/etc/apt/apt.conf.d/{name}")
    files.append("/etc/apt/apt.conf")
    for path in files:
        text = read_optional(out, ctx, path)
        if text is not None:
            parse_apt_config(text, config)
    admindir = "" if ctx.root == "/" else \
        f"--admindir={shlex.quote(ctx.path('/var/lib/dpkg'))} "
    status = out.run(ctx, f"dpkg-query {admindir}-W -f='${{Status}}' unattended-upgrades")
    if not status.ok and "no packages found" not in status.stderr:
        _require(status)
    setting = lambda key: config.get(key, [None])[0]  # noqa: E731
    return {**parse_apt_simulation(simulation), "lists": _apt_lists(out, ctx),
            "security_source": any("security" in o.lower() for o in origins),
            "automatic": {
                "unattended_upgrades_installed": status.stdout.strip().endswith(" installed"),
                "update_package_lists": setting("apt::periodic::update-package-lists"),
                "unattended_upgrade": setting("apt::periodic::unattended-upgrade"),
                "origins": config.get("unattended-upgrade::origins-pattern", [])
                + config.get("unattended-upgrade::allowed-origins", [])}}


def _rpm(out: Collected, ctx: HostContext, tool: str, first: CommandResult) -> dict[str, Any]:
    advisories = _require(first)
    conf_path, units = RPM_AUTOMATIC[tool]
    conf = read_optional(out, ctx, conf_path)
    states: dict[str, str] = {}
    units_error = None
    for unit in units:
        result = out.run(ctx, f"systemctl is-enabled {unit}")
        if result.stdout.strip():  # enabled, disabled, static, masked...
            states[unit] = result.stdout.strip()
        elif "no such file" in result.stderr.lower():
            states[unit] = "not-found"
        else:
            units_error = result.explain()
    cache = RPM_CACHES[tool]
    lists = lists_age(file_stats(out, ctx, cache, "repomd.xml", depth=5) or [],
                      host_now(out, ctx))
    return {"pending_security": parse_advisories(advisories), "security_source": None,
            "lists": {**lists, "directory": cache},
            "automatic": {
                "config": conf_path if conf is not None else None,
                "apply_updates": parse_ini(conf or "").get("commands", {}).get("apply_updates"),
                "units": states, "units_error": units_error}}


@collector("packages")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    out = Collected(data={"manager": None})
    try:
        probe = out.run(ctx, "apt-get --version")
        if not probe.missing_tool:
            _require(probe)
            out.data = {"manager": "apt", **_apt(out, ctx)}
            return out
        for tool in ("dnf", "yum"):
            listing = out.run(ctx, f"{tool} -q -C updateinfo list --security")
            if not listing.missing_tool:
                out.data = {"manager": tool, **_rpm(out, ctx, tool, listing)}
                return out
    except Unreadable as exc:
        out.error = str(exc)
    return out
