"""Reading hostile HTML pages for the crawl: html.parser in a child process.

Some inputs make html.parser's regexes run for minutes on a few hundred kilobytes (`<a <a <a
...` takes 2 s at 16 KiB on CPython 3.11; see CPython gh-135462). Nothing can interrupt that
inside a thread, so each page is parsed in a child process killed at the page's deadline
(scanner/probes/isolation.py, about 8 ms a page).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from scanner.probes import isolation

MAX_ATTR = 2048  # longest attribute value (URL) kept; a longer one is not followed
MAX_LINKS = 2000  # distinct links followed from one page; more are counted as dropped
MAX_FORMS = 20  # forms (and formaction buttons) kept per page, those posting in clear first
MAX_SHOWN = 300  # characters kept of a form's target URL, for the report (its scheme decides)


class ReadFailure(Exception):
    """A page's HTML could not be read: the reason says why."""


class PageParser(HTMLParser):
    """Collects the raw values that matter: <base href>, links to follow, forms (action,
    method), submit buttons' `formaction`, and whether a password field is present."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self.password = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values: dict[str, str] = {}
        for name, value in attrs[:64]:
            values.setdefault(name, (value or "")[:MAX_ATTR + 1])  # the first one wins, as in HTML
        if tag == "base" and self.base is None and "href" in values:
            self.base = values["href"]
        elif tag in ("a", "area") and "href" in values:
            self.links.append(values["href"])
        elif tag in ("iframe", "frame") and "src" in values:
            self.links.append(values["src"])
        elif tag == "form":
            action = values.get("action", "").strip()
            self._form(action, values.get("method", "get"), "form")
            if action:
                self.links.append(action)
        elif tag in ("input", "button"):
            kind = values.get("type", "").strip().lower()
            self.password |= tag == "input" and kind == "password"
            submits = kind in ("submit", "image") if tag == "input" else kind in ("", "submit")
            if submits and values.get("formaction", "").strip():
                self._form(values["formaction"].strip(), values.get("formmethod", "inherited"),
                           tag)

    def _form(self, action: str, method: str, source: str) -> None:
        self.forms.append({"action": action, "method": method.strip().lower() or "get",
                           "source": source})


def parse(page_url: str, body: str) -> tuple[list[str], dict[str, Any]]:
    """The distinct absolute links of a page, and what it holds: forms with their resolved
    submission URL (the page itself when the action is empty, per HTML), password fields.
    The caps never hide a form posting in clear, and say how many links they dropped."""
    parser = PageParser()
    parser.feed(body)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    forms = [{"method": f["method"], "source": f["source"],
              "posts_to": None if f["method"] == "dialog"
              else urljoin(base, f["action"]) if f["action"] else page_url}
             for f in parser.forms]
    forms.sort(key=lambda f: not (f["posts_to"] or "").lower().startswith("http:"))
    for form in forms[:MAX_FORMS]:
        form["posts_to"] = form["posts_to"] and form["posts_to"][:MAX_SHOWN]
    links = list(dict.fromkeys(urljoin(base, link) for link in parser.links))
    held = {"forms": forms[:MAX_FORMS], "forms_total": len(forms), "password": parser.password}
    if len(links) > MAX_LINKS:
        held["links_dropped"] = len(links) - MAX_LINKS
    return links[:MAX_LINKS], held


def read_page(page_url: str, body: str, seconds: float) -> tuple[list[str], dict[str, Any]]:
    """`parse` in a child killed after `seconds`; ReadFailure when it cannot be done."""
    try:
        return isolation.call(parse, (page_url, body), seconds)
    except isolation.ChildTimeout:
        raise ReadFailure(f"its HTML was not read within {seconds:.3g} s") from None
    except isolation.ChildFailure as exc:
        raise ReadFailure(f"its HTML could not be read: {exc}") from None
