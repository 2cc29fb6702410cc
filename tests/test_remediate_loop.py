"""The remediation loop for real: a lab sshd and nginx misconfigured on 127.0.0.220, scanned by
the CLI, fixed by the playbook `annexscan remediate` writes, run by ansible-playbook over SSH,
scanned again; `annexscan diff` shows the fixed clauses improved and nothing else moved.
`remediate` gets no login option: its inventory logs in as the scan's report records (key path,
user, known_hosts), and ansible's ssh has no other known_hosts than the one recorded.

nginx runs inside the lab sshd's PID namespace (nsenter), so the reload command the playbook
runs over SSH (`nginx -s reload`, which reads nginx's pid file) reaches it; sshd is process 1
of that namespace and is reloaded with `kill -HUP 1`."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scanner.lab import Lab, lab_available, nginx
from scanner.lab.certs import LabCA
from scanner.lab.hosts import LEGACY_SSH, LEGACY_TLS, HostSpec, Web
from scanner.lab.procs import Proc
from tls_helpers import wait_accepting

ADDRESS = "127.0.0.220"
BIN = Path(sys.executable).parent
ANSIBLE = BIN / "ansible-playbook"
FIXED = ["R-SSH-KEYS", "R-SSH-ALG", "R-SSHD", "R-TLS-MIN", "R-TLS-LATEST", "R-TLS-CIPHER",
         "R-HSTS", "R-REDIRECT"]

pytestmark = [pytest.mark.lab]

PROFILE = Path(__file__).parent / "data" / "remediate" / "loop-profile.yaml"


def _why_not() -> str | None:
    ok, why = lab_available()
    if not ok:
        return why
    if not ANSIBLE.exists():
        return "ansible-core is not installed (pip install -e '.[test]')"
    if not shutil.which("nsenter") or not Path("/usr/bin/python3").exists():
        return "the loop needs nsenter and /usr/bin/python3"
    return None


def _sshd_pid(lab: Lab) -> int:
    """sshd's pid seen from here: the child of the `unshare --pid` the lab started."""
    (unshare,) = [pid for name, pid in lab.servers() if name.startswith("sshd")]
    children = Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()
    return int(children[0])


class Loop:
    """The misconfigured host, and the commands run against it."""

    def __init__(self, tmp: Path, lab: Lab, nginx_conf: Path, sshd_conf: Path) -> None:
        self.tmp, self.lab, self.nginx_conf, self.sshd_conf = tmp, lab, nginx_conf, sshd_conf
        self.profile = tmp / "profile.yaml"
        self.profile.write_text(PROFILE.read_text().replace("@SSHD_CONF@", str(sshd_conf)))
        self.access = ["--ssh-user", "root", "--ssh-key", str(lab.ssh_client_key)]
        self.known_hosts = lab.write_known_hosts()  # host keys checked, by the scan and ssh

    def annexscan(self, *args: str) -> subprocess.CompletedProcess:
        return self._timed(args[0], [str(BIN / "annexscan"), *args],
                           {**os.environ, "COLUMNS": "80"})

    def _timed(self, what: str, cmd: list[str], env: dict[str, str]
               ) -> subprocess.CompletedProcess:
        """Run `cmd`, printing how long it took (pytest -s shows the loop's figures)."""
        started = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        print(f"{what}: {time.perf_counter() - started:.1f} s")
        return run

    def scan(self, name: str) -> dict[str, str]:
        out = self.tmp / name
        run = self.annexscan("scan", "--profile", str(self.profile), "-o", str(out),
                             "--no-progress", "--known-hosts", str(self.known_hosts),
                             "--ca-bundle", str(self.lab.ca_bundle), "--timeout", "3",
                             *self.access, ADDRESS)
        assert run.returncode in (1, 3), run.stdout + run.stderr
        return verdicts(out / "annexscan.json")

    def remediate(self, playbook: Path) -> subprocess.CompletedProcess:
        work = self.lab.workdir
        nginx_cmd = f"{nginx.nginx_binary()} -c {self.nginx_conf} -p {work}"
        return self.annexscan(
            "remediate", str(self.tmp / "before" / "annexscan.json"), "-o", str(playbook),
            "--var", f"sshd_config_path={self.sshd_conf}",
            "--var", "sshd_reload_command=kill -HUP 1",
            "--var", f"nginx_conf_paths={self.nginx_conf}",
            "--var", f"nginx_test_command={nginx_cmd} -t -q",
            "--var", f"nginx_reload_command={nginx_cmd} -s reload")

    def ansible(self, playbook: Path, *args: str) -> subprocess.CompletedProcess:
        home = self.tmp / "ansible-home"
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": "C.UTF-8",
               # one SSH connection for the whole run; modules piped, not copied
               "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=5s",
               "ANSIBLE_PIPELINING": "True",
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(home / "cp"),
               "ANSIBLE_LOCAL_TEMP": str(home / "local"),
               "ANSIBLE_REMOTE_TEMP": str(home / "remote"),
               "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_SSH_TRANSFER_METHOD": "piped"}
        inventory = playbook.with_name(playbook.name.rsplit(".", 1)[0] + ".inventory.yml")
        return self._timed("ansible-playbook", [str(ANSIBLE), "-i", str(inventory), str(playbook),
                                                *args], env)

    def hashes(self) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in (self.sshd_conf, self.nginx_conf)}


