"""Checks on HTTP answers: redirect to HTTPS, HSTS, page response time."""

from __future__ import annotations

import re

from scanner.checks.base import Finding, Observations, aggregate, check, passed
from scanner.model import Status, Verdict

REDIRECTS = {301, 302, 303, 307, 308}
_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@check("http.https_redirect")
def https_redirect(obs: Observations, params: dict) -> Verdict:
    port = params["port"]
    answer = obs.data("http")["plain"].get(port)
    expected = f"port {port} closed or redirecting to https://"
    if answer is None:
        return Verdict(Status.ERROR, expected=expected, reason=f"port {port} was not requested")
    if answer.get("closed"):
        return Verdict(Status.PASS, expected=expected, observed={"port": port, "state": "closed"})
    if "error" in answer:
        return Verdict(Status.ERROR, expected=expected, observed=answer, reason=answer["error"])
    location = answer.get("location") or ""
    ok = answer["status"] in REDIRECTS and location.lower().startswith("https://")
    return passed(ok, expected, {"status": answer["status"], "location": location},
                  f"HTTP {answer['status']} on port {port}"
                  + (f" redirecting to {location}" if location else " without redirect to HTTPS"))


@check("http.hsts")
def hsts(obs: Observations, params: dict) -> Verdict:
    findings = []
    for port, answer in sorted(obs.data("http")["https"].items()):
        if answer.get("timeout"):
            findings.append(Finding(str(port), Status.ERROR, answer, answer["error"]))
            continue
        if "status" not in answer:
            continue  # a TLS port that does not speak HTTP is not an HTTPS service
        header = answer.get("hsts")
        match = _MAX_AGE.search(header or "")
        if not match:
            findings.append(Finding(str(port), Status.FAIL, {"header": header},
                                    "no Strict-Transport-Security header" if not header
                                    else f"no max-age in {header!r}"))
        elif int(match.group(1)) < params["min_max_age"]:
            findings.append(Finding(str(port), Status.FAIL, {"header": header},
                                    f"max-age {match.group(1)} < {params['min_max_age']}"))
        else:
            findings.append(Finding(str(port), Status.PASS, {"header": header}))
    return aggregate(findings, f"Strict-Transport-Security max-age >= {params['min_max_age']}",
                     "the target serves no HTTPS")


@check("http.response_time")
def response_time(obs: Observations, params: dict) -> Verdict:
    answer = obs.data("http")["pages"].get(params["path"])
    limit = params["max_seconds"]
    expected = f"GET {params['path']} answers 2xx/3xx within {limit} s"
    if answer is None:
        return Verdict(Status.NOT_APPLICABLE, expected=expected,
                       reason="the target serves no HTTP or HTTPS")
    if answer.get("timeout") and answer["seconds"] >= limit:
        return Verdict(Status.FAIL, expected=expected, observed=answer,
                       reason=f"no complete answer within {answer['seconds']} s")
    if "error" in answer or answer.get("closed"):
        return Verdict(Status.ERROR, expected=expected, observed=answer,
                       reason=answer.get("error", "connection refused"))
    ok = 200 <= answer["status"] < 400 and answer["seconds"] <= limit
    return passed(ok, expected, {"url": answer["url"], "status": answer["status"],
                                 "seconds": answer["seconds"]},
                  f"HTTP {answer['status']} after {answer['seconds']} s")
