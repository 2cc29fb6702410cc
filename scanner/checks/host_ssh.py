"""Checks on the SSH daemon seen from inside the host, judged in every Match context of the
effective configuration (scanner.hostprobes.sshd): one context failing fails the control and is
named; a Match block that could not be evaluated makes an otherwise passing verdict `error`."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Callable

from scanner.checks.base import Observations, check
from scanner.checks.ssh import weak_algorithms
from scanner.model import Status, Verdict

Config = dict[str, list[str]]
# sshd -T keyword holding each algorithm family
SSHD_FAMILIES = {"kex": "kexalgorithms", "ciphers": "ciphers", "macs": "macs",
                 "host_key": "hostkeyalgorithms"}
# sshd_config switches of each authentication method (ChallengeResponseAuthentication: the
# name before OpenSSH 8.7); sshd -T prints them lowercased.
METHOD_SWITCHES = {"password": ("PasswordAuthentication",),
                   "keyboard-interactive": ("KbdInteractiveAuthentication",
                                            "ChallengeResponseAuthentication"),
                   "gssapi-with-mic": ("GSSAPIAuthentication",),
                   "hostbased": ("HostbasedAuthentication",),
                   "publickey": ("PubkeyAuthentication",)}


def _one(config: Config, key: str, default: str = "") -> str:
    return config.get(key, [default])[0]


def _switched_on(config: Config, method: str) -> list[str]:
    return [k for k in METHOD_SWITCHES.get(method, ()) if _one(config, k.lower()) == "yes"]


def keyless_logins(config: Config, forbidden: list[str]) -> list[str]:
    """Login paths that need no publickey and use a forbidden method, in words.

    With `AuthenticationMethods any` every enabled method alone is a path; otherwise each
    listed path whose methods are all enabled (`none` needs no switch)."""
    enabled = {m for m in METHOD_SWITCHES if _switched_on(config, m)} | {"none"}
    lists = " ".join(config.get("authenticationmethods", ["any"])).split() or ["any"]
    if lists == ["any"]:
        return [f"{' / '.join(_switched_on(config, m))} yes: {m} login without a key"
                for m in forbidden if m in enabled - {"none"}]
    found = []
    for path in lists:
        methods = {m.split(":")[0] for m in path.split(",")}
        if methods <= enabled and "publickey" not in methods and methods & set(forbidden):
            found.append(f"AuthenticationMethods {path}: logs in without a key")
    return found


def _sshd_rules(config: Config, params: dict) -> tuple[list[str], list[str]]:
    """(problems, reasons the context could not be judged) of one context."""
    problems = keyless_logins(config, params["forbidden_methods"])
    missing = []
    if params["allowed_root_login"] is not None:
        root = _one(config, "permitrootlogin")
        if root not in params["allowed_root_login"]:
            problems.append(f"PermitRootLogin {root}")
    if params["max_auth_tries"] is not None:
        tries = int(_one(config, "maxauthtries", "6"))
        if tries > params["max_auth_tries"]:
            problems.append(f"MaxAuthTries {tries} > {params['max_auth_tries']}")
    if params["idle_timeout_max"] is not None:
        interval = int(_one(config, "clientaliveinterval", "0"))
        idle = interval * int(_one(config, "clientalivecountmax", "3"))
        if interval == 0 or idle > params["idle_timeout_max"]:
            problems.append("no idle timeout (ClientAliveInterval 0)" if interval == 0 else
                            f"idle timeout {idle}s > {params['idle_timeout_max']}s")
    if params["forbidden"] is not None:
        families = {f: p for f, p in params["forbidden"].items() if p is not None}
        missing += [f"sshd -T shows no {SSHD_FAMILIES[f]}" for f in families
                    if not config.get(SSHD_FAMILIES[f])]
        offered = {f: ",".join(config.get(SSHD_FAMILIES[f], [])).split(",") for f in families}
        problems += [f"weak {family}: {', '.join(names)}"
                     for family, names in weak_algorithms(offered, families).items()]
    return problems, missing


def _sshd_expected(params: dict) -> str:
    rules = [f"no login without a key through {', '.join(params['forbidden_methods'])}"]
    if params["allowed_root_login"] is not None:
        rules.append(f"PermitRootLogin one of {', '.join(params['allowed_root_login'])}")
    if params["max_auth_tries"] is not None:
        rules.append(f"MaxAuthTries <= {params['max_auth_tries']}")
    if params["idle_timeout_max"] is not None:
        rules.append(f"idle timeout <= {params['idle_timeout_max']}s")
    if params["forbidden"] is not None:
        rules.append("no weak " + ", ".join(f for f, p in params["forbidden"].items()
                                            if p is not None) + " algorithm")
    unchecked = [name for name in ("allowed_root_login", "max_auth_tries", "idle_timeout_max",
                                   "forbidden") if params[name] is None]
    return "in every Match context: " + "; ".join(rules) + (
        f" (not checked: {', '.join(unchecked)})" if unchecked else "")


def judge_contexts(contexts: list[dict[str, Any]], unresolved: list[str], expected: str,
                   judge: Callable[[dict[str, Any]], tuple[list[str], list[str], Any]],
                   extra: dict[str, Any] | None = None) -> Verdict:
    """One verdict over every context: fail names each failing context; else error if a
    context could not be judged or a Match block was not evaluated; else pass."""
    errors, observed, judged = list(unresolved), {}, []
    for context in contexts:
        problems, missing, seen = judge(context)
        observed[context["name"]] = seen
        judged.append((context["name"], problems))
        errors += [f"{context['name']}: {'; '.join(missing)}"] if missing else []
    # a problem of every context is said once
    common = [p for p in judged[0][1] if all(p in ps for _, ps in judged)] \
        if len(judged) > 1 else []
    failing = [f"every Match context: {'; '.join(common)}"] if common else []
    failing += [f"{name}: {'; '.join(p for p in ps if p not in common)}"
                for name, ps in judged if set(ps) - set(common)]
    observed = {**(extra or {}), "contexts": observed, "unresolved_match_blocks": unresolved}
    if failing:
        return Verdict(Status.FAIL, expected, observed, " | ".join(failing))
    if errors:
        return Verdict(Status.ERROR, expected, observed, "not every Match context could be "
                       "judged: " + " | ".join(errors))
    return Verdict(Status.PASS, expected, observed)


SHOWN = ("passwordauthentication", "kbdinteractiveauthentication", "gssapiauthentication",
         "authenticationmethods", "permitrootlogin", "maxauthtries", "clientaliveinterval",
         "clientalivecountmax")


@check("host.sshd_config")
def sshd_config(obs: Observations, params: dict) -> Verdict:
    data = obs.host("sshd")
    if not data.get("installed"):
        return Verdict(Status.NOT_APPLICABLE, reason="sshd is not installed on the host")
    view = data["configs"][params["config_file"]]

    def judge(context: dict[str, Any]) -> tuple[list[str], list[str], Any]:
        config = context["config"]
        problems, missing = _sshd_rules(config, params)
        return problems, missing, {"spec": context["spec"],
                                   **{k: " ".join(config.get(k, [])) for k in SHOWN}}

    return judge_contexts(view["contexts"], view["unresolved"], _sshd_expected(params), judge,
                          {"config_file": params["config_file"], "files": view["files"],
                           "never_matching_blocks": view["inert"]})


def _accepted(settings: dict[str, str]) -> list[str]:
    text = settings.get("pubkeyacceptedalgorithms") or settings.get("pubkeyacceptedkeytypes", "")
    return [a for a in text.split(",") if a]


def _key_rules(data: dict[str, Any], params: dict) -> tuple[list[str], list[str], Any]:
    """(problems, unknowns, observed) of the keys present in authorized_keys files."""
    keys = [(path, key) for path, entry in data["files"].items() for key in entry["keys"]]
    allowed, min_bits = params["allowed_key_types"], params["min_rsa_bits"]
    problems = [f"{path}: {key['type']} key {key['fingerprint']} {key['comment']!r}".rstrip()
                for path, key in keys if allowed is not None and key["type"] not in allowed]
    problems += [f"{path}: RSA key {key['fingerprint']} of {key.get('bits')} bits < {min_bits}"
                 for path, key in keys if min_bits is not None and key["type"] == "ssh-rsa"
                 and (key.get("bits") or 0) < min_bits]
    unknowns = []
    if data["authorized_keys_command"]:
        unknowns.append(f"keys also come from AuthorizedKeysCommand "
                        f"{data['authorized_keys_command']}, which cannot be listed")
    cas = sorted({c["trustedusercakeys"] for c in data["contexts"]} - {"none", ""})
    if cas:
        unknowns.append(f"certificates signed by TrustedUserCAKeys {', '.join(cas)} log in "
                        "with keys no file lists")
    observed = {"present": {path: [f"{k['type']}" + (f" {k['bits']}" if k.get("bits") else "")
                                   for k in entry["keys"]]
                            for path, entry in data["files"].items()}}
    return problems, unknowns, observed


@check("ssh.key_types")
def key_types(obs: Observations, params: dict) -> Verdict:
    data = obs.host("keys")
    if data["sshd_installed"] is False:
        return Verdict(Status.NOT_APPLICABLE, reason="sshd is not installed on the host")
    rules, key_rules = [], params["allowed_key_types"] is not None or \
        params["min_rsa_bits"] is not None
    if params["allowed_key_types"] is not None:
        rules.append(f"every authorized key is {' or '.join(params['allowed_key_types'])}")
    if params["min_rsa_bits"] is not None:
        rules.append(f"authorized RSA keys >= {params['min_rsa_bits']} bits")
    required, allowed = params["required_algorithms"], params["allowed_algorithms"]
    if required is not None:
        rules.append(f"every Match context accepts public keys with one of {', '.join(required)}")
    if allowed is not None:
        rules.append(f"every accepted public key algorithm matches {', '.join(allowed)}")
    if not rules:
        return Verdict(Status.ERROR, reason="no rule selected: every parameter of ssh.key_types "
                       "is null")
    expected = "; ".join(rules)
    problems, unknowns, extra = _key_rules(data, params) if key_rules else ([], [], {})
    if required is None and allowed is None:
        contexts: list[dict[str, Any]] = []
    elif not data["contexts"]:
        unknowns.append(f"accepted algorithms unknown: {data['source']}")
        contexts = []
    else:
        contexts = data["contexts"]

    def judge(settings: dict[str, Any]) -> tuple[list[str], list[str], Any]:
        accepted = _accepted(settings) if settings["pubkeyauthentication"] == "yes" else []
        found = []
        if required is not None and not set(accepted) & set(required):
            found.append("public keys not accepted" if not accepted else
                         f"none of {', '.join(required)} accepted")
        if allowed is not None:
            extra_algs = [a for a in accepted if not any(fnmatchcase(a, p) for p in allowed)]
            found += [f"also accepts {', '.join(extra_algs)}"] if extra_algs else []
        missing = [] if accepted or settings["pubkeyauthentication"] != "yes" else [
            "sshd -T shows no PubkeyAcceptedAlgorithms"]
        return found, missing, {"pubkeyauthentication": settings["pubkeyauthentication"],
                                "accepted": accepted}

    verdict = judge_contexts(contexts, data["unresolved"] if contexts else [], expected, judge,
                             extra)
    if problems or verdict.status == Status.FAIL:
        return Verdict(Status.FAIL, expected, verdict.observed, " | ".join(
            problems + ([verdict.reason] if verdict.status == Status.FAIL else [])))
    errors = unknowns + ([verdict.reason] if verdict.status == Status.ERROR else [])
    if errors:
        return Verdict(Status.ERROR, expected, verdict.observed, " | ".join(errors))
    return verdict
