"""An installed annexscan (not the checkout) finds its catalog, profiles and report schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_installed_package_ships_its_data(tmp_path):
    target = tmp_path / "site"
    # A clean copy: a stale build/ directory in the checkout would hide missing packages.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        "build", ".venv", "*.egg-info", ".git", "test-artifacts", "__pycache__", ".pytest_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                            "--target", str(target), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    # The dev venv's editable install adds a meta-path finder that would serve scanner.*
    # submodules from the checkout: drop it so only the installed copy can answer.
    probe = ("import sys\n"
             "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
             "from scanner.catalog.resources import controls_dir, profiles_dir, report_schema_path\n"
             "from scanner.catalog.profiles import builtin_profile_ids\n"
             "from scanner.checks.registry import check_registry\n"
             "from scanner.hostprobes.registry import collector_registry\n"
             "assert 'host.sshd_config' in check_registry() and 'sshd' in collector_registry()\n"
             "from scanner.probes.fingerprint import signatures\n"
             "assert signatures()['exchanges']  # controls/signatures ships\n"
             "assert (profiles_dir() / 'sources' / '3douest.txt').is_file()  # the annex texts\n"
             "from scanner.catalog.controls import load_catalog\n"
             "from scanner.remediation.fixes import load_fixes\n"
             "load_fixes(load_catalog())  # controls/fixes ships, and matches the catalog\n"
             "import scanner.lab.hosts as lab, scanner.reporters.html_template as h, pathlib\n"
             "assert (pathlib.Path(lab.__file__).parent / 'expected.yaml').is_file()\n"
             "assert (pathlib.Path(h.__file__).parent / 'templates' / 'report.html.j2').is_file()\n"
             "print(controls_dir()); print(report_schema_path().is_file()); "
             "print(','.join(builtin_profile_ids()))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    controls, schema, profiles = out.stdout.split()
    assert controls.startswith(str(target)), "data must come from the install, not the checkout"
    assert schema == "True"
    assert profiles == "3douest,sistec,slime,teranga,zenlocassur"
