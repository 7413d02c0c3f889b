"""A command that needs an install extra the installation lacks stops at once with a sentence naming it."""

from __future__ import annotations

import importlib.util

import click
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.commands import _extras


def _without(monkeypatch, *hidden: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in hidden else real(name, *args, **kwargs)

    monkeypatch.setattr(_extras.importlib.util, "find_spec", find_spec)


def test_a_missing_module_names_the_extra_and_how_to_install_it(monkeypatch):
    _without(monkeypatch, "distributed")
    with pytest.raises(click.ClickException) as caught:
        _extras.require_extra("dask", ("dask", "distributed"), "newsletter --workers / --scheduler")
    message = caught.value.message
    assert "'dask' extra" in message and "distributed not installed" in message
    assert "pip install -e '.[dask]'" in message
    assert "dask," not in message  # only what is missing is named


def test_installed_modules_pass():
    _extras.require_extra("plots", ("json", "numpy"), "anything")  # both importable: no error


def test_evaluate_report_without_matplotlib_fails_before_evaluating(monkeypatch, tmp_path):
    _without(monkeypatch, "matplotlib")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["evaluate", "--data", "synthetic", "--couples", "50",
                                       "--no-progress", "--report", str(out)])
    assert result.exit_code == 1
    assert "evaluate --report needs the 'plots' extra" in result.output
    assert "NDCG" not in result.output and not out.exists()  # nothing was evaluated or written


def test_serve_without_the_server_extra_says_so(monkeypatch):
    _without(monkeypatch, "gunicorn")
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "dateideas serve needs the 'server' extra (gunicorn not installed)" in result.output
