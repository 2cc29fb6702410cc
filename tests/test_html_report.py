"""The HTML report: complete, escaped, self-contained, and rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from conftest import ARTIFACTS
from report_support import text as written
from scanner.model import (CLAUSE_STATUSES, ClauseResult, ControlResult, ScanResult, Status,
                           TargetResult)
from scanner.reporters.base import subjects
from scanner.reporters.registry import reporters, write_all
from scanner.reporters.html_report import section_group, write
from scanner.reporters.html_values import ORDER
from scanner.reporters.load import load_result


def render(result: ScanResult) -> str:
    return written(write, result)

SAMPLE = Path(__file__).parent.parent / "reports" / "samples" / "annexscan.json"
HOSTILE = "<script>alert(1)</script>"
VOID = {"meta", "br", "input", "col", "img", "hr", "link", "wbr"}


class Page(HTMLParser):
    """Tags, URL attributes, text and script bodies of a page; fails on unbalanced markup."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed: {self.stack}"

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "xlink:href",
                                                         "srcset", "poster", "data")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()

    def handle_data(self, data):
        (self.scripts if self.stack and self.stack[-1] == "script" else self.text).append(data)


def control(cid: str, status: Status, observed=None, probes=("ports", "tls")) -> ControlResult:
    return ControlResult(cid, f"title of {cid}", "high", status, {}, "TLS 1.2 or newer", observed,
                         f"reason for {cid}", {"probes": list(probes)}, 0.01, 0.5)


def clause(cid: str, status: Status, section: str, controls=(), **extra) -> ClauseResult:
    return ClauseResult(cid, "p", section, f"Title {cid}", f"Requirement of {cid}.", status,
                        list(controls), **extra)


def every_status_result() -> ScanResult:
    """One clause per status, an attestation (valid and expired), a waiver (valid and expired),
    and a hostile server's banner in every field a target controls."""
    clauses = [
        clause("C-PASS", Status.PASS, "Art. 1", [control("tls.min", Status.PASS, {"443": "1.3"})]),
        clause("C-FAIL", Status.FAIL, "Art. 1, 2nd paragraph",
               [control("ssh.banner", Status.FAIL, {"banner": HOSTILE, "port": 22}, ("ssh",))],
               waiver={"clause": "C-FAIL", "targets": ["*"],
                       "justification": "legacy box, ticket 42", "approver": "CISO",
                       "expires": "2020-01-01",
                       "expires_at": "2020-01-01T23:59:59.999999+00:00", "expired": True,
                       "expiry_note": "no time given: taken as the end of that day, UTC"}),
        clause("C-ERROR", Status.ERROR, "Art. 2 (logs)", [control("host.logs", Status.ERROR)]),
        clause("C-MANUAL", Status.MANUAL, "Annexe I §II", attest="The signed register."),
        clause("C-ATTESTED", Status.ATTESTED, "Annexe I §II; Art. 9", attest="The DPA.",
               attestation={"clause": "C-ATTESTED", "attested_by": "Alice Martin", "role": "DPO",
                            "date": "2026-10-01", "expires": "2027-10-01",
                            "statement": "Register kept and reviewed " + HOSTILE,
                            "evidence": ["docs/register.pdf", "https://evil.example/x.pdf"],
                            "expires_at": "2027-10-01T23:59:59+00:00", "expired": False}),
        clause("C-EXPIRED", Status.EXPIRED, "Annexe I §III", attest="The audit report.",
               attestation={"clause": "C-EXPIRED", "attested_by": "Bob", "role": "CISO",
                            "date": "2024-01-01", "expires": "2025-01-01T00:00:00Z",
                            "statement": "Audited last year.", "expired": True}),
        clause("C-WAIVED", Status.WAIVED, "§5.4 table, row 'Auth'",
               [control("tls.cert", Status.WAIVED, {"days_left": 3})],
               waiver={"control": "tls.cert", "targets": ["web*"], "justification":
                       "renewal booked " + HOSTILE, "approver": "Head of IT",
                       "expires": "2027-03-31", "expired": False}),
        clause("C-NA", Status.NOT_APPLICABLE, "Art. 3",
               [control("http.hsts", Status.NOT_APPLICABLE)]),
    ]
    hostile = TargetResult(f"web{HOSTILE}", "10.0.0.5", clauses,
                           {"tls": {"duration_s": 1.2, "error": None},
                            "ssh": {"duration_s": 0.1, "error": f"banner {HOSTILE}"}})
    other = TargetResult("db", "fd00::5", [clause("C-PASS", Status.PASS, "Art. 1",
                                                  [control("tls.min", Status.PASS, "1.3")]),
                                           clause("C-DB-ONLY", Status.PASS, "Art. 3")])
    return ScanResult("2026-11-23T10:00:00+00:00", "2026-11-23T10:00:05+00:00",
                      [{"id": "p", "title": f"Annex {HOSTILE}", "source": {
                          "issuer": "ACME SA", "title": "Contrat cadre, Annexe sécurité",
                          "version": "v3", "date": "2026-01-15"}}],
                      [hostile, other], {"probes": ["tls", "ssh"], "timeout_s": 5.0})


