"""Checks on accounts and logins seen from inside the host: password rules, hash schemes,
authorized SSH keys, listening sockets, and a second factor after the SSH key."""

from __future__ import annotations

from typing import Any

from scanner.checks.base import Finding, Observations, aggregate, check, passed
from scanner.hostprobes.passwords import SHADOW_NO_MAX
from scanner.model import Status, Verdict


def _length_finding(file: str, rule: dict[str, Any] | None, minimum: int) -> Finding:
    key = f"min_length {file}"
    if rule is None:
        return Finding(key, Status.FAIL, None, "no pam_pwquality/pam_cracklib in the password "
                       "stack: length is not enforced")
    return Finding(key, Status.PASS if rule["minlen"] >= minimum else Status.FAIL, rule,
                   f"{rule['module']} minlen {rule['minlen']} ({rule['source']}) < {minimum}")


def _lockout_finding(file: str, rule: dict[str, Any], limit: int) -> Finding:
    key = f"lockout {file}"
    if rule["module"] is None:
        return Finding(key, Status.FAIL, None, "no pam_faillock or pam_tally2: no lockout")
    if rule["module"] == "pam_faillock.so" and "authfail" not in rule["modes"]:
        return Finding(key, Status.FAIL, rule, "pam_faillock has no authfail line: failed "
                       "attempts are not counted")
    if not rule["deny"]:
        return Finding(key, Status.FAIL, rule, f"{rule['module']} deny=0 never locks")
    return Finding(key, Status.PASS if rule["deny"] <= limit else Status.FAIL, rule,
                   f"lockout after {rule['deny']} failures ({rule['source']}) > {limit}")


def _lifetime_findings(data: dict[str, Any], limit: int) -> list[Finding]:
    """login.defs PASS_MAX_DAYS (accounts created from now on) and each existing account's
    maximum age (/etc/shadow field 5). Accounts that count: those with a usable password hash,
    whatever their UID (a service account with a password logs in like a person); locked
    (!, *), empty and no-password accounts cannot log in with an ageing password and do not."""
    days = data["pass_max_days"]
    if not data["login_defs"]:
        defs = Finding("lifetime login.defs", Status.ERROR, None, "/etc/login.defs is absent")
    elif days is None or days < 0 or days >= SHADOW_NO_MAX:
        defs = Finding("lifetime login.defs", Status.FAIL, days, "PASS_MAX_DAYS sets no expiry")
    else:
        defs = Finding("lifetime login.defs", Status.PASS if days <= limit else Status.FAIL,
                       days, f"PASS_MAX_DAYS {days} > {limit}")
    key = "lifetime /etc/shadow"
    if data["shadow_error"]:
        return [defs, Finding(key, Status.ERROR, None, data["shadow_error"])]
    if data["shadow"] is None:
        return [defs, Finding(key, Status.ERROR, None, "/etc/shadow is absent: the accounts' "
                              "maximum ages cannot be read")]
    counted = {u: a["max_days"] for u, a in data["shadow"].items() if a["status"] == "hash"}
    over = {u: m for u, m in counted.items()
            if m is None or m < 0 or m >= SHADOW_NO_MAX or m > limit}
    observed = {"accounts_with_password": sorted(counted), "over_limit": over,
                "rule": "accounts with a usable password hash count; locked, empty and "
                        "no-password accounts do not"}
    shown = ", ".join(f"{u} ({'no maximum' if m is None or m < 0 or m >= SHADOW_NO_MAX else m})"
                      for u, m in sorted(over.items()))
    return [defs, Finding(key, Status.FAIL if over else Status.PASS, observed,
                          f"password maximum age over {limit} days: {shown}")]


@check("host.password_policy")
def password_policy(obs: Observations, params: dict) -> Verdict:
    """Each rule judged in every PAM stack file found (RHEL has two): the weakest decides.
    A rule whose parameter is null is not checked."""
    data = obs.host("passwords")
    max_days, min_length, max_failures = (params["max_days"], params["min_length"],
                                          params["max_failures"])
    findings: list[Finding] = []
    if max_days is not None:
        findings += _lifetime_findings(data, max_days)
    no_pam = "no PAM stack (common-password/common-auth, system-auth, password-auth) found"
    if not data["pam_files"] and (min_length is not None or max_failures is not None):
        findings.append(Finding("pam", Status.ERROR, None, no_pam))
    if min_length is not None:
        findings += [_length_finding(file, rule, min_length)
                     for file, rule in data["min_length"].items()]
    if max_failures is not None:
        findings += [_lockout_finding(file, rule, max_failures)
                     for file, rule in data["lockout"].items()]
    rules = {"password lifetime at most": max_days, "minimum length at least": min_length,
             "lockout after at most": max_failures}
    expected = "; ".join(f"{rule} {value}" for rule, value in rules.items()
                         if value is not None) or "nothing"
    skipped = [rule for rule, value in rules.items() if value is None]
    expected += f" (not checked: {', '.join(skipped)})" if skipped else ""
    return aggregate(findings, expected, "nothing to check: every rule is null"
                     if len(skipped) == len(rules) else no_pam)


