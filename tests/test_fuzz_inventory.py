"""Fuzzing the inventory readers (issue 8 part 3): Ansible INI and YAML inventories built by
Hypothesis, valid in shape with hostile values, and raw text or bytes. Loading either gives
hosts whose every value is what the scan expects (one host, never an option nor a file
reference) or a ConfigError naming the inventory; never a traceback, and never a line of
another file (a root-only file named by the inventory) in a message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import event, example, given
from hypothesis import strategies as st

from fuzz_support import assert_safe, hostile_text, is_hostname, is_ip, outcome
from scanner.errors import ConfigError
from scanner.scope.inventory import ALIASES, load_inventory
from scanner.catalog.profiles import builtin_profile_ids

# the strategies' reprs (hostile pieces, nested one_of) are long: not worth a warning
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
MARKER = "fuzzsecretmarker"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Holds the inventories and a root-only-like file they try to pull in."""
    directory = tmp_path_factory.mktemp("fuzz-inventory")
    (directory / "shadow").write_text(f"root:$y$j9T${MARKER}:19000:0:99999:7:::\n")
    return directory


# Stands for the path of the root-only-like file; replaced when the inventory is written.
SHADOW = "%SHADOW%"
FILE_REFERENCES = st.sampled_from([f"@{SHADOW}", SHADOW, f"{SHADOW}.yaml", f"u@{SHADOW}:22",
                                   f"@{SHADOW},3douest", "local", "127.0.0.0/30", "-oN x"])
HOSTILE_VALUES = st.one_of(hostile_text, FILE_REFERENCES)
SOUND_NAMES = st.sampled_from(["web1", "127.0.0.2", "db.example.org", "fe80::1%lo"])
HOST_NAMES = st.one_of(SOUND_NAMES, SOUND_NAMES, SOUND_NAMES, hostile_text, FILE_REFERENCES)
# Sound values of each variable, as INI text and as typed YAML: most inventories a fuzzer
# writes should load, so that the properties of accepted hosts are exercised too.
SOUND = {"ansible_host": ["127.0.0.2", "web1.example.org", "FE80::1%lo"],
         "ansible_user": ["audit"], "ssh_user": ["root"], "ansible_port": ["22", 2222],
         "ssh_port": [22], "ansible_ssh_private_key_file": ["/keys/web"],
         "ssh_key": ["keys/id_ed25519"], "annexscan_jump": ["bastion.example.org",
                                                            "u@10.0.0.1:2222"],
         "ssh_jump": ["j.example.org:22"], "annexscan_profiles": ["3douest", "3douest,slime",
                                                                   ["slime", "teranga"]],
         "profiles": ["ours.yaml"], "ansible_become": ["yes", True], "sudo": [False, "off"],
         "other": ["anything at all"]}
assert set(SOUND) == set(ALIASES) | {"other"}
VARIABLES = sorted(SOUND) + ["ansible_password", "ansible_host "]


def pairs(values: st.SearchStrategy) -> st.SearchStrategy[list[tuple[str, object]]]:
    """Mostly sound variables, sometimes one with a hostile name or value."""
    sound = st.sampled_from(sorted(SOUND)).flatmap(
        lambda key: st.tuples(st.just(key), st.sampled_from(SOUND[key])))
    hostile = st.tuples(st.sampled_from(VARIABLES), values)
    return st.lists(st.one_of(*[sound] * 6, hostile), max_size=4)


def ini_line(name: str, assignments: list[tuple[str, object]]) -> str:
    return " ".join([name] + [f"{key}={value}" for key, value in assignments
                              if not isinstance(value, list)])


def ini_inventories(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """[group] host lines, [group:vars] and [group:children] sections, any values."""
    groups = st.sampled_from(["web", "db", "all", "ungrouped", "web:vars", "all:vars",
                              "prod:children", "web:weird"])
    lines = st.lists(st.tuples(HOST_NAMES, pairs(values)), min_size=1, max_size=3)
    first = st.tuples(st.sampled_from(["web", "ungrouped"]), lines)  # most inventories load
    sections = st.tuples(first, st.lists(st.tuples(groups, lines), max_size=3)).map(
        lambda parts: [parts[0], *parts[1]])
    return sections.map(lambda sections: "\n".join(
        f"[{group}]\n" + "\n".join(
            ini_line(name, kv) if not group.endswith(":vars") else
            "\n".join(f"{k}={v}" for k, v in kv
                      if not isinstance(v, list)) for name, kv in lines)
        for group, lines in sections))


def yaml_values(values: st.SearchStrategy[str]) -> st.SearchStrategy:
    scalars = st.one_of(values, st.integers(), st.floats(), st.booleans(), st.none())
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(values, st.integers()), inner,
                                                     max_size=3)), max_leaves=8)


