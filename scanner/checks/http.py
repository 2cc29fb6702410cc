"""Checks on HTTP answers: redirect to HTTPS, HSTS, page response time, forms over TLS."""

from __future__ import annotations

import re
from typing import Any

from scanner.checks.base import Finding, MissingData, Observations, aggregate, check, passed
from scanner.model import Status, Verdict
from scanner.probes.crawl import REDIRECTS
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


MAX_LISTED = 20  # offending or unread pages named in a reason
MAX_VISITED = 100  # pages listed in the evidence


def _in_clear(page: dict[str, Any]) -> list[str]:
    """Why one crawled page breaks the rule (empty: it does not)."""
    why = []
    if page["scheme"] == "http":
        if any(form["source"] == "form" for form in page.get("forms", [])):
            why.append("a <form> served over plain HTTP")
        if page.get("password"):
            why.append("a password field served over plain HTTP")
    why += [f"a {form['source']} posts to {form['posts_to']}" for form in page.get("forms", [])
            if (form["posts_to"] or "").lower().startswith("http:")]
    return why


def _listed(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    return "; ".join(items[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


@check("http.forms_over_tls")
def forms_over_tls(obs: Observations, params: dict) -> Verdict:
    data = obs.data("http")
    if "crawl" not in data:
        raise MissingData("the http probe did not crawl the site")
    pages = [page for port in sorted(data["crawl"]) for page in data["crawl"][port]]
    run = data["crawl_run"]
    expected = (f"no page within {params['max_depth']} link(s) of / serves a <form> or a "
                "password field over plain HTTP, and no form posts to http://")
    if not pages:
        return Verdict(Status.NOT_APPLICABLE, expected=expected,
                       reason="the target serves no HTTP or HTTPS page in scope")
    findings = [f"{page['url']}: {why}" for page in pages for why in _in_clear(page)]
    unread = [f"{page['url']}: {page['error']}" for page in pages if "error" in page] + \
             [f"{page['url']}: longer than {run['limits']['max_page_bytes']} bytes, the rest "
              "unread" for page in pages if page.get("truncated")] + \
             [f"{page['url']}: {page['links_dropped']} links past the most followed from one page"
              for page in pages if page.get("links_dropped")]
    observed = {"pages seen": len(pages) - sum("error" in page for page in pages),
                "pages with forms": sum(bool(page.get("forms_total")) for page in pages),
                "limits": run["limits"], "stopped early": run["stopped"],
                "links not followed": run["not_followed"], "pages not read": unread[:MAX_LISTED]}
    evidence = {"visited": [f"{page['url']} -> {page.get('status', 'no answer')}"
                            for page in pages][:MAX_VISITED]}
    if findings:
        return Verdict(Status.FAIL, expected=expected, observed=observed,
                       reason=_listed(findings), evidence=evidence)
    if all("error" in page for page in pages):
        return Verdict(Status.ERROR, expected=expected, observed=observed, evidence=evidence,
                       reason=f"no page could be read: {_listed(unread)}")
    if run["stopped"] or unread:
        cut = [run["stopped"]] if run["stopped"] else []
        return Verdict(Status.ERROR, expected=expected, observed=observed, evidence=evidence,
                       reason=f"crawl incomplete, a form may sit on the pages not read: "
                              f"{_listed(cut + unread)}")
    deeper = run["not_followed"]["deeper than max_depth"]
    observed["scope"] = (f"every page within {run['limits']['max_depth']} link(s) of / read"
                         + (f"; {deeper} deeper link(s) not followed" if deeper else ""))
    return Verdict(Status.PASS, expected=expected, observed=observed, evidence=evidence)
