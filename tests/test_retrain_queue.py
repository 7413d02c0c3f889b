"""Retrain storms: one queued request at most, one automatic training per minimum interval, rollbacks that hold."""

from __future__ import annotations

import datetime as _dt
import time

import pytest

from engine.app import retrain_queue
from engine.learning.registry import Registry


def test_requests_coalesce_into_one_pending(store):
    assert retrain_queue.pending(store) is None
    assert retrain_queue.request(store, "50 new dates") is True
    assert all(retrain_queue.request(store, f"{n} new dates") is False for n in range(20))
    assert retrain_queue.pending(store)["owner"].endswith(":50 new dates")
    assert retrain_queue.take(store) is True and retrain_queue.take(store) is False
    assert retrain_queue.pending(store) is None


def test_seconds_until_allowed_counts_from_the_latest_run_start(store):
    assert retrain_queue.seconds_until_allowed(store, 900) == 0.0  # no run yet
    store.start_training_run()
    started = _dt.datetime.fromisoformat(store.training_runs(1)[0]["started_at"].rstrip("Z"))
    assert retrain_queue.seconds_until_allowed(store, 900, started + _dt.timedelta(seconds=600)) == 300.0
    assert retrain_queue.seconds_until_allowed(store, 900, started + _dt.timedelta(seconds=901)) == 0.0
    assert retrain_queue.seconds_until_allowed(store, 0, started) == 0.0


class _Clocked:
    """The store, with training-run start times on a fake clock (the waiter's ``now``)."""

    def __init__(self, store, start: _dt.datetime):
        self._store, self.now, self.starts = store, start, []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def training_runs(self, limit: int = 20):
        return [{"started_at": t.isoformat() + "Z"} for t in reversed(self.starts)][:limit]


@pytest.mark.slow
def test_a_storm_of_requests_gives_one_training_per_interval(store):
    """Dates keep arriving for three hours (a request every simulated minute) right after a training:
    with a one-hour minimum interval the waiter trains three times, an hour apart."""
    t0 = _dt.datetime(2026, 1, 1, 12, 0, 0)
    clocked = _Clocked(store, t0)
    clocked.starts.append(t0)  # a training just started
    storm_ends = t0 + _dt.timedelta(hours=3)

    def sleep(seconds):
        clocked.now += _dt.timedelta(seconds=seconds)
        if clocked.now < storm_ends:
            for _ in range(5):  # dates posted quickly: many requests per minute
                retrain_queue.request(store, "new dates")

    def run():
        clocked.starts.append(clocked.now)
        retrain_queue.take(store)  # what run_training does as it starts
        sleep(600)  # ten minutes of training, while dates keep arriving
        return "trained"

    retrain_queue.request(store, "new dates")
    ran = retrain_queue.serve_queue(clocked, 3600, run, sleep=sleep, poll=60, now=lambda: clocked.now)
    gaps = [(b - a).total_seconds() for a, b in zip(clocked.starts, clocked.starts[1:])]
    assert ran == 3 and gaps == [3600.0, 3600.0, 3600.0]
    assert retrain_queue.pending(store) is None and store.lock_holder(retrain_queue.WAITER_LOCK) is None


def test_a_second_waiter_leaves_the_queue_to_the_first(store):
    assert store.try_lock(retrain_queue.WAITER_LOCK, "elsewhere:1:waiter", ttl_s=60)
    retrain_queue.request(store, "new dates")
    assert retrain_queue.serve_queue(store, 0, lambda: pytest.fail("must not train")) == 0
    assert retrain_queue.pending(store) is not None


# ------------------------------------------------------------------ through the service

def _post_dates(client, couple, idea, n):
    couple_id, headers = couple
    for _ in range(n):
        r = client.post(f"/v1/couples/{couple_id}/dates", headers=headers, json={"idea_id": idea, "ratings": {"a": 4}})
        assert r.status_code == 201, r.get_json()


@pytest.fixture
def couple(client):
    body = client.post("/v1/couples", json={}).get_json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


@pytest.fixture
def idea(client):
    return client.get("/v1/ideas?limit=1").get_json()["ideas"][0]["id"]


@pytest.mark.slow
def test_many_dates_posted_quickly_start_one_waiter_and_queue_one_request(client, app, couple, idea, monkeypatch):
    store = app.extensions["dateideas.store"]
    launcher = app.extensions["dateideas.training"]
    spawned = []

    def spawn(store_, args, reason):  # stands in for the detached process: it holds the waiter lock
        spawned.append(args)
        store_.try_lock(retrain_queue.WAITER_LOCK, f"fake:{len(spawned)}:waiter", ttl_s=600)
        return 4242

    monkeypatch.setattr(launcher, "_spawn", spawn)
    app.config["RETRAIN_AFTER_DATES"] = 5
    launcher.min_interval = 3600.0
    time.sleep(1.1)  # run start times are kept to the second: let the fixture's bulk load be earlier
    store.finish_training_run(store.start_training_run(), "succeeded")
    _post_dates(client, couple, idea, 60)
    assert spawned == [["--wait-for-queue"]]  # one waiter; no training started now
    assert retrain_queue.pending(store) is not None  # one request, coalesced
    assert len(store.training_runs()) == 1
    body = client.get("/v1/admin/models", headers={"Authorization": "Bearer admin-test-token"}).get_json()
    assert body["training"]["queued"]["owner"].endswith("new dates since " + store.training_runs()[0]["started_at"]
                                                        .rstrip("Z").replace("T", " "))


