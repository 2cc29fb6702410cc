"""One bounded HTTP(S) GET, the primitive the http, crawl and fingerprint probes share."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from typing import Any

from scanner.probes.base import Deadline
from scanner.scope.targets import Target

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
