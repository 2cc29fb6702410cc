"""JUnit XML: what a viewer shows of a testcase (its failure, error, skipped or system-out
body), on the real report of the two lab hosts, parsed back with ElementTree."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from conftest import sample_result as sample
from report_support import text as written
from scanner.model import ScanResult, Status
from scanner.reporters import junit
from scanner.reporters.base import subjects


def junit_bodies(result: ScanResult) -> dict[tuple[str, str], ET.Element]:
    """(target, clause id) -> the testcase's outcome element (failure, error, skipped or
    system-out), from the JUnit XML parsed back."""
    suites = ET.fromstring(written(junit.write, result).encode())
    return {(suite.get("name").split(" / ")[0], case.get("name")[1:].split("]")[0]):
            next(e for e in case if e.tag != "properties")
            for suite in suites.iter("testsuite") for case in suite.iter("testcase")}


def test_junit_says_how_to_fix_after_the_reason():
    """JUnit viewers show the failure body: after the clause's details, each failing or
    advisory control's remediation text, then its snippets indented under their
    implementation; a clause with nothing to fix (a pass) has no such paragraph."""
    result = sample()
    bodies = junit_bodies(result)
    seen = set()
    for target in subjects(result):
        for clause in target.results:
            body = bodies[(target.target, clause.clause_id)]
            fixes = [c for c in clause.controls if c.remediation]
            assert ("How to fix:" in body.text) == bool(fixes), clause.clause_id
            seen.add((body.tag, bool(fixes)))
            if not fixes:
                continue
            details, fix = body.text.split("\n\nHow to fix:\n")
            assert all(f"- {c.control_id}" in details for c in fixes)
            for control in fixes:
                basis = " [advice]" if control.basis == "advice" else ""
                assert f"- {control.control_id}{basis}: {control.remediation['text']}\n" in fix
                for snippet in control.remediation["snippets"]:
                    indented = "\n".join(f"    {line}" if line else ""
                                         for line in snippet["text"].splitlines())
                    assert f"  {snippet['implementation']} ({snippet['language']}):\n" \
                           f"{indented}" in fix
    # failures carry it, and the advisories of manual clauses too; passes none
    assert {("failure", True), ("skipped", True), ("system-out", False)} <= seen
    assert ("system-out", True) not in seen and ("failure", False) not in seen


def test_junit_fix_is_escaped_text():
    """A remediation is profile text: control characters are shown escaped, markup stays
    text, and the file still parses."""
    result = sample()
    control = next(c for t in result.targets for cl in t.results for c in cl.controls
                   if c.remediation and cl.status == Status.FAIL)
    control.remediation = {"text": "Run\x1b[2J </failure><x/> now\x00.", "snippets": [
        {"implementation": "sh", "language": "shell", "text": "echo ]]>\x07 &amp;\n"}]}
    text = written(junit.write, result)
    assert not re.search("[\x00\x07\x1b]", text)
    body = next(b.text for b in junit_bodies(result).values()
                if b.text and "How to fix:\n- " + control.control_id + ": Run" in b.text)
    assert "Run\\x1b[2J </failure><x/> now\\x00." in body
    assert "    echo ]]>\\x07 &amp;" in body
