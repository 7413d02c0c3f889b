"""The service under a real gunicorn (``dateideas serve``, 2 workers) on loopback.

The three flows end to end, 16 threads asking for tonight while a retrain is
promoted, and a killed training process.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry

pytestmark = pytest.mark.slow  # starts servers or a browser

ADMIN = "gunicorn-admin-token"


class _Server:
    def __init__(self, port: int, process: subprocess.Popen, model_dir: Path, db_url: str):
        self.port, self.process, self.model_dir, self.db_url = port, process, model_dir, db_url

    def call(self, method: str, path: str, body=None, token: str | None = None, timeout: float = 30.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, (json.loads(raw) if is_json and raw else raw.decode())

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_world, serve_gunicorn):
    """gunicorn with 2 workers on a SQLite store holding the tiny world; a deliberately weak first model."""
    root = tmp_path_factory.mktemp("gunicorn")
    # a weak live model (10 couples, 5 boosting rounds), so a retrain on everything passes the gate
    few = tiny_world.dates[tiny_world.dates["couple_id"].isin(tiny_world.couples["id"].iloc[:10])]
    registry = Registry(root / "models")
    weak = registry.save(EnjoymentModel(max_iter=5).fit(few, tiny_world.catalog))
    registry.promote(weak, catalog=tiny_world.catalog)
    with serve_gunicorn(root, tiny_world, root / "models", {"DATEIDEAS_ADMIN_TOKEN": ADMIN}) as (port, process, db):
        srv = _Server(port, process, root / "models", db)
        srv.weak_version, srv.catalog = weak, tiny_world.catalog
        yield srv


def _couple(srv: _Server) -> tuple[str, str]:
    status, body = srv.call("POST", "/v1/couples", {})
    assert status == 201
    return body["id"], body["token"]


def _swaps(srv: _Server) -> float:
    """Models loaded or swapped in, summed over the workers (``dateideas_model_swaps_total``)."""
    _, text = srv.call("GET", "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("dateideas_model_swaps_total"))


def _make_weak_model_live(srv: _Server, couple: tuple[str, str]) -> str:
    """Promote the weak first model again (so the next retrain passes the gate) and wait until *both*
    workers serve it: each counts one swap. (Eight answers of the new version can all come from one
    worker while the other still serves the old model.)"""
    before = _swaps(srv)
    Registry(srv.model_dir).promote(srv.weak_version, catalog=srv.catalog)
    couple_id, token = couple

    def both_swapped() -> bool:
        versions = {srv.call("GET", f"/v1/couples/{couple_id}/tonight", token=token)[1]["model_version"]
                    for _ in range(8)}
        return versions == {srv.weak_version} and _swaps(srv) >= before + 2  # conftest serves 2 workers

    srv.wait_for(both_swapped, 60, "both workers to serve the weak model")  # generous: a loaded machine is slow
    return srv.weak_version


def _train_and_wait(srv: _Server, old_version: str) -> str:
    status, body = srv.call("POST", "/v1/admin/train", token=ADMIN)
    assert status == 202, body

    def finished():
        _, models = srv.call("GET", "/v1/admin/models", token=ADMIN)
        runs = models["training"]["runs"]
        return models if runs and runs[0]["pid"] == body["pid"] and runs[0]["status"] != "running" else None

    models = srv.wait_for(finished, 300, f"training process {body['pid']} to finish")

    def exited() -> bool:  # reaped by its worker, which then frees the launch lock
        try:
            os.kill(body["pid"], 0)
        except ProcessLookupError:
            return True
        return False

    srv.wait_for(exited, 60, f"training process {body['pid']} to exit")
    run = models["training"]["runs"][0]
    assert run["status"] == "succeeded" and run["promoted"], run
    assert models["live"] == run["version"] != old_version
    return run["version"]


def test_three_flows_end_to_end(server):
    # 1. a couple, tonight
    couple_id, token = _couple(server)
    status, first = server.call("GET", f"/v1/couples/{couple_id}/tonight?budget=2&k=3", token=token)
    assert status == 200 and first["cold_start"] is True
    old_version = first["model_version"]
    # 2. after the date: rate it; the next suggestion reflects it at once
    idea = first["suggestion"]["idea_id"]
    status, record = server.call("POST", f"/v1/couples/{couple_id}/dates",
                                 {"idea_id": idea, "ratings": {"a": 5, "b": 4}, "note": "lovely"}, token=token)
    assert status == 201 and record["ratings"] == {"a": 5, "b": 4}
    status, after = server.call("GET", f"/v1/couples/{couple_id}/tonight?budget=2&k=3", token=token)
    assert status == 200 and after["cold_start"] is False and after["model_version"] == old_version
    # retrain in the background; every worker serves the new version within seconds
    new_version = _train_and_wait(server, old_version)
    seen = server.wait_for(
        lambda: {server.call("GET", f"/v1/couples/{couple_id}/tonight?budget=2", token=token)[1]["model_version"]
                 for _ in range(8)} == {new_version},
        15, f"both workers to serve {new_version}")
    assert seen
    # 3. the operator: metrics and the registry
    status, text = server.call("GET", "/metrics")
    assert status == 200
    assert f'dateideas_model_live_info{{version="{new_version}"}} 1.0' in text
    assert 'dateideas_training_runs{status="succeeded"} 1.0' in text
    assert 'dateideas_dates_received_total{result="created"} 1.0' in text  # summed over both workers
    requests = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('dateideas_http_requests_total'
                                      '{method="GET",route="/v1/couples/<couple_id>/tonight"'))
    assert requests >= 10


def test_sixteen_threads_during_a_promotion(server):
    couples = [_couple(server) for _ in range(4)]
    _make_weak_model_live(server, couples[0])
    errors: list[str] = []
    versions: list[str] = []
    stop = threading.Event()

    def ask(n: int) -> None:
        couple_id, token = couples[n % len(couples)]
        while not stop.is_set():
            try:
                status, body = server.call("GET", f"/v1/couples/{couple_id}/tonight?k=3&setting=out", token=token)
            except OSError as exc:
                errors.append(repr(exc))
                continue
            if status != 200:
                errors.append(f"{status}: {body}")
            else:
                versions.append(body["model_version"])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    try:
        server.wait_for(lambda: len(versions) >= 16, 120, "the first answers")
        old = versions[0]
        new = _train_and_wait(server, old)
        server.wait_for(lambda: versions[-16:] == [new] * 16, 60, "all threads to get the new version")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert versions[0] == old and versions[-1] == new and set(versions) == {old, new}


def test_killed_training_leaves_the_old_model_and_is_reported(server):
    _, before = server.call("GET", "/v1/admin/models", token=ADMIN)
    live = before["live"]
    status, body = server.call("POST", "/v1/admin/train", token=ADMIN)
    assert status == 202
    pid = body["pid"]

    def running():
        _, models = server.call("GET", "/v1/admin/models", token=ADMIN)
        run = models["training"]["running"]
        return run if run and run["pid"] == pid else None

    run = server.wait_for(running, 120, "the training run to start")
    os.kill(pid, signal.SIGKILL)
    server.wait_for(lambda: server.call("GET", "/v1/admin/models", token=ADMIN)[1]["training"]["last_failure"],
                    30, "the failure to be reported")
    _, after = server.call("GET", "/v1/admin/models", token=ADMIN)
    failure = after["training"]["last_failure"]
    assert failure["id"] == run["id"] and failure["status"] == "failed"
    assert "is gone (killed or crashed)" in failure["error"]
    assert after["live"] == live and after["training"]["running"] is None
    couple_id, token = _couple(server)
    status, tonight = server.call("GET", f"/v1/couples/{couple_id}/tonight", token=token)
    assert status == 200 and tonight["model_version"] == live
    # the dead run's lock does not block the next training
    status, again = server.call("POST", "/v1/admin/train", token=ADMIN)
    assert status == 202
    server.wait_for(lambda: server.call("GET", "/v1/admin/models", token=ADMIN)[1]["training"]["runs"][0]["pid"]
                    == again["pid"], 120, "the next training run to start")
    try:
        os.kill(again["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
