"""The Makefile: `make demo PORT= HOST=` reaches `dateideas serve`; the venv's pip and setuptools are
upgraded before the project is installed; demo installs no test extras, test does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _plan(target: str, tmp_path: Path, *variables: str) -> list[str]:
    """The commands `make TARGET` would run for a fresh venv (dry run, every target out of date)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # run under make too
    done = subprocess.run(["make", "--no-print-directory", "-n", "-B", target, f"VENV={tmp_path / 'venv'}",
                           *variables], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_demo_passes_port_and_host_to_serve(tmp_path):
    plan = _plan("demo", tmp_path, "PORT=8001", "HOST=0.0.0.0")
    assert plan[-1] == f"{tmp_path / 'venv'}/bin/dateideas serve --demo --host '0.0.0.0' --port '8001'"
    assert _plan("demo", tmp_path)[-1].endswith("serve --demo --host '127.0.0.1' --port '8000'")


def test_pip_and_setuptools_are_upgraded_before_the_project_is_installed(tmp_path):
    plan = _plan("demo", tmp_path)
    upgrade = next(i for i, line in enumerate(plan) if "install --quiet --upgrade pip setuptools" in line)
    install = next(i for i, line in enumerate(plan) if line.endswith("-e '.[server]'"))
    assert plan[0].endswith(f"-m venv {tmp_path / 'venv'}") and 0 < upgrade < install


def test_demo_installs_no_extras_and_test_installs_the_test_extra(tmp_path):
    assert not any("[test" in line for line in _plan("demo", tmp_path))
    test = _plan("test", tmp_path)
    assert any(line.endswith("-e '.[test,bench]'") for line in test)
    assert test[-1].endswith("-m pytest -q")
