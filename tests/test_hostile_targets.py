"""Hostile targets (issue 8, items 1 and 13): nothing a user or a host supplies becomes an nmap
option, and inventory host values are single hosts whose errors leak nothing.

Every entry point runs the real `annexscan scan` in a child process, inside the test's private
network namespace, with a real nmap on PATH; the injection asks nmap to write a file, and the
test checks the file never appears.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from hostile_harness import Run, annexscan, record
from scanner.errors import ConfigError
from scanner.probes.base import ProbeRequest
from scanner.probes.ports import PortsProbe
from scanner.scope.targets import Target, parse_targets

TIME_BOUND_S = 20.0  # the refusal comes before any probe: seconds, not a scan
PEAK_MB = 150.0  # the CLI alone: a refusal reads no more than the file it names


def injection(tmp_path: Path) -> tuple[str, Path]:
    """nmap would write the file in its working directory, the scan's (tmp_path)."""
    return "::1%lo -oN written-by-nmap.txt", tmp_path / "written-by-nmap.txt"


def scan(args: list[str], cwd: Path) -> Run:
    """`annexscan scan` in a measured child, run from `cwd` (where nmap would write)."""
    run = annexscan("scan", "--profile", "3douest", "--no-progress", "--timeout", "1", *args,
                    cwd=cwd, env={"HOME": str(cwd)}, memory_cap_mb=1024)
    assert run.peak_mb < PEAK_MB, run.peak_mb
    return run


def entry_point(kind: str, tmp_path: Path, value: str) -> list[str]:
    """The scan arguments that hand `value` to annexscan through one entry point."""
    if kind == "command line":
        return [value]
    if kind == "@FILE":
        (tmp_path / "targets.txt").write_text(f"127.0.0.1\n{value}\n")
        return [f"@{tmp_path / 'targets.txt'}"]
    if kind == "inventory ansible_host":
        (tmp_path / "hosts.ini").write_text(f'web1 ansible_host="{value}"\n')
        return ["--inventory", str(tmp_path / "hosts.ini")]
    assert kind == "ssh_config HostName"
    (tmp_path / "ssh_config").write_text(f"Host web1\n    HostName {value}\n")
    return ["--ssh", "--ssh-config", str(tmp_path / "ssh_config"), "web1"]


ENTRY_POINTS = ["command line", "@FILE", "inventory ansible_host", "ssh_config HostName"]


@pytest.mark.parametrize("kind", ENTRY_POINTS)
def test_zone_id_injection_is_refused_at_every_entry_point(kind, tmp_path):
    if not Path("/usr/bin/nmap").exists():
        pytest.skip("nmap not installed")
    value, written = injection(tmp_path)
    run = scan(entry_point(kind, tmp_path, value), tmp_path)
    assert run.code == 2, run.out + run.err
    assert "zone id must be an interface name" in run.err or \
        "not a valid IPv6 address" in run.err, run.err
    assert "Traceback" not in run.err
    assert not written.exists(), "nmap wrote a file named by the target"
    assert run.seconds < TIME_BOUND_S
    record("1", f"zone id injection via {kind}", run, status=f"exit {run.code}, no file written")


def test_a_legitimate_zone_id_is_accepted():
    """The compliant case: an interface-name zone id is a target like any other."""
    (target,) = parse_targets(["FE80::0001%lo"])
    assert target.address == "fe80::1%lo"
    with pytest.raises(ConfigError, match="zone id"):
        parse_targets(["fe80::1%" + "x" * 16])  # longer than an interface name can be


def test_the_port_probe_refuses_a_non_canonical_address_itself(tmp_path, monkeypatch):
    """Defence in depth: even a Target built by hand never reaches nmap's command line."""
    monkeypatch.chdir(tmp_path)
    value, written = injection(tmp_path)
    result = PortsProbe().run(Target("x", value), ProbeRequest(timeout=1, port_spec="22"))
    assert result.error and "non-canonical address" in result.error
    assert "nmap_command" not in result.evidence and not written.exists()
    result = PortsProbe().run(Target("x", "127.0.0.1"),
                              ProbeRequest(timeout=1, port_spec="22 -oN " + str(written)))
    assert result.error and "malformed port list" in result.error and not written.exists()


def test_the_port_probe_scans_a_canonical_address(tmp_path):
    """Compliant case of the guard: a real listening port on loopback is found open."""
    if not Path("/usr/bin/nmap").exists():
        pytest.skip("nmap not installed")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = PortsProbe().run(Target("127.0.0.1", "127.0.0.1"),
                                  ProbeRequest(timeout=1, port_spec=str(port)))
    assert result.error is None and result.data["open_ports"] == [port]


SECRET_LINE = "root:$y$j9T$notarealhash:19000:0:99999:7:::"


