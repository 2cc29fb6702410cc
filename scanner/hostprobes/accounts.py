"""Password hash schemes and maximum ages in /etc/shadow (root only). Hashes never leave this
module: the data and the evidence keep, per account, the crypt(3) scheme prefix, whether it is
locked, and the maximum password age (field 5). The passwords collector reads it here too."""

from __future__ import annotations

import re
from typing import Any

from scanner.hostprobes import Collected, collector
from scanner.hostprobes.files import Unreadable, read_optional
from scanner.transports.base import HostContext

SHADOW = "/etc/shadow"
_DES = re.compile(r"[./0-9A-Za-z]{13}")
_BSDI_DES = re.compile(r"_[./0-9A-Za-z]{19}")
_PREFIX = re.compile(r"(\$[0-9A-Za-z]+)[$,]")  # $6$..., $md5,rounds=...$


def hash_scheme(field: str) -> dict[str, Any]:
    """What a shadow password field is, without the hash: {status, scheme}.

    status: "empty" (no password), "locked" ("!" / "*" prefix, or no valid hash at all, which
    no password can match), or "hash"; scheme: the "$id$" prefix, "DES", "BSDI-DES" or None."""
    if field == "":
        return {"status": "empty", "scheme": None}
    body = field.lstrip("!*")
    if body.startswith("$"):
        match = _PREFIX.match(body)
        scheme = match.group(1) + "$" if match else "unknown"
    elif _DES.fullmatch(body):
        scheme = "DES"
    elif _BSDI_DES.fullmatch(body):
        scheme = "BSDI-DES"
    else:
        scheme = None
    locked = body != field or scheme is None
    return {"status": "locked" if locked else "hash", "scheme": scheme}


def parse_shadow(text: str) -> dict[str, dict[str, Any]]:
    """user -> {status, scheme, max_days}; max_days None when field 5 is empty (no maximum)."""
    accounts: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 2 and fields[0] and not line.startswith("#"):
            max_days = fields[4].strip() if len(fields) > 4 else ""
            accounts[fields[0]] = {**hash_scheme(fields[1]), "max_days": int(max_days)
                                   if re.fullmatch(r"-?\d+", max_days) else None}
    return accounts


def redacted(accounts: dict[str, dict[str, Any]]) -> str:
    """What replaces the shadow text in the evidence: one `user:status:scheme:max_days` line
    each."""
    return "".join(f"{user}:{a['status']}:{a['scheme'] or '-'}:"
                   f"{'' if a['max_days'] is None else a['max_days']}\n"
                   for user, a in accounts.items())


def read_shadow(out: Collected, ctx: HostContext) -> dict[str, dict[str, Any]] | None:
    """/etc/shadow parsed (None when absent); raises Unreadable. The evidence keeps the
    redacted lines only, whatever happens."""
    try:
        text = read_optional(out, ctx, SHADOW, sudo=True)
    finally:
        shadow_read = out.commands[-1]
        shadow_read.stdout = ""  # never keep the hashes, whatever happens next
    if text is None:
        return None
    accounts = parse_shadow(text)
    shadow_read.stdout = redacted(accounts)
    return accounts


@collector("accounts")
def collect(ctx: HostContext, params: list[dict[str, Any]]) -> Collected:
    """`shadow` False: the file is absent; accounts: user -> {status, scheme, max_days}."""
    out = Collected(data={"accounts": {}, "shadow": False})
    try:
        accounts = read_shadow(out, ctx)
    except Unreadable as exc:
        out.error = str(exc)
        return out
    if accounts is not None:
        out.data["shadow"] = True
        out.data["accounts"] = accounts
    return out
