"""host.firewall, host.patches, host.time_sync, host.log_retention, host.antivirus.

Real parts first: nftables/iptables rulesets loaded in a private network namespace, this
machine's own apt, clamscan, pgrep and timedatectl, and sysroot trees of config files (and
crafted ClamAV database headers) read through the LocalTransport. Outputs of tools this machine
cannot run (ufw, firewalld, dnf, chrony, ntpd, Ubuntu's apt) are replayed from tests/data."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from scanner.catalog import load_catalog
from scanner.checks import evaluate
from scanner.checks.base import Observations
from scanner.hostprobes import Collected, collector_registry
from scanner.hostprobes.logs import timespan_days
from scanner.hostprobes.packages import parse_apt_config
from scanner.model import ProbeResult, Status
from scanner.transports.base import CommandResult, HostContext
from scanner.transports.local import LocalTransport

RECORDED = Path(__file__).parent / "data" / "host_system" / "recorded"
REPO = Path(__file__).parent.parent
COLLECTOR = {"host.firewall": "firewall", "host.patches": "packages", "host.time_sync": "time",
             "host.log_retention": "logs", "host.antivirus": "antivirus"}


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


class ReplayTransport:
    """Answers commands from recorded outputs, reads sysroot files for real (cat, ls, head);
    any other command is "not found" (exit 127)."""

    def __init__(self, answers: dict[str, tuple[int | None, str, str]]):
        self.answers = answers

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        wrapped, command = command, command.split("; ", 1)[1]  # without HostContext's PATH
        if command not in self.answers and command.startswith(("cat -- ", "ls -1A -- ",
                                                                "head -c ")):
            return LocalTransport().run(wrapped, timeout)
        code, out, err = self.answers.get(command, (127, "", f"sh: 1: {command}: not found"))
        if code is None:
            return CommandResult(command, None, error=f"timed out after {timeout:g}s")
        return CommandResult(command, code, out, err)

    def describe(self) -> str:
        return "replay"

    def close(self) -> None:
        pass


@functools.cache
def defaults(control: str) -> dict:
    return load_catalog().get(control).defaults()


def collect(control: str, ctx: HostContext) -> Collected:
    return collector_registry()[COLLECTOR[control]](ctx, [defaults(control)])


def judge(control: str, collected: Collected | dict, **params):
    data = collected if isinstance(collected, dict) else \
        {**collected.data, "error": collected.error}
    obs = Observations({"host": ProbeResult("host", "local", {COLLECTOR[control]: data})})
    return evaluate(control, obs, {**defaults(control), **params})


def local(root: Path | str = "/") -> HostContext:
    return HostContext(LocalTransport(), timeout=60, root=str(root))


def replay(answers: dict[str, tuple[int, str, str]], root: Path | str = "/") -> HostContext:
    return HostContext(ReplayTransport(answers), timeout=10, root=str(root))


def write_tree(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Files of a sysroot; None makes an empty directory."""
    for rel, content in files.items():
        path = root / rel.lstrip("/")
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return root


# ---------------------------------------------------------------- firewall

NFT_DROP = """table inet filter {
  chain input {
    type filter hook input priority 0; policy %s;
    ct state established,related accept
    iif lo accept
    tcp dport 22 counter accept
  }
}
"""
SNIPPET = ("import json; from scanner.transports.local import LocalTransport; "
           "from scanner.transports.base import HostContext; "
           "from scanner.hostprobes import collector_registry; "
           "c = collector_registry()['firewall'](HostContext(LocalTransport(), timeout=10), [{}]); "
           "print(json.dumps({'data': c.data, 'error': c.error, "
           "'commands': [r.evidence() for r in c.commands]}))")


