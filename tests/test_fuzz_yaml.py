"""Fuzzing the YAML loaders (issue 8 part 3): scanner/catalog/yamldoc.py and every loader of YAML a user
writes (profiles, attestations, waivers, a controls catalog, YAML inventories) fed YAML-ish
token soup, raw text, arbitrary nested structures dumped to YAML, and documents of the right
shape with hostile values. Each either loads or raises ConfigError naming the file (with a
line that exists in it, when the message gives one); never a RecursionError nor any other
traceback, and each example in bounded time.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import event, example, given
from hypothesis import strategies as st

from fuzz_support import hostile_text, outcome
from scanner.evidence import attestations
from scanner.catalog.controls import load_catalog
from scanner.errors import ConfigError
from scanner.scope.inventory import load_inventory
from scanner.catalog.profiles import load_profile
from scanner.catalog.resources import controls_dir
from scanner.catalog.yamldoc import load_yaml

# the strategies' reprs (nested one_of of hostile pieces) are long: not worth a warning
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

YAML_PIECES = [
    "&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ", ", ": ", "- ", "? ", "\n", "\n  ", "\n    ",
    "\t", "#", "|", ">", "'", '"', "\\", "!!binary ", "!!timestamp ", "!!int ", "!!float ",
    "!!set ", "!!omap ", "!!python/object:os.system ", "!foo ", "%YAML 1.1\n", "---\n",
    "...\n", "<<: ", "~", "null", "yes", ".nan", ".inf", "0x1F", "0o17", "1_000", "190:20:30",
    "2024-13-45", "2024-01-01T00:00:00+99:00", "2001-12-14 21:59:43.10 -5", "1e999",
    "\x00", "\x1b", "\ufeff", "\ufffe", "\u2028", "é", "id", "title", "clauses", "controls",
    "attestations", "waivers", "all", "hosts", "x", "1",
]

yaml_soup = st.lists(st.one_of(st.sampled_from(YAML_PIECES), hostile_text), max_size=30).map(
    "".join)

scalars = st.one_of(hostile_text, st.integers(), st.floats(), st.booleans(), st.none(),
                    st.dates(), st.datetimes())


def nested(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(hostile_text, st.integers(), st.booleans()), inner,
                        max_size=4)), max_leaves=20)


def dumped(value) -> str:
    return yaml.safe_dump(value, allow_unicode=True)


# Documents of each loader's shape, with hostile values where the schema has strings.
text = st.one_of(hostile_text, st.sampled_from(["3douest", "3DOUEST-11.3-PORTS", "2027-01-01",
                                                "2020-01-01T00:00:00Z", "net.allowed_ports",
                                                "annex", "advice", "a statement long enough"]))
value = st.one_of(text, nested(scalars))
control_refs = st.fixed_dictionaries({"control": text}, optional={
    "basis": text, "parameters": st.dictionaries(text, value, max_size=3)})
clauses = st.fixed_dictionaries(
    {"id": text, "section": text, "title": text, "requirement": text},
    optional={"quote": st.one_of(text, st.lists(text, max_size=2)),
              "controls": st.lists(control_refs, max_size=2), "manual": value, "attest": text})
profiles = st.fixed_dictionaries(
    {"id": st.one_of(text, st.just("fuzz")), "title": text},
    optional={"clauses": st.lists(clauses, max_size=3), "extends": text,
              "exclude": st.lists(text, max_size=2),
              "overrides": st.dictionaries(text, st.dictionaries(text, value, max_size=2),
                                           max_size=2),
              "source": st.dictionaries(text, value, max_size=3)})
records = st.dictionaries(st.sampled_from(
    ["clause", "control", "targets", "attested_by", "role", "date", "expires", "statement",
     "evidence", "justification", "approver", "other"]),
    st.one_of(text, st.lists(text, max_size=2), value), max_size=10)
attestation_docs = st.fixed_dictionaries({"attestations": st.lists(records, max_size=3)})
waiver_docs = st.fixed_dictionaries({"waivers": st.lists(records, max_size=3)})
catalogs = st.fixed_dictionaries({"controls": st.lists(st.dictionaries(st.sampled_from(
    ["id", "title", "description", "kind", "probe", "collector", "severity", "pass", "fail",
     "parameters"]), value, max_size=10), max_size=2)})

# Sound documents, one per loader (each loads as it is), and one value in them made hostile:
# the checks after the schema (parameters, dates, evidence paths, extends) are reached too.
PORTS_REF = {"control": "net.allowed_ports", "basis": "annex",
             "parameters": {"allowed": [22, 443], "ports": "1-1024", "udp_ports": None}}
SOUND = {
    "profile.yaml":     {"id": "fuzz", "title": "Fuzz profile", "clauses": [
        {"id": "FUZZ-1-PORTS", "section": "1", "title": "Ports", "quote": "seuls les ports",
         "requirement": "Only the allowed ports are open.", "controls": [PORTS_REF]},
        {"id": "FUZZ-2-ORG", "section": "2", "title": "Organisation", "manual": True,
         "requirement": "An organisational rule.", "attest": "An auditor attests it."}]},
    "variant.yaml": {"id": "fuzz-ext", "title": "Fuzz variant", "extends": "3douest",
     "exclude": ["3DOUEST-4.1-ASSISTANCE"],
     "overrides": {"3DOUEST-11.3-PORTS": {"net.allowed_ports": {"allowed": [443]}}}},
    "attest.yaml": {"attestations": [{"clause": "3DOUEST-11.3-PORTS", "attested_by": "Jane Doe",
                       "role": "CISO", "date": "2026-01-01", "expires": "2027-01-01",
                       "statement": "Ports reviewed by hand.", "targets": ["web*"]}]},
    "waivers.yaml": {"waivers": [{"clause": "3DOUEST-11.3-PORTS", "targets": ["10.0.0.*"],
                  "justification": "Legacy port until migration.", "approver": "CISO",
                  "expires": "2027-01-01T00:00:00Z"}]},
    "controls.yaml": {"controls": [{"id": "fuzz.control", "title": "Fuzz control", "description": "A control.",
                   "kind": "automated", "probe": "ports", "severity": "high", "pass": "p",
                   "fail": "f", "parameters": {"allowed": {
                       "description": "ports", "default": [22],
                       "schema": {"type": "array", "items": {"type": "integer"}}}},
                   "remediation": {"text": "Open only {{ allowed | join(', ') }}.", "snippets": [
                       {"implementation": "nftables", "language": "nft",
                        "text": "tcp dport { {{ allowed | join(', ') }} } accept"}]}}]},
    "hosts.yaml": {"all": {"vars": {"ansible_user": "audit"},
             "hosts": {"web1": {"ansible_host": "127.0.0.2", "ansible_port": 22}}}},
}


def paths(doc, path: tuple = ()) -> list[tuple]:
    """Every place in `doc`: the root, each key's value and each item."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) \
        else []
    return [path] + [p for key, child in items for p in paths(child, path + (key,))]


