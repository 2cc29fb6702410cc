"""What every report shows the same way: the subjects listed clause by clause (the contract,
then each target) and the result as reports see it (text cleaned, evidence stored once)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from scanner.evidence.bundle_keys import redact_private_keys
from scanner.errors import ConfigError
from scanner.evidence.layout import evidence_path
from scanner.model import CONTRACT, ScanResult, TargetResult, map_text, writable_text
from scanner.outputs import copy_evidence, load_evidence, store_evidence



class Contract(TargetResult):
    """The contract's clauses, listed as a subject of their own (no host, no probe)."""


class _Subjects:
    """The contract's clauses as a subject of their own, first, then every target."""

    def __init__(self, result: ScanResult):
        self.result = result

    def __iter__(self) -> Iterator[TargetResult]:
        if self.result.contract:
            yield Contract(CONTRACT, CONTRACT, list(self.result.contract))
        yield from self.result.targets


def subjects(result: ScanResult) -> Iterable[TargetResult]:
    """What a report lists clause by clause (re-iterable): the contract's clauses, judged once
    per scan (contract.judge_contract), under the subject `contract`, then each target."""
    return _Subjects(result)


class _Prepared:
    """result.targets as reports see them (re-iterable, one target at a time): text cleaned,
    raw evidence stored once under directory and referenced, embedded only when asked."""

    def __init__(self, targets: Iterable[TargetResult], directory: Path, embed: bool,
                 source: Path | None):
        self.targets, self.directory, self.embed, self.source = targets, directory, embed, source
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}  # refs, for the next pass
        self.copied: set[tuple[str, str]] = set()  # from `source`, on the first pass

    def __iter__(self) -> Iterator[TargetResult]:
        for target in self.targets:
            clean_target(target)  # in place, and idempotent
            refs = {probe: self._stored(target, probe) for probe in target.evidence} \
                if target.evidence else target.evidence_refs
            if self.source and not target.evidence:
                for probe, ref in refs.items():
                    expected = evidence_path(target.address, probe)
                    if ref["path"] != expected:
                        raise ConfigError(f"{target.address}: evidence of {probe} at "
                                          f"{ref['path']!r}, not {expected}")
                    if (target.address, probe) not in self.copied:  # once, not per pass
                        copy_evidence(self.source, self.directory, ref)
                        self.copied.add((target.address, probe))
            evidence = target.evidence if self.embed else {}
            if self.embed and not evidence:
                evidence = {probe: load_evidence(self.directory, ref)
                            for probe, ref in refs.items()}
            yield dataclasses.replace(target, evidence=evidence, evidence_refs=refs)

    def _stored(self, target: TargetResult, probe: str) -> dict[str, Any]:
        """Evidence a target holds in memory (a result built in memory or read from an older
        report), stored in this directory on the first pass over the targets."""
        key = (target.address, probe)
        if key not in self.stored:
            self.stored[key] = store_evidence(self.directory, target.address, probe,
                                              target.evidence[probe])
        return self.stored[key]


def clean_target(target: TargetResult) -> None:
    """What a host sent made safe to write: lone surrogates (undecodable bytes, which UTF-8
    cannot hold) as visible escapes, text that looks like a private key redacted."""
    map_text(target, writable_text)
    redact_private_keys(target)


def prepare(result: ScanResult, directory: Path, embed: bool = False,
            source: Path | None = None) -> ScanResult:
    """The result as its reports and bundle show it, its targets still a stream: a target
    still carrying raw evidence (a result read from an older report, or built in memory) has
    it stored under directory/evidence first; evidence another report directory (`source`)
    stored is copied, checked, beside the new reports. Evidence is embedded only with
    `embed` (read back from its file when needed)."""
    if source and source.resolve() == directory.resolve():
        source = None
    return dataclasses.replace(
        result, contract=map_text(result.contract, writable_text),
        profiles=map_text(result.profiles, writable_text),
        options=map_text(result.options, writable_text),
        targets=_Prepared(result.targets, directory, embed, source))


def fenced(text: str, language: str) -> str:
    """`text` as a markdown code block, its fence longer than any backtick run inside (the
    text cannot close it), its info string reduced to a safe word."""
    fence = "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))
    return f"{fence}{re.sub('[^a-z0-9._-]', '', language)}\n{text.rstrip()}\n{fence}"