def firewall_in_netns(setup: str, as_nobody: bool = False) -> dict:
    """Load rules in a private network namespace (the machine's own firewall is untouched)
    and run the real collector there through the LocalTransport."""
    if not (shutil.which("unshare") and shutil.which("nft")):
        pytest.skip("needs unshare and nft (apt-get install nftables)")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("cannot create a network namespace here (needs root / CAP_SYS_ADMIN)")
    python = [sys.executable, "-c", SNIPPET]
    if as_nobody:
        python = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + python
    proc = subprocess.run(["unshare", "-n", "sh", "-c", f"{setup} && exec {shlex.join(python)}"],
                          cwd=REPO, text=True, capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def nft_setup(tmp_path: Path, rules: str) -> str:
    (tmp_path / "rules.nft").write_text(rules)
    return f"nft -f {tmp_path / 'rules.nft'}"


def test_firewall_nft_policy_drop_passes(tmp_path):
    seen = firewall_in_netns(nft_setup(tmp_path, NFT_DROP % "drop"))
    verdict = judge("host.firewall", seen["data"] | {"error": seen["error"]})
    assert verdict.status == Status.PASS, verdict.reason
    assert verdict.observed["default_drop"]["ipv4"] == ["nft inet filter input"]
    assert any(c["command"] == "nft -j list ruleset" for c in seen["commands"])


def test_firewall_nft_policy_accept_fails(tmp_path):
    seen = firewall_in_netns(nft_setup(tmp_path, NFT_DROP % "accept"))
    verdict = judge("host.firewall", seen["data"])
    assert verdict.status == Status.FAIL and "accepted by default" in verdict.reason
    assert "policy accept" in verdict.reason


def test_firewall_ipv4_only_table_leaves_ipv6_open(tmp_path):
    seen = firewall_in_netns(nft_setup(tmp_path, (NFT_DROP % "drop").replace("inet", "ip")))
    verdict = judge("host.firewall", seen["data"])
    if seen["data"]["ipv6_enabled"] is False:
        pytest.skip("IPv6 is disabled in this kernel")
    assert verdict.status == Status.FAIL and verdict.reason.startswith("IPv6 input")


def test_firewall_iptables_nft_drop_policy_passes(tmp_path):
    if not shutil.which("iptables"):
        pytest.skip("iptables not installed (apt-get install iptables)")
    seen = firewall_in_netns("iptables -P INPUT DROP && iptables -A INPUT -i lo -j ACCEPT && "
                             "ip6tables -A INPUT -j REJECT")
    tools = seen["data"]["tools"]
    assert tools["iptables"]["policy"] == "DROP" and tools["ip6tables"]["last_rule"] == "REJECT"
    assert judge("host.firewall", seen["data"]).status == Status.PASS


def test_firewall_unreadable_without_root_is_error(tmp_path):
    seen = firewall_in_netns(nft_setup(tmp_path, NFT_DROP % "drop"), as_nobody=True)
    verdict = judge("host.firewall", seen["data"])
    assert verdict.status == Status.ERROR and "--sudo" in verdict.reason


# ---------------------------------------------------------------- patches

APT_AUTO = {
    "/etc/apt/apt.conf.d/20auto-upgrades":
        '// enabled by the installer\nAPT::Periodic::Update-Package-Lists "1";\n'
        'APT::Periodic::Unattended-Upgrade "1";\n',
    "/etc/apt/apt.conf.d/50unattended-upgrades":
        'Unattended-Upgrade::Origins-Pattern {\n  // "origin=Debian,label=Debian";\n'
        '  "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";\n};\n'
        '/* Unattended-Upgrade::Mail "root"; */\n',
}


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True,
                            text=True)
    return result.stdout.endswith(" installed")


def test_patches_real_apt_on_this_machine(tmp_path):
    if not shutil.which("apt-get"):
        pytest.skip("not a Debian-like machine")
    collected = collect("host.patches", local(write_tree(tmp_path, APT_AUTO)))
    if collected.error:  # e.g. a container image whose package lists were cleaned
        assert "package lists" in collected.error
        assert judge("host.patches", collected).status == Status.ERROR
        return
    output = next(c.stdout for c in collected.commands if "dist-upgrade" in c.command)
    simulation = subprocess.run("grep '^Inst [^ ]* \\[' | grep -i security | cut -d' ' -f2 | "
                                "LC_ALL=C sort -u", shell=True, input=output, capture_output=True,
                                text=True).stdout.split()
    assert collected.data["pending_security"] == simulation
    auto = collected.data["automatic"]
    assert auto["unattended_upgrades_installed"] == _installed("unattended-upgrades")
    pending = len(simulation)
    verdict = judge("host.patches", collected, max_pending=pending)
    assert verdict.status == (Status.PASS if auto["unattended_upgrades_installed"]
                              else Status.FAIL), verdict.reason
    if pending:
        verdict = judge("host.patches", collected, max_pending=pending - 1)
        assert verdict.status == Status.FAIL and f"{pending} pending security" in verdict.reason


