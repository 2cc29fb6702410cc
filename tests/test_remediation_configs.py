"""Every remediation snippet is valid configuration for its software, checked by the real
programs on the snippets rendered with the catalog defaults and with every built-in profile's
parameters: `nginx -t`, `sshd -t`, `nft -c`, `iptables-restore --test`, `logrotate -d`,
`apt-config`, `chronyd -p`, `openssl req`. The OpenSSH snippets also turn a weak sshd
configuration into one host.sshd_config passes, through its real collector and check.

Apache and HAProxy are not installed here (and not installed just for this): their snippets are
not run through `apachectl -t` / `haproxy -c`. The ini-style files (journald, pwquality,
faillock, dnf-automatic, MySQL, vsftpd) have no checker of their own: they are parsed as ini.
Not checked by a program: the shell lines (ufw, systemctl, ...), PAM, login.defs, Redis,
PostgreSQL, Dovecot, auditd and mdadm.conf lines, and the HTML form.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from accounts_support import PrivateRunTransport, collect_and_check, need_root_sshd
from scanner.catalog.profiles import builtin_profile_ids, load_profile
from scanner.catalog.remediation import render_remediation
from scanner.model import Status

CERT, KEY = "/etc/ssl/certs/server.pem", "/etc/ssl/private/server.key"


@pytest.fixture(scope="module")
def snippets(catalog) -> dict[str, list[str]]:
    """implementation -> the distinct snippet texts, over the defaults and every built-in
    profile's parameters."""
    params = [(c, {}) for c in catalog if c.automated]
    params += [(catalog.get(ref.control_id), ref.parameters) for pid in builtin_profile_ids()
               for clause in load_profile(pid, catalog).clauses for ref in clause.controls
               if catalog.get(ref.control_id).automated]
    found: dict[str, dict[str, None]] = {}
    for control, values in params:
        for snippet in render_remediation(control, values)["snippets"]:
            key = f"{snippet['implementation']}/{snippet['language']}"
            found.setdefault(key, {})[snippet["text"]] = None
    return {key: list(texts) for key, texts in found.items()}


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)


def need_tool(path: str) -> str:
    found = shutil.which(path) or shutil.which(path, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"{path} is not installed")
    return found


def need_root() -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root in a private network namespace (scanner.netns)")


def test_nginx_accepts_every_nginx_snippet(snippets, tmp_path):
    nginx = need_tool("nginx")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=test", "-days", "2"])
    blocks = []
    for number, text in enumerate(snippets["nginx/nginx"]):
        text = text.replace(CERT, str(cert)).replace(KEY, str(key))
        if text.lstrip().startswith("server {"):
            blocks.append(text)
            continue
        head = "" if "listen " in text else f"listen 127.0.0.1:{20000 + number} ssl;\n"
        if "ssl_certificate " not in text:
            head += f"ssl_certificate {cert};\nssl_certificate_key {key};\n"
        blocks.append(f"server {{\n{head}{text}}}\n")
    assert len(blocks) >= 8
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                    f"events {{}}\nhttp {{\naccess_log off;\n{''.join(blocks)}}}\n")
    checked = run([nginx, "-t", "-q", "-c", str(conf), "-p", str(tmp_path),
                   "-e", str(tmp_path / "error.log")])
    assert checked.returncode == 0, checked.stderr + conf.read_text()


def sshd_t(config: Path) -> subprocess.CompletedProcess:
    """`sshd -t` in a mount namespace with a private /run (sshd wants /run/sshd)."""
    inner = f"mount -t tmpfs none /run && mkdir -m 755 /run/sshd && " \
            f"exec /usr/sbin/sshd -t -f {shlex.quote(str(config))}"
    return run(["unshare", "-m", "sh", "-c", inner])