@check("host.password_hashing")
def password_hashing(obs: Observations, params: dict) -> Verdict:
    """allowed_schemes null: schemes not checked; forbid_empty null/false: empty passwords
    not checked."""
    data = obs.host("accounts")
    allowed, forbid_empty = params["allowed_schemes"], params["forbid_empty"]
    if allowed is None and not forbid_empty:
        return Verdict(Status.NOT_APPLICABLE, reason="nothing to check: allowed_schemes and "
                                                     "forbid_empty are null")
    if not data["shadow"]:
        return Verdict(Status.ERROR, reason="/etc/shadow is absent: hashes cannot be checked")
    parts = [f"every password hash uses one of {', '.join(allowed)}"] if allowed is not None \
        else ["hash schemes not checked"]
    parts += ["no empty password"] if forbid_empty else ["empty passwords not checked"]
    accounts = data["accounts"]
    empty = sorted(u for u, a in accounts.items() if a["status"] == "empty")
    weak = {u: a["scheme"] for u, a in accounts.items()
            if allowed is not None and a["status"] == "hash" and a["scheme"] not in allowed}
    observed = {"schemes": {u: a["scheme"] for u, a in accounts.items()
                            if a["status"] == "hash"},
                "locked": sorted(u for u, a in accounts.items() if a["status"] == "locked"),
                "empty_password": empty}
    problems = [f"weak hash: {', '.join(f'{u} ({s})' for u, s in sorted(weak.items()))}"
                ] if weak else []
    problems += [f"empty password: {', '.join(empty)}"] if empty and forbid_empty else []
    return passed(not problems, "; ".join(parts), observed, "; ".join(problems))


def _fingerprint(value: str) -> str:
    return value.strip().rstrip("=")


@check("host.authorized_keys")
def authorized_keys(obs: Observations, params: dict) -> Verdict:
    data = obs.host("keys")
    allowed = {_fingerprint(f) for f in params["allowed_fingerprints"]}
    expected = (f"every authorized key is one of {len(allowed)} allowlisted fingerprints"
                if allowed else "no authorized key (the allowlist is empty)")
    keys = {path: [{k: key[k] for k in ("fingerprint", "type", "comment", "options")}
                   for key in entry["keys"]] for path, entry in data["files"].items()}
    observed = {"authorized_keys_file": data["patterns"], "source": data["source"],
                "files": {path: {"users": data["files"][path]["users"], "keys": entry}
                          for path, entry in keys.items()}}
    unknown = [f"{path}: {key['fingerprint']} {key['type']} {key['comment']!r}".rstrip()
               for path, entries in keys.items() for key in entries
               if key["fingerprint"] not in allowed]
    if unknown:
        return Verdict(Status.FAIL, expected, observed,
                       f"{len(unknown)} key(s) not on the allowlist: " + "; ".join(unknown))
    if data["authorized_keys_command"]:
        return Verdict(Status.ERROR, expected, observed, "keys also come from "
                       f"AuthorizedKeysCommand {data['authorized_keys_command']}, which cannot "
                       "be listed")
    return Verdict(Status.PASS, expected, observed)


def _external_view(obs: Observations, inside: set[int]) -> dict[str, Any] | None:
    """The network scan of the same target, when one ran, set beside the inside view."""
    scan = obs.results.get("ports")
    if scan is None or scan.error:
        return None
    seen = set(scan.data.get("open_ports", []))
    return {"open_from_outside": sorted(seen),
            "open_outside_not_listening_inside": sorted(seen - inside),
            "listening_inside_not_reachable_outside": sorted(inside - seen)}


@check("host.listening_services")
def listening_services(obs: Observations, params: dict) -> Verdict:
    data = obs.host("sockets")
    allowed = set(params["allowed"])
    exposed: dict[int, set[str]] = {}
    loopback: set[int] = set()
    for sock in data["sockets"]:
        if sock["loopback"]:
            loopback.add(sock["port"])
        else:
            where = sock["address"] + (f"%{sock['interface']}" if sock["interface"] else "")
            names = f" ({', '.join(sock['processes'])})" if sock["processes"] else ""
            exposed.setdefault(sock["port"], set()).add(where + names)
    observed: dict[str, Any] = {
        "listening": {port: sorted(where) for port, where in sorted(exposed.items())},
        "loopback_only": sorted(loopback - set(exposed)), "source": data["source"]}
    external = _external_view(obs, set(exposed))
    if external is not None:
        observed["external_scan"] = external
    extra = sorted(set(exposed) - allowed)
    return passed(not extra, f"TCP ports listening beyond loopback are within "
                  f"{sorted(allowed)}", observed, "not allowlisted: " + "; ".join(
                      f"{port} on {', '.join(sorted(exposed[port]))}" for port in extra))


def _effective_factor(method: str, settings: dict[str, str], otp: bool) -> str:
    """What a method really asks: keyboard-interactive through PAM without an OTP/U2F module
    only asks the Unix password, so it counts as `password`."""
    base = method.split(":")[0]
    if base == "keyboard-interactive" and settings.get("usepam") == "yes" and not otp:
        return "password"
    return base