def _apt_answers(simulation: str = recorded("apt-ubuntu-jammy.txt"),
                 policy: str = "     release v=22.04,o=Ubuntu,a=jammy-security,n=jammy\n"):
    return {"apt-get --version": (0, "apt 2.4.11 (amd64)\n", ""),
            "apt-cache policy": (0, policy, ""),
            "apt-get -s -o Debug::NoLocking=1 dist-upgrade": (0, simulation, ""),
            "dpkg-query -W -f='${Status}' unattended-upgrades": (0, "install ok installed", "")}


@pytest.mark.parametrize("files,reason", [
    ({}, None),
    ({"/etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Unattended-Upgrade "0";'},
     "Unattended-Upgrade is 0"),
    ({"/etc/apt/apt.conf.d/99off": 'APT { Periodic { Update-Package-Lists "0"; }; };'},
     "Update-Package-Lists is 0"),
    ({"/etc/apt/apt.conf.d/60clear": '#clear Unattended-Upgrade::Origins-Pattern;'},
     "no security origin"),
    ({"/etc/apt/apt.conf.d/99off.dpkg-old": 'APT::Periodic::Unattended-Upgrade "0";'}, None),
])
def test_patches_automatic_apt_settings_from_sysroot(tmp_path, files, reason):
    write_tree(tmp_path, {**APT_AUTO, **files})
    collected = collect("host.patches", replay(_apt_answers(), tmp_path))
    assert collected.data["pending_security"] == ["libssl3", "openssl"]
    verdict = judge("host.patches", collected, max_pending=2)
    assert (verdict.status, reason and reason in verdict.reason) == (
        (Status.PASS, None) if reason is None else (Status.FAIL, True)), verdict.reason


def test_patches_ubuntu_security_lines_fail_and_no_automatic(tmp_path):
    answers = _apt_answers()
    answers["dpkg-query -W -f='${Status}' unattended-upgrades"] = (
        1, "", "dpkg-query: no packages found matching unattended-upgrades")
    verdict = judge("host.patches", collect("host.patches", replay(answers, tmp_path)))
    assert verdict.status == Status.FAIL
    assert "2 pending security updates > 0: libssl3, openssl" in verdict.reason
    assert "unattended-upgrades is not installed" in verdict.reason
    assert "Unattended-Upgrade is unset" in verdict.reason


def test_patches_no_security_repository_fails(tmp_path):
    write_tree(tmp_path, APT_AUTO)
    answers = _apt_answers("", recorded("apt-policy-no-security.txt"))
    verdict = judge("host.patches", collect("host.patches", replay(answers, tmp_path)))
    assert verdict.status == Status.FAIL and "no security repository" in verdict.reason


def test_patches_empty_package_lists_is_error(tmp_path):
    answers = _apt_answers("", recorded("apt-policy-no-lists.txt"))
    verdict = judge("host.patches", collect("host.patches", replay(answers, tmp_path)))
    assert verdict.status == Status.ERROR and "no package lists" in verdict.reason


def test_patches_no_package_manager_is_not_applicable():
    verdict = judge("host.patches", collect("host.patches", replay({})))
    assert verdict.status == Status.NOT_APPLICABLE


@pytest.mark.parametrize("timer,max_pending,status,reason", [
    ((0, "enabled\n", ""), 3, Status.PASS, ""),
    ((0, "enabled\n", ""), 0, Status.FAIL, "3 pending security updates > 0: curl"),
    ((1, "disabled\n", ""), 3, Status.FAIL, "not scheduled: dnf-automatic.timer disabled"),
    ((1, "", "System has not been booted with systemd"), 3, Status.ERROR, "booted"),
])
def test_patches_dnf_recorded(tmp_path, timer, max_pending, status, reason):
    write_tree(tmp_path, {"/etc/dnf/automatic.conf": recorded("dnf-automatic.conf")})
    answers = {"dnf -q -C updateinfo list --security":
               (0, recorded("dnf-updateinfo-security.txt"), ""),
               "systemctl is-enabled dnf-automatic.timer": timer,
               "systemctl is-enabled dnf-automatic-install.timer": (
                   1, "", "Failed to get unit file state for dnf-automatic-install.timer: "
                          "No such file or directory")}
    collected = collect("host.patches", replay(answers, tmp_path))
    assert collected.data["manager"] == "dnf"
    assert collected.data["automatic"]["apply_updates"] == "yes"
    verdict = judge("host.patches", collected, max_pending=max_pending)
    assert verdict.status == status and reason in verdict.reason, verdict.reason


def test_apt_config_parser_scopes_lists_and_comments():
    config: dict[str, list[str]] = {}
    parse_apt_config('# hash comment\nAPT { Periodic { Unattended-Upgrade "7"; }; };\n'
                     'Unattended-Upgrade::Allowed-Origins { "${distro_id}:${distro_codename}'
                     '-security"; // http://x\n "o=x"; };', config)
    assert config["apt::periodic::unattended-upgrade"] == ["7"]
    assert config["unattended-upgrade::allowed-origins"] == [
        "${distro_id}:${distro_codename}-security", "o=x"]


# ---------------------------------------------------------------- time

def test_time_real_local_behaviour():
    collected = collect("host.time_sync", local())
    verdict = judge("host.time_sync", collected)
    sources = collected.data["sources"]
    if not any(s["installed"] for s in sources.values()):
        assert verdict.status == Status.ERROR and "no time synchronisation tool" in verdict.reason
    elif not os.path.isdir("/run/systemd/system") and not (
            sources["chrony"]["installed"] or sources["ntpd"]["installed"]):
        # a container without systemd: timedatectl cannot answer, which is not a fail
        assert verdict.status == Status.ERROR and "timedatectl" in verdict.reason
    else:
        assert verdict.status in (Status.PASS, Status.FAIL, Status.ERROR)


# ---------------------------------------------------------------- log retention

COMPLIANT_LOGS = Path(__file__).parent / "data" / "host_system" / "logs-compliant"


@pytest.fixture
def logs_root(tmp_path) -> Path:
    """A copy of the compliant tree (rotate 53 weekly, MaxRetentionSec=1year, keep_logs)."""
    return Path(shutil.copytree(COMPLIANT_LOGS, tmp_path / "root"))


@pytest.fixture
def auditd_running(tmp_path):
    """A real process named auditd (a copy of sleep), for `pgrep -x auditd`."""
    binary = tmp_path / "bin" / "auditd"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep"), binary)
    proc = subprocess.Popen([str(binary), "120"])
    yield
    proc.kill()
    proc.wait()


def logs_verdict(root: Path, **params):
    collected = collect("host.log_retention", local(root))
    return judge("host.log_retention", collected, **params), collected


def test_logs_compliant_tree_passes(logs_root, auditd_running):
    verdict, collected = logs_verdict(logs_root)
    assert verdict.status == Status.PASS, verdict.reason
    blocks = {b["patterns"][0]: b for b in collected.data["logrotate"]["blocks"]}
    assert blocks["/var/log/syslog"]["days_kept"] == 371  # the script's "rotate 1" is skipped
    assert blocks["/var/log/my app/*.log"]["days_kept"] == 371  # inherited globals
    assert blocks["/var/log/archive.log"]["limit"] == "none"
    assert "/var/log/old.log" not in blocks  # *.dpkg-old is ignored, as logrotate does
    assert collected.data["journald"]["max_retention_days"] == 365.25


def test_logs_parse_matches_real_logrotate(logs_root):
    """logrotate's own debug run on the same tree reports the same periods and counts."""
    if not shutil.which("logrotate"):
        pytest.skip("logrotate not installed (apt-get install logrotate)")
    conf = logs_root.parent / "logrotate.conf"  # outside the sysroot: includes rewritten
    conf.write_text((logs_root / "etc" / "logrotate.conf").read_text().replace(
        "/etc/logrotate.d", f"{logs_root}/etc/logrotate.d"))
    debug = subprocess.run(["logrotate", "-d", "-s", str(logs_root.parent / "state"), str(conf)],
                           capture_output=True, text=True).stderr
    theirs = {m[1].strip('"'): (m[2], int(m[3]) if m[3] else -1) for m in re.finditer(
        r"rotating pattern: (\"[^\"]+\"|\S+).*?(hourly|daily|weekly|monthly|yearly)\s*"
        r"(?:\((\d+) rotations\))?", debug, re.S)}
    _, collected = logs_verdict(logs_root)
    ours = {b["patterns"][0]: (b["period"], b["rotate"]) for b in
            collected.data["logrotate"]["blocks"]}
    assert ours == theirs and len(ours) == 4


@pytest.mark.parametrize("files,reason", [
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  rotate 4\n  weekly\n}\n"},
     "/var/log/syslog: keeps 28 days (rotate 4 weekly) < 365"),
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  daily\n  rotate 400\n  maxage 30\n}"},
     "keeps 30 days (maxage 30) < 365"),
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  weekly\n  size 100M\n}\n"},
     "rotated by size"),
    ({"/etc/logrotate.d/rsyslog": "/var/log/syslog {\n  weekly\n  maxsize 1G\n}\n"},
     "rotated by size"),
    ({"/etc/systemd/journald.conf.d/retention.conf": "[Journal]\nMaxRetentionSec=1month\n"},
     "journald: MaxRetentionSec=1month deletes entries after 30.44 days < 365"),
    ({"/etc/systemd/journald.conf.d/retention.conf": "# removed\n"}, "no MaxRetentionSec"),
    ({"/usr/lib/systemd/journald.conf.d/zz-vendor.conf": "[Journal]\nMaxRetentionSec=2w\n"},
     "after 14 days"),
    ({"/etc/audit/auditd.conf": "max_log_file_action = ROTATE\nnum_logs = 5\n"},
     "max_log_file_action = rotate"),
])
def test_logs_each_short_store_fails(logs_root, auditd_running, files, reason):
    verdict, _ = logs_verdict(write_tree(logs_root, files))
    assert verdict.status == Status.FAIL and reason in verdict.reason, verdict.reason