def test_the_interval_and_retention_settings_come_from_the_environment():
    from engine.config import settings_from_env

    settings = settings_from_env({"DATEIDEAS_RETRAIN_MIN_INTERVAL": "60", "DATEIDEAS_KEEP_MODELS": "3"})
    assert (settings.retrain_min_interval, settings.keep_models) == (60.0, 3)
    assert (settings_from_env({}).retrain_min_interval, settings_from_env({}).keep_models) == (900.0, 10)
    with pytest.raises(ValueError, match="DATEIDEAS_RETRAIN_MIN_INTERVAL must be a number >= 0, got 'soon'"):
        settings_from_env({"DATEIDEAS_RETRAIN_MIN_INTERVAL": "soon"})
    with pytest.raises(ValueError, match="DATEIDEAS_KEEP_MODELS must be a whole number >= 0, got '-2'"):
        settings_from_env({"DATEIDEAS_KEEP_MODELS": "-2"})


@pytest.mark.slow
def test_run_training_takes_the_pending_request_and_prunes(store, tmp_path, monkeypatch, tiny_model_dir):
    """A run takes the queued request as it starts and leaves the live version plus the newest N."""
    import shutil

    from engine.app.training import TrainResult
    from engine.commands.model import run_training
    from engine.config import Settings

    folder = shutil.copytree(tiny_model_dir, tmp_path / "models")
    registry = Registry(folder)
    live = registry.live_version()
    model, _ = registry.load(live)
    seen = []

    def fake_train(dates, catalog, registry_, *, keep, **kwargs):  # the gate is tested in test_gate.py
        seen.append(retrain_queue.pending(store))
        version = registry_.save(model)
        return TrainResult(version=version, promoted=False, reason="test", pruned=registry_.prune(keep))

    monkeypatch.setattr("engine.app.training.train_and_maybe_promote", fake_train)
    retrain_queue.request(store, "new dates")
    settings = Settings(database_url="unused", model_dir=folder, keep_models=2)
    results = [run_training(store, settings) for _ in range(4)]
    assert seen == [None] * 4  # taken as the first run started
    kept = [c["version"] for c in registry.versions()]
    assert kept == [live] + [r.version for r in results[-2:]]
    assert results[-1].pruned == [results[1].version]


@pytest.mark.slow
def test_a_rollback_survives_100_posted_dates_and_a_background_retrain(client, app, couple, idea, admin_headers):
    """A real background retraining (the waiter process) after 100 posted dates: the candidate is
    trained, judged and saved, and the rolled-back version stays live and served."""
    store = app.extensions["dateideas.store"]
    registry = Registry(app.config["MODEL_DIR"])
    first = registry.live_version()
    model, _ = registry.load(first)
    registry.promote(registry.save(model))
    assert registry.rollback() == first and registry.pinned_version() == first
    app.config["RETRAIN_AFTER_DATES"] = 50
    app.extensions["dateideas.training"].min_interval = 0.0
    _post_dates(client, couple, idea, 100)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        runs = store.training_runs()
        if runs and runs[0]["status"] != "running" and store.lock_holder(retrain_queue.WAITER_LOCK) is None:
            break
        time.sleep(2)
    run = store.training_runs()[0]
    assert run["status"] == "succeeded" and not run["promoted"], run
    assert registry.live_version() == first and registry.pinned_version() == first
    gate = registry.card(run["version"])["gate"]
    assert gate["decision"].startswith(f"{first} is pinned")
    couple_id, headers = couple
    assert client.get(f"/v1/couples/{couple_id}/tonight", headers=headers).get_json()["model_version"] == first
    body = client.get("/v1/admin/models", headers=admin_headers).get_json()
    assert body["pinned"] == first and body["live"] == first


@pytest.mark.slow
def test_a_storm_of_posted_dates_runs_one_real_training_and_queues_one(client, app, couple, idea):
    """The storm repro with real processes: dates posted quickly, a retrain requested every 50, a
    one-hour minimum interval: one training runs, the rest wait as one request in one waiter."""
    import os
    import signal

    store = app.extensions["dateideas.store"]
    app.config["RETRAIN_AFTER_DATES"] = 50
    app.extensions["dateideas.training"].min_interval = 3600.0

    def wait_for(condition, what):
        deadline = time.monotonic() + 600
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(1)

    try:
        _post_dates(client, couple, idea, 150)
        wait_for(lambda: store.training_runs() and store.training_runs()[0]["status"] != "running",
                 "the first training")
        _post_dates(client, couple, idea, 150)  # more than 50 since it started: a request, not a training
        wait_for(lambda: store.lock_holder(retrain_queue.WAITER_LOCK) is not None, "the waiter")
        assert retrain_queue.pending(store) is not None
        assert [r["status"] for r in store.training_runs()] == ["succeeded"]
    finally:
        waiter = store.lock_holder(retrain_queue.WAITER_LOCK)
        if waiter is not None:
            os.kill(int(waiter["owner"].split(":")[1]), signal.SIGTERM)
