"""Every defect of issue 8 part 1 has its cases, and at least one of them is measured.

COVERAGE maps each item to the tests that reproduce it on a real server or a real file tree
(test node ids without parameters). A listed test that no longer exists fails here, so does an
item none of whose tests calls hostile_harness.record(): the closing note's table of time and
peak memory is built from those records (ANNEXSCAN_HOSTILE_MEASURES=FILE pytest ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ITEMS = {
    1: "nmap argument injection", 2: "unbounded reads", 3: "hangs",
    4: "backup names holding a newline", 5: "authorized_keys framing",
    6: "verify and zip bombs", 7: "writing follows symlinks", 8: "attestation evidence paths",
    9: "control characters", 10: "the private-key guard as a DoS", 11: "YAML bombs",
    12: "leaks", 13: "inventory host values", 14: "host checks strictly read-only",
    15: "verify without --pubkey"}
COVERAGE: dict[int, list[str]] = {
    1: ["test_hostile_targets.py::test_zone_id_injection_is_refused_at_every_entry_point",
        "test_hostile_targets.py::test_the_port_probe_refuses_a_non_canonical_address_itself",
        "test_hostile_targets.py::test_the_port_probe_scans_a_canonical_address"],
    2: ["test_hostile_scan_ssh.py::test_host_whose_every_command_floods_output",
        "test_hostile_scan_net.py::test_smtp_greeting_without_end_is_cut",
        "test_hostile_transports.py::test_local_endless_output_is_cut_at_the_cap",
        "test_hostile_transports.py::test_ssh_endless_output_is_cut_at_the_cap",
        "test_hostile_transports.py::test_ssh_modest_output_is_kept_whole",
        "test_tls_hostile.py::test_hostile_dialogues_are_bounded"],
    3: ["test_hostile_scan_net.py::test_https_answer_dribbled_after_the_handshake_is_cut",
        "test_tls_budget.py::test_a_dribbled_handshake_ends_at_the_port_bound_and_spares_the_"
        "other_target",
        "test_tls_budget.py::test_a_spent_budget_makes_the_probes_left_errors_and_spares_the_"
        "other_target",
        "test_tls_budget.py::test_a_probe_overrunning_the_budget_is_abandoned_at_its_end",
        "test_hostile_web.py::test_https_fetch_stops_at_its_deadline_when_the_answer_dribbles",
        "test_hostile_servers.py::test_dribbling_http_body_is_cut_at_the_timeout",
        "test_hostile_servers.py::test_dribbling_ssh_is_an_error_within_bound"],
    4: ["test_hostile_files.py::test_backup_names_with_newlines_read_only_listed_files",
        "test_host_backups.py::test_backups_newline_in_a_name_is_one_entry"],
    5: ["test_hostile_files.py::test_forged_framing_hides_no_key",
        "test_hostile_transports.py::test_a_user_cannot_hide_a_key_by_forging_the_framing",
        "test_hostile_transports.py::test_allowlisted_keys_with_odd_bytes_pass"],
    6: ["test_hostile_bundle.py::test_zip_bomb_with_honest_header_is_refused_before_inflating",
        "test_hostile_bundle.py::test_zip_bomb_lying_about_its_size_is_read_no_further",
        "test_hostile_bundle.py::test_manifest_bomb_is_not_read"],
    7: ["test_hostile_bundle.py::test_report_refuses_a_symlink_planted_at_its_output",
        "test_hostile_bundle.py::test_bundle_never_written_through_a_symlink"],
    8: ["test_hostile_files.py::test_attestation_evidence_outside_its_directory",
        "test_hostile_inputs.py::test_evidence_leaving_the_directory_is_refused",
        "test_hostile_inputs.py::test_evidence_symlink_swapped_after_loading_is_refused_at_"
        "bundle_time"],
    9: ["test_hostile_scan_ssh.py::test_server_escapes_reach_no_terminal_and_no_junit",
        "test_hostile_bundle.py::test_entry_name_cannot_redraw_the_terminal",
        "test_hostile_inputs.py::test_every_format_parses_with_control_characters",
        "test_hostile_inputs.py::test_summary_escapes_server_text_on_the_terminal"],
    10: ["test_hostile_bundle.py::test_server_sending_key_text_cannot_block_the_bundle"],
    11: ["test_hostile_inputs.py::test_yaml_bomb_in_user_file_is_a_clean_error_in_bounded_time_"
         "and_memory",
         "test_hostile_inputs.py::test_legitimate_aliases_still_load"],
    12: ["test_hostile_scan_ssh.py::test_failed_login_leaves_the_scan_bounded",
         "test_hostile_transports.py::test_logins_leave_no_paramiko_thread"],
    13: ["test_hostile_targets.py::test_inventory_host_values_are_single_hosts",
          "test_hostile_targets.py::test_inventory_host_name_without_ansible_host_is_checked_too"],
    14: ["test_host_readonly.py::test_local_host_checks_write_nothing",
         "test_host_readonly.py::test_sysroot_host_checks_write_nothing",
         "test_host_readonly.py::test_host_checks_over_ssh_write_nothing",
         "test_host_readonly.py::test_trace_catches_the_apt_simulation_that_writes",
         "test_host_patches.py::test_patches_collector_writes_nothing"],
    15: ["test_hostile_bundle.py::test_forged_signature_without_pubkey_is_not_called_authentic"],
}
# An item whose cases cannot record figures, with the reason (none today).
UNMEASURED: dict[int, str] = {}


def functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def case(node: str) -> ast.FunctionDef | None:
    """The test function a node id names, None when its file or the function is gone."""
    name, _, function = node.partition("::")
    path = TESTS / name
    return functions(path).get(function) if path.exists() else None


def calls_record(node: ast.FunctionDef) -> bool:
    return any(isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
               and call.func.id == "record" for call in ast.walk(node))


def test_every_item_has_cases():
    assert sorted(COVERAGE) == sorted(ITEMS) == list(range(1, 16))
    assert all(COVERAGE.values())


def test_every_listed_case_exists():
    missing = [f"item {item}: {node}" for item, nodes in COVERAGE.items() for node in nodes
               if case(node) is None]
    assert not missing, f"listed cases that do not exist: {missing}"


def test_every_item_has_a_measured_case():
    unmeasured = [item for item, nodes in COVERAGE.items() if item not in UNMEASURED
                  and not any((found := case(node)) and calls_record(found) for node in nodes)]
    assert not unmeasured, f"items without a case that records its figures: {unmeasured}"


def test_hostile_test_files_are_all_listed():
    """A new test_hostile_*.py file names the items it covers here."""
    listed = {node.split("::")[0] for nodes in COVERAGE.values() for node in nodes}
    unlisted = {p.name for p in TESTS.glob("test_hostile_*.py")} - listed - {Path(__file__).name}
    assert not unlisted, unlisted