def test_logs_etc_dropin_masks_usr_lib_one(logs_root, auditd_running):
    files = {"/usr/lib/systemd/journald.conf.d/retention.conf": "[Journal]\nMaxRetentionSec=1d"}
    assert logs_verdict(write_tree(logs_root, files))[0].status == Status.PASS


def test_logs_auditd_must_run_when_required(logs_root):
    if subprocess.run(["pgrep", "-x", "auditd"], capture_output=True).returncode == 0:
        pytest.skip("a real auditd runs on this machine")
    verdict, _ = logs_verdict(logs_root)
    assert verdict.status == Status.FAIL and "auditd is not running" in verdict.reason
    assert logs_verdict(logs_root, require_auditd=False)[0].status == Status.PASS
    (logs_root / "etc" / "audit" / "auditd.conf").unlink()
    assert "not installed" in logs_verdict(logs_root)[0].reason


def test_logs_volatile_journal_alone_fails_and_nothing_is_error(tmp_path):
    write_tree(tmp_path, {"/etc/systemd/journald.conf": "[Journal]\nStorage=volatile\n"})
    verdict, _ = logs_verdict(tmp_path, require_auditd=False)
    assert verdict.status == Status.FAIL and "memory only" in verdict.reason
    verdict, _ = logs_verdict(tmp_path / "empty", require_auditd=False)
    assert verdict.status == Status.ERROR and "no log store found" in verdict.reason


