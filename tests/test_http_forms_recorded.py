"""http.forms_over_tls on recorded data: the page reader on HTML a hostile site could send,
and the check on a recorded crawl. The real-server tests are in test_http_forms.py."""

from __future__ import annotations

from scanner.catalog.controls import load_catalog
from scanner.checks.registry import evaluate
from scanner.checks.base import Observations
from scanner.model import ProbeResult, Status, Verdict
from scanner.probes.pagereader import MAX_FORMS, MAX_LINKS, parse

CONTROL = "http.forms_over_tls"


def judge(obs: Observations) -> Verdict:
    return evaluate(CONTROL, obs, load_catalog().get(CONTROL).defaults())


def test_reader_resolves_actions_as_a_browser_would():
    url = "https://site.test/dir/page"
    found, held = parse(url, '<FORM ACTION="http://a.test/1" action="https://b.test/2"></FORM>'
                             '<form action="  "></form><form method=DIALOG action="http://c/">'
                             '</form><form action="javascript:void(0)"></form>'
                             '<input type=PASSWORD><a href="../up">u</a>'
                             '<input type="image" formaction="http://d.test/">')
    assert [f["posts_to"] for f in held["forms"]] == [  # those posting in clear first
        "http://a.test/1", "http://d.test/", url, None, "javascript:void(0)"]
    assert held["password"] is True
    assert "https://site.test/up" in found and "http://a.test/1" in found
    _found, clean = parse("http://site.test/", "<p>no form, <b>password</b> is a word</p>")
    assert clean == {"forms": [], "forms_total": 0, "password": False}


def test_reader_caps_never_hide_a_form_posting_in_clear():
    body = '<form action="/ok"></form>' * 40 + '<form action="http://clear.test/"></form>' + \
        "".join(f'<a href="/p{n}">p</a><a href="/p{n}">again</a>' for n in range(2500))
    found, held = parse("https://site.test/", body)
    assert held["forms"][0]["posts_to"] == "http://clear.test/" and held["forms_total"] == 41
    assert len(held["forms"]) == MAX_FORMS
    assert len(found) == MAX_LINKS and held["links_dropped"] == 2500 + 2 - MAX_LINKS


def test_dropped_links_make_a_clean_crawl_an_error():
    """Recorded observation: one page whose links past the cap were not followed."""
    page = {"url": "https://site.test/", "scheme": "https", "port": 443, "depth": 0,
            "status": 200, "forms": [], "forms_total": 0, "password": False,
            "truncated": False, "links_dropped": 5}
    run = {"starts": ["https:443"], "stopped": None,
           "limits": load_catalog().get(CONTROL).defaults(),
           "not_followed": {"other host or port": 0, "deeper than max_depth": 0}}
    http = ProbeResult("http", "127.0.0.1", data={"crawl": {443: [page]}, "crawl_run": run})
    verdict = judge(Observations({"http": http}))
    assert verdict.status == Status.ERROR
    assert "https://site.test/: 5 links past the most followed from one page" in verdict.reason
    http.data["crawl"][443][0].pop("links_dropped")
    assert judge(Observations({"http": http})).status == Status.PASS
