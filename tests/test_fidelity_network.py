"""Clause fidelity, network half: every annex-basis automated network control ref of every
built-in profile, with the profile's own parameters, passes on a real compliant target and
fails on a real violating one, with the fault named in the reason.

The refs come from the profiles at test time. Each control has a factory that turns a ref's
parameters into targets (boxes, see fidelity_net_support): compliant ones, and violating ones
each with a fragment its reason must contain. Every box is started and scanned once, by the real
engine with the real profiles, and judged for every ref that names it. A ref whose parameters
ask for a target this machine cannot build is in UNBUILDABLE, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from fidelity_net_support import TIMEOUT, Ask, Box, Service, fleet, judge_all, lab_box
from scanner import portspec
from scanner.catalog import load_catalog
from scanner.checks import evaluate
from scanner.checks.base import Observations
from scanner.checks.tls import VERSIONS
from scanner.engine import NETWORK_PROBES
from scanner.lab.hosts import HOSTS, MODERN_SSH, MODERN_TLS, Listener, TlsProfile, Web
from scanner.model import ProbeResult, Status
from scanner.profiles import ControlRef, Profile, builtin_profile_ids, load_profile
from tls_helpers import needs_netns

Key = tuple[str, str, str, int]  # profile, clause, control, position in the clause
Side = tuple[Box, str]  # a target, and what a failing reason must contain ("" for a pass)

GOOD, LEGACY, EXPIRED, WEAKKEY, PLAIN443 = (
    lab_box(n) for n in ("good", "legacy", "expired", "weakkey", "plain443"))
MODERN_SSHD = tuple(MODERN_SSH.items())
# What a usual clear-text service is served by: a listener's greeting, or scanner.lab.starttls.
CLEAR_PORTS = {"ftp": 21, "telnet": 23, "smtp": 25, "pop3": 110, "imap": 143, "ldap": 389,
               "xmpp": 5222}
LOGIN = ("<html><title>Espace client</title><form method='post' action='/session'>"
         "<input name='user'><input type='password' name='pw'></form></html>")
TELNET_GREETING = b"\xff\xfd\x18\xff\xfd\x20"  # IAC DO TERMINAL-TYPE, IAC DO TERMINAL-SPEED
# One real greeting per administration kind a listener can make (controls/signatures/admin.yaml).
ADMIN_LISTENERS = {"remote-desktop": Listener(5900, b"RFB 003.008\n"),
                   "database": Listener(3306, b"\x0a\x00\x00\x00\x0a8.0.36\x00", hold=False)}
# A forbidden suite component of tls.cipher_strength: nginx's cipher string serving it, and how
# sslyze's suite names show it.
OPENSSL_CIPHERS = {"NULL": ("eNULL", "_NULL_"), "ANON": ("aNULL", "_anon_"),
                   "3DES": ("3DES", "_3DES_")}


class Unbuildable(Exception):
    """The parameters need a target this machine cannot build; the message says why."""


def _web_box(port: int, redirect: bool) -> Box:
    lab = GOOD if redirect else LEGACY  # port 80: a redirect to https:// / a 200 page
    return lab if port == 80 else Box(f"http{port}-{redirect}",
                                      web=(Web(port, redirect_to_https=redirect),))


def https_redirect(p: dict) -> tuple[list[Side], list[Side]]:
    port = p["port"]
    return ([(_web_box(port, True), "")],
            [(_web_box(port, False), f"on port {port} without redirect to HTTPS")])


def forms_over_tls(p: dict) -> tuple[list[Side], list[Side]]:
    if p["max_pages"] < 1:
        raise Unbuildable("a crawl of no page finds no form")
    over_tls = Box("form-over-tls", cert="valid", web=(Web(80, redirect_to_https=True),
                                                       Web(443, MODERN_TLS, page=LOGIN)))
    return [(over_tls, "")], [(Box("form-in-clear", web=(Web(80, page=LOGIN),)),
                               "/: a <form> served over plain HTTP")]


def allowed_ports(p: dict) -> tuple[list[Side], list[Side]]:
    allowed = set(p["allowed"])
    good_ports = set(HOSTS["good"].public().open_ports)
    compliant = GOOD if good_ports <= allowed else Box(
        "allowed", listeners=tuple(Listener(port, b"hello\r\n") for port in sorted(allowed)[:4]))
    outside = next(port for port in (8080, 3306, 2222, 10000, 21)
                   if port not in allowed and portspec.covers(p["ports"], port))
    violating = [(Box(f"tcp{outside}", listeners=(Listener(outside, b"hello\r\n"),)),
                  f"{outside}/tcp")]
    if p["udp_ports"]:
        udp = next(port for port in range(1, 65536)
                   if port not in allowed and portspec.covers(p["udp_ports"], port))
        violating.append((Box(f"udp{udp}", udp=(udp,)), f"{udp}/udp"))
    return [(compliant, "")], violating


def latency(p: dict) -> tuple[list[Side], list[Side]]:
    if p["method"] != "icmp":
        raise Unbuildable("a slow TCP host needs traffic shaping on loopback, which would slow "
                          "every other target of the namespace too")
    violating = []
    if p["require_icmp"]:
        violating.append((Box("ping-deaf"), "ping not answered"))
    if p["max_ms"] is not None:
        delay = p["max_ms"] / 1000 + 0.2
        if delay >= 0.9 * TIMEOUT:
            raise Unbuildable(f"a {delay:g} s ping is too close to the suite's {TIMEOUT:g} s "
                              "probe timeout")
        violating.append((Box(f"ping-{delay:g}s", ping=delay), f"over {p['max_ms']} ms"))
    return [(Box("ping-fast", ping=0.01), "")], violating


def no_admin_exposure(p: dict) -> tuple[list[Side], list[Side]]:
    web_only = Box("web-only", cert="valid",
                   web=(Web(80, redirect_to_https=True), Web(443, MODERN_TLS)),
                   ssh=None if p["ssh_is_admin"] else MODERN_SSHD)
    violating = [(Box(f"admin-{kind}", listeners=(listener,)), f"{listener.port}/")
                 for kind, listener in ADMIN_LISTENERS.items() if kind in p["kinds"]][:1]
    if p["ssh_is_admin"]:
        violating.append((GOOD, "22/ssh"))
    if not violating:
        raise Unbuildable(f"no server here speaks an administration kind of {p['kinds']}")
    return [(web_only, "")], violating


def no_cleartext(p: dict) -> tuple[list[Side], list[Side]]:
    protocol = next((f for f in p["forbidden"] if f in CLEAR_PORTS), None)
    if protocol is None:
        raise Unbuildable(f"no clear-text server of {p['forbidden']} can be built here")
    port = CLEAR_PORTS[protocol]
    clear = Box(f"clear-{protocol}", listeners=(Listener(port, TELNET_GREETING),)) \
        if protocol == "telnet" else Box(f"clear-{protocol}", services=(Service(protocol, port),))
    compliant = [(GOOD, "")]
    if protocol != "telnet" and p["allow_starttls"]:
        compliant.append((Box(f"starttls-{protocol}",
                              services=(Service(protocol, port, "starttls"),)), ""))
    return compliant, [(clear, f"{port}/{protocol}")]


def key_only(p: dict) -> tuple[list[Side], list[Side]]:
    offered = [m for m in ("password", "keyboard-interactive") if m in p["forbidden_methods"]]
    if not offered:
        raise Unbuildable(f"the lab's password sshd offers none of {p['forbidden_methods']}")
    return [(GOOD, "")], [(LEGACY, f"offers {offered[0]}")]


def _covers_443(p: dict) -> None:
    if not portspec.covers(p.get("ports") or "1-65535", 443):
        raise Unbuildable(f"the TLS boxes serve port 443, outside ports {p['ports']}")


def tls_required(p: dict) -> tuple[list[Side], list[Side]]:
    if p["ports"] != [443]:
        raise Unbuildable("the plain-HTTP and TLS boxes serve port 443 only")
    return [(GOOD, "")], [(PLAIN443, "443: answers http, not TLS")]


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
    return [(compliant, "")], violating


def latest_version(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    return [(GOOD, "")], [(LEGACY, "443: TLS 1.3 not offered")]


def certificate(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    if p["ca_bundle"] or p["min_days_left"] is not None:
        raise Unbuildable("the lab's certificates chain to the scan's --ca-bundle and are valid "
                          "for a year or expired; no bundle file or expiry margin is built here")
    return [(GOOD, "")], [(EXPIRED, "443: not trusted")]


def key_strength(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    faults = ([f"RSA key of 1024 bits < {p['min_rsa_bits']}"]
              if (p["min_rsa_bits"] or 0) > 1024 else []) + \
        (["signed with sha1"] if "sha1" in (p["forbidden_hashes"] or []) else [])
    if not faults:
        raise Unbuildable("the weak lab certificate (RSA 1024, SHA-1) breaks no rule asked")
    return [(GOOD, "")], [(WEAKKEY, fault) for fault in faults]


def cipher_strength(p: dict) -> tuple[list[Side], list[Side]]:
    _covers_443(p)
    forbidden = [f.upper() for f in p["forbidden"] or []]
    component = next((f for f in forbidden if f in OPENSSL_CIPHERS), None)
    if component is None:
        raise Unbuildable(f"OpenSSL 3 here serves none of the suites {p['forbidden']} forbids")
    # beside a strong suite: sslyze's connectivity test offers no weak one
    weak = Box(f"cipher-{component.lower()}", cert="valid", web=(Web(443, TlsProfile(
        "TLSv1.2", f"ECDHE+AESGCM:{OPENSSL_CIPHERS[component][0]}:@SECLEVEL=0")),))
    return [(GOOD, "")], [(weak, OPENSSL_CIPHERS[component][1])]


def known_vulnerabilities(p: dict) -> tuple[list[Side], list[Side]]:
    if "insecure_renegotiation" not in p["checks"] or not portspec.covers(p["ports"], 587):
        raise Unbuildable("the one vulnerable server buildable here accepts client-initiated "
                          "renegotiation on port 587; these parameters do not test it")
    reneg = Box("renegotiation", services=(Service("smtp", 587, "starttls", True),))
    return [(GOOD, "")], [(reneg, "587/smtp+starttls: vulnerable to insecure_renegotiation")]


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
    profile, clause, control, position = case.key
    return f"{clause}#{position}:{control}"


@pytest.mark.lab
@needs_netns
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_compliant_target_passes(case: Case, verdicts):
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
    suite = {"SSL 2.0": "SSL_CK_RC4_128_WITH_MD5"}.get(below, "TLS_RSA_WITH_AES_128_CBC_SHA")
    versions = {v: {"accepted": v in (below, "TLS 1.2"),
                    "cipher_suites": [suite] if v in (below, "TLS 1.2") else []}
                for v in VERSIONS}
    observations = Observations({
        "service": ProbeResult("service", "x", {"services": {443: {"protocol": "tls"}}}),
        "tls": ProbeResult("tls", "x", {"ports": {443: {"versions": versions, "errors": {}}}})})
    verdict = evaluate("tls.min_version", observations, case.ref.parameters)
    assert verdict.status == Status.FAIL and verdict.reason == f"443: accepts {below}"