def test_logs_unreadable_auditd_conf_is_error(logs_root):
    path = f"{logs_root}/etc/audit/auditd.conf"
    ctx = replay({f"cat -- {path}": (1, "", f"cat: {path}: Permission denied"),
                  "pgrep -x auditd": (0, "1234\n", "")}, logs_root)
    verdict = judge("host.log_retention", collect("host.log_retention", ctx))
    assert verdict.status == Status.ERROR and "--sudo" in verdict.reason


@pytest.mark.parametrize("span,days", [("1year", 365.25), ("52w 1d", 365), ("3600", 1 / 24),
                                       ("12month", 365.28), ("1M", 30.44), ("90min", 0.0625),
                                       ("forever", None)])
def test_systemd_time_spans(span, days):
    assert timespan_days(span) == pytest.approx(days) if days else timespan_days(span) is None


# ---------------------------------------------------------------- anti-malware

def cvd(built: datetime, stime: bool = True) -> bytes:
    """A ClamAV database: 512-byte "ClamAV-VDB:..." header, then (here, fake) tar.gz data."""
    fields = [built.strftime("%d %b %Y %H-%M %z"), "27100", "2042046", "90",
              "0" * 32, "x" * 40, "raynman"] + ([str(int(built.timestamp()))] if stime else [])
    return ("ClamAV-VDB:" + ":".join(fields)).ljust(512).encode() + b"\x1f\x8b\x08\x00" * 8


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


@pytest.fixture
def clamscan():
    if not shutil.which("clamscan"):
        pytest.skip("clamscan not installed (apt-get install clamav)")
    if "/" in subprocess.run(["clamscan", "--version"], capture_output=True, text=True).stdout:
        pytest.skip("this machine has its own ClamAV database, which would mask the fixture")


