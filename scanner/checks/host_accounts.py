"""Checks on accounts and logins seen from inside the host: password rules, hash schemes,
authorized SSH keys, listening sockets, and a second factor after the SSH key."""

from __future__ import annotations

from typing import Any

from scanner.checks.base import Finding, Observations, aggregate, check, passed
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


@check("host.password_policy")
def password_policy(obs: Observations, params: dict) -> Verdict:
    """Each rule judged in every PAM stack file found (RHEL has two): the weakest decides."""
    data = obs.host("passwords")
    findings: list[Finding] = []
    if params["max_days"] is not None:
        days = data["pass_max_days"]
        if not data["login_defs"]:
            findings.append(Finding("lifetime", Status.ERROR, None, "/etc/login.defs is absent"))
        elif days is None or days < 0 or days >= 99999:
            findings.append(Finding("lifetime", Status.FAIL, days,
                                    "PASS_MAX_DAYS sets no expiry"))
        else:
            findings.append(Finding("lifetime", Status.PASS if days <= params["max_days"] else
                                    Status.FAIL, days, f"PASS_MAX_DAYS {days} > "
                                    f"{params['max_days']}"))
    no_pam = "no PAM stack (common-password/common-auth, system-auth, password-auth) found"
    if not data["pam_files"]:
        findings.append(Finding("pam", Status.ERROR, None, no_pam))
    findings += [_length_finding(file, rule, params["min_length"])
                 for file, rule in data["min_length"].items()]
    if params["max_failures"] is not None:
        findings += [_lockout_finding(file, rule, params["max_failures"])
                     for file, rule in data["lockout"].items()]
    return aggregate(findings, {"pass_max_days_at_most": params["max_days"],
                                "minlen_at_least": params["min_length"],
                                "lockout_after_at_most": params["max_failures"]}, no_pam)


@check("host.password_hashing")
def password_hashing(obs: Observations, params: dict) -> Verdict:
    data = obs.host("accounts")
    if not data["shadow"]:
        return Verdict(Status.ERROR, reason="/etc/shadow is absent: hashes cannot be checked")
    allowed = params["allowed_schemes"]
    expected = f"every password hash uses one of {', '.join(allowed)}; no empty password"
    accounts = data["accounts"]
    empty = sorted(u for u, a in accounts.items() if a["status"] == "empty")
    weak = {u: a["scheme"] for u, a in accounts.items()
            if a["status"] == "hash" and a["scheme"] not in allowed}
    observed = {"schemes": {u: a["scheme"] for u, a in accounts.items()
                            if a["status"] == "hash"},
                "locked": sorted(u for u, a in accounts.items() if a["status"] == "locked"),
                "empty_password": empty}
    problems = [f"weak hash: {', '.join(f'{u} ({s})' for u, s in sorted(weak.items()))}"
                ] if weak else []
    problems += [f"empty password: {', '.join(empty)}"] if empty else []
    return passed(not problems, expected, observed, "; ".join(problems))


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
