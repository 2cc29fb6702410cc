"""The HTML report's templates, overridden by a team through the real CLI (`report
--template-dir`): the page changes, hostile values stay text, a broken template is a clean
exit 2 naming its file and line, and the page is written while the targets stream by."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

import pytest

from report_support import text as written
from test_html_report import HOSTILE, Page, control, every_status_result
from scanner.cli.main import main
from scanner.model import ScanResult, Status, TargetResult
from scanner.reporters import json_report
from scanner.reporters.html_report import write

BUILTIN = Path(__file__).parent.parent / "scanner" / "reporters" / "templates"
# what a hostile host could send: markup, an attribute break-out, template syntax, a terminal
# escape and a right-to-left override
IMG = '"><img src=x onerror=alert(2)>'
BANNER = f"SSH-2.0-{HOSTILE}{IMG}{{{{ 7*7 }}}}\x1b[31mred\u202eevil"


def hostile_result() -> ScanResult:
    result = every_status_result()
    web = result.targets[0]
    web.results[1].controls = [control("ssh.banner", Status.FAIL, {"banner": BANNER}, ("ssh",))]
    web.results[1].controls[0].reason = f"banner {BANNER}"
    web.target = f"web{IMG}\x1b]0;title\x07"
    result.targets[1].results[1].controls = [control("tls.min", Status.PASS)]  # as a scan has
    return result


def report(tmp_path: Path, templates: Path | None, capsys: pytest.CaptureFixture
           ) -> tuple[int, str, str]:
    """`annexscan report` on a saved hostile result: exit code, the page (or ""), stderr."""
    saved = tmp_path / "saved" / "result.json"
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(written(json_report.write, hostile_result()), encoding="utf-8")
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["report", str(saved), "--format", "html", "-o", str(out)]
                + (["--template-dir", str(templates)] if templates else []))
    page = out / "annexscan.html"
    return (code, page.read_text(encoding="utf-8") if page.exists() else "",
            capsys.readouterr().err)


def brand(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "brand"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def assert_hostile_values_are_text(page: str) -> None:
    parsed = Page(page)
    assert [t for t, _ in parsed.tags].count("script") == 1 and "alert" not in parsed.scripts[0]
    assert not any(t == "img" for t, _ in parsed.tags)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    text = "".join(parsed.text)
    assert "{{ 7*7 }}" in text                        # data is never a template
    assert "\x1b" not in page and "\u202e" not in page and "\x07" not in page
    assert "\\x1b[31mred\\u202eevil" in text          # shown, as visible escapes
    assert f"SSH-2.0-{HOSTILE}{IMG}" in text          # the auditor reads what the host sent


def test_the_builtin_templates_escape_every_hostile_value(tmp_path, capsys):
    code, page, _ = report(tmp_path, None, capsys)
    assert code == 0
    assert_hostile_values_are_text(page)
    # a hostile target's clauses are still linked from the matrix, by their escaped names
    parsed = Page(page)
    ids = {a["id"] for t, a in parsed.tags if t == "article"}
    links = {unquote(u[1:]) for u in parsed.urls if u.startswith("#")}
    assert len(links) == 10 and links <= ids
    assert "--accent:#1d3557" in page and "Contract annex compliance report" in page


def test_a_team_overrides_its_colours_logo_and_wording(tmp_path, capsys):
    wording = (BUILTIN / "wording.j2").read_text(encoding="utf-8").replace(
        '"Contract annex compliance report"', '"ACME <Security> audit"')
    logo = '<img class="logo" alt="ACME" src="data:image/png;base64,iVBORw0KGgo=">\n'
    folder = brand(tmp_path, {"theme.css.j2": ":root{--accent:#ff6600;--s-fail:#000000}\n",
                              "logo.html.j2": logo, "wording.j2": wording})
    code, page, _ = report(tmp_path, folder, capsys)
    assert code == 0
    assert "--accent:#ff6600" in page and "--accent:#1d3557" not in page
    assert logo.strip() in page
    assert "<h1>ACME &lt;Security&gt; audit</h1>" in page  # a team's wording is text too
    # the rest of the page is the package's: every section, and its policy
    for section in ("profiles", "summary", "chart", "matrix"):
        assert f'<section class="card" id="{section}">' in page
    assert "default-src &#39;none&#39;" in page


def test_an_override_of_a_part_that_shows_values_still_escapes_them(tmp_path, capsys):
    folder = brand(tmp_path, {
        "control.html.j2": '<tr class="ours"><td colspan="6" title="{{ control.reason }}">'
                           "{{ control.id }}: {{ m.value(control.observed) }} "
                           "{{ control.reason }}</td></tr>\n",
        "header.html.j2": '{% extends "builtin/header.html.j2" %}\n'})
    code, page, _ = report(tmp_path, folder, capsys)
    assert code == 0 and '<tr class="ours">' in page
    assert_hostile_values_are_text(page)


def test_an_override_may_extend_the_page_and_replace_one_block(tmp_path, capsys):
    folder = brand(tmp_path, {"report.html.j2": '{% extends "builtin/report.html.j2" %}'
                              '{% block footer %}<footer>Audit by ACME for '
                              '{{ page.profile_ids }}</footer>{% endblock %}'})
    code, page, _ = report(tmp_path, folder, capsys)
    assert code == 0
    assert "<footer>Audit by ACME for p</footer>" in page and "Generated by" not in page
    assert page.count('<section class="card target"') == 2


@pytest.mark.parametrize("files, expected", [
    ({"logo.html.j2": "<div>\n{{ page.version }\n</div>"},
     r"logo\.html\.j2:2: template syntax error: unexpected '}'"),
    ({"summary.html.j2": "<p>\n\n{{ totals.all }}</p>"},
     r"summary\.html\.j2:3: template error: 'totals' is undefined"),
    ({"clause.html.j2": "{{ clause.__class__.__mro__ }}"},
     r"clause\.html\.j2:1: template error: access to attribute '__class__' of 'dict' object "
     r"is unsafe\."),
    ({"footer.html.j2": '{% include "missing.html.j2" %}'},
     r"template missing\.html\.j2 not found in .*brand or the built-in templates"),
])
def test_a_broken_template_is_a_clean_error_naming_its_file(tmp_path, capsys, files, expected):
    code, page, err = report(tmp_path, brand(tmp_path, files), capsys)
    assert code == 2 and page == ""
    assert re.fullmatch(rf"annexscan: error: .*{expected}\n", err), err


def test_a_missing_template_dir_stops_a_scan_before_any_traffic(tmp_path, capsys):
    code = main(["scan", "127.0.0.1", "-o", str(tmp_path / "out"), "--format", "html",
                 "--template-dir", str(tmp_path / "nowhere")])
    assert code == 2 and not (tmp_path / "out").exists()
    assert f"--template-dir {tmp_path / 'nowhere'}: not a directory" in capsys.readouterr().err


class Stream:
    """Targets made when asked for, noting at each how many target sections were written."""

    def __init__(self, count: int, out: io.StringIO):
        self.count, self.out, self.passes = count, out, []

    def __iter__(self) -> Iterator[TargetResult]:
        self.passes.append([])
        for index in range(self.count):
            self.passes[-1].append(self.out.getvalue().count('<section class="card target"'))
            yield TargetResult(f"host{index}", f"10.0.0.{index}",
                               every_status_result().targets[0].results)


def test_the_page_is_written_while_the_targets_stream_by():
    out = io.StringIO()
    stream = Stream(12, out)
    sample = every_status_result()
    write(ScanResult(sample.started_at, sample.finished_at, sample.profiles, stream), out)
    # the last pass writes each target's section before it takes the next target
    assert stream.passes[-1] == list(range(12))
    assert out.getvalue().count('<section class="card target"') == 12