@pytest.mark.parametrize("files,limit,status", [
    ({"daily.cld": cvd(days_ago(2)), "main.cvd": cvd(days_ago(400))}, 7, Status.PASS),
    ({"daily.cvd": cvd(days_ago(30)), "main.cvd": cvd(days_ago(400))}, 7, Status.FAIL),
    ({"daily.cvd": cvd(days_ago(30), stime=False)}, 31, Status.PASS),
    ({}, 7, Status.FAIL),
    ({"daily.cvd": b"\x00garbage" * 100}, 7, Status.ERROR),
])
def test_antivirus_real_clamscan_with_database_headers(tmp_path, clamscan, files, limit, status):
    write_tree(tmp_path, {f"/var/lib/clamav/{name}": data for name, data in files.items()})
    collected = collect("host.antivirus", local(tmp_path))
    verdict = judge("host.antivirus", collected, max_signature_age_days=limit)
    assert collected.data["engines"]["clamscan"]["engine"]
    assert verdict.status == status, verdict.reason
    if status == Status.FAIL:
        assert ("30.0 days old (> 7)" if files else "no signature database") in verdict.reason


def test_antivirus_database_directory_from_freshclam_conf(tmp_path, clamscan):
    write_tree(tmp_path, {"/etc/clamav/freshclam.conf": "# x\nDatabaseDirectory /srv/clamav\n",
                          "/srv/clamav/daily.cvd": cvd(days_ago(1))})
    verdict = judge("host.antivirus", collect("host.antivirus", local(tmp_path)))
    assert verdict.status == Status.PASS and verdict.observed["database_dir"] == "/srv/clamav"


def test_antivirus_recorded_version_dates_and_no_engine(tmp_path):
    answers = {"clamdscan --version": (0, "ClamAV 1.0.3/27100/Mon Nov 20 08:12:34 2023\n", "")}
    collected = collect("host.antivirus", replay(answers, tmp_path))
    built = datetime(2023, 11, 20, 8, 12, 34, tzinfo=timezone.utc).timestamp()
    assert collected.data["engines"]["clamdscan"]["built"] == built
    collected.data["now"] = built + 2 * 86400
    assert judge("host.antivirus", collected).status == Status.PASS
    collected.data["now"] = built + 9 * 86400
    assert judge("host.antivirus", collected).status == Status.FAIL
    verdict = judge("host.antivirus", collect("host.antivirus", replay({}, tmp_path)))
    assert verdict.status == Status.FAIL and "no anti-malware engine found" in verdict.reason


# ---------------------------------------------------------------- recorded tool outputs

CASES = yaml.safe_load((RECORDED.parent / "recorded_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_recorded_tool_outputs(case):
    answers = {cmd: (code, recorded(out[1:]) if out.startswith("@") else out, err)
               for cmd, (code, out, err) in case["answers"].items()}
    answers.setdefault("cat /proc/sys/net/ipv6/conf/all/disable_ipv6", (0, "0\n", ""))
    verdict = judge(case["control"], collect(case["control"], replay(answers)))
    assert verdict.status.value == case["status"], verdict.reason
    assert case.get("reason", "") in verdict.reason
    assert verdict.status == Status.PASS or verdict.reason


# ---------------------------------------------------------------- evidence

def test_no_secret_in_data_or_evidence(logs_root):
    """These collectors read configuration only: no shadow file, key or hash in what they keep."""
    for control in COLLECTOR:
        collected = collect(control, local(logs_root))
        text = json.dumps([collected.data] + [c.evidence() for c in collected.commands])
        assert not re.search(r"shadow|PRIVATE KEY|\$(1|5|6|y)\$", text), control


def test_logs_include_loop_is_read_once(logs_root, auditd_running):
    files = {"/etc/logrotate.d/zz-loop": "include /etc/logrotate.d\n"}
    verdict, collected = logs_verdict(write_tree(logs_root, files))
    assert verdict.status == Status.PASS and len(collected.data["logrotate"]["blocks"]) == 4


@pytest.mark.parametrize("control,collector_name,data", [
    ("host.firewall", "firewall", {"tools": {"nft": {"installed": False},
                                            "iptables": {"installed": False}}}),
    ("host.time_sync", "time", {"sources": {"timedatectl": {"installed": False},
                                            "chrony": {"installed": False}}}),
])
def test_no_observation_tool_is_an_error_never_a_fail(control, collector_name, data):
    """Issue rule: a missing tool proves nothing about the host; error, never fail or pass."""
    from scanner.checks import evaluate
    from scanner.checks.base import Observations
    from scanner.model import ProbeResult

    obs = Observations({"host": ProbeResult("host", "local",
                                            {collector_name: {**data, "error": None}})})
    verdict = evaluate(control, obs, load_catalog().get(control).defaults())
    assert verdict.status == Status.ERROR and "cannot be read" in verdict.reason
