"""Clause fidelity, network half: every annex-basis automated network control ref of every
built-in profile, with the profile's own parameters, passes on a real compliant target and
fails on a real violating one, with the fault named in the reason.

The refs come from the profiles at test time. Each control has a factory that turns a ref's
parameters into targets (boxes, see fidelity_net_support): compliant ones (among them, where
one can be built, a target breaking only what the clause does not forbid: the annex's words,
nothing else, decide), and violating ones, each with a fragment its reason must contain.
Every box is started and scanned once, by the real engine with the real profiles, and judged
for every ref that names it. A ref whose parameters ask for a target this machine cannot build
is in UNBUILDABLE, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from fidelity_net_support import TIMEOUT, Ask, Box, Service, fleet, judge_all, lab_box
from scanner.scope import portspec
from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.checks.tls import VERSIONS
from scanner.engine import NETWORK_PROBES
from scanner.lab.hosts import HOSTS, MODERN_SSH, MODERN_TLS, Listener, TlsProfile, Web
from scanner.model import ProbeResult, Status
from scanner.catalog.profiles import ControlRef, Profile, builtin_profile_ids, load_profile
from tls_helpers import needs_netns

Key = tuple[str, str, str, int]  # profile, clause, control, position in the clause
Side = tuple[Box, str]  # a target, and what a failing reason must contain ("" for a pass)

GOOD, LEGACY, EXPIRED, WEAKKEY, PLAIN443, CLOSED = (
    lab_box(n) for n in ("good", "legacy", "expired", "weakkey", "plain443", "closed"))
MODERN_SSHD = tuple(MODERN_SSH.items())
# What a usual clear-text service is served by: a listener's greeting, or scanner.lab.starttls.
CLEAR_PORTS = {"ftp": 21, "telnet": 23, "smtp": 25, "pop3": 110, "imap": 143, "ldap": 389,
               "xmpp": 5222}
LOGIN = ("<html><title>Espace client</title><form method='post' action='/session'>"
         "<input name='user'><input type='password' name='pw'></form></html>")
TELNET_GREETING = b"\xff\xfd\x18\xff\xfd\x20"  # IAC DO TERMINAL-TYPE, IAC DO TERMINAL-SPEED
STARTTLS_ALL = Box("starttls-all", services=tuple(
    Service(f, port, "starttls") for f, port in CLEAR_PORTS.items() if f != "telnet"))
SLOW_PING_S = 0.7  # an answered ping, late, where the clause sets no limit
# One server per administration kind (controls/signatures/admin.yaml), and how a finding names it.
ADMIN_SERVERS: dict[str, tuple[tuple[Listener | Web, ...], str]] = {
    "database": ((Listener(3306, b"\x0a\x00\x00\x00\x0a8.0.36\x00", hold=False),), "3306/mysql"),
    "remote-desktop": ((Listener(5900, b"RFB 003.008\n"),), "5900/vnc"),
    "container-api": ((Web(2375, page='{"ApiVersion": "1.43"}'),), "2375/docker-api"),
    "web-console": ((Web(8081, page="<html><title>phpMyAdmin</title></html>"),),
                    "8081/phpmyadmin"),
    "admin-path": ((Web(8082, page=LOGIN),), "8082/admin-login"),
}
# A suite component of tls.cipher_strength this OpenSSL still serves (no RC4, DES, 3DES, IDEA
# here): nginx's cipher string for it, and how sslyze's suite names show it.
OPENSSL_CIPHERS = {"NULL": ("eNULL", "_NULL_"), "ANON": ("aNULL", "_anon_")}


class Unbuildable(Exception):
    """The parameters need a target this machine cannot build; the message says why."""


def _web_box(port: int, redirect: bool) -> Box:
    lab = GOOD if redirect else LEGACY  # port 80: a redirect to https:// / a 200 page
    return lab if port == 80 else Box(f"http{port}-{redirect}",
                                      web=(Web(port, redirect_to_https=redirect),))


def https_redirect(p: dict) -> tuple[list[Side], list[Side]]:
    port = p["port"]
    closed = [(WEAKKEY, "")] if port not in HOSTS["weakkey"].public().open_ports else []
    return ([(_web_box(port, True), "")] + closed,
            [(_web_box(port, False), f"on port {port} without redirect to HTTPS")])


def forms_over_tls(p: dict) -> tuple[list[Side], list[Side]]:
    if p["max_pages"] < 1:
        raise Unbuildable("a crawl of no page finds no form")
    over_tls = Box("form-over-tls", cert="valid", web=(Web(80, redirect_to_https=True),
                                                       Web(443, MODERN_TLS, page=LOGIN)))
    # legacy: plain-HTTP pages, none with a form
    return [(over_tls, ""), (LEGACY, "")], [(Box("form-in-clear", web=(Web(80, page=LOGIN),)),
                                             "/: a <form> served over plain HTTP")]


def allowed_ports(p: dict) -> tuple[list[Side], list[Side]]:
    allowed = set(p["allowed"])
    good_ports = set(HOSTS["good"].public().open_ports)
    compliant = GOOD if good_ports <= allowed else Box(
        "allowed", listeners=tuple(Listener(port, b"hello\r\n") for port in sorted(allowed)[:4]))
    tcp = next(port for port in (8080, 3306, 2222, 10000, 21)
               if port not in allowed and portspec.covers(p["ports"], port))
    udp = next((port for port in range(1, 65536) if port not in allowed
                and portspec.covers(p["udp_ports"], port)), None) if p["udp_ports"] else None
    outside = Box(f"outside-{tcp}-{udp}", listeners=(Listener(tcp, b"hello\r\n"),),
                  udp=(udp,) if udp else ())
    return [(compliant, "")], [(outside, f"{tcp}/tcp")] + ([(outside, f"{udp}/udp")] if udp else [])


def latency(p: dict) -> tuple[list[Side], list[Side]]:
    if p["method"] != "icmp":
        raise Unbuildable("a slow TCP host needs traffic shaping on loopback, which would slow "
                          "every other target of the namespace too")
    limit = p["max_ms"]
    delay = round(limit / 1000 + 0.2 if limit is not None else SLOW_PING_S, 3)
    if delay >= 0.9 * TIMEOUT:
        raise Unbuildable(f"a {delay:g} s ping is too close to the suite's {TIMEOUT:g} s "
                          "probe timeout")
    slow = Box(f"ping-{delay:g}s", ping=delay)
    compliant = [(Box("ping-fast", ping=0.01), "")] + ([(slow, "")] if limit is None else [])
    # the lab host where nothing listens, deaf to pings too while the fleet's pings are ours
    violating = [(CLOSED, "ping not answered")] if p["require_icmp"] else []
    violating += [(slow, f"over {limit} ms")] if limit is not None else []
    return compliant, violating


def _admin_box(kinds: list[str]) -> Box:
    return Box("admin-" + "+".join(kinds),
               listeners=tuple(x for k in kinds for x in ADMIN_SERVERS[k][0]
                               if isinstance(x, Listener)),
               web=tuple(x for k in kinds for x in ADMIN_SERVERS[k][0] if isinstance(x, Web)))


def no_admin_exposure(p: dict) -> tuple[list[Side], list[Side]]:
    web_only = Box("web-only", cert="valid",
                   web=(Web(80, redirect_to_https=True), Web(443, MODERN_TLS)),
                   ssh=None if p["ssh_is_admin"] else MODERN_SSHD)
    asked = [k for k in ADMIN_SERVERS if k in p["kinds"]]
    others = [k for k in ADMIN_SERVERS if k not in p["kinds"]]
    violating = [(_admin_box(asked), ADMIN_SERVERS[k][1]) for k in asked]
    violating += [(GOOD, "22/ssh")] if p["ssh_is_admin"] else []
    if not violating:
        raise Unbuildable(f"no server here speaks an administration kind of {p['kinds']}")
    # the kinds the clause does not name are not its business
    return [(web_only, "")] + ([(_admin_box(others), "")] if others else []), violating


def _clear_box(protocols: list[str]) -> Box:
    return Box("clear-" + "+".join(protocols),
               listeners=(Listener(CLEAR_PORTS["telnet"], TELNET_GREETING),)
               if "telnet" in protocols else (),
               services=tuple(Service(f, CLEAR_PORTS[f]) for f in protocols if f != "telnet"))


def no_cleartext(p: dict) -> tuple[list[Side], list[Side]]:
    clear = [f for f in p["forbidden"] if f in CLEAR_PORTS]
    if not clear:
        raise Unbuildable(f"no clear-text server of {p['forbidden']} can be built here")
    others = [f for f in CLEAR_PORTS if f not in p["forbidden"]]
    compliant = [(GOOD, "")] + ([(_clear_box(others[:1]), "")] if others else [])
    compliant += [(STARTTLS_ALL, "")] if p["allow_starttls"] else []
    return compliant, [(_clear_box(clear), f"{CLEAR_PORTS[f]}/{f}") for f in clear]


def key_only(p: dict) -> tuple[list[Side], list[Side]]:
    offered = [m for m in ("password", "keyboard-interactive") if m in p["forbidden_methods"]]
    if not offered:
        raise Unbuildable(f"the lab's password sshd offers none of {p['forbidden_methods']}")
    return [(GOOD, "")], [(LEGACY, method) for method in offered]


def _covers_443(p: dict) -> None:
    if not portspec.covers(p.get("ports") or "1-65535", 443):
        raise Unbuildable(f"the TLS boxes serve port 443, outside ports {p['ports']}")


def tls_required(p: dict) -> tuple[list[Side], list[Side]]:
    if p["ports"] != [443]:
        raise Unbuildable("the plain-HTTP and TLS boxes serve port 443 only")
    # legacy's TLS 1.0 on 443 is TLS all the same: versions are another rule's business
    return [(GOOD, ""), (LEGACY, "")], [(PLAIN443, "443: answers http, not TLS")]


def min_version(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    all_flows, redirects = p["all_flows"], p["http_redirects_allowed"]
    compliant = Box(f"tls-only-{redirects}", cert="valid",
                    web=(Web(443, MODERN_TLS),) + ((Web(80, redirect_to_https=True),)
                                                   if redirects else ()),
                    ssh=MODERN_SSHD if "ssh" in p["non_tls_allowed"] else None) \
        if all_flows else GOOD
    too_old = VERSIONS[:VERSIONS.index(f"TLS {p['min']}")]
    violating = [(PLAIN443, "443: usual TLS port answers without TLS (http)")]
    if "TLS 1.0" in too_old:  # SSL 2.0/3.0 servers cannot be built with this OpenSSL
        violating.append((LEGACY, "443: accepts TLS 1.0"))
    if all_flows:  # plain HTTP on 80: a redirect (when not tolerated), or a page
        violating.append((LEGACY if redirects else GOOD, "80: http in clear text"))
    # legacy's TLS 1.0 and 1.1 meet a TLS 1.0 minimum; its clear ports are no TLS flows
    near = [(LEGACY, "")] if "TLS 1.0" not in too_old and not all_flows else []
    return [(compliant, "")] + near, violating


def latest_version(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    # weakkey offers TLS 1.3 with a weak certificate: not this rule's business
    return [(GOOD, ""), (WEAKKEY, "")], [(LEGACY, "443: TLS 1.3 not offered")]


def certificate(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    if p["ca_bundle"] or p["min_days_left"] is not None:
        raise Unbuildable("the lab's certificates chain to the scan's --ca-bundle and are valid "
                          "for a year or expired; no bundle file or expiry margin is built here")
    # legacy's certificate is valid, whatever its TLS versions
    return [(GOOD, ""), (LEGACY, "")], [(EXPIRED, "443: not trusted")]


def key_strength(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    faults = ([f"RSA key of 1024 bits < {p['min_rsa_bits']}"]
              if (p["min_rsa_bits"] or 0) > 1024 else []) + \
        (["signed with sha1"] if "sha1" in (p["forbidden_hashes"] or []) else [])
    if not faults:
        raise Unbuildable("the weak lab certificate (RSA 1024, SHA-1) breaks no rule asked")
    # an expired certificate with a strong key and signature breaks no key rule
    return [(GOOD, ""), (EXPIRED, "")], [(WEAKKEY, fault) for fault in faults]


def _cipher_box(components: list[str]) -> Box:
    # beside a strong suite: sslyze's connectivity test offers no weak one
    suites = ":".join(OPENSSL_CIPHERS[c][0] for c in components) + \
        ("" if "NULL" in components else ":!eNULL")  # aNULL has NULL-encryption suites too
    return Box("cipher-" + "+".join(components), cert="valid",
               web=(Web(443, TlsProfile("TLSv1.2", f"ECDHE+AESGCM:{suites}:@SECLEVEL=0")),))


def cipher_strength(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    forbidden = {f.upper() for f in p["forbidden"] or []}
    weak = [c for c in OPENSSL_CIPHERS if c in forbidden]
    others = [c for c in OPENSSL_CIPHERS if c not in forbidden]
    if not weak:
        raise Unbuildable(f"OpenSSL 3 here serves none of the suites {p['forbidden']} forbids")
    violating = [(_cipher_box(weak), OPENSSL_CIPHERS[c][1]) for c in weak]
    # a suite the clause does not forbid is not its business
    return [(GOOD, "")] + ([(_cipher_box(others), "")] if others else []), violating


def known_vulnerabilities(p: dict) -> tuple[list[Side], list[Side]]:
    if "insecure_renegotiation" not in p["checks"] or not portspec.covers(p["ports"], 587):
        raise Unbuildable("the one vulnerable server buildable here accepts client-initiated "
                          "renegotiation on port 587; these parameters do not test it")
    reneg = Box("renegotiation", services=(Service("smtp", 587, "starttls", True),))
    # legacy: old versions and every suite, but none of the known flaws
    return [(GOOD, ""), (LEGACY, "")], [(reneg, "587/smtp+starttls: vulnerable to "
                                                "insecure_renegotiation")]


FACTORIES: dict[str, Callable[[dict], tuple[list[Side], list[Side]]]] = {
    "http.https_redirect": https_redirect, "http.forms_over_tls": forms_over_tls,
    "net.allowed_ports": allowed_ports,
    "net.latency": latency, "net.no_admin_exposure": no_admin_exposure,
    "net.no_cleartext_services": no_cleartext, "ssh.key_only": key_only,
    "tls.required": tls_required, "tls.min_version": min_version,
    "tls.latest_version": latest_version, "tls.certificate": certificate,
    "tls.key_strength": key_strength, "tls.cipher_strength": cipher_strength,
    "tls.known_vulnerabilities": known_vulnerabilities,
}


@dataclass(frozen=True)
class Case:
    key: Key
    profile: Profile
    ref: ControlRef
    compliant: tuple[Side, ...]
    violating: tuple[Side, ...]


def _cases() -> tuple[list[Case], dict[Key, str]]:
    catalog = load_catalog()
    cases, unbuildable = [], {}
    for profile_id in builtin_profile_ids():
        profile = load_profile(profile_id, catalog)
        for clause in profile.clauses:
            for position, ref in enumerate(clause.controls):
                control = catalog.get(ref.control_id)
                if not (ref.binding and control.automated and control.probe in NETWORK_PROBES):
                    continue
                key = (profile_id, clause.id, ref.control_id, position)
                factory = FACTORIES.get(ref.control_id)
                if factory is None:
                    continue  # no case: the coverage test names the key
                try:
                    compliant, violating = factory(ref.parameters)
                except Unbuildable as exc:
                    unbuildable[key] = str(exc)
                    continue
                cases.append(Case(key, profile, ref, tuple(compliant), tuple(violating)))
    return cases, unbuildable


CASES, UNBUILDABLE = _cases()
COVERED: set[Key] = {case.key for case in CASES}


@pytest.fixture(scope="module")
def verdicts(lab, catalog):
    """(box name, key) -> the engine's ControlResult, every box scanned once."""
    asks: dict[str, list[Ask]] = {}
    for case in CASES:
        for box, _ in case.compliant + case.violating:
            asks.setdefault(box.name, []).append(Ask(case.key, case.profile, case.ref))
    boxes = {box for case in CASES for box, _ in case.compliant + case.violating}
    with fleet(boxes, lab) as sites:
        return judge_all(sites, asks, catalog)


