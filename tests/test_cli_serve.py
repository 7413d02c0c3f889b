"""``dateideas serve``: the printed curl lines run as printed; a taken port and an unreachable
database each end in one sentence naming the fix (no traceback)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import _free_port, running_server

from engine.store import open_store

pytestmark = pytest.mark.slow  # starts servers or a browser


def _serve(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "serve", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def test_a_taken_port_fails_at_once_naming_the_make_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(["--demo", "--port", str(port)],
                        _env(DATEIDEAS_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                             DATEIDEAS_MODEL_DIR=str(tmp_path / "models")), tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: port {port} is in use; run make demo PORT={port + 1} "
                                     f"(or dateideas serve --port {port + 1})")
    assert not (tmp_path / "db.sqlite3").exists()  # failed before building anything


def test_an_unreachable_database_is_one_sentence_with_the_url_and_no_password(tmp_path):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql+psycopg://root:s3cret@127.0.0.1:{port}/nowhere"
    result = _serve(["--port", str(_free_port())], _env(DATEIDEAS_DATABASE_URL=url), tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: cannot reach the database at postgresql+psycopg://root:***@127.0.0.1:{port}"
                               "/nowhere (")
    assert lines[0].endswith("start the database server, or set DATEIDEAS_DATABASE_URL to a database that "
                             "is reachable")


@pytest.fixture
def demo_server(tmp_path, tiny_world, model_dir):
    """``serve --demo`` on a store holding the tiny world's (demo) couples; yields (printed output, port)."""
    db_url = f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}"
    store = open_store(db_url)
    store.migrate()
    store.bulk_load([{"id": str(c)} for c in tiny_world.couples["id"]], tiny_world.dates, source="demo")
    store.close()
    port = _free_port()
    env = _env(DATEIDEAS_DATABASE_URL=db_url, DATEIDEAS_MODEL_DIR=str(model_dir),
               DATEIDEAS_RETRAIN_AFTER_DATES="0")
    for name in ("DATEIDEAS_ADMIN_TOKEN", "DATEIDEAS_METRICS_TOKEN", "DATEIDEAS_SECRET_KEY"):
        env.pop(name, None)
    out = tmp_path / "serve.out"
    with running_server(["serve", "--demo", "--port", str(port), "--workers", "1"], port, env, tmp_path, out):
        yield out.read_text(), port


@pytest.mark.slow
def test_every_printed_curl_line_runs_as_printed(demo_server):
    printed, port = demo_server
    lines = [line.strip() for line in printed.splitlines() if line.strip().startswith("curl ")]
    assert len(lines) == 7, printed  # tonight, another, rate, ideas, readyz, metrics, admin
    assert not any("IDEA_ID" in line or "$" in line for line in lines)
    answers = []
    for line in lines:
        # as printed, by a shell; only curl's own output options are added at the end
        done = subprocess.run(["bash", "-c", line + " -sS -w '\\n%{http_code}'"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, (line, done.stderr)
        body, status = done.stdout.rsplit("\n", 1)
        assert status in ("200", "201"), (line, status, body)
        answers.append(body)
    tonight, _another, rated = json.loads(answers[0]), json.loads(answers[1]), json.loads(answers[2])
    post = shlex.split(lines[2])
    sent = json.loads(post[post.index("-d") + 1])
    assert sent["idea_id"] == tonight["suggestion"]["idea_id"]  # tonight's first suggestion, a real idea
    assert rated["idea_id"] == sent["idea_id"] and rated["ratings"] == {"a": 5, "b": 4}
    assert re.search(rf"http://127\.0\.0\.1:{port}/v1/admin/models", lines[6])
    assert json.loads(answers[6])["live"]  # the generated admin token opens the admin routes
