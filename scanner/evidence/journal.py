"""The scan's journal: every finished target on disk as it completes, so a scan holds one target
in memory at a time, survives an interruption and can be resumed (`scan --resume DIR`).

Layout, under the scan's output directory:
  journal/scan.json      header, written before the first probe: started_at, profiles, options,
                         the planned targets [{name, address}] and what a resume must match
  journal/targets.jsonl  one JSON line per finished target, appended, flushed and fsync'd; its
                         raw evidence replaced by `evidence_refs` {probe: {path, sha256, bytes}}
  evidence/<address>/<probe>.json.gz   that raw evidence, stored once (outputs.store_evidence)
  journal/end.json       finished_at, complete, unscanned, duration_s: written at the end

A journal may come from elsewhere: it is read back as hostile input (no symlink followed, every
read capped, every line validated, errors naming the file and the line).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from scanner.errors import ConfigError
from scanner.evidence.layout import evidence_path
from scanner.model import ScanResult, TargetResult, to_jsonable
from scanner.outputs import open_file_at, open_folder, store_evidence, write_at
from scanner.reporters.base import clean_target
from scanner.reporters.load import clause_from_json
from scanner.catalog.resources import report_schema_path
from scanner.catalog.yamldoc import json_path, schema_error

FOLDER, HEADER, LINES, END = "journal", "scan.json", "targets.jsonl", "end.json"
VERSION = 1
MAX_HEADER = 32 * 1024 ** 2    # the planned targets of a large fleet
MAX_LINE = 32 * 1024 ** 2      # one target's results (its raw evidence is kept apart)
Key = tuple[str, str]  # (name, address): a target of the plan
Prepare = Callable[[TargetResult], None]



def _named(name: str) -> dict[str, Any]:
    return {"type": "object", "required": [name, "address"], "additionalProperties": False,
            "properties": {name: {"type": "string"}, "address": {"type": "string"}}}


_HEADER_SCHEMA = {
    "type": "object", "required": ["journal_version", "started_at", "profiles", "options",
                                   "targets", "inputs"],
    "properties": {"journal_version": {"const": VERSION}, "started_at": {"type": "string"},
                   "profiles": {"type": "array", "items": {"type": "object"}},
                   "options": {"type": "object"}, "inputs": {"type": "object"},
                   "targets": {"type": "array", "items": _named("name")}}}
_END_SCHEMA = {
    "type": "object", "required": ["finished_at", "complete", "unscanned", "duration_s"],
    "properties": {"finished_at": {"type": "string"}, "complete": {"type": "boolean"},
                   "duration_s": {"type": "number", "minimum": 0},
                   "unscanned": {"type": "array", "items": _named("target")}}}
_REF = {"type": "object", "required": ["path", "sha256", "bytes"], "additionalProperties": False,
        "properties": {"path": {"type": "string"}, "bytes": {"type": "integer", "minimum": 0},
                       "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}


def key(target: Any) -> Key:
    """A target's key: a Target (name) or a TargetResult (target)."""
    return (getattr(target, "name", None) or getattr(target, "target"), target.address)


class JournalWriter:
    """Appends finished targets to a journal. Each target is made safe to write first (lone
    surrogates escaped, private-key text redacted) and `prepare`d (attestations, waivers), so
    nothing later needs the whole result in memory."""

    def __init__(self, directory: Path, header: dict[str, Any], prepare: Prepare | None = None,
                 resume: bool = False) -> None:
        self.directory, self.prepare = directory, prepare
        self.started = datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._previous = Journal(directory).resume_with(header) if resume else None
        folder = open_folder(directory, [FOLDER], "-o")
        try:
            shown = str(directory / FOLDER / LINES)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            if self._previous:
                self._lines = open_file_at(folder, LINES, flags, shown)
                os.truncate(self._lines, self._previous.valid_length())
            else:
                write_at(folder, HEADER, _dumps(header), str(directory / FOLDER / HEADER))
                self._lines = open_file_at(folder, LINES, flags | os.O_TRUNC, shown)
            _discard_end(folder)
        finally:
            os.close(folder)

    def append(self, target: TargetResult) -> None:
        clean_target(target)
        if self.prepare:
            self.prepare(target)
        refs = {probe: store_evidence(self.directory, target.address, probe, data)
                for probe, data in target.evidence.items()}
        line = {name: value for name, value in to_jsonable(target).items()
                if name != "evidence"}  # to_jsonable leaves out an access of None
        data = _dumps({**line, "evidence_refs": refs}, indent=None) + b"\n"
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._lines, view):]
            os.fsync(self._lines)

    def close(self, complete: bool, unscanned: list[dict[str, str]]) -> None:
        """Write end.json: whether every planned target is in the journal, and which are not."""
        duration = (datetime.now(timezone.utc) - self.started).total_seconds()
        if self._previous and self._previous.end:
            duration += self._previous.end["duration_s"]
        end = {"finished_at": _now(), "complete": complete, "unscanned": unscanned,
               "duration_s": round(duration, 3)}
        os.close(self._lines)
        folder = open_folder(self.directory, [FOLDER], "-o")
        try:
            write_at(folder, END, _dumps(end), str(self.directory / FOLDER / END))
        finally:
            os.close(folder)

    @property
    def notes(self) -> list[str]:
        return self._previous.notes if self._previous else []

    def done(self) -> set[Key]:
        """The targets an earlier run of a resumed scan finished."""
        return self._previous.done() if self._previous else set()


