"""HTTP answers: plain-HTTP redirects, HTTPS headers (HSTS) and page timings."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from typing import Any

from scanner.model import ProbeResult
from scanner.probes.base import Deadline, ProbeRequest, register, timed
from scanner.targets import Target

MAX_BODY = 5 * 1024 * 1024
USER_AGENT = "annexscan-probe"


def authority(name: str, port: int, tls: bool) -> str:
    """`name[:port]` as a URL or Host header writes it: the port only when not the scheme's
    default, an IPv6 literal in brackets."""
    host = f"[{name}]" if ":" in name else name
    return host if port == (443 if tls else 80) else f"{host}:{port}"


def fetch(target: Target, port: int, tls: bool, path: str, timeout: float,
          keep_body: int = 0, drain: bool = True) -> dict[str, Any]:
    """One GET without following redirects: status, a few headers, elapsed seconds, or error;
    with `keep_body`, every header line, the Content-Type, the body's first `keep_body` bytes
    and whether there was more. `drain=False` leaves the rest of the body unread.

    `timeout` bounds the whole exchange (connect, handshake, headers, body), not each read.
    """
    host_header = authority(target.name, port, tls)
    start = time.perf_counter()
    try:
        sock = socket.create_connection((target.address, port), timeout=timeout)
    except ConnectionRefusedError:
        return {"closed": True}
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "timeout": isinstance(exc, TimeoutError),
                "seconds": round(time.perf_counter() - start, 4)}
    conn = http.client.HTTPConnection(target.address, port, timeout=timeout)
    with Deadline(sock, timeout) as guard:
        try:
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False  # trust is the TLS probe's business
                context.verify_mode = ssl.CERT_NONE
                sni = None if target.name == target.address else target.name
                sock = context.wrap_socket(sock, server_hostname=sni)
            conn.sock = sock
            conn.request("GET", path, headers={"Host": host_header, "User-Agent": USER_AGENT})
            response = conn.getresponse()
            body = response.read(keep_body + 1)
            if drain:
                response.read(MAX_BODY)
            if guard.expired:
                raise TimeoutError
            answer = {"url": f"{'https' if tls else 'http'}://{host_header}{path}",
                      "status": response.status, "seconds": round(time.perf_counter() - start, 4),
                      "location": response.getheader("Location"),
                      "hsts": response.getheader("Strict-Transport-Security"),
                      "server": response.getheader("Server")}
            if keep_body:
                answer["headers"] = [f"{k}: {v}" for k, v in response.getheaders()][:100]
                answer["content_type"] = response.getheader("Content-Type")
                answer["body"] = body[:keep_body].decode("utf-8", "replace")
                answer["truncated"] = len(body) > keep_body
            return answer
        except (OSError, http.client.HTTPException) as exc:
            elapsed = round(time.perf_counter() - start, 4)
            if guard.expired or isinstance(exc, TimeoutError):
                return {"error": f"no complete answer within {timeout:g}s", "timeout": True,
                        "seconds": elapsed}
            return {"error": f"{type(exc).__name__}: {exc}", "seconds": elapsed}
        finally:
            conn.close()


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
    from scanner.probes.crawl import Limits, crawl  # crawl builds on fetch, above

    limits = Limits(**request.crawl_limits)
    found = crawl(target, starts, limits, request.http_timeout)
    by_port: dict[int, list[dict]] = {}
    for page in found["pages"]:
        by_port.setdefault(page["port"], []).append(page)
    run = {"starts": [f"{scheme}:{port}" for scheme, port in starts], "limits": vars(limits),
           "stopped": found["stopped"], "not_followed": found["not_followed"]}
    result.data.update(crawl=by_port, crawl_run=run)
    result.evidence.update(crawl=found["pages"], crawl_run=run)


register(HttpProbe())
