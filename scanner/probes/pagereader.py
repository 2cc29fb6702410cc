"""Reading hostile HTML pages for the crawl: html.parser in a child process.

Some inputs make html.parser's regexes run for minutes on a few hundred kilobytes (`<a <a <a
...` takes 2 s at 16 KiB on CPython 3.11; see CPython gh-135462). Nothing can interrupt that
inside a thread, so pages are parsed by a child Python that is killed at the page's deadline.
This module imports the standard library only: the child runs it as a script, in about 60 ms.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

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


class Reader:
    """One child process parsing the pages of one crawl, restarted after a failure."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:  # unflushed bytes for a child that is gone
                    pass
            self.proc.wait()
            self.proc = None

    def read(self, page_url: str, body: str, seconds: float) -> tuple[list[str], dict[str, Any]]:
        """`parse` in the child, within `seconds`; ReadFailure when it cannot be done."""
        deadline = time.monotonic() + seconds
        try:
            if self.proc is None:
                self.proc = subprocess.Popen([sys.executable, "-I", __file__],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL)
            self.proc.stdin.write(json.dumps([page_url, body]).encode() + b"\n")
            self.proc.stdin.flush()
            answer = self._line(deadline)
        except OSError as exc:
            answer, why = None, f"the HTML reader stopped ({type(exc).__name__})"
        else:
            why = f"its HTML was not read within {seconds:.3g} s (or the parser failed on it)"
        if answer is None:
            self.close()
            raise ReadFailure(why)
        links, held = json.loads(answer)
        return links, held

    def _line(self, deadline: float) -> bytes | None:
        """The child's answer line, or None past the deadline or when the child is gone."""
        fd = self.proc.stdout.fileno()  # read raw: select() cannot see a buffer's contents
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


def _serve() -> None:
    """The child: one JSON [url, body] a line in, one JSON [links, held] a line out."""
    for line in sys.stdin.buffer:
        page_url, body = json.loads(line)
        sys.stdout.write(json.dumps(parse(page_url, body)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