def verdicts(report: Path) -> dict[str, str]:
    data = json.loads(report.read_text())
    return {c["clause_id"]: c["status"] for t in data["targets"] for c in t["results"]}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    why = _why_not()
    if why:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("remediate")
    spec = HostSpec("fixme", ADDRESS, "misconfigured sshd for the remediation loop",
                    ssh=dict(LEGACY_SSH))
    web = HostSpec("fixweb", ADDRESS, "misconfigured nginx: TLS 1.0/1.1, no HSTS, no redirect",
                   cert="valid", web=(Web(80), Web(443, LEGACY_TLS)))
    with Lab(tmp / "lab", hosts=[spec]) as lab:
        certs = {web.name: LabCA(lab.workdir).issue(web.name, ADDRESS, "valid")}
        conf = nginx.render(lab.workdir, [web], certs)
        server = Proc("nginx in sshd's PID namespace",
                      ["nsenter", "--target", str(_sshd_pid(lab)), "--pid", "--",
                       nginx.nginx_binary(), "-c", str(conf), "-p", str(lab.workdir),
                       "-e", str(lab.workdir / "nginx.log")], lab.workdir / "nginx.log")
        try:
            wait_accepting(ADDRESS, 443, 10)
            wait_accepting(ADDRESS, 80, 10)
            state = Loop(tmp, lab, conf, lab.workdir / "sshd-fixme.conf")
            state.before = state.scan("before")
            yield state
        finally:
            server.stop()


PASSPHRASE = "annexscan-Key-Pa55phrase"
SUDO_PASSWORD = "annexscan-Sudo-Pa55word"