def _id(case: Case) -> str:
    _, clause, control, position = case.key
    return f"{clause}#{position}:{control}"


@pytest.mark.lab
@needs_netns
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_compliant_target_passes(case: Case, verdicts):
    assert case.compliant
    for box, _ in case.compliant:
        result = verdicts[(box.name, case.key)]
        assert result.status == Status.PASS, f"{box.name}: {result.status} {result.reason}"


@pytest.mark.lab
@needs_netns
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_violating_target_fails_naming_the_fault(case: Case, verdicts):
    assert case.violating
    for box, fault in case.violating:
        result = verdicts[(box.name, case.key)]
        assert result.status == Status.FAIL, f"{box.name}: {result.status} {result.reason}"
        assert fault in result.reason, f"{box.name}: {result.reason}"


@pytest.mark.parametrize("case", [c for c in CASES if c.ref.control_id == "tls.min_version"],
                         ids=_id)
def test_the_version_below_the_minimum_fails_as_sslyze_records_it(case: Case):
    """An SSL 3.0 server cannot be built with this OpenSSL (a "TLS 1.0 minimum" has no real
    violating server but a clear-text one): the version just below the ref's minimum, in the
    shape the TLS probe records it, fails with the ref's own parameters."""
    below = VERSIONS[VERSIONS.index(f"TLS {case.ref.parameters['min']}") - 1]
    versions = {v: {"accepted": v in (below, "TLS 1.2"), "cipher_suites":
                    ["TLS_RSA_WITH_AES_128_CBC_SHA"] if v in (below, "TLS 1.2") else []}
                for v in VERSIONS}
    observations = Observations({
        "service": ProbeResult("service", "x", {"services": {443: {"protocol": "tls"}}}),
        "tls": ProbeResult("tls", "x", {"ports": {443: {"versions": versions, "errors": {}}}})})
    verdict = evaluate("tls.min_version", observations, case.ref.parameters)
    assert verdict.status == Status.FAIL and verdict.reason == f"443: accepts {below}"