class Journal:
    """A journal read back: its header, its end (None if the scan never ended: a crash), and its
    finished targets, indexed by key (byte offsets; a target is parsed again when iterated)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.notes: list[str] = []
        self.header = self._read_json(HEADER, _HEADER_SCHEMA, required=True)
        self.end = self._read_json(END, _END_SCHEMA, required=False)
        # key -> (offset, line number, SHA-256 of the line as checked when indexed)
        self._index: dict[Key, tuple[int, int, bytes]] | None = None
        self._length = 0

    def planned(self) -> list[Key]:
        return [(t["name"], t["address"]) for t in self.header["targets"]]

    def done(self) -> set[Key]:
        """The targets already finished (for --resume)."""
        return set(self._indexed())

    def valid_length(self) -> int:
        """Bytes of targets.jsonl up to its last complete line."""
        self._indexed()
        return self._length

    def resume_with(self, header: dict[str, Any]) -> Journal:
        """This journal, after checking that `header` (the resumed command's) plans the same
        scan: the same targets, profiles, options and inputs; a mismatch is refused."""
        old, new = self.header, header
        differ = [_targets_differ(old["targets"], new["targets"])] \
            if old["targets"] != new["targets"] else []
        differ += [field for field in ("profiles", "options")
                   if _canonical(old[field]) != _canonical(new[field])]
        differ += [_INPUTS.get(name, name)
                   for name in sorted(set(old["inputs"]) | set(new["inputs"]))
                   if old["inputs"].get(name) != new["inputs"].get(name)
                   and not (name == "plan" and old["targets"] != new["targets"])]
        if differ:
            raise ConfigError(
                f"--resume {self.directory}: this command does not plan the scan its journal "
                f"holds; it differs in: {'; '.join(differ)}. Give the same profiles, targets "
                "and options as the interrupted scan (see journal/scan.json)")
        return self

    def result(self) -> ScanResult:
        """The scan as a ScanResult whose targets stream from targets.jsonl in planned order."""
        done = self._indexed()
        unscanned = [{"target": n, "address": a} for n, a in self.planned() if (n, a) not in done]
        end = self.end or {"finished_at": self.header["started_at"], "complete": False}
        return ScanResult(started_at=self.header["started_at"], finished_at=end["finished_at"],
                          profiles=self.header["profiles"],
                          options={**self.header["options"],
                                   "duration_s": (self.end or {}).get("duration_s", 0.0)},
                          targets=JournalTargets(self), complete=end["complete"] and not unscanned,
                          unscanned=unscanned)

    def read_target(self, offset: int, number: int, digest: bytes) -> TargetResult:
        """The line checked at indexing, read again: the same bytes (by hash) are not checked
        twice (a fleet's reports read every line several times); changed ones are refused."""
        with self._open_lines() as lines:
            lines.seek(offset)
            raw = lines.readline(MAX_LINE + 1)
        if hashlib.sha256(raw).digest() != digest:
            raise ConfigError(f"{self._where(LINES, number)}: changed while the reports were "
                              "being written")
        return _target(_loads(raw, self._where(LINES, number)))

    def _indexed(self) -> dict[Key, tuple[int, int, bytes]]:
        if self._index is not None:
            return self._index
        planned, index, offset = set(self.planned()), {}, 0
        with self._open_lines() as lines:
            for number, raw in enumerate(iter(lambda: lines.readline(MAX_LINE + 1), b""), 1):
                if not raw.endswith(b"\n") and len(raw) <= MAX_LINE:
                    self.notes.append(f"{self._where(LINES, number)}: incomplete last line (the "
                                      "scan stopped while writing it): ignored, that target is "
                                      "scanned again")
                    break
                line = self._parse(raw, number)
                found = (line["target"], line["address"])
                if found not in planned:
                    raise ConfigError(f"{self._where(LINES, number)}: target {found[0]!r} "
                                      f"({found[1]}) is not among the planned targets of {HEADER}")
                index.setdefault(found, (offset, number, hashlib.sha256(raw).digest()))
                offset += len(raw)
        self._index, self._length = index, offset
        return index

    def _parse(self, raw: bytes, number: int) -> dict[str, Any]:
        where = self._where(LINES, number)
        if len(raw) > MAX_LINE:
            raise ConfigError(f"{where}: line longer than {MAX_LINE} bytes")
        line = _loads(raw, where)
        error = schema_error(line, _line_schema())
        if error is not None:
            raise ConfigError(f"{where}: not a journal line at {json_path(error)}: "
                              f"{error.message[:200]}")
        for probe, ref in line["evidence_refs"].items():
            if ref["path"] != evidence_path(line["address"], probe) or \
                    {".", ".."} & set(ref["path"].split("/")):
                raise ConfigError(f"{where}: evidence of {probe!r} at {ref['path'][:200]!r}, "
                                  "not where the journal stores it")
        return line

    def _read_json(self, name: str, schema: dict, required: bool) -> dict[str, Any] | None:
        where = self._where(name)
        try:
            folder = open_folder(self.directory, [FOLDER], "journal", create=False)
        except ConfigError as exc:
            raise ConfigError(f"{self.directory}: no readable journal ({exc})") from None
        try:
            handle = open_file_at(folder, name, os.O_RDONLY, where)
        except ConfigError:
            if required or os.path.lexists(self.directory / FOLDER / name):
                raise
            return None
        finally:
            os.close(folder)
        with os.fdopen(handle, "rb") as stream:
            raw = stream.read(MAX_HEADER + 1)
        if len(raw) > MAX_HEADER:
            raise ConfigError(f"{where}: larger than {MAX_HEADER} bytes")
        data = _loads(raw, where)
        error = schema_error(data, schema)
        if error is not None:
            raise ConfigError(f"{where}: not a journal file at {json_path(error)}: "
                              f"{error.message[:200]}")
        return data

    def _open_lines(self) -> BinaryIO:
        folder = open_folder(self.directory, [FOLDER], "journal", create=False)
        try:
            return os.fdopen(open_file_at(folder, LINES, os.O_RDONLY, self._where(LINES)), "rb")
        finally:
            os.close(folder)

    def _where(self, name: str, number: int | None = None) -> str:
        return f"{self.directory / FOLDER / name}" + (f":{number}" if number else "")


class JournalTargets:
    """The finished targets of a journal, re-iterable, in planned order, one in memory at a
    time."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __iter__(self) -> Iterator[TargetResult]:
        index = self.journal._indexed()
        for planned in self.journal.planned():
            if planned in index:
                yield self.journal.read_target(*index[planned])


def load(directory: Path) -> ScanResult:
    return Journal(directory).result()


@contextmanager
def journal_home(directory: Path | None) -> Iterator[Path]:
    """Where the journal lives: the scan's output directory, or (no -o: a terminal-only scan) a
    private temporary directory removed at the end."""
    if directory:
        directory.mkdir(exist_ok=True)
        yield directory
        return
    with tempfile.TemporaryDirectory(prefix="annexscan-journal-") as temporary:
        yield Path(temporary)


@cache
def _line_schema() -> dict[str, Any]:
    """A targets.jsonl line: a report's target without its summary and embedded evidence, with
    evidence_refs instead."""
    report = json.loads(report_schema_path().read_text(encoding="utf-8"))
    item = report["properties"]["targets"]["items"]
    properties = {k: v for k, v in item["properties"].items() if k not in ("summary", "evidence")}
    properties["evidence_refs"] = {"type": "object", "additionalProperties": _REF,
                                   "propertyNames": {"$ref": "#/$defs/probe"}}
    return {"$defs": report["$defs"], "type": "object", "additionalProperties": False,
            "required": ["target", "address", "probes", "results", "evidence_refs"],
            "properties": properties}


def _target(line: dict[str, Any]) -> TargetResult:
    return TargetResult(target=line["target"], address=line["address"], probes=line["probes"],
                        results=[clause_from_json(c) for c in line["results"]],
                        evidence_refs=line["evidence_refs"], access=line.get("access"))


def _loads(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ConfigError(f"{where}: JSON nested too deeply") from None


def _dumps(data: Any, indent: int | None = 2) -> bytes:
    return json.dumps(data, indent=indent, ensure_ascii=False, default=str).encode("utf-8")


_INPUTS = {"plan": "the profiles or SSH access of a target", "attestations": "the attestations",
           "waivers": "the waivers"}


def _targets_differ(old: list[dict[str, str]], new: list[dict[str, str]]) -> str:
    """Which targets the journal and the command do not share (a few named), or their order."""
    def named(items: list[dict[str, str]]) -> str:
        shown = ", ".join(repr(t["name"][:80]) for t in items[:5])
        return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "") or "none"

    journal_only = [t for t in old if t not in new]
    command_only = [t for t in new if t not in old]
    if not journal_only and not command_only:
        return "the order of the targets"
    return (f"targets (planned by the journal only: {named(journal_only)}; by this command "
            f"only: {named(command_only)})")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _discard_end(folder: int) -> None:
    """An end.json left by an earlier run would call a scan in progress finished."""
    try:
        os.unlink(END, dir_fd=folder)
    except FileNotFoundError:
        pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
