"""Checks on SSH servers seen without credentials."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Callable

from scanner.checks.base import Finding, Observations, aggregate, check
from scanner.model import Status, Verdict

NO_SSH = "the target has no open port speaking SSH"
# Which KEXINIT lists each forbidden family is compared with.
FAMILIES = {"kex": ("kex",), "host_key": ("host_key",),
            "ciphers": ("ciphers_c2s", "ciphers_s2c"), "macs": ("macs_c2s", "macs_s2c")}


def weak_algorithms(offered: dict[str, list[str]], forbidden: dict[str, list[str]]
                    ) -> dict[str, list[str]]:
    """family -> offered names matching a forbidden pattern (fnmatch), families with none left out."""
    weak = {}
    for family, patterns in forbidden.items():
        bad = sorted(a for a in set(offered.get(family, []))
                     if any(fnmatch(a, p) for p in patterns))
        if bad:
            weak[family] = bad
    return weak


def per_ssh_port(obs: Observations, expected: str,
                 judge: Callable[[int, dict], Finding]) -> Verdict:
    findings = []
    for port, observed in sorted(obs.data("ssh")["ports"].items()):
        if "error" in observed:
            findings.append(Finding(str(port), Status.ERROR, None, observed["error"]))
        else:
            findings.append(judge(port, observed))
    return aggregate(findings, expected, NO_SSH)


@check("ssh.key_only")
def key_only(obs: Observations, params: dict) -> Verdict:
    forbidden = params["forbidden_methods"]

    def judge(port: int, observed: dict) -> Finding:
        if "auth_methods" not in observed:
            return Finding(str(port), Status.ERROR, None, observed["auth_error"])
        methods = observed["auth_methods"]
        offered = [m for m in methods if m in forbidden or m == "none"]
        seen = {"auth_methods": methods, "banner": observed.get("banner")}
        if offered:
            return Finding(str(port), Status.FAIL, seen,
                           f"offers {', '.join(offered)} before any key")
        return Finding(str(port), Status.PASS, seen)

    return per_ssh_port(obs, f"no {', '.join(forbidden)} authentication before a key", judge)


def _algorithms_expected(params: dict) -> str:
    forbidden, bits = params["forbidden"], params["min_rsa_bits"]
    families = [f for f, p in (forbidden or {}).items() if p is not None]
    rules = ["non-empty kex, host key, cipher and MAC lists"]
    rules += [f"no weak {', '.join(families)} algorithm"] if families else []
    rules += [f"RSA host key >= {bits} bits"] if bits is not None else []
    unchecked = [n for n, v in (("forbidden", forbidden), ("min_rsa_bits", bits)) if v is None]
    return "; ".join(rules) + (f" (not checked: {', '.join(unchecked)})" if unchecked else "")


@check("ssh.algorithms")
def algorithms(obs: Observations, params: dict) -> Verdict:
    forbidden = {f: p for f, p in (params["forbidden"] or {}).items() if p is not None}
    min_bits = params["min_rsa_bits"]

    def judge(port: int, observed: dict) -> Finding:
        if "kexinit" not in observed:
            return Finding(str(port), Status.ERROR, None, observed["kexinit_error"])
        kexinit = observed["kexinit"]
        empty = [name for lists in FAMILIES.values() for name in lists if not kexinit.get(name)]
        offered = {family: [a for lst in lists for a in kexinit.get(lst, [])]
                   for family, lists in FAMILIES.items()}
        weak = weak_algorithms(offered, forbidden)
        problems = [f"{family}: {', '.join(algs)}" for family, algs in weak.items()]
        rsa = observed.get("rsa_host_key")
        if min_bits is not None and rsa and rsa["bits"] < min_bits:
            problems.append(f"RSA host key of {rsa['bits']} bits < {min_bits}")
        seen = {"weak": weak, "rsa_host_key_bits": rsa["bits"] if rsa else None,
                "empty_lists": empty}
        if problems:
            return Finding(str(port), Status.FAIL, seen, "weak: " + "; ".join(problems))
        if empty:
            return Finding(str(port), Status.ERROR, seen, "the server's KEXINIT has an empty "
                           f"or missing {', '.join(empty)} list: its algorithms are unknown")
        if min_bits is not None and "rsa_host_key_error" in observed:
            return Finding(str(port), Status.ERROR, seen, "RSA host key size not measured: "
                           + observed["rsa_host_key_error"])
        return Finding(str(port), Status.PASS, seen)

    return per_ssh_port(obs, _algorithms_expected(params), judge)