def yaml_inventories(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """all: {vars, hosts, children}, nested, with hostile names and values of any type."""
    anything = yaml_values(values)
    host_vars = st.one_of(pairs(anything).map(dict), pairs(anything).map(dict), anything)
    hosts = st.dictionaries(st.one_of(HOST_NAMES, st.integers()), host_vars, max_size=3)
    group = st.recursive(
        st.fixed_dictionaries({}, optional={"hosts": st.one_of(hosts, hosts, anything),
                                            "vars": host_vars}),
        lambda inner: st.one_of(st.fixed_dictionaries({}, optional={
            "hosts": hosts, "vars": host_vars,
            "children": st.one_of(st.dictionaries(HOST_NAMES, inner, max_size=2), anything)}),
            st.dictionaries(values, anything, max_size=2)), max_leaves=4)
    loadable = st.fixed_dictionaries({"hosts": st.dictionaries(HOST_NAMES, host_vars,
                                                               min_size=1, max_size=3)},
                                     optional={"vars": host_vars, "children": st.dictionaries(
                                         HOST_NAMES, group, max_size=2)})
    documents = st.one_of(*[st.fixed_dictionaries({"all": loadable})] * 6,
                          st.fixed_dictionaries({"all": group}), anything,
                          st.dictionaries(HOST_NAMES, group, max_size=2))
    return documents.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True))


def check(path: Path) -> None:
    """The property: clean error naming the file and leaking no other file, or sound hosts."""
    result = outcome(lambda: load_inventory(path), "loading the inventory")
    event("refused" if isinstance(result, ConfigError) else "accepted")
    if isinstance(result, ConfigError):
        assert str(path) in str(result), str(result)
        assert MARKER not in str(result), str(result)
        return
    assert result
    builtin = builtin_profile_ids()
    for host in result:
        # the address scanned, and the alias when it names the target (TLS name, reports)
        names = [host.name] if "." in host.name else []
        for value in [host.vars.get("host", host.name), *names]:
            assert_safe(value)
            assert value != "local" and "/" not in value
            assert is_ip(value) or is_hostname(value), value
        if "port" in host.vars:
            assert type(host.vars["port"]) is int and 0 < host.vars["port"] < 65536
        for name in ("user", "key", "jump"):
            if name in host.vars:
                assert_safe(host.vars[name])
        if "jump" in host.vars:
            jump = host.vars["jump"].rpartition("@")[2].partition(":")[0]
            assert is_ip(jump) or is_hostname(jump), jump
        for profile in host.vars.get("profiles", []):
            assert profile in builtin or profile.endswith((".yaml", ".yml")), profile
            assert "shadow" not in profile or profile.endswith(".yaml")
        if "sudo" in host.vars:
            assert type(host.vars["sudo"]) is bool


@given(text=ini_inventories(HOSTILE_VALUES))
@example(text='web1 ansible_host="unclosed\n')  # each example: a crash this test found
@example(text="web1 ansible_port=1e999\n")
@example(text="[web]\n0\n annexscan_jump=")  # configparser's continuation line crashed
@example(text="web1 annexscan_jump=-oProxyCommand=x\n")
@example(text="web1 ansible_become=maybe\n")
@example(text=f"web1 annexscan_profiles={SHADOW}\n")  # the profile loader quoted its lines
@example(text=f"web1 ansible_host=@{SHADOW}\n")
def test_ini_inventories_never_crash_nor_leak(workdir, text):
    check(write(workdir / "hosts.ini", text))


@given(text=yaml_inventories(HOSTILE_VALUES))
@example(text="all:\n  hosts: [a, b]\n")
@example(text="all:\n  vars: [1]\n")
@example(text="all:\n  children: [x]\n")
@example(text="all:\n  hosts:\n    web1: {1: 2}\n")
@example(text="all:\n  hosts:\n    web1: 5\n")
@example(text="all:\n  hosts:\n    web1: {ansible_port: .inf}\n")
@example(text="all:\n  hosts:\n    web1: {ansible_user: [x]}\n")
@example(text="all:\n  hosts:\n    web1: {annexscan_profiles: 5}\n")
@example(text="? ''\n: ? ''\n  : ''\n  0: null\n")  # unknown keys '' and 0 could not be sorted
@example(text='all:\n  hosts:\n    "A\\r": {}\n')  # checked, but kept with its "\r"
@example(text='all:\n  hosts:\n    "-oN x.y": {ansible_host: 127.0.0.2}\n')  # a dotted alias
def test_yaml_inventories_never_crash_nor_leak(workdir, text):
    check(write(workdir / "hosts.yaml", text))


@given(raw=st.one_of(st.binary(max_size=300), hostile_text.map(str.encode)),
       suffix=st.sampled_from([".ini", ".yaml", ""]))
@example(raw=b"\xff", suffix=".ini")  # was a UnicodeDecodeError
@example(raw=b"web1 ansible_host='", suffix="")
def test_raw_inventories_never_crash(workdir, raw, suffix):
    path = workdir / f"raw{suffix}"
    path.write_bytes(raw)
    check(path)


def write(path: Path, text: str) -> Path:
    path.write_text(text.replace(SHADOW, str(path.parent / "shadow")), encoding="utf-8")
    return path
