"""http.forms_over_tls on real web servers (http.server, plain and TLS) on 127.0.0.16x-17x in a
network namespace, crawled by the real probes; each rule has a compliant and a violating site."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.engine import ScanJob, ScanOptions, plan_scan, run_scan
from scanner.lab.certs import self_signed
from scanner.model import Status, Verdict
from scanner.probes.base import ProbeRequest
from scanner.probes.http import HttpProbe
from scanner.probes.service import ServiceProbe
from scanner.catalog.profiles import Profile, load_profile
from scanner.scope.targets import Target
from tls_helpers import needs_netns, wait_accepting

CONTROL = "http.forms_over_tls"
LOGIN = ('<form method="post" action="/session"><input name="user">'
         '<input type="password" name="pw"></form>')
Page = tuple[int, dict[str, str], str]  # status, headers, body
Route = Callable[[str], Page]


def page(body: str, status: int = 200, **headers: str) -> Page:
    return status, {"Content-Type": "text/html; charset=utf-8", **headers}, body


def links(*hrefs: str) -> str:
    return "".join(f'<a href="{href}">x</a>' for href in hrefs)


class Site:
    """A real HTTP (or HTTPS) server answering GETs from `route(path)`; it records every
    request line and header set it receives."""

    def __init__(self, address: str, port: int, route: Route, cert=None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            # answer a garbled request line (the service probe's ClientHello) with a status
            # line, as nginx does, not HTTP/0.9's bare body
            default_request_version = "HTTP/1.0"

            def setup(self) -> None:
                if cert is not None:
                    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    context.load_cert_chain(cert.cert, cert.key)
                    self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site.requests.append(("GET", self.path, dict(self.headers)))
                status, headers, body = route(self.path)
                data = body.encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                site.requests.append(("POST", self.path, dict(self.headers)))
                self.send_error(405)

            def log_message(self, *_args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, *_args) -> None:  # handshakes the service probe cuts short
                pass

        self.server = Server((address, port), Handler)
        self.address, self.port = address, port

    def __enter__(self) -> "Site":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        wait_accepting(self.address, self.port)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [path for method, path, headers in self.requests
                if headers.get("User-Agent") == "annexscan-probe"]


class Recorder:
    """A listener that only counts the connections it accepts."""

    def __init__(self, address: str, port: int) -> None:
        self.sock = socket.create_server((address, port))
        self.sock.settimeout(0.2)
        self.connections, self.stop = 0, threading.Event()

    def __enter__(self) -> "Recorder":
        def loop() -> None:
            while not self.stop.is_set():
                try:
                    self.sock.accept()[0].close()
                    self.connections += 1
                except (socket.timeout, OSError):
                    continue
        threading.Thread(target=loop, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.sock.close()


def crawl(address: str, ports: list[int], name: str | None = None, **limits) -> Observations:
    """The real service and http probes on the given open ports, crawling as the control asks."""
    target = Target(name or address, address)
    request = ProbeRequest(timeout=2.0, http_timeout=2.0, open_ports=ports,
                           crawl_limits={**load_catalog().get(CONTROL).defaults(), **limits})
    service = ServiceProbe().run(target, request)
    assert service.error is None, service.error
    request.services = service.data["services"]
    http = HttpProbe().run(target, request)
    assert http.error is None, http.error
    return Observations({"service": service, "http": http})


def judge(obs: Observations, **params: float) -> Verdict:
    return evaluate(CONTROL, obs, {**load_catalog().get(CONTROL).defaults(), **params})


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Iterator[Callable[[str], object]]:
    workdir = tmp_path_factory.mktemp("forms-certs")
    yield lambda address: self_signed(workdir, address.replace(".", "-"), address)


def to_https(address: str) -> Route:
    return lambda path: page("", 301, Location=f"https://{address}{path}")


def login_site(path: str) -> Page:
    pages = {"/": page(links("/login", "/about", "/about#team"), **{"Set-Cookie": "sid=1"}),
             "/login": page(f"<h1>Login</h1>{LOGIN}"), "/about": page("<p>about us</p>")}
    return pages.get(path, page("not found", 404))


# -- the page-served-in-clear rule ----------------------------------------------------------

@needs_netns
def test_login_only_on_https_with_http_redirecting_passes(certs):
    address = "127.0.0.161"
    with Site(address, 80, to_https(address)), \
            Site(address, 443, login_site, certs(address)) as https:
        verdict = judge(crawl(address, [80, 443]))
    assert verdict.status == Status.PASS, verdict.reason
    visited = verdict.evidence["visited"]
    assert f"http://{address}/ -> 301" in visited and f"https://{address}/login -> 200" in visited
    assert verdict.observed["pages with forms"] == 1
    assert "every page within 2 link(s) of / read" in verdict.observed["scope"]
    # GET only, the fragment dropped, no cookie sent back although the site set one
    assert all(method == "GET" and "Cookie" not in headers
               for method, _path, headers in https.requests)
    assert sorted(set(https.paths())) == ["/", "/about", "/login", "/session"]


@needs_netns
def test_login_form_on_plain_http_fails_naming_the_page(certs):
    address = "127.0.0.162"
    with Site(address, 80, login_site), Site(address, 443, login_site, certs(address)):
        verdict = judge(crawl(address, [80, 443]))
    assert verdict.status == Status.FAIL
    assert f"http://{address}/login: a <form> served over plain HTTP" in verdict.reason
    assert f"http://{address}/login: a password field served over plain HTTP" in verdict.reason
    # the relative action of the HTTP page posts in clear too; the HTTPS twin is not blamed
    assert f"http://{address}/login: a form posts to http://{address}/session" in verdict.reason
    assert f"https://{address}/login" not in verdict.reason


# -- the form-posting-in-clear rule ---------------------------------------------------------

def posting_site(path: str) -> Page:
    pages = {
        "/": page(links("/a", "/b", "/c", "/ok")),
        "/a": page('<form action="http://127.0.0.163/submit" method="post"></form>'),
        "/b": page('<base href="http://127.0.0.163/"><form action="submit"></form>'),
        "/c": page('<form action="/s"><button formaction="http://other.test/s">go</button>'
                   '<input type="text" formaction="http://ignored.test/"></form>'),
        "/ok": page('<form action="https://elsewhere.test/x" method="post">'
                    '<input type="password"></form>'),
    }
    return pages.get(path, page("not found", 404))


@needs_netns
def test_https_forms_posting_to_http_fail_each_named(certs):
    address = "127.0.0.163"
    with Site(address, 443, posting_site, certs(address)):
        verdict = judge(crawl(address, [443]))
    assert verdict.status == Status.FAIL
    reason = verdict.reason
    assert f"https://{address}/a: a form posts to http://{address}/submit" in reason
    assert f"https://{address}/b: a form posts to http://{address}/submit" in reason
    assert f"https://{address}/c: a button posts to http://other.test/s" in reason
    assert "/ok" not in reason and "ignored.test" not in reason and "served over" not in reason


# -- where the crawl goes -------------------------------------------------------------------

@needs_netns
def test_links_to_other_hosts_and_ports_are_never_followed():
    address, other = "127.0.0.164", "127.0.0.165"
    name = "www.annexscan.test"

    def route(path: str) -> Page:
        pages = {"/": page(links(f"http://{name}/deep", f"http://{address}/ip", "/away",
                                 f"http://{other}/", f"http://{other}:80/x", f"//{other}/rel",
                                 f"http://{address}:8080/", f"http://{name}.evil.test/",
                                 f"https://{address}/tls-not-served")
                           + f'<iframe src="http://{other}/frame"></iframe>'),
                 "/away": page("", 302, Location=f"http://{other}/redirected")}
        return pages.get(path, page("<p>plain page</p>"))

    with Site(address, 80, route) as site, Recorder(other, 80) as elsewhere, \
            Recorder(other, 443) as elsewhere_tls, Recorder(address, 8080) as other_port:
        verdict = judge(crawl(address, [80], name=name))
    assert verdict.status == Status.PASS, verdict.reason
    assert elsewhere.connections == elsewhere_tls.connections == other_port.connections == 0
    assert {"/deep", "/ip", "/away"} <= set(site.paths())
    assert verdict.observed["links not followed"]["other host or port"] == 8
    assert all(headers.get("Host") == name for _m, _p, headers in site.requests
               if headers.get("User-Agent") == "annexscan-probe")


def depth_site(path: str) -> Page:
    chain = {"/": "/d1", "/d1": "/d2", "/d2": "/d3"}
    return page(links(chain[path])) if path in chain else page(f"deep {LOGIN}")


@needs_netns
@pytest.mark.parametrize("max_depth, status", [(2, Status.PASS), (3, Status.FAIL)])
def test_depth_bounds_the_scope_and_says_so(max_depth, status):
    address = "127.0.0.169"
    with Site(address, 80, depth_site) as site:
        verdict = judge(crawl(address, [80], max_depth=max_depth), max_depth=max_depth)
    assert verdict.status == status, verdict.reason
    assert ("/d3" in site.paths()) == (max_depth == 3)
    if status == Status.PASS:
        assert verdict.observed["scope"] == \
            "every page within 2 link(s) of / read; 1 deeper link(s) not followed"


# -- limits: a crawl cut short is an error, never a pass -------------------------------------

@needs_netns
def test_thousand_pages_stop_at_the_page_cap_within_the_budget():
    address = "127.0.0.166"

    def route(path: str) -> Page:
        n = int(path.rsplit("/", 1)[-1] or 0) if path.startswith("/p/") else 0
        return page(links(*(f"/p/{(n * 7 + k) % 1000}" for k in range(1, 11))))

    with Site(address, 80, route) as site:
        started = time.perf_counter()
        obs = crawl(address, [80], max_pages=30, budget_s=10)
        elapsed = time.perf_counter() - started
        verdict = judge(obs, max_pages=30, budget_s=10)
    assert verdict.status == Status.ERROR
    assert "page cap of 30 reached with" in verdict.reason
    assert len([p for p in site.paths() if p.startswith("/p/")]) == 29
    assert elapsed < 10 and obs.results["http"].duration_s < 10


@needs_netns
def test_slow_site_stops_at_the_time_budget():
    address = "127.0.0.167"

    def route(path: str) -> Page:
        time.sleep(0.3)
        return page(links(f"{path.rstrip('/')}/n"))

    with Site(address, 80, route):
        started = time.perf_counter()
        verdict = judge(crawl(address, [80], budget_s=1.5, max_depth=10), max_depth=10)
        elapsed = time.perf_counter() - started
    assert verdict.status == Status.ERROR
    assert "time budget of 1.5 s" in verdict.reason
    assert elapsed < 1.5 + 0.3 + 2.0  # the budget, the http probe's own fetch, slack


@needs_netns
@pytest.mark.parametrize("max_page_bytes, status", [(65536, Status.ERROR),
                                                    (524288, Status.FAIL)])
def test_form_past_the_byte_cap_is_not_read_as_absent(max_page_bytes, status):
    address = "127.0.0.168"
    body = "<p>" + "filler " * 30000 + "</p>" + LOGIN  # ~210 KB, the form at the end
    with Site(address, 80, lambda path: page(body)):
        verdict = judge(crawl(address, [80], max_page_bytes=max_page_bytes))
    assert verdict.status == status, verdict.reason
    if status == Status.ERROR:
        assert f"http://{address}/: longer than 65536 bytes, the rest unread" in verdict.reason


@needs_netns
def test_page_that_stalls_the_html_parser_is_cut_at_the_budget():
    """`<a <a <a ...` keeps html.parser busy for minutes: the page is unread, the crawl ends
    within its budget and the verdict is an error, not a pass."""
    address = "127.0.0.173"
    with Site(address, 80, lambda path: page("<a " * 170000)):
        started = time.perf_counter()
        verdict = judge(crawl(address, [80], budget_s=3))
        elapsed = time.perf_counter() - started
    assert verdict.status == Status.ERROR
    assert f"http://{address}/: cut short by the crawl's time budget of 3 s" in verdict.reason
    assert elapsed < 3 + 2.0


# -- nothing to crawl ---------------------------------------------------------------------

@needs_netns
def test_no_web_port_is_not_applicable():
    verdict = judge(crawl("127.0.0.170", []))
    assert verdict.status == Status.NOT_APPLICABLE


@needs_netns
def test_site_whose_every_fetch_fails_is_an_error():
    """The port answers the service probe like HTTP, then drops every later connection."""
    address = "127.0.0.171"
    listener = socket.create_server((address, 80))
    listener.settimeout(5)

    def serve() -> None:
        first = True
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            if first:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                first = False
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        verdict = judge(crawl(address, [80]))
    finally:
        listener.close()
    assert verdict.status == Status.ERROR
    assert verdict.reason.startswith(f"no page could be read: http://{address}/")


# -- the engine asks for the crawl only when the control is used -----------------------------

def one_clause_profile(tmp_path: Path, control: str) -> Profile:
    path = tmp_path / "forms.yaml"
    path.write_text("id: forms\ntitle: Forms\nsource: {issuer: tests, title: forms}\nclauses:\n"
                    "  - {id: F-1, section: '1', title: Forms, requirement: Forms over TLS.,"
                    f" controls: [{control}]}}\n")
    return load_profile(str(path), load_catalog())


def test_plan_asks_for_the_crawl_only_with_the_control(tmp_path: Path):
    catalog = load_catalog()
    wanted = one_clause_profile(tmp_path, f"{{control: {CONTROL}, parameters: {{max_pages: 50}}}}")
    plan = plan_scan([wanted], catalog, ScanOptions())
    assert plan.request.crawl_limits == {"max_depth": 2, "max_pages": 50,
                                         "max_page_bytes": 524288, "budget_s": 30}
    other = one_clause_profile(tmp_path, "{control: http.hsts}")
    assert plan_scan([other], catalog, ScanOptions()).request.crawl_limits is None


@needs_netns
def test_scan_fails_the_clause_end_to_end(tmp_path: Path):
    address = "127.0.0.172"
    catalog = load_catalog()
    profile = one_clause_profile(tmp_path, f"{{control: {CONTROL}}}")
    options = ScanOptions(timeout=2.0)
    plan = plan_scan([profile], catalog, options)
    with Site(address, 80, login_site):
        result = run_scan([ScanJob(Target(address, address), plan)], options)
    clause = result.targets[0].results[0]
    assert clause.status == Status.FAIL, clause.controls[0].reason
    assert f"http://{address}/login" in clause.controls[0].reason
