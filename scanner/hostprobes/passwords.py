"""Password rules the system enforces: lifetime (login.defs PASS_MAX_DAYS for new accounts,
each account's maximum age in /etc/shadow), pwquality length, faillock lockout.

Also home of reading a PAM stack with its includes, which the mfa collector shares (sshd's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.accounts import read_shadow
from scanner.hostprobes.files import Unreadable, list_dir, read_optional
from scanner.transports.base import HostContext

PAM_DIR = "/etc/pam.d"
PWQUALITY = "/etc/security/pwquality.conf"
FAILLOCK = "/etc/security/faillock.conf"
PWQUALITY_DEFAULT_MINLEN = 8   # pwquality.conf(5)
CRACKLIB_DEFAULT_MINLEN = 9    # pam_cracklib(8)
FAILLOCK_DEFAULT_DENY = 3      # faillock.conf(5)
SHADOW_NO_MAX = 99999          # login.defs(5) default: no expiry


def key_values(text: str, separator: str | None = "=") -> dict[str, str]:
    """`key = value` (or `KEY value` with separator None) lines; comments and case ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, value = (line.split(None, 1) + ["", ""])[:2] if separator is None \
            else line.partition(separator)[::2]
        if key.strip():
            values[key.strip().lower()] = value.strip()
    return values


@dataclass
class PamLine:
    type: str      # auth, account, password, session (a leading "-" removed)
    control: str   # required, [success=1 default=ignore], ...
    module: str    # basename: pam_unix.so
    args: list[str]
    file: str      # the host file the line is in

    def arg(self, name: str) -> str | None:
        """Value of `name=value` among the arguments (the last one wins), or None."""
        found = None
        for arg in self.args:
            key, sep, value = arg.partition("=")
            if sep and key == name:
                found = value
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "control": self.control, "module": self.module,
                "args": self.args, "file": self.file}


def parse_pam(text: str, file: str) -> list[PamLine | tuple[str, str]]:
    """The entries of one PAM file in order: PamLines, and includes as (type, service) where
    type is "*" for Debian's `@include` (every type)."""
    entries: list[PamLine | tuple[str, str]] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("@include"):
            entries += [("*", name) for name in line.split()[1:2]]
            continue
        match = re.match(r"-?(\w+)\s+(\[[^\]]*\]|\S+)\s+(\S+)\s*(.*)$", line)
        if not match:
            continue
        kind, control, module, args = match.groups()
        if control in ("include", "substack"):
            entries.append((kind.lower(), module))
        else:
            entries.append(PamLine(kind.lower(), control, module.rsplit("/", 1)[-1],
                                   args.split(), file))
    return entries


def pam_stack(out: Collected, ctx: HostContext, service: str, kinds: set[str],
              _seen: frozenset[str] = frozenset()) -> list[PamLine] | None:
    """The lines of `kinds` of a PAM service, @include/include/substack followed, in order.

    None when the service file is absent; an absent included file is skipped (PAM does too)."""
    path = service if service.startswith("/") else f"{PAM_DIR}/{service}"
    if path in _seen:  # an include loop
        return []
    text = read_optional(out, ctx, path)
    if text is None:
        return None
    stack: list[PamLine] = []
    for entry in parse_pam(text, path):
        if isinstance(entry, PamLine):
            stack += [entry] if entry.type in kinds else []
            continue
        wanted = kinds if entry[0] == "*" else kinds & {entry[0]}
        if wanted:
            stack += pam_stack(out, ctx, entry[1], wanted, _seen | {path}) or []
    return stack


def _pwquality_conf(out: Collected, ctx: HostContext) -> tuple[int | None, str | None]:
    """minlen from pwquality.conf.d/*.conf, then pwquality.conf (read last, it wins)."""
    minlen, source = None, None
    drop_ins = [f"{PWQUALITY}.d/{name}" for name in list_dir(out, ctx, PWQUALITY + ".d") or []
                if name.endswith(".conf")]
    for path in drop_ins + [PWQUALITY]:
        text = read_optional(out, ctx, path)
        value = key_values(text).get("minlen") if text is not None else None
        if value is not None and value.isdigit():
            minlen, source = int(value), path
    return minlen, source