def test_discovered_as_a_reporter():
    assert reporters()["html"][0] == "html"
    assert set(ORDER) == {s.value for s in CLAUSE_STATUSES}


def test_every_status_has_a_colour_and_a_meaning():
    text = render(every_status_result())
    theme = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    legend = re.search(r'<div class="legend">.*?</div>', text).group(0)
    for status in Status:
        assert re.search(rf"--s-{status.value}:#[0-9a-f]{{6}};--on-{status.value}:", theme)
        assert f".b-{status.value}{{background:var(--s-{status.value})" in theme
        assert re.search(rf'class="badge b-{status.value}" title="[^"]{{20,}}"', legend), status


def test_hostile_values_are_text_never_markup():
    text = render(every_status_result())
    page = Page(text)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]
    assert [t for t, _ in page.tags].count("script") == 1
    assert any(HOSTILE in chunk for chunk in page.text)  # shown to the auditor, as text
    # the inline filter script is pinned by hash in the page's Content-Security-Policy
    policy = next(a["content"] for t, a in page.tags if a.get("http-equiv") ==
                  "Content-Security-Policy")
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1]


def test_no_external_resource():
    text = render(every_status_result())
    page = Page(text)
    assert page.urls and all(not re.match(r"(?i)\s*([a-z][a-z0-9+.-]*:|//)", url)
                             for url in page.urls), page.urls
    assert not re.search(r"(?i)url\(|@import|<link|<img|<iframe", text)
    assert "https://evil.example/x.pdf" in "".join(page.text)  # an evidence URL stays plain text


def test_summary_counts_every_status_and_details():
    text = render(every_status_result())
    page = Page(text)
    header = re.search(r'<section class="card" id="summary">.*?</thead>', text, re.S).group(0)
    assert [*ORDER, "advisory"] == re.findall(r'class="badge b-(\w+)"', header.split(
        "<table>")[1])
    web_row = re.search(r"<tr><td>web.*?</tr>", text).group(0)
    assert re.findall(r'class="badge b-\w+"[^>]*>(\d+)<', web_row) == ["1"] * 8
    for field in ("Alice Martin", "DPO", "2027-10-01", "docs/register.pdf", "Head of IT",
                  "legacy box, ticket 42", "The signed register.", "end of that day, UTC",
                  "EXPIRED: counts as a failure", "EXPIRED: no longer applies", "ACME SA",
                  "Contrat cadre, Annexe sécurité", "v3", "2026-01-15", "TLS 1.2 or newer"):
        assert field in "".join(page.text), field
    # observed: compact JSON in the summary, pretty JSON when opened
    assert '{"443":"1.3"}' in "".join(page.text) and '"443": "1.3"' in "".join(page.text)
    assert [a.get("data-status") for t, a in page.tags if t == "article"][:8] == [
        "pass", "fail", "error", "manual", "attested", "expired", "waived", "not_applicable"]


def test_evidence_links_follow_the_bundle_layout():
    hrefs = Page(render(every_status_result())).urls
    assert "evidence/10.0.0.5/ssh.json.gz" in hrefs and "evidence/10.0.0.5/tls.json.gz" in hrefs
    # an IPv6 address is percent-encoded in the link and names the same file once decoded
    assert "evidence/fd00__5/tls.json.gz" in hrefs  # the bundle's own name for it (scanner.evidence.layout)


