"""Administration interfaces, identified by what a port speaks, not by its number.

Signatures are data (controls/signatures/admin.yaml): greetings a server sends unasked (MySQL,
VNC), client-first exchanges (Redis, memcached, PostgreSQL, MongoDB, RDP) and web pages (API
/version answers, console titles, login forms behind /admin-style paths). The whole probe of a
target is bounded by one budget; what the budget cut short is recorded, so a port left
unidentified is never mistaken for a harmless one.
"""

from __future__ import annotations

import functools
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable

from scanner.model import ProbeResult
from scanner.probes.base import Deadline, ProbeRequest, timed
from scanner.probes.web import fetch
from scanner.catalog.resources import controls_dir
from scanner.scope.targets import Target
from scanner.catalog.yamldoc import load_json_schema, load_yaml

MAX_ANSWER = 512        # bytes read from a client-first exchange
MAX_PAGE = 256 * 1024   # bytes of a page kept for matching
PARALLEL = 6            # exchanges or page fetches in flight on one port
WEB = ("http", "tls")   # protocols whose ports get the web signatures (tls: over HTTPS)
SPEAKS_KNOWN = ("ssh", "ftp", "smtp", "pop3", "imap", "xmpp", "telnet", "ldap")
_HTML = re.compile(r"\s*<(!doctype html|html)", re.IGNORECASE)  # an error page sent bare
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@functools.cache
def signatures() -> dict[str, Any]:
    """The signature file, validated, with its patterns compiled."""
    directory = controls_dir() / "signatures"
    doc = load_yaml(directory / "admin.yaml")
    doc.validate(load_json_schema(directory / "signatures.schema.json"))
    data = doc.data
    for entry in data["greetings"] + data["exchanges"] + data["http"]["signatures"]:
        for key in ("pattern", "title", "body", "header"):
            if key in entry:
                entry[key] = re.compile(entry[key], re.IGNORECASE if key != "pattern" else 0)
        if "send" in entry or "send_hex" in entry:
            entry["payload"] = entry.get("send", "").encode() or bytes.fromhex(entry["send_hex"])
    return data


def _found(entry: dict, how: str) -> dict[str, str]:
    return {"service": entry["service"], "kind": entry["kind"], "matched": how}


def exchange(address: str, port: int, payload: bytes, timeout: float,
             pattern: re.Pattern[str]) -> bytes:
    """Send `payload` on a fresh connection, return what comes back within `timeout`, stopping
    as soon as it matches `pattern`."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError:
        return b""
    answer = b""
    with sock, Deadline(sock, timeout):
        try:
            sock.sendall(payload)
            while len(answer) < MAX_ANSWER:
                chunk = sock.recv(MAX_ANSWER - len(answer))
                if not chunk:
                    break
                answer += chunk
                if pattern.search(answer.decode("latin-1")):
                    break
        except OSError:
            pass
    return answer


def page_matches(entry: dict, path: str, page: dict) -> bool:
    if "status" not in page:
        return False
    paths = entry.get("paths") or ([entry["path"]] if "path" in entry else None)
    if paths is not None and path not in paths:
        return False
    if page["status"] not in entry.get("status", [200, 401, 403] if paths is None else [200]):
        return False
    title = _TITLE.search(page.get("body", ""))
    tests = [("title", title.group(1) if title else None), ("body", page.get("body", "")),
             ("header", "\n".join(page.get("headers", [])))]
    return all(text is not None and entry[key].search(text) for key, text in tests if key in entry)


class FingerprintProbe:
    name = "fingerprint"

    def run(self, target: Target, request: ProbeRequest) -> ProbeResult:
        def body(result: ProbeResult) -> None:
            deadline = time.monotonic() + max(10.0, 8 * request.timeout)
            ports = {port: self._port(target, port, request.services.get(port, {}), request,
                                      deadline) for port in request.open_ports}
            result.data["ports"] = ports
            result.evidence["ports"] = {str(p): v for p, v in ports.items()}

        return timed(self.name, target, body)

    def _port(self, target: Target, port: int, service: dict, request: ProbeRequest,
              deadline: float) -> dict[str, Any]:
        sigs = signatures()
        protocol = service.get("protocol", "unknown")
        found = [_found(g, "greeting") for g in sigs["greetings"]
                 if g["pattern"].search(service.get("first_bytes", ""))]
        info: dict[str, Any] = {"protocol": protocol, "identified": found, "complete": True}
        if found or protocol in SPEAKS_KNOWN:
            return info
        if protocol in WEB or _HTML.match(service.get("first_bytes", "")):
            tasks = [partial(_page, target, port, protocol == "tls", path)
                     for path in sigs["http"]["paths"]]
        else:
            tasks = [partial(_exchange, target, port, entry) for entry in sigs["exchanges"]]

        def bounded(task: Callable[[float], list[dict]]) -> list[dict] | None:
            left = deadline - time.monotonic()
            return task(min(request.timeout, left)) if left > 0 else None

        # side by side: a silent port would otherwise cost one timeout per signature
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            outcomes = list(pool.map(bounded, tasks))
        if None in outcomes:
            info["complete"] = False
            info["note"] = "the fingerprint budget ran out before every signature was tried"
        found += [f for outcome in outcomes if outcome for f in outcome]
        info["identified"] = list({f["service"]: f for f in reversed(found)}.values())[::-1]
        return info


def _exchange(target: Target, port: int, entry: dict, wait: float) -> list[dict]:
    answer = exchange(target.address, port, entry["payload"], wait, entry["pattern"])
    if entry["pattern"].search(answer.decode("latin-1")):
        return [_found(entry, f"exchange: {answer[:48].decode('latin-1')!r}")]
    return []


def _page(target: Target, port: int, tls: bool, path: str, wait: float) -> list[dict]:
    page = fetch(target, port, tls, path, wait, keep_body=MAX_PAGE)
    return [_found(sig, f"page {path} (HTTP {page['status']})")
            for sig in signatures()["http"]["signatures"] if page_matches(sig, path, page)]

