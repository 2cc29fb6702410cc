"""A bounded crawl of a site's own pages, recording where forms and password fields are served
and where forms post to (for http.forms_over_tls).

Same host only, and only the web endpoints the service probe found (plain-HTTP ports over
http://, TLS ports that answer HTTP over https://): nothing in a page can make the crawl
connect anywhere else. GET only, no form is ever submitted, no cookie kept. Bounded in depth,
page count, bytes a page and one time budget for the whole crawl. Pages are hostile text:
attribute values, links and forms per page are capped, and pages are parsed in a child
process that is killed when the budget runs out (scanner/probes/pagereader.py).
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from scanner.probes.web import authority, fetch
from scanner.probes.pagereader import MAX_ATTR, ReadFailure, read_page
from scanner.scope.targets import Target

REDIRECTS = {301, 302, 303, 307, 308}
HTML_TYPES = ("text/html", "application/xhtml+xml")
_SAFE = "/%:@!$&'()*+,;=-._~?"  # RFC 3986 reserved and unreserved, kept as they are


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_pages: int
    max_page_bytes: int
    budget_s: float


@dataclass
class Site:
    """Where the crawl may go: the target's names and its web endpoints (scheme, port)."""
    target: Target
    endpoints: set[tuple[str, int]]
    names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.names = {_host(self.target.name), _host(self.target.address)}

    def url(self, scheme: str, port: int, path: str) -> str:
        return f"{scheme}://{authority(self.target.name, port, scheme == 'https')}{path}"

    def place(self, url: str) -> tuple[str, int, str] | None:
        """(scheme, port, path?query) of a URL on one of our endpoints, else None."""
        if len(url) > MAX_ATTR:
            return None
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        if (parts.scheme, port) not in self.endpoints \
                or _host(parts.hostname or "") not in self.names:
            return None
        path = quote(parts.path or "/", safe=_SAFE) + (f"?{quote(parts.query, safe=_SAFE)}"
                                                      if parts.query else "")
        return parts.scheme, port, path


def _host(name: str) -> str:
    name = name.strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _page(site: Site, limits: Limits, place: tuple[str, int, str], depth: int,
          deadline: float, timeout: float) -> tuple[dict[str, Any], list[str]]:
    """Fetch and read one page within `timeout` and the crawl's deadline: its record, and the
    absolute URLs it leads to."""
    scheme, port, path = place
    url = site.url(scheme, port, path)
    answer = fetch(site.target, port, scheme == "https", path, timeout,
                   keep_body=limits.max_page_bytes, drain=False)
    page: dict[str, Any] = {"url": url, "scheme": scheme, "port": port, "depth": depth}
    if "status" not in answer:
        page["error"] = answer.get("error", "connection refused")
        return page, []
    page["status"] = answer["status"]
    location = answer.get("location")
    if answer["status"] in REDIRECTS and location:
        page["location"] = location[:MAX_ATTR]
        return page, [urljoin(url, location[:MAX_ATTR + 1])]
    content_type = (answer.get("content_type") or "").split(";")[0].strip().lower()
    if content_type and content_type not in HTML_TYPES:
        page["content_type"] = content_type
        return page, []
    page["truncated"] = answer["truncated"]
    try:
        links, held = read_page(url, answer["body"], deadline - time.monotonic())
    except ReadFailure as exc:
        page["error"] = str(exc)
        return page, []
    page.update(held)
    return page, links


def crawl(target: Target, starts: list[tuple[str, int]], limits: Limits,
          timeout: float) -> dict[str, Any]:
    """Breadth-first from `/` of every start endpoint. Returns the pages seen (fetch errors
    included), why the crawl stopped early (None: nothing in scope was left), and how many
    links were not followed (other host or port, deeper than max_depth)."""
    site = Site(target, set(starts))
    deadline = time.monotonic() + limits.budget_s
    queue = deque((scheme, port, "/", 0) for scheme, port in starts)
    seen = {(scheme, port, "/") for scheme, port in starts}
    pages: list[dict[str, Any]] = []
    deeper: set[tuple[str, int, str]] = set()
    other = 0
    stopped = None
    while queue:
        left = deadline - time.monotonic()
        if len(pages) >= limits.max_pages or left <= 0:
            stopped = (f"page cap of {limits.max_pages} reached" if left > 0 else
                       f"time budget of {limits.budget_s:g} s spent") + \
                f" with {len(queue)} link(s) in scope not visited"
            break
        scheme, port, path, depth = queue.popleft()
        page, links = _page(site, limits, (scheme, port, path), depth, deadline,
                            min(timeout, left))
        if "error" in page and time.monotonic() >= deadline:
            page["error"] = f"cut short by the crawl's time budget of {limits.budget_s:g} s"
        pages.append(page)
        step = depth if "location" in page else depth + 1  # a redirect is the same page
        for link in links:
            place = site.place(link)
            if place is None:
                other += 1
            elif step > limits.max_depth:
                deeper.add(place)
            elif place not in seen:
                seen.add(place)
                queue.append((*place, step))
    return {"pages": pages, "stopped": stopped,
            "not_followed": {"other host or port": other,
                             "deeper than max_depth": len(deeper - seen)}}