def test_matrix_links_every_clause_of_every_target():
    text = render(every_status_result())
    grid = re.search(r'id="matrix">.*?</section>', text, re.S).group(0)
    assert re.findall(r'<td class="mono">([^<]*)</td>', grid) == [
        "C-PASS", "C-FAIL", "C-ERROR", "C-MANUAL", "C-ATTESTED", "C-EXPIRED", "C-WAIVED", "C-NA",
        "C-DB-ONLY"]
    ids = {a["id"] for t, a in Page(text).tags if t == "article"}
    links = [unquote(h) for h in re.findall(r'href="#([^"]*)"', grid)]
    assert len(links) == 10 and set(links) <= ids and "db/C-DB-ONLY" in links


def test_chart_groups_by_annex_section():
    assert section_group("Art. 11.8 table, row 'Réversibilité'; Art. 4.5") == "Art. 11.8"
    assert section_group("Annexe 2 §8, 3rd paragraph") == "Annexe 2 §8"
    assert section_group("Annexe I §VIII (sécurité logique)") == "Annexe I §VIII"
    kept = "Annexe III, Mesures générales §5"
    assert section_group(kept) == kept
    svg = re.search(r'<svg class="chart".*?</svg>', render(every_status_result()), re.S).group(0)
    labels = re.findall(r'text-anchor="end"><title>([^<]*)</title>', svg)
    assert labels == ["Art. 1", "Art. 2", "Annexe I §II", "Annexe I §III", "§5.4", "Art. 3"]
    assert "Art. 1: 2 pass" in svg and "Art. 1: 1 fail" in svg


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                    "(apt-get install chromium) - the HTML report is not checked in a browser")
def test_sample_report_in_headless_chromium(tmp_path):
    """The real sample report, laid out as a bundle, rendered and read back by Chromium."""
    result = load_result(SAMPLE)
    bundle = tmp_path / "bundle"
    # with the evidence it links to, copied (hash-checked) from the sample's evidence/
    [report] = write_all(result, ["html"], bundle, source=SAMPLE.parent)
    page = Page(report.read_text(encoding="utf-8"))
    links = [u for u in page.urls if not u.startswith("#")]
    assert links and all((bundle / unquote(u)).is_file() for u in links)

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "html-report.png"
    screenshot.unlink(missing_ok=True)
    base = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1400,3000",
                    report.as_uri()], check=True, capture_output=True, timeout=60)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000

    dom = subprocess.run([*base, "--dump-dom", report.as_uri()], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    for clause in result.targets[0].results:
        assert clause.clause_id in dom
    fails = result.summary()["fail"]
    assert re.search(rf'All targets.*?class="badge b-fail"[^>]*>{fails}<', dom, re.S)
    svg = re.search(r"<svg class=\"chart\".*?</svg>", dom, re.S).group(0)
    assert svg.count("<rect") >= len({section_group(c.section) for c in result.targets[0].results})
    # the filter script ran under the page's CSP: the bar is shown and counts every clause
    assert '<div class="filters" id="filters">' in dom
    assert f"{sum(len(t.results) for t in subjects(result))} clause result(s) shown" in dom


def test_attestation_evidence_links_to_its_copy_in_the_bundle():
    from scanner.evidence.layout import attestation_path
    from scanner.model import ClauseResult, ScanResult, Status, TargetResult
    clause = ClauseResult("P-1", "p", "§1", "Breach", "Breach notice in 24 h.", Status.ATTESTED, [],
                          "The procedure.", {"attested_by": "A. Auditor", "role": "DPO",
                                             "expires": "2027-01-01", "statement": "In force.",
                                             "evidence": ["docs/breach procedure.pdf",
                                                          "https://intranet.example/x"]})
    page = render(ScanResult("s", "f", [{"id": "p", "title": "P", "source": {}}],
                             [TargetResult("h", "127.0.0.2", [clause])]))
    assert f'href="{attestation_path("docs/breach procedure.pdf")}"' in page
    assert 'href="https://intranet.example/x"' not in page
