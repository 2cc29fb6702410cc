"""Fuzzing the target parser (issue 8 part 3): whatever text a user, a target file, an ssh_config
HostName or a resolver supplies, parsing returns canonical targets or raises ConfigError, and
nothing accepted can be read as an nmap option. The port probe's real python-nmap is run
against a recording `nmap` on PATH, so the test reads the exact argv nmap would get.

No DNS: every resolver here is a function of the test (loopback answers, hostile answers, or
failure). Settings (deterministic in CI, ANNEXSCAN_FUZZ=long for a long run) in fuzz_support.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz_support import (HOSTILE_PIECES, assert_safe, hostile_text, is_canonical_ip,
                          is_hostname, outcome)
from scanner.scope.access import ssh_alias_target
from scanner.errors import ConfigError
from scanner.probes.base import ProbeRequest
from scanner.probes.ports import PortsProbe, nmap_arguments
from scanner.scope.targets import LOCAL, Target, parse_targets
from scanner.transports.ssh import SshAccess

SECRET = "root:$y$j9T$fuzzsecretmarker:19000:0:99999:7:::"


def assert_canonical(target: Target) -> None:
    if target.address == LOCAL:
        assert target.name == LOCAL
        return
    assert_safe(target.address)
    assert_safe(target.name)
    if target.unresolved:
        assert target.address == target.name and is_hostname(target.name), target
    else:
        assert is_canonical_ip(target.address), target
        assert is_canonical_ip(target.name) or is_hostname(target.name), target
    assert not target.name.endswith("."), target


def loopback(host, port, type=0):
    """A resolver with no DNS: every name is a loopback address that depends on the name
    (the same with or without the final dot of a fully qualified name)."""
    address = f"127.0.0.{len(host.rstrip('.')) % 250 + 1}"
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]


def failing(host, port, type=0):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def answering(text: str):
    """A hostile resolver: answers `text` as the address."""
    return lambda host, port, type=0: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, 0))]


resolvers = st.one_of(st.just(loopback), st.just(failing), hostile_text.map(answering),
                      st.sampled_from(["::1%lo -oN x", "-oN", "fe80::1%lo\n", "127.0.0.1 "]
                                      ).map(answering))


def parse(specs: list[str], resolve, strict: bool) -> list[Target] | ConfigError:
    return outcome(lambda: parse_targets(specs, resolve=resolve, strict=strict), "parsing")


@given(spec=hostile_text, resolve=resolvers, strict=st.booleans())
@example(spec="::1%lo -oN written-by-nmap.txt", resolve=loopback, strict=True)
@example(spec="fe80::1%lo\n", resolve=loopback, strict=True)  # final newline: "$" let it in
@example(spec="fe80::1%-oN", resolve=loopback, strict=True)
@example(spec="-oN", resolve=loopback, strict=False)
@example(spec="web1", resolve=answering("::1%lo -oN x"), strict=True)
@example(spec="@/etc/shadow", resolve=loopback, strict=True)
@example(spec="@\x00", resolve=loopback, strict=True)  # NUL in a path: was a ValueError
@example(spec="10.0.0.0/30", resolve=loopback, strict=True)
@example(spec="https://web.example.org/", resolve=loopback, strict=True)
def test_a_command_line_target_is_canonical_or_a_clean_error(spec, resolve, strict):
    result = parse([spec], resolve, strict)
    if isinstance(result, ConfigError):
        assert str(result)
        return
    assert result
    for target in result:
        assert_canonical(target)


@given(spec=hostile_text, resolve=st.sampled_from([loopback, failing]))
@example(spec="FE80::0001%lo", resolve=loopback)
@example(spec="web.example.org.", resolve=loopback)
@example(spec="127.0.0.0/31", resolve=loopback)
def test_the_canonical_form_parses_to_the_same_target(spec, resolve):
    result = parse([spec], resolve, strict=False)
    if isinstance(result, ConfigError):
        return
    for target in result:
        again = parse([target.name], resolve, strict=False)
        assert again == [target], (target, again)
        if not target.unresolved:
            assert parse([target.address], resolve, strict=True) == \
                [Target(target.address, target.address)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-targets")


@given(lines=st.lists(hostile_text, max_size=6), secret_at=st.integers(0, 6))
@example(lines=["127.0.0.1", "::1%lo -oN x"], secret_at=0)
def test_a_target_file_gives_canonical_targets_and_never_echoes_a_line(workdir, lines,
                                                                        secret_at):
    """@FILE may name a file that is no target list: its lines never reach a message."""
    lines = list(lines)
    lines.insert(min(secret_at, len(lines)), SECRET)
    path = workdir / "targets.txt"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    result = parse([f"@{path}"], loopback, strict=True)
    assert isinstance(result, ConfigError), "the secret line is no target"
    assert str(path) in str(result) and "fuzzsecretmarker" not in str(result)
    assert SECRET not in str(result)
    path.write_text("\n".join(line for line in lines if line != SECRET),
                    encoding="utf-8", errors="surrogatepass")
    result = parse([f"@{path}"], loopback, strict=False)
    if not isinstance(result, ConfigError):
        for target in result:
            assert_canonical(target)


@given(raw=st.binary(max_size=200))
@example(raw=b"127.0.0.1\n\xff\xfe")
@example(raw=b"# no target\n")  # was "no target given", without naming the file
def test_a_target_file_of_any_bytes_is_a_clean_error_or_targets(workdir, raw):
    path = workdir / "raw.txt"
    path.write_bytes(raw)
    result = parse([f"@{path}"], loopback, strict=False)
    if isinstance(result, ConfigError):
        assert str(path) in str(result)
    else:
        for target in result:
            assert_canonical(target)


def no_ssh_config_commands(value: str) -> bool:
    """paramiko runs `Match exec` commands and canonicalizes names by DNS: never generated."""
    return not any(word in value.lower() for word in ("exec", "canonical", "match", "include"))


@given(value=hostile_text.filter(no_ssh_config_commands))
@example(value="::1%lo -oN written-by-nmap.txt")
@example(value="@/etc/shadow")
@example(value="127.0.0.1\nHost *\n  HostName -oN")
@example(value='"unclosed')  # paramiko's parse error quoted the line: now a ConfigError
def test_an_ssh_config_hostname_is_one_canonical_host_or_a_clean_error(workdir, value):
    path = workdir / "ssh_config"
    path.write_text(f"Host web1\n    HostName {value}\n", encoding="utf-8",
                    errors="surrogatepass")
    result = outcome(lambda: ssh_alias_target("web1", SshAccess(ssh_config=path)), "alias")
    if isinstance(result, ConfigError):
        assert str(path) in str(result) or "HostName of alias 'web1'" in str(result)
        return
    name, access = result
    parsed = parse([name], loopback, strict=True)
    assert not isinstance(parsed, ConfigError), (name, parsed)
    (target,) = parsed
    assert_canonical(target)


@pytest.fixture(scope="module")
def recording_nmap(tmp_path_factory) -> Path:
    """An `nmap` that writes its argv (NUL-separated) next to itself: the real python-nmap
    builds and runs the command line, and no packet is sent."""
    directory = tmp_path_factory.mktemp("recording-nmap")
    script = directory / "nmap"
    script.write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then\n'
                      '  echo "Nmap version 7.93 ( https://nmap.org )"; exit 0\nfi\n'
                      f"printf '%s\\0' \"$@\" > '{directory}/argv'\n")
    script.chmod(0o755)
    return directory


PORT_SPECS = st.one_of(st.sampled_from(["22", "1-65535", "22,80,443", "T:22,U:53"]),
                       st.lists(st.sampled_from(HOSTILE_PIECES + ["22", "80", ","]),
                                max_size=4).map("".join))


def nmap_argv(recorder: Path, target: Target, port_spec: str) -> list[str] | None:
    """The argv nmap got for the port probe of `target`, or None when nothing ran."""
    argv = recorder / "argv"
    argv.unlink(missing_ok=True)
    with mock.patch.dict(os.environ, {"PATH": str(recorder)}):
        PortsProbe().run(target, ProbeRequest(timeout=1, port_spec=port_spec))
    return argv.read_bytes().decode().split("\0")[:-1] if argv.exists() else None


@given(spec=hostile_text, port_spec=PORT_SPECS)
@example(spec="::1%lo", port_spec="22")
@example(spec="127.0.0.0/31", port_spec="22 -oN x")
@example(spec="127.0.0.1", port_spec="22\n")  # final newline: "$" let it through
def test_nmap_gets_the_address_as_one_argument_and_nothing_else(recording_nmap, spec,
                                                                  port_spec):
    """Accepted targets: argv is exactly python-nmap's layout, the address one argument."""
    result = parse([spec], loopback, strict=True)
    if isinstance(result, ConfigError) or result[0].local:
        return
    target = result[0]
    argv = nmap_argv(recording_nmap, target, port_spec)
    if argv is None:  # the probe refused the port list itself
        assert not re.fullmatch(r"[TU]?:?[0-9][0-9,-]*(,[TU]:[0-9][0-9,-]*)*", port_spec)
        return
    flags = nmap_arguments(ProbeRequest(timeout=1), ipv6=":" in target.address).split()
    assert argv == ["-oX", "-", target.address, "-p", port_spec, *flags]
    assert_safe(port_spec)


@given(address=hostile_text)
@example(address="::1%lo -oN written-by-nmap.txt")
@example(address="::1%lo\n")
def test_a_hand_built_target_reaches_nmap_only_when_canonical(recording_nmap, address):
    """Defence in depth: the probe itself refuses any address that is not canonical."""
    argv = nmap_argv(recording_nmap, Target("x", address), "22")
    if argv is not None:
        assert is_canonical_ip(address) and argv[2] == address and len(argv) > 3
        assert_safe(address)