@pytest.mark.parametrize("value, expected", [
    ("@{secret}", "cannot name a target file"),
    ("local", "would audit the scanning machine"),
    ("127.0.0.0/30", "a CIDR network is not one host"),
    ("https://web.example.org/login", "give the host name alone"),
])
@pytest.mark.parametrize("layout", ["ini", "yaml"])
def test_inventory_host_values_are_single_hosts(value, expected, layout, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text(SECRET_LINE + "\n")
    value = value.format(secret=secret)
    if layout == "ini":
        inventory = tmp_path / "hosts.ini"
        inventory.write_text(f"web1 ansible_host={value}\n")
    else:
        inventory = tmp_path / "hosts.yaml"
        inventory.write_text(f'all:\n  hosts:\n    web1: {{ansible_host: "{value}"}}\n')
    run = scan(["--inventory", str(inventory)], tmp_path)
    assert run.code == 2 and expected in run.err, run.err
    assert "web1" in run.err and "Traceback" not in run.err
    assert "root:" not in run.out + run.err and "notarealhash" not in run.err
    assert run.seconds < TIME_BOUND_S
    record("13", f"{layout} inventory ansible_host: {expected}", run, status=f"exit {run.code}")


def test_inventory_host_name_without_ansible_host_is_checked_too(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("local\n")
    run = scan(["--inventory", str(inventory)], tmp_path)
    assert run.code == 2 and "would audit the scanning machine" in run.err


def test_target_file_lines_are_not_echoed(tmp_path):
    """@FILE naming a file that is no target list: the error gives the line number only."""
    secret = tmp_path / "shadow"
    secret.write_text(SECRET_LINE + "\n")
    with pytest.raises(ConfigError) as error:
        parse_targets([f"@{secret}"])
    assert f"{secret}:1" in str(error.value) and "notarealhash" not in str(error.value)


def test_a_url_target_says_to_give_the_host_name():
    with pytest.raises(ConfigError, match="give the host name alone"):
        parse_targets(["https://web.example.org/login"])
    (target,) = parse_targets(["127.0.0.1"])  # compliant case
    assert target.address == "127.0.0.1"


PORTS_ONLY = """id: ports-only
title: Ports only
source: {{issuer: annexscan tests, title: targets}}
clauses:
  - id: T-PORTS
    section: "1"
    title: Ports
    requirement: Only the test's port is open.
    controls: [{{control: net.allowed_ports, parameters: {{allowed: [{port}], ports: "{port}",
                udp_ports: null}}}}]
"""


def listening(address: str) -> socket.socket:
    listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    listener.bind((address, 0))
    listener.listen()
    return listener


def scan_list(tmp_path: Path, lines: list[str], port: int, *extra: str,
              out: str = "out") -> tuple[Run, dict | None]:
    (tmp_path / "profile.yaml").write_text(PORTS_ONLY.format(port=port))
    (tmp_path / "targets.txt").write_text("\n".join(lines) + "\n")
    run = annexscan("scan", "--profile", str(tmp_path / "profile.yaml"), "--no-progress",
                    "--timeout", "1", "-o", str(tmp_path / out), "--format", "json", *extra,
                    f"@{tmp_path / 'targets.txt'}", cwd=tmp_path)
    report = tmp_path / out / "annexscan.json"
    return run, (json.loads(report.read_text()) if report.exists() else None)


def test_duplicate_targets_are_scanned_once_with_a_note(tmp_path):
    if not Path("/usr/bin/nmap").exists():
        pytest.skip("nmap not installed")
    address = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)[0][4][0]
    with listening(address) as listener:
        port = listener.getsockname()[1]
        run, report = scan_list(tmp_path, [address, address, "localhost"], port)
    assert run.code == 0, run.out + run.err
    assert [t["target"] for t in report["targets"]] == ["localhost"]
    assert f"note: {address} given twice: scanned once" in run.out
    assert f"{address} and localhost are the same address {address}: scanned once, as " \
        "localhost" in run.out


def test_an_unresolvable_name_is_an_error_result_and_the_scan_goes_on(tmp_path):
    if not Path("/usr/bin/nmap").exists():
        pytest.skip("nmap not installed")
    with listening("127.0.0.1") as listener:
        port = listener.getsockname()[1]
        run, report = scan_list(tmp_path, ["no-such-host.invalid", "127.0.0.1"], port)
        assert run.code == 3, run.out + run.err  # an error, no failure
        by_name = {t["target"]: t for t in report["targets"]}
        assert by_name["127.0.0.1"]["results"][0]["status"] == "pass"
        bad = by_name["no-such-host.invalid"]["results"][0]
        # the reason is on the clause or, said once per host, in the target's probe errors
        assert bad["status"] == "error"
        assert "does not resolve" in json.dumps(by_name["no-such-host.invalid"])
        assert run.seconds < TIME_BOUND_S
        strict, report = scan_list(tmp_path, ["no-such-host.invalid", "127.0.0.1"], port,
                                   "--strict-targets", out="strict")
    assert strict.code == 2 and "does not resolve" in strict.err and report is None
