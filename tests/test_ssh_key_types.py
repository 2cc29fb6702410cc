"""ssh.key_types: real keys from ssh-keygen in a sysroot whose sshd_config is Debian's stock
file with a key-only drop-in in sshd_config.d (read through the Include, which sshd is made to
read from the image by a bind mount in a private mount namespace), judged with real sshd -T."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts_support import (PrivateRunTransport, collect_and_check, debian_root,
                              need_root_sshd, ssh_key)
from scanner.model import Status
from scanner.catalog.profiles import load_profile

P, F, E = Status.PASS, Status.FAIL, Status.ERROR
# 3DOUEST-11.3-SSH-KEYS: what the annex says (binding), and "only RSA" (advice)
ANNEX = {"allowed_key_types": ["ssh-rsa"], "required_algorithms": ["rsa-sha2-512",
                                                                  "rsa-sha2-256"]}
ADVICE = {"allowed_key_types": None, "allowed_algorithms": ["rsa-sha2-*"]}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, str]:
    need_root_sshd()
    work = tmp_path_factory.mktemp("keys")
    return {"host": str(work / "host"), "host.pub": ssh_key(work / "host", "ed25519"),
            "rsa": ssh_key(work / "alice", "rsa", 2048), "ed25519": ssh_key(work / "bob", "ed25519")}


def key_types(catalog, root: Path, **params):
    return collect_and_check(catalog, "ssh.key_types", root, PrivateRunTransport(), **params)


def test_stock_debian_key_only_with_rsa_keys(catalog, tmp_path, keys):
    """The annex part passes; "only RSA accepted" does not (Debian accepts ed25519, ECDSA...)."""
    root = debian_root(tmp_path, keys)
    collected, verdict = key_types(catalog, root, **ANNEX)
    assert verdict.status == P, verdict.reason
    assert verdict.observed["present"] == {"/home/alice/.ssh/authorized_keys": ["ssh-rsa 2048"]}
    # the drop-in was read from the image through a bind mount, not from this machine
    assert any("mount --bind" in c.command and "sshd_config.d" in c.command
               for c in collected.commands)
    _, verdict = key_types(catalog, root, **ADVICE)
    assert verdict.status == F and "also accepts ssh-ed25519" in verdict.reason
    assert "rsa-sha2-512," not in verdict.reason.split("also accepts")[1]


def test_only_rsa_accepted_passes_the_advice(catalog, tmp_path, keys):
    root = debian_root(tmp_path, keys, "PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256\n")
    _, verdict = key_types(catalog, root, **ADVICE)
    assert verdict.status == P, verdict.reason


def test_a_non_rsa_authorized_key_fails(catalog, tmp_path, keys):
    root = debian_root(tmp_path, keys, bob=keys["ed25519"])
    _, verdict = key_types(catalog, root, **ANNEX)
    assert verdict.status == F
    assert "/home/bob/.ssh/authorized_keys: ssh-ed25519 key SHA256:" in verdict.reason
    assert "alice" not in verdict.reason


def test_rsa_not_accepted_in_a_match_context_fails(catalog, tmp_path, keys):
    root = debian_root(tmp_path, keys, "Match User alice\n  PubkeyAcceptedAlgorithms "
                                       "ssh-ed25519\n")
    _, verdict = key_types(catalog, root, **ANNEX)
    assert verdict.status == F and "Match User alice (" in verdict.reason
    assert "none of rsa-sha2-512, rsa-sha2-256 accepted" in verdict.reason
    root = debian_root(tmp_path / "nopubkey", keys, "PubkeyAuthentication no\n")
    _, verdict = key_types(catalog, root, **ANNEX)
    assert verdict.status == F and "public keys not accepted" in verdict.reason


def test_rsa_size_rule(catalog, tmp_path, keys):
    root = debian_root(tmp_path, keys)
    assert key_types(catalog, root, min_rsa_bits=2048)[1].status == P
    _, verdict = key_types(catalog, root, min_rsa_bits=3072)
    assert verdict.status == F and "of 2048 bits < 3072" in verdict.reason


@pytest.mark.parametrize("drop_in,words", [
    ("AuthorizedKeysCommand /usr/bin/ldap-keys\nAuthorizedKeysCommandUser nobody\n",
     "AuthorizedKeysCommand /usr/bin/ldap-keys"),
    ("TrustedUserCAKeys /etc/ssh/user_ca.pub\n", "TrustedUserCAKeys /etc/ssh/user_ca.pub"),
])
def test_keys_that_cannot_be_listed_are_error(catalog, tmp_path, keys, drop_in, words):
    _, verdict = key_types(catalog, debian_root(tmp_path, keys, drop_in), **ANNEX)
    assert verdict.status == E and words in verdict.reason


def test_no_rule_selected_is_error(catalog, tmp_path, keys):
    _, verdict = key_types(catalog, debian_root(tmp_path, keys), allowed_key_types=None)
    assert verdict.status == E and "no rule selected" in verdict.reason


def test_no_sshd_is_not_applicable(catalog, tmp_path, keys):
    from test_mfa import NoSbinTransport

    _, verdict = collect_and_check(catalog, "ssh.key_types", debian_root(tmp_path, keys),
                                   NoSbinTransport(), **ANNEX)
    assert verdict.status == Status.NOT_APPLICABLE and "not installed" in verdict.reason


def test_stock_debian_key_only_passes_3douest_ssh_keys_with_advisories(catalog, tmp_path, keys):
    """Issue 7's yardstick, on the whole clause as the profile has it: every host control the
    annex requires passes a stock Debian sshd configured key-only with an RSA key, and the
    hardening the profile adds (MaxAuthTries, idle timeout, MACs, RSA-only algorithms) only
    advises."""
    root = debian_root(tmp_path, keys)
    clause = next(c for c in load_profile("3douest", catalog).clauses
                  if c.id == "3DOUEST-11.3-SSH-KEYS")
    verdicts = [(ref.basis, ref.control_id,
                 collect_and_check(catalog, ref.control_id, root, PrivateRunTransport(),
                                   **ref.parameters)[1])
                for ref in clause.controls if catalog.get(ref.control_id).probe == "host"]
    annex = {control: v.status for basis, control, v in verdicts if basis == "annex"}
    assert annex == {"host.sshd_config": P, "ssh.key_types": P}, \
        [v.reason for _, _, v in verdicts]
    advice = [v for basis, _, v in verdicts if basis == "advice"]
    assert advice and any(v.status == F for v in advice)  # reported as advisories