def test_report_records_the_access_without_its_secrets(loop):
    """A scan with a passphrase-protected key and a sudo password from the environment (run
    before the loop fixes sshd, so remediate has a failure to write): the report and the
    journal record how it logged in, and neither secret is anywhere in them, in the stored
    evidence or in the inventory remediate writes from the report."""
    key = loop.tmp / "protected-key"
    shutil.copyfile(loop.lab.ssh_client_key, key)
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", PASSPHRASE, "-f", str(key)],
                   check=True, capture_output=True)
    profile = loop.tmp / "sshd-only.yaml"  # the host check alone: no network probe to wait
    profile.write_text("\n".join(line for line in loop.profile.read_text().splitlines()
                                 if "{id: R-" not in line or "R-SSHD" in line) + "\n")
    out = loop.tmp / "secrets"
    env = {**os.environ, "COLUMNS": "80", "ANNEXSCAN_SSH_PASSPHRASE": PASSPHRASE,
           "ANNEXSCAN_SUDO_PASSWORD": SUDO_PASSWORD}
    scan = subprocess.run([str(BIN / "annexscan"), "scan", "--profile", str(profile), "-o",
                           str(out), "--no-progress", "--known-hosts", str(loop.known_hosts),
                           "--ssh-user", "root", "--ssh-key", str(key), "--ssh-port", "22",
                           "--sudo", "--no-agent", ADDRESS],
                          capture_output=True, text=True, env=env, timeout=120)
    assert scan.returncode in (0, 1), scan.stdout + scan.stderr
    (target,) = json.loads((out / "annexscan.json").read_text())["targets"]
    assert target["probes"]["host"]["error"] is None  # logged in with the decrypted key
    assert target["access"] == {"user": "root", "port": 22, "key_file": str(key), "sudo": True,
                                "known_hosts": str(loop.known_hosts), "use_agent": False,
                                "insecure_accept_host_key": False}
    (line,) = (out / "journal" / "targets.jsonl").read_text().splitlines()
    assert json.loads(line)["access"] == target["access"]
    playbook = out / "fix.yml"
    made = loop.annexscan("remediate", str(out / "annexscan.json"), "-o", str(playbook))
    assert made.returncode == 0, made.stdout + made.stderr
    inventory = yaml.safe_load((out / "fix.inventory.yml").read_text())
    assert inventory["all"]["hosts"][ADDRESS] == {
        "ansible_host": ADDRESS, "ansible_user": "root", "ansible_port": 22,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={loop.known_hosts}",
        "ansible_become": True, "ansible_become_password":
            "{{ lookup('ansible.builtin.env', 'ANNEXSCAN_SUDO_PASSWORD') }}"}
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) > 4
    secret_key = key.read_bytes().split(b"\n")[1]  # a line of the key's (encrypted) content
    for path in written:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for secret in (PASSPHRASE.encode(), SUDO_PASSWORD.encode(), secret_key):
            assert secret not in data, (path, secret)


def test_check_mode_changes_nothing(loop):
    """--check against the misconfigured host: it reports changes, writes none."""
    assert all(loop.before[c] == "fail" for c in FIXED), loop.before
    playbook = loop.tmp / "check.yml"
    assert loop.remediate(playbook).returncode == 0
    before = loop.hashes()
    run = loop.ansible(playbook, "--check")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "changed=" in run.stdout and "changed=0" not in run.stdout, run.stdout[-2000:]
    assert loop.hashes() == before
    assert loop.scan("after-check") == loop.before


def test_loop_fixes_the_failing_clauses_and_nothing_else(loop):
    playbook = loop.tmp / "fix.yml"
    made = loop.remediate(playbook)
    assert made.returncode == 0, made.stderr
    run = loop.ansible(playbook)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    after = loop.scan("after")
    for clause in FIXED:
        assert after[clause] == "pass", (clause, after)
    unchanged = {c: s for c, s in loop.before.items() if c not in FIXED}
    assert {c: after[c] for c in unchanged} == unchanged
    assert unchanged["R-PORTS"] == "fail" and unchanged["R-TLS-OLD"] == "pass"
    diff = loop.annexscan("diff", str(loop.tmp / "before" / "annexscan.json"),
                          str(loop.tmp / "after" / "annexscan.json"), "--fail-on", "regression")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    for clause in FIXED:
        assert clause in diff.stdout, diff.stdout
    improved = [line.split()[1] for line in diff.stdout.splitlines()
                if line.split()[:1] == ["improved"] and "fail → pass" in line]
    assert sorted(improved) == sorted(FIXED), diff.stdout
    assert f"regressed=0  improved={len(FIXED)}  changed=0" in diff.stdout, diff.stdout
    again = loop.ansible(playbook)  # idempotent: a second run changes nothing
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]