def replaced(doc, path: tuple, new):
    if not path:
        return new
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = replaced(doc[path[0]], path[1:], new)
    return copy


documents = st.one_of(yaml_soup, hostile_text, nested(scalars).map(dumped),
                      st.one_of(profiles, attestation_docs, waiver_docs, catalogs).map(dumped),
                      st.sampled_from(list(SOUND.values())).map(dumped))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz-yaml")
    (directory / "catalog").mkdir()
    shutil.copy(controls_dir() / "catalog.schema.json", directory / "catalog")
    return directory


def loaders(workdir: Path, catalog) -> dict:
    """File name -> how it is loaded, for every user YAML loader."""
    def profile(path: Path):
        return load_profile(str(path), catalog)
    return {
        "doc.yaml": load_yaml, "profile.yaml": profile, "variant.yaml": profile,
        "attest.yaml": lambda path: attestations.load_attestations(path, {"3DOUEST-11.3-PORTS"}),
        "waivers.yaml": lambda path: attestations.load_waivers(path, {"3DOUEST-11.3-PORTS"},
                                                               catalog),
        "controls.yaml": lambda path: load_catalog(path.parent),
        "hosts.yaml": load_inventory,
    }


def load_checked(workdir: Path, name: str, load, document: str):
    """Loaded data, or the ConfigError, asserted to name the file and a line it has."""
    path = workdir / "catalog" / name if name == "controls.yaml" else workdir / name
    path.write_text(document, encoding="utf-8", errors="surrogatepass")
    result = outcome(lambda: load(path), f"loading {name}")
    event(f"{name}: {'refused' if isinstance(result, ConfigError) else 'loaded'}")
    if isinstance(result, ConfigError):
        message = str(result)
        assert name in message, message
        for line in re.findall(re.escape(name) + r":(\d+)", message):
            assert 1 <= int(line) <= len(YAML_LINE_BREAK.split(document)), message
    return result


YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # as PyYAML counts lines


def check_all(workdir: Path, catalog, document: str) -> None:
    for name, load in loaders(workdir, catalog).items():
        load_checked(workdir, name, load, document)


DEEP = "[" * 5000 + "]" * 5000
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


@given(document=documents)
@example(document=DEEP)  # deep nesting: RecursionError before the depth bound
@example(document=BOMB)  # alias bomb
@example(document="&a [*a]")  # an alias inside its own anchor: looped for ever
@example(document="&a {x: *a}")
@example(document="id: 2024-13-45\n")  # a 13th month: ValueError from the constructor
@example(document="id: 2024-01-01T00:00:00+99:00\n")
@example(document="!!int ")  # explicit tags on values not of their form: IndexError,
@example(document="!!timestamp ")  # AttributeError, KeyError from PyYAML's constructors
@example(document="!!bool maybe")
@example(document="id: \x00\n")  # a NUL: the reader's error escaped the loader's try
@example(document="?\n: ?\n  0:")  # keys null and 0: the inventory could not sort them
@example(document="x: 1" + "0" * 5000 + "\n")  # more digits than int() converts
@example(document="x: 1" + ":59" * 3000 + "\n")  # sexagesimal: quadratic to build
@example(document="attestations:\n  - {clause: 3DOUEST-11.3-PORTS, attested_by: ab, role: ab, "
         "date: '2026-01-01', expires: '2027-01-01', statement: '0123456789', "
         "evidence: [\"a\\0b\"]}\n")  # a NUL in an evidence path: ValueError
def test_every_yaml_loader_loads_or_names_the_file(workdir, catalog, document):
    check_all(workdir, catalog, document)


def mutations(name: str) -> st.SearchStrategy:
    return st.tuples(st.just(name), st.sampled_from(paths(SOUND[name])[1:]), value)


@given(case=st.sampled_from(sorted(SOUND)).flatmap(mutations))
@example(case=("controls.yaml", ("controls", 0, "parameters", "allowed", "schema", "type"),
               ""))  # a parameter schema that is no JSON Schema: was a SchemaError
@example(case=("controls.yaml", ("controls", 0, "parameters"), {"": None, 0: None}))
# keys of two types: jsonschema's best_match failed to rank its errors (a TypeError)
def test_a_sound_document_loads_and_one_hostile_value_is_a_clean_error(workdir, catalog, case):
    """The compliant case (each sound document loads) and the same with one value replaced."""
    name, path, new = case
    load = loaders(workdir, catalog)[name]
    assert not isinstance(load_checked(workdir, name, load, dumped(SOUND[name])), ConfigError)
    load_checked(workdir, name, load, dumped(replaced(SOUND[name], path, new)))


MARKER = "fuzzsecretmarker"
# Lines of a file that is no YAML of the expected kind (a private key, /etc/shadow), each
# longer than a message may quote.
secret_lines = st.lists(st.builds(
    lambda head, tail: f"{head}{MARKER}{tail}", st.sampled_from(
        ["root:$y$j9T$", "-----BEGIN OPENSSH PRIVATE KEY-----\n", "key: ", "- ", "? ", ""]),
    st.text(st.characters(codec="ascii", exclude_characters="\n"), min_size=30, max_size=80)),
    min_size=1, max_size=4).map("\n".join)


@given(document=secret_lines)
@example(document="-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE"
         f"{MARKER}AAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n")  # was quoted whole
@example(document=f"root:$y$j9T$2dJ1hxM7x1b4kQdnk5nvB/$y6{MARKER}U3Gx0Zz1:19000:0:99999:7:::")
def test_a_file_that_is_no_such_yaml_is_never_quoted_back(workdir, catalog, document):
    """Named by mistake or by `extends:`, a secret file's lines never reach a message."""
    for name, load in loaders(workdir, catalog).items():
        result = load_checked(workdir, name, load, document)
        assert MARKER not in str(result) or not isinstance(result, ConfigError), str(result)


@given(raw=st.binary(max_size=200))
@example(raw=b"id: \xff\n")
def test_bytes_that_are_not_utf8_are_a_clean_error(workdir, catalog, raw):
    path = workdir / "raw.yaml"
    path.write_bytes(raw)
    result = outcome(lambda: load_yaml(path), "loading raw bytes")
    if isinstance(result, ConfigError):
        assert path.name in str(result)
