"""HTTP answers: plain-HTTP redirects, HTTPS headers (HSTS) and page timings."""

from __future__ import annotations

from scanner.model import ProbeResult
from scanner.probes.base import ProbeRequest, timed
from scanner.probes.crawl import Limits, crawl
from scanner.probes.web import fetch
from scanner.scope.targets import Target


class HttpProbe:
    name = "http"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            timeout = request.http_timeout
            plain = {port: fetch(target, port, False, "/", timeout) for port in request.http_ports}
            tls_ports = request.ports_speaking("tls")
            https = {port: fetch(target, port, True, "/", timeout) for port in tls_ports}
            pages = {}
            web = [(p, True) for p in tls_ports if "status" in https[p]] + \
                  [(p, False) for p in request.ports_speaking("http")]
            for path in request.http_paths:
                pages[path] = fetch(target, web[0][0], web[0][1], path, timeout) if web else None
            result.data.update(plain=plain, https=https, pages=pages)
            result.evidence.update(plain=plain, https=https, pages=pages)
            if request.crawl_limits:
                starts = [("http", p) for p in request.ports_speaking("http")] + \
                         [("https", p) for p in tls_ports if "status" in https[p]
                          or https[p].get("timeout")]
                _crawl(target, starts, request, result)

        return timed(self.name, target, body)


def _crawl(target: Target, starts: list[tuple[str, int]], request: ProbeRequest,
           result: ProbeResult) -> None:
    """The crawl's pages by the port that served them (so a profile sees only its ports), and
    how the crawl went; TLS ports that answered `/` with something other than HTTP are not web
    ports and are not crawled."""
    limits = Limits(**request.crawl_limits)
    found = crawl(target, starts, limits, request.http_timeout)
    by_port: dict[int, list[dict]] = {}
    for page in found["pages"]:
        by_port.setdefault(page["port"], []).append(page)
    run = {"starts": [f"{scheme}:{port}" for scheme, port in starts], "limits": vars(limits),
           "stopped": found["stopped"], "not_followed": found["not_followed"]}
    result.data.update(crawl=by_port, crawl_run=run)
    result.evidence.update(crawl=found["pages"], crawl_run=run)

