"""Checks on the SSH daemon seen from inside the host."""

from __future__ import annotations

from scanner.checks.base import Observations, check, passed
from scanner.checks.ssh import weak_algorithms
from scanner.model import Status, Verdict

# sshd -T keyword holding each algorithm family
SSHD_FAMILIES = {"kex": "kexalgorithms", "ciphers": "ciphers", "macs": "macs",
                 "host_key": "hostkeyalgorithms"}


def _one(config: dict[str, list[str]], key: str, default: str = "") -> str:
    return config.get(key, [default])[0]


def second_factor_after_key(config: dict[str, list[str]]) -> bool:
    """AuthenticationMethods requires publickey and then another method on every path."""
    paths = " ".join(config.get("authenticationmethods", ["any"])).split()
    return paths != ["any"] and all(
        len(p.split(",")) >= 2 and p.split(",")[0].startswith("publickey") for p in paths)


@check("host.sshd_config")
def sshd_config(obs: Observations, params: dict) -> Verdict:
    data = obs.host("sshd")
    if not data.get("installed"):
        return Verdict(Status.NOT_APPLICABLE, reason="sshd is not installed on the host")
    config = data["configs"][params["config_file"]]
    problems = []
    if _one(config, "passwordauthentication") != "no":
        problems.append(f"PasswordAuthentication {_one(config, 'passwordauthentication')}")
    if _one(config, "kbdinteractiveauthentication") == "yes" and not second_factor_after_key(config):
        problems.append("KbdInteractiveAuthentication yes without AuthenticationMethods "
                        "requiring a key first")
    root = _one(config, "permitrootlogin")
    if root not in params["allowed_root_login"]:
        problems.append(f"PermitRootLogin {root}")
    tries = int(_one(config, "maxauthtries", "6"))
    if tries > params["max_auth_tries"]:
        problems.append(f"MaxAuthTries {tries} > {params['max_auth_tries']}")
    interval = int(_one(config, "clientaliveinterval", "0"))
    idle = interval * int(_one(config, "clientalivecountmax", "3"))
    if interval == 0 or idle > params["idle_timeout_max"]:
        problems.append("no idle timeout (ClientAliveInterval 0)" if interval == 0 else
                        f"idle timeout {idle}s > {params['idle_timeout_max']}s")
    offered = {family: ",".join(config.get(key, [])).split(",")
               for family, key in SSHD_FAMILIES.items()}
    weak = weak_algorithms(offered, params["forbidden"])
    problems += [f"weak {family}: {', '.join(names)}" for family, names in weak.items()]
    observed = {"config_file": params["config_file"], "passwordauthentication": _one(
        config, "passwordauthentication"), "kbdinteractiveauthentication": _one(
        config, "kbdinteractiveauthentication"), "authenticationmethods": config.get(
        "authenticationmethods"), "permitrootlogin": root, "maxauthtries": tries,
        "idle_timeout_s": idle, "weak_algorithms": weak}
    return passed(not problems, "no passwords, key-first MFA only, no root password login, "
                  f"MaxAuthTries <= {params['max_auth_tries']}, idle timeout <= "
                  f"{params['idle_timeout_max']}s, no weak algorithm", observed,
                  "; ".join(problems))
