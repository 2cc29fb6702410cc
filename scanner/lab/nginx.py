"""One nginx master serving every lab web port, with all its files inside the work dir."""

from __future__ import annotations

import shutil
from pathlib import Path

from scanner.lab.certs import CertFiles
from scanner.lab.hosts import HostSpec, Web
from scanner.lab.procs import Proc

_HEAD = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/nginx-tmp/body;
    proxy_temp_path {work}/nginx-tmp/proxy;
    fastcgi_temp_path {work}/nginx-tmp/fastcgi;
    uwsgi_temp_path {work}/nginx-tmp/uwsgi;
    scgi_temp_path {work}/nginx-tmp/scgi;
    default_type text/html;
    server_tokens off;
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def _server(host: HostSpec, web: Web, cert: CertFiles | None) -> str:
    lines = [f"listen {host.address}:{web.port}{' ssl' if web.tls else ''};"]
    if web.tls:
        if cert is None:
            raise ValueError(f"lab host {host.name}: TLS port {web.port} without a certificate")
        lines += [f"ssl_certificate {cert.cert};", f"ssl_certificate_key {cert.key};",
                  f"ssl_protocols {web.tls.protocols};", f'ssl_ciphers "{web.tls.ciphers}";',
                  "ssl_prefer_server_ciphers on;"]
    if web.hsts:
        lines.append('add_header Strict-Transport-Security "max-age=31536000" always;')
    if web.redirect_to_https:
        lines.append(f"return 301 https://{host.address}$request_uri;")
    else:
        scheme = "https" if web.tls else "http"
        page = web.page or f"<h1>annexscan lab: {host.name} ({scheme}, port {web.port})</h1>\n"
        escaped = page.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'return 200 "{escaped}";')
    body = "".join(f"        {line}\n" for line in lines)
    return f"    server {{\n{body}    }}\n"


def render(workdir: Path, hosts: list[HostSpec], certs: dict[str, CertFiles]) -> Path:
    """Write nginx.conf for the web ports of `hosts`; `certs` maps host name -> its cert files."""
    (workdir / "nginx-tmp").mkdir(exist_ok=True)
    servers = [_server(h, w, certs.get(h.name)) for h in hosts for w in h.web]
    conf = workdir / "nginx.conf"
    conf.write_text(_HEAD.format(work=workdir) + "".join(servers) + "}\n")
    return conf


def start(workdir: Path, conf: Path) -> Proc:
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    # -e: the log for messages before nginx.conf is read (the default is under /var/log).
    return Proc("nginx", [binary, "-c", str(conf), "-p", str(workdir),
                          "-e", str(workdir / "nginx.log")], workdir / "nginx.log")