def _config_finding(data: dict[str, Any], params: dict) -> Finding:
    """The host's sshd configuration: every usable AuthenticationMethods list holds a method,
    besides one publickey, whose effective factor is in second_factor_methods."""
    sshd, pam = data["sshd"], data["pam"]
    if sshd["error"]:
        return Finding("sshd configuration", Status.ERROR, None, sshd["error"])
    if not sshd["installed"]:
        return Finding("sshd configuration", Status.NOT_APPLICABLE, None,
                       "sshd is not installed on the host")
    settings = sshd["settings"]
    if settings.get("usepam") == "yes" and pam["error"]:
        return Finding("sshd configuration", Status.ERROR, None, pam["error"])
    otp = [line for line in pam["auth"] if line["module"] in params["pam_modules"]]
    enforcing = [line for line in otp if line["control"] != "optional"
                 and "nullok" not in line["args"]]
    observed = {**settings, "pam_service": pam["service"],
                "otp_modules": [f"{line['control']} {line['module']} {' '.join(line['args'])}"
                                .strip() for line in otp]}
    enabled = {"password": settings.get("passwordauthentication") == "yes",
               "keyboard-interactive": settings.get("kbdinteractiveauthentication") == "yes",
               "publickey": settings.get("pubkeyauthentication") != "no"}
    lists = settings.get("authenticationmethods", "any").split() or ["any"]
    if lists == ["any"]:
        return Finding("sshd configuration", Status.FAIL, observed,
                       "AuthenticationMethods any: a key alone logs in")
    usable = [m.split(",") for m in lists
              if all(enabled.get(x.split(":")[0], True) for x in m.split(","))]
    if not usable:
        return Finding("sshd configuration", Status.ERROR, observed,
                       "no AuthenticationMethods list can be satisfied by the enabled methods")
    problems = []
    for methods in usable:
        rest = list(methods)
        if "publickey" in rest:
            rest.remove("publickey")
        factors = {m: _effective_factor(m, settings, bool(enforcing)) for m in rest}
        if len(methods) < 2 or not set(factors.values()) & set(params["second_factor_methods"]):
            why = " (keyboard-interactive through PAM without an enforcing OTP/U2F module " \
                  "asks only the Unix password)" if any(
                      m.split(":")[0] != f for m, f in factors.items()) else ""
            problems.append(f"{','.join(methods)} has no accepted second factor{why}")
    return Finding("sshd configuration", Status.FAIL if problems else Status.PASS, observed,
                   "AuthenticationMethods " + "; ".join(problems))


def _probe_finding(probe: dict[str, Any], accepted: list[str]) -> Finding:
    who = f"{probe['user']}@{probe['target']}"
    observed = {k: probe[k] for k in ("user", "target", "key", "outcome", "remaining")}
    if probe["error"]:
        return Finding("key login", Status.ERROR, observed, probe["error"])
    if probe["outcome"] == "refused":
        return Finding("key login", Status.ERROR, observed, f"the server refused the key for "
                       f"{who}: wrong key? a valid key is needed to test the second factor")
    if probe["outcome"] == "authenticated":
        return Finding("key login", Status.FAIL, observed,
                       f"the key {probe['key']} alone logged in as {who}")
    ok = bool(set(probe["remaining"]) & set(accepted))
    return Finding("key login", Status.PASS if ok else Status.FAIL, observed,
                   f"after the key, {who} asks for {', '.join(probe['remaining'])}: not an "
                   "accepted second factor")


@check("ssh.mfa")
def ssh_mfa(obs: Observations, params: dict) -> Verdict:
    """The key probe (remote) is the primary evidence; the host configuration adds to it.

    A failure of either fails. A probe that answered makes a configuration that could not be
    read (normal when the server demands MFA from the scan too) irrelevant; without a probe
    (local target, jump host), the configuration decides."""
    data = obs.host("mfa")
    expected = (f"a valid key alone does not log in: after publickey one of "
                f"{', '.join(params['second_factor_methods'])} is required "
                f"(keyboard-interactive is OTP only with one of {', '.join(params['pam_modules'])}"
                " in sshd's PAM auth stack)")
    probe = data["key_probe"]
    config = _config_finding(data, params)
    findings = [config]
    if probe["ran"]:
        key = _probe_finding(probe, params["second_factor_methods"])
        decided = key.status in (Status.PASS, Status.FAIL)
        findings = [key] + ([config] if not decided or config.status in (
            Status.PASS, Status.FAIL) else [])
    elif config.status == Status.NOT_APPLICABLE:
        return Verdict(Status.NOT_APPLICABLE, expected, reason=config.reason)
    verdict = aggregate([f for f in findings if f.status != Status.NOT_APPLICABLE], expected,
                        config.reason)
    verdict.observed = {f.key: f.observed for f in findings}
    if not probe["ran"]:
        verdict.observed["key login"] = probe.get("skipped")
    return verdict