@pytest.fixture(scope="module")
def hostkey(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_sshd_accepts_every_sshd_config_snippet(snippets, tmp_path, hostkey):
    need_root_sshd()
    texts = snippets["openssh/sshd_config"]
    assert len(texts) >= 6
    for number, text in enumerate(texts):
        config = tmp_path / f"sshd_config.{number}"
        config.write_text(f"HostKey {hostkey}\n{text}")
        checked = sshd_t(config)
        assert checked.returncode == 0, checked.stderr + text


WEAK = """PasswordAuthentication yes
KbdInteractiveAuthentication yes
PermitRootLogin yes
MaxAuthTries 10
Ciphers aes128-cbc,aes256-ctr
MACs hmac-sha1,hmac-sha2-256
"""


def test_the_openssh_snippets_make_host_sshd_config_pass(catalog, tmp_path, hostkey):
    """A weak configuration fails; the rendered snippets put first (sshd keeps the first value
    it reads, as in sshd_config.d/00-*.conf) make the real collector and check pass."""
    need_root_sshd()
    control = catalog.get("host.sshd_config")
    fix = render_remediation(control, {})
    assert [s["language"] for s in fix["snippets"]] == ["sshd_config"] * 3
    config = tmp_path / "sshd_config"
    for lines, status in (("", Status.FAIL), ("".join(s["text"] for s in fix["snippets"]),
                                               Status.PASS)):
        config.write_text(f"HostKey {hostkey}\n{lines}{WEAK}")
        _, verdict = collect_and_check(catalog, "host.sshd_config", "/", PrivateRunTransport(),
                                       config_file=str(config))
        assert verdict.status == status, verdict.reason


# implementation -> its program, the option that only checks, what marks a whole file, and
# the file a bare list of rules (for an input chain) is put into
FIREWALLS = {
    "nftables": ("nft", ["-c", "-f"], "table ", "table inet annexscan_test {{\n  chain input "
                 "{{\n    type filter hook input priority 0; policy accept;\n{}  }}\n}}\n"),
    "iptables": ("iptables-restore", ["--test"], "*filter",
                 "*filter\n:INPUT ACCEPT [0:0]\n{}COMMIT\n"),
}


@pytest.mark.parametrize("implementation", sorted(FIREWALLS))
def test_the_firewall_accepts_every_snippet(snippets, tmp_path, implementation):
    tool, check, whole, wrap = FIREWALLS[implementation]
    program = need_tool(tool)
    need_root()
    texts = snippets[f"{implementation}/{implementation}"]
    assert len(texts) >= 3
    for number, text in enumerate(texts):
        if whole not in text:
            text = wrap.format(text)
        rules = tmp_path / f"rules.{number}"
        rules.write_text(text)
        checked = run([program, *check, str(rules)])
        assert checked.returncode == 0, checked.stderr + text


def test_logrotate_reads_the_logrotate_snippets_without_error(snippets, tmp_path):
    logrotate = need_tool("logrotate")
    for number, text in enumerate(snippets["logrotate/logrotate"]):
        log = tmp_path / f"syslog.{number}"
        log.write_text("a line\n")
        config = tmp_path / f"logrotate.{number}.conf"
        config.write_text(text.replace("/var/log/syslog", str(log)))
        checked = run([logrotate, "-d", "-s", str(tmp_path / "state"), str(config)])
        # logrotate -d exits 0 on an unknown directive: its "error:" lines tell
        assert checked.returncode == 0 and "error" not in checked.stderr.lower(), checked.stderr
        assert "weekly (53 rotations)" in checked.stderr or number


def test_apt_reads_the_unattended_upgrades_snippets(snippets, tmp_path):
    apt_config = need_tool("apt-config")
    for number, text in enumerate(snippets["unattended-upgrades/apt.conf"]):
        conf = tmp_path / f"20auto-upgrades.{number}"
        conf.write_text(text)
        checked = run([apt_config, "-c", str(conf), "dump"])
        assert checked.returncode == 0, checked.stderr
        assert 'APT::Periodic::Update-Package-Lists "1";' in checked.stdout


def test_chrony_reads_the_chrony_snippet(snippets, tmp_path):
    chronyd = need_tool("chronyd")
    for number, text in enumerate(snippets["chrony/chrony"]):
        conf = tmp_path / f"chrony.{number}.conf"
        conf.write_text(text)
        checked = run([chronyd, "-p", "-f", str(conf)])  # prints the configuration and exits
        assert checked.returncode == 0 and "pool " in checked.stdout, checked.stderr


def test_openssl_makes_the_key_the_snippet_asks_for(snippets, tmp_path):
    need_tool("openssl")
    for text in snippets["openssl/shell"]:
        command = next(line for line in text.splitlines() if line.startswith("openssl req"))
        assert run(shlex.split(command), cwd=tmp_path).returncode == 0
        shown = run(["openssl", "req", "-in", "server.csr", "-noout", "-text"], cwd=tmp_path)
        assert "Signature Algorithm: ecdsa-with-SHA256" in shown.stdout
        assert "NIST CURVE: P-256" in shown.stdout


def test_ini_snippets_parse(snippets):
    keys = [k for k in snippets if k.endswith("/ini")]
    assert {"journald/ini", "dnf-automatic/ini", "pwquality/ini", "vsftpd/ini"} <= set(keys)
    for key in keys:
        for text in snippets[key]:
            parser = configparser.ConfigParser(comment_prefixes=("#",), strict=True)
            parser.read_string(text if text.lstrip("#").lstrip().startswith("[") or
                               "\n[" in text else "[top]\n" + text)
            assert parser.sections(), text
