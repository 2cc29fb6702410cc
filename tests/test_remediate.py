"""`annexscan remediate` on a recorded result (tests/data/remediate/before.json: the loop test's
misconfigured lab host scanned for real): which tasks, which tags, what the header lists, the
selection options, hostile reports, secrets, and the playbook as Ansible reads it."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLE_1_1
from scanner.catalog.controls import load_catalog
from scanner.cli.main import main
from scanner.errors import ConfigError
from scanner.remediation.fixes import load_fixes

RECORDED = Path(__file__).parent / "data" / "remediate" / "before.json"
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
FIXED = {"R-SSH-KEYS", "R-SSH-ALG", "R-SSHD", "R-TLS-MIN", "R-TLS-LATEST", "R-TLS-CIPHER",
         "R-HSTS", "R-REDIRECT"}
PWNED = "annexscan-remediate-pwned"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: ("UNSAFE", loader.construct_scalar(node)))


def recorded() -> dict:
    return json.loads(RECORDED.read_text())


def clause(data: dict, clause_id: str, target: int = 0) -> dict:
    return next(c for c in data["targets"][target]["results"] if c["clause_id"] == clause_id)


def remediate(tmp_path: Path, data: dict | None, *args: str) -> tuple[int, str, list, str]:
    """(exit code, playbook text, plays, inventory text) of remediate on `data`."""
    report = tmp_path / "result.json"
    report.write_text(json.dumps(data if data is not None else recorded()))
    playbook = tmp_path / "fix.yml"
    code = main(["remediate", str(report), "-o", str(playbook), *args])
    if code != 0:
        return code, "", [], ""
    text = playbook.read_text()
    return code, text, yaml.load(text, Loader=_Loader), \
        (tmp_path / "fix.inventory.yml").read_text()


def tags(plays: list) -> dict[str, set]:
    """host -> every tag of its tasks."""
    return {play["hosts"]: {t for task in play["tasks"] for t in task["tags"]} for play in plays}


def header(text: str) -> str:
    return text.split("\n- name:", 1)[0]


def test_tasks_only_for_failing_clauses_with_a_safe_fix(tmp_path):
    code, text, plays, _ = remediate(tmp_path, None)
    assert code == 0 and len(plays) == 1
    (play,) = plays
    assert play["hosts"] == "127.0.0.220" and play["gather_facts"] is False
    clause_tags = tags(plays)["127.0.0.220"] - {t for t in tags(plays)["127.0.0.220"] if "." in t}
    assert clause_tags == FIXED  # not R-TLS-OLD (passed, shares tls.min_version), R-KEY, R-PORTS
    for task in play["tasks"]:
        (control,) = [t for t in task["tags"] if "." in t]
        assert task["name"].startswith(" ".join(t for t in task["tags"] if t != control))
        assert control in task["name"]
    min_version = [t for t in play["tasks"] if "tls.min_version" in t["tags"]]
    assert min_version and all(t["vars"] == {"min": "1.2"} for t in min_version)
    assert {h["listen"] for h in play["handlers"]} == {"reload sshd", "reload nginx"}
    top = header(text)
    assert "127.0.0.220 R-PORTS net.allowed_ports: not automated" in top.replace("\n#    ", "")
    assert "R-TLS-OLD" not in text and "R-KEY" not in text
    joined = top.replace("\n#    ", "")
    assert "- http.https_redirect: Answers every request on the plain HTTP port" in joined
    assert "Not done: ACME http-01 challenges" in joined


def test_profile_parameters_become_task_vars(tmp_path):
    data = recorded()
    for c in (clause(data, "R-TLS-MIN"), clause(data, "R-TLS-OLD")):
        c["controls"][0]["parameters"]["min"] = "1.3" if c["clause_id"] == "R-TLS-MIN" else "1.0"
    _, _, plays, _ = remediate(tmp_path, data)
    task = next(t for t in plays[0]["tasks"] if "tls.min_version" in t["tags"])
    assert task["vars"] == {"min": "1.3"}  # the clause's parameter, never the catalog default
    assert task["tags"] == ["R-TLS-MIN", "tls.min_version"]


def test_a_passing_target_gets_no_task_for_the_clause(tmp_path):
    """Two targets share the clauses; on the second, R-TLS-MIN passed: its play holds no
    tls.min_version task, and no task anywhere names a clause that passed."""
    data = recorded()
    second = copy.deepcopy(data["targets"][0])
    second["target"] = second["address"] = "127.0.0.221"
    data["targets"].append(second)
    passed = clause(data, "R-TLS-MIN", 1)
    passed["status"] = passed["controls"][0]["status"] = "pass"
    del passed["controls"][0]["remediation"]
    _, _, plays, inventory = remediate(tmp_path, data)
    found = tags(plays)
    assert "tls.min_version" in found["127.0.0.220"] and "R-TLS-MIN" in found["127.0.0.220"]
    assert "tls.min_version" not in found["127.0.0.221"] and "R-TLS-MIN" not in found["127.0.0.221"]
    assert "127.0.0.221:" in inventory


def fail_old_clause(data: dict, minimum: str) -> None:
    """R-TLS-OLD asks for `minimum` and fails like R-TLS-MIN (same observation)."""
    failing = clause(data, "R-TLS-MIN")
    old = clause(data, "R-TLS-OLD")
    old["status"] = "fail"
    old["controls"] = copy.deepcopy(failing["controls"])
    old["controls"][0]["parameters"]["min"] = minimum


def test_clauses_sharing_a_control_share_its_tasks(tmp_path):
    data = recorded()
    fail_old_clause(data, "1.2")
    _, _, plays, _ = remediate(tmp_path, data)
    (task,) = [t for t in plays[0]["tasks"] if "tls.min_version" in t["tags"]]
    assert task["tags"] == ["R-TLS-MIN", "R-TLS-OLD", "tls.min_version"]
    data = recorded()
    fail_old_clause(data, "1.3")  # two minimums: no task guesses which one wins
    _, text, plays, _ = remediate(tmp_path, data)
    assert "tls.min_version" not in tags(plays)["127.0.0.220"]
    assert "R-TLS-MIN, R-TLS-OLD tls.min_version: not automated: its failing clauses ask for " \
        "different parameters" in header(text).replace("\n#    ", "")


def test_waived_and_advisory_controls(tmp_path):
    data = recorded()
    waived = clause(data, "R-HSTS")
    waived["status"] = "waived"
    advice = clause(data, "R-TLS-CIPHER")
    advice["status"] = "pass"  # the remediation stays: an advisory carries one
    advice["controls"][0].update(basis="advice", status="advisory")
    _, _, plays, _ = remediate(tmp_path, data)
    assert not {"R-HSTS", "R-TLS-CIPHER"} & tags(plays)["127.0.0.220"]
    _, _, plays, _ = remediate(tmp_path, data, "--include-advisory")
    assert "R-TLS-CIPHER" in tags(plays)["127.0.0.220"]
    assert "R-HSTS" not in tags(plays)["127.0.0.220"]


def test_selection_by_clause_and_control(tmp_path):
    _, _, plays, _ = remediate(tmp_path, None, "--clause", "R-SSH-KEYS", "--clause", "R-HSTS")
    assert tags(plays)["127.0.0.220"] == {"R-SSH-KEYS", "ssh.key_only", "R-HSTS", "http.hsts"}
    _, _, plays, _ = remediate(tmp_path, None, "--control", "tls.min_version")
    assert tags(plays)["127.0.0.220"] == {"R-TLS-MIN", "tls.min_version"}
    code, text, plays, _ = remediate(tmp_path, None, "--clause", "R-TLS-OLD")  # it passed
    assert code == 0 and plays == []


def test_unknown_ids_exit_2_naming_them(tmp_path, capsys):
    assert remediate(tmp_path, None, "--control", "tls.nope")[0] == 2
    assert "--control 'tls.nope': not in this report" in capsys.readouterr().err
    assert remediate(tmp_path, None, "--clause", "R-NOPE", "--clause", "R-HSTS")[0] == 2
    assert "--clause 'R-NOPE': not in this report" in capsys.readouterr().err


def test_hostile_report_values_are_neutralised(tmp_path, capsys):
    data = recorded()
    jinja = f"{{{{ lookup('pipe', 'touch {tmp_path}/{PWNED}') }}}}"
    clause(data, "R-SSH-KEYS")["clause_id"] = f"R-{jinja}"
    ports = clause(data, "R-PORTS")
    ports["clause_id"] = "R-PORTS\n- hosts: all\n  tasks: [{command: id}]"
    alg = clause(data, "R-SSH-ALG")["controls"][0]["parameters"]["forbidden"]
    alg["kex"].append(f"x{jinja}")
    code, text, plays, _ = remediate(tmp_path, data)
    assert code == 0 and len(plays) == 1  # the newline stayed inside a comment
    task = next(t for t in plays[0]["tasks"] if "ssh.key_only" in t["tags"])
    assert task["name"][0] == "UNSAFE" and jinja in task["name"][1]
    assert ("UNSAFE", f"R-{jinja}") in task["tags"]
    assert "ssh.algorithms" not in tags(plays)["127.0.0.220"]  # a value the fix refuses
    assert "R-SSH-ALG ssh.algorithms: not automated: the value of its parameter 'forbidden'" \
        in header(text).replace("\n#    ", "")
    assert "\\x0a- hosts: all" in text
    if ANSIBLE.exists():
        run = _ansible(tmp_path, "--list-tasks", "--list-tags")
        assert run.returncode == 0, run.stdout + run.stderr
        assert not (tmp_path / PWNED).exists()
    data["targets"][0]["target"] = jinja
    assert remediate(tmp_path, data)[0] == 2
    assert "result.json: target: " in capsys.readouterr().err


def test_no_secret_in_playbook_or_inventory(tmp_path, monkeypatch):
    key = tmp_path / "id_test"
    material = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
    key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{material}\n"
                   "-----END OPENSSH PRIVATE KEY-----\n")
    monkeypatch.setenv("ANNEXSCAN_SUDO_PASSWORD", "s3cret-sudo-Pa55")
    monkeypatch.setenv("ANNEXSCAN_SSH_PASSPHRASE", "s3cret-key-Pa55")
    code, text, _, inventory = remediate(tmp_path, None, "--ssh-user", "audit", "--ssh-key",
                                         str(key), "--ssh-port", "2222", "--sudo",
                                         "--ssh-jump", "jump@10.0.0.1:22")
    assert code == 0
    hosts = yaml.safe_load(inventory)["all"]["hosts"]
    assert hosts["127.0.0.220"] == {
        "ansible_host": "127.0.0.220", "ansible_user": "audit", "ansible_port": 2222,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o ProxyJump=jump@10.0.0.1:22", "ansible_become": True,
        "ansible_become_password": "{{ lookup('ansible.builtin.env', "
                                   "'ANNEXSCAN_SUDO_PASSWORD') }}"}
    for written in (text, inventory):
        for secret in (material, "s3cret-sudo-Pa55", "s3cret-key-Pa55", "PRIVATE KEY"):
            assert secret not in written


def test_inventory_login_options_are_checked(tmp_path, capsys):
    assert remediate(tmp_path, None, "--ssh-jump", "x@-oProxyCommand=id")[0] == 2
    assert remediate(tmp_path, None, "--ssh-key", "/tmp/a key")[0] == 2
    assert "the key path must be" in capsys.readouterr().err


def test_never_writes_through_a_symlink(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "fix.yml").symlink_to(victim)
    assert remediate(tmp_path, None)[0] == 2
    assert victim.read_text() == "keep" and "symbolic link" in capsys.readouterr().err


def test_remediate_does_not_import_ansible(tmp_path):
    argv = ["remediate", str(RECORDED), "-o", str(tmp_path / "f.yml")]
    code = ("import sys; from scanner.cli.main import main; "
            f"assert main({argv!r}) == 0; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'ansible'], 'imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.skipif(not ANSIBLE.exists(), reason="ansible-core is not installed (test extra)")
def test_playbook_passes_ansible_syntax_check(tmp_path):
    assert remediate(tmp_path, None, "--ssh-user", "root", "--ssh-key", "/root/.ssh/id")[0] == 0
    run = _ansible(tmp_path, "--syntax-check")
    assert run.returncode == 0, run.stdout + run.stderr


def _ansible(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    return subprocess.run([str(ANSIBLE), "-i", str(tmp_path / "fix.inventory.yml"),
                           str(tmp_path / "fix.yml"), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_every_automated_control_has_a_decision():
    catalog = load_catalog()
    fixes = load_fixes(catalog)
    decided = set(fixes.fixes) | set(fixes.not_automated)
    assert {c.id for c in catalog if c.automated} <= decided
    assert not set(fixes.fixes) & set(fixes.not_automated)


def test_unknown_control_in_fixes_names_file_line_and_id(tmp_path):
    source = Path(__file__).parents[1] / "controls" / "fixes"
    shutil.copytree(source, tmp_path / "fixes")
    path = tmp_path / "fixes" / "nginx.yaml"
    text = path.read_text().replace("  http.hsts:\n", "  http.hstz:\n")
    path.write_text(text)
    line = text[:text.index("http.hstz")].count("\n") + 2  # its entry's first line
    with pytest.raises(ConfigError) as caught:
        load_fixes(load_catalog(), tmp_path / "fixes")
    assert f"{path}:{line}" in str(caught.value) and "unknown control id 'http.hstz'" in \
        str(caught.value)


def test_scan_inventory_logins_and_playbook_vars(tmp_path, capsys):
    scan_inventory = tmp_path / "hosts.yml"
    scan_inventory.write_text("all:\n  hosts:\n    127.0.0.220:\n      ansible_user: deploy\n"
                              "      ansible_port: 2200\n      ansible_ssh_private_key_file: "
                              "/keys/deploy\n")
    code, _, plays, inventory = remediate(
        tmp_path, None, "--scan-inventory", str(scan_inventory), "--ssh-user", "other",
        "--var", "nginx_conf_paths=/a.conf, /b.conf", "--var", "sshd_reload_command=kill -HUP 1")
    assert code == 0
    assert yaml.safe_load(inventory)["all"]["hosts"]["127.0.0.220"] == {
        "ansible_host": "127.0.0.220", "ansible_user": "deploy", "ansible_port": 2200,
        "ansible_ssh_private_key_file": "/keys/deploy"}
    assert plays[0]["vars"]["nginx_conf_paths"] == ["/a.conf", "/b.conf"]
    assert plays[0]["vars"]["sshd_reload_command"] == "kill -HUP 1"
    capsys.readouterr()
    assert remediate(tmp_path, None, "--var", "ansible_ssh_common_args=-oProxyCommand=id")[0] == 2
    assert "--var 'ansible_ssh_common_args=-oProxyCommand=id': expected NAME=VALUE with NAME " \
        "one of" in capsys.readouterr().err


def test_an_older_report_gets_its_remediation_text_from_the_catalog(tmp_path):
    """A 1.1 report (the old samples) holds no remediation: the header renders it from the
    catalog with the clause's own parameters."""
    sample = json.loads(SAMPLE_1_1.read_text())
    assert sample["schema_version"] == "1.1"
    code, text, plays, _ = remediate(tmp_path, sample)
    assert code == 0 and plays
    top = header(text).replace("\n#    ", "")
    assert "3DOUEST-11.3-PORTS net.allowed_ports: not automated: Closing ports" in top
    assert "To do: Close every TCP and UDP port but 22, 80, 443" in top