def _min_length(line: PamLine, conf: tuple[int | None, str | None]) -> dict[str, Any]:
    """What one password-stack module enforces as minimum length, and where that comes from."""
    value = line.arg("minlen")
    if value is not None and value.isdigit():
        return {"module": line.module, "minlen": int(value), "source": f"{line.file} arguments"}
    if line.module == "pam_pwquality.so":
        if conf[0] is not None:
            return {"module": line.module, "minlen": conf[0], "source": conf[1]}
        return {"module": line.module, "minlen": PWQUALITY_DEFAULT_MINLEN,
                "source": "pwquality default"}
    return {"module": line.module, "minlen": CRACKLIB_DEFAULT_MINLEN, "source": "cracklib default"}


def _lockout(stack: list[PamLine], faillock_deny: int | None) -> dict[str, Any]:
    """The failed-attempt limit of one auth stack (pam_faillock, else pam_tally2)."""
    faillock = [line for line in stack if line.module == "pam_faillock.so"]
    if faillock:
        args = [int(v) for v in (line.arg("deny") for line in faillock) if v and v.isdigit()]
        if args:
            deny, source = max(args), "pam arguments"
        elif faillock_deny is not None:
            deny, source = faillock_deny, FAILLOCK
        else:
            deny, source = FAILLOCK_DEFAULT_DENY, "faillock default"
        modes = sorted({a for line in faillock for a in line.args
                        if a in ("preauth", "authfail", "authsucc")})
        return {"module": "pam_faillock.so", "deny": deny, "source": source, "modes": modes}
    tally = next((line for line in stack if line.module == "pam_tally2.so"), None)
    if tally is not None:  # pam_tally2 without deny= never locks
        deny_arg = tally.arg("deny")
        return {"module": "pam_tally2.so", "deny": int(deny_arg) if deny_arg and
                deny_arg.isdigit() else 0, "source": "pam arguments", "modes": []}
    return {"module": None, "deny": None, "source": None, "modes": []}


LENGTH_MODULES = ("pam_pwquality.so", "pam_cracklib.so")
# The kinds of lines each stack file holds: Debian splits them, RHEL's files hold both.
STACK_KINDS = {"common-password": {"password"}, "common-auth": {"auth"},
               "system-auth": {"password", "auth"}, "password-auth": {"password", "auth"}}


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and re.fullmatch(r"-?\d+", value) else None


def _shadow_ages(out: Collected, ctx: HostContext) -> dict[str, Any]:
    """Per account, its password status and maximum age; the hashes are never kept. An
    unreadable shadow only stops the lifetime rule, so it is reported, not raised."""
    try:
        accounts = read_shadow(out, ctx)
    except Unreadable as exc:
        return {"shadow_read": True, "shadow": None, "shadow_error": str(exc)}
    return {"shadow_read": True, "shadow": None if accounts is None else {
        user: {"status": a["status"], "max_days": a["max_days"]}
        for user, a in accounts.items()}, "shadow_error": None}


@collector("passwords")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    """PASS_MAX_DAYS and, when a lifetime is required, /etc/shadow's maximum ages; per PAM
    stack file, the binding minimum length and the lockout."""
    out = Collected(data={"pass_max_days": None, "login_defs": False, "pam_files": [],
                          "min_length": {}, "lockout": {}, "shadow_read": False,
                          "shadow": None, "shadow_error": None})
    if any(p.get("max_days") is not None for p in params):
        out.data |= _shadow_ages(out, ctx)
    try:
        defs = read_optional(out, ctx, "/etc/login.defs")
        if defs is not None:
            out.data["login_defs"] = True
            out.data["pass_max_days"] = _number(key_values(defs, None).get(
                "pass_max_days", str(SHADOW_NO_MAX)))
        conf = _pwquality_conf(out, ctx)
        faillock = read_optional(out, ctx, FAILLOCK)
        faillock_deny = _number(key_values(faillock).get("deny")) if faillock else None
        for name, kinds in STACK_KINDS.items():
            stack = pam_stack(out, ctx, name, kinds)
            if stack is None:
                continue
            out.data["pam_files"].append(f"{PAM_DIR}/{name}")
            if "password" in kinds:
                lengths = [_min_length(line, conf) for line in stack if line.type == "password"
                           and (line.module in LENGTH_MODULES or
                                (line.module == "pam_unix.so" and line.arg("minlen")))]
                # Every module of the stack must accept the password: the strictest one binds.
                out.data["min_length"][name] = max(lengths, key=lambda x: x["minlen"],
                                                   default=None)
            if "auth" in kinds:
                out.data["lockout"][name] = _lockout(
                    [line for line in stack if line.type == "auth"], faillock_deny)
    except Unreadable as exc:
        out.error = str(exc)
    return out
