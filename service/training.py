"""Background retraining: ``dateideas train --json`` as a detached process, never in a request thread.

Triggers: ``POST /v1/admin/train`` (starts now), or ``RETRAIN_AFTER_DATES`` new
dates since the latest training run started (or, before any run, since the
live model was created). The automatic trigger only *requests* a retraining
(:mod:`engine.app.retrain_queue`): at most one request is pending, and one waiter
process (``train --wait-for-queue``) runs it once ``RETRAIN_MIN_INTERVAL``
seconds (``DATEIDEAS_RETRAIN_MIN_INTERVAL``, default 900) have passed since the
latest run started, so dates posted quickly give at most one training per
interval. The training command itself is single-flight across workers and
hosts (the store's ``training`` lock) and records a ``training_runs`` row; a
short ``training-launch`` lock (held from the launch until the process
ends, at most 20 s) keeps two workers from starting processes in the same moment. A run whose
process died is marked failed by
``Store.mark_stale_training_runs`` and shows in ``GET /v1/admin/models``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from flask import Flask, current_app

from engine.app import ArtifactError, Registry, Store, retrain_queue

__all__ = ["TrainingLauncher", "get_launcher", "init_app"]

logger = logging.getLogger(__name__)

_LAUNCH_LOCK = "training-launch"
_LAUNCH_TTL_S = 20.0


class TrainingLauncher:
    """Starts training processes for one app.

    Parameters
    ----------
    database_url, model_dir : str
        Passed to the training process as ``DATEIDEAS_DATABASE_URL`` / ``DATEIDEAS_MODEL_DIR``.
    catalog_dir : str, optional
        Passed as ``DATEIDEAS_CATALOG``.
    log_path : str, optional
        The process's stdout/stderr are appended here (default ``<model_dir>/training.log``).
    check_interval : float, default=10.0
        Seconds between "enough new dates?" checks in this process.
    min_interval : float, default=900.0
        Seconds from one training's start to the next automatic one
        (passed to the process as ``DATEIDEAS_RETRAIN_MIN_INTERVAL``).
    """

    def __init__(self, database_url: str, model_dir: str, catalog_dir: str | None = None,
                 log_path: str | None = None, check_interval: float = 10.0, min_interval: float = 900.0):
        self.database_url = database_url
        self.model_dir = model_dir
        self.catalog_dir = catalog_dir
        self.log_path = Path(log_path) if log_path else Path(model_dir) / "training.log"
        self.check_interval = check_interval
        self.min_interval = min_interval
        self._next_check = 0.0
        self._owner = f"{socket.gethostname()}:{os.getpid()}"

    def running(self, store: Store) -> dict | None:
        """The training run in progress (after failing runs whose process is gone), or None."""
        store.mark_stale_training_runs()
        return next((run for run in store.training_runs(limit=5) if run["status"] == "running"), None)

    def start(self, store: Store, reason: str) -> int | None:
        """Start a training now (then serve the queue): its pid, or None if a run is under way."""
        if self.running(store) is not None:
            return None
        self._clear_dead_lock(store)
        return self._spawn(store, ["--then-queue"], reason)

    def request(self, store: Store, reason: str) -> int | None:
        """Request an automatic retraining: queued (one pending at most), run by the waiter process
        once the minimum interval has passed. Starts the waiter when none is alive; its pid, or None."""
        retrain_queue.request(store, reason)
        store.release_dead_lock(retrain_queue.WAITER_LOCK)
        if store.lock_holder(retrain_queue.WAITER_LOCK) is not None:
            return None  # the waiter will run it
        return self._spawn(store, ["--wait-for-queue"], reason)

    def _spawn(self, store: Store, args: list[str], reason: str) -> int | None:
        owner = f"{self._owner}:{uuid.uuid4().hex[:8]}"
        if not store.try_lock(_LAUNCH_LOCK, owner, ttl_s=_LAUNCH_TTL_S):
            return None
        env = dict(os.environ, DATEIDEAS_DATABASE_URL=self.database_url, DATEIDEAS_MODEL_DIR=self.model_dir,
                   DATEIDEAS_RETRAIN_MIN_INTERVAL=str(self.min_interval))
        if self.catalog_dir:
            env["DATEIDEAS_CATALOG"] = str(self.catalog_dir)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "engine", "train", "--json", *args], env=env,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        def reap() -> None:  # a finished run leaves no zombie, and the next launch may go
            process.wait()
            store.release_lock(_LAUNCH_LOCK, owner)

        threading.Thread(target=reap, name=f"reap-training-{process.pid}", daemon=True).start()
        logger.info("started training process %d (%s)", process.pid, reason)
        return process.pid

    def maybe_retrain(self, store: Store, threshold: int) -> int | None:
        """Request a training when ``threshold`` dates arrived since the last one started (or when
        one was requested before); the pid of a waiter process it started, or None."""
        now = time.monotonic()
        if threshold <= 0 or now < self._next_check:
            return None
        self._next_check = now + self.check_interval
        since = self._last_training_start(store)
        new = store.count_dates_created_since(since)
        if new < threshold:
            return None
        return self.request(store, f"{new} new dates since {since or 'the beginning'}")

    def _last_training_start(self, store: Store) -> _dt.datetime | None:
        runs = store.training_runs(limit=1)
        if runs:
            return _dt.datetime.fromisoformat(runs[0]["started_at"].rstrip("Z"))
        registry = Registry(self.model_dir)
        live = registry.live_version()
        if live is None:
            return None
        try:
            created = registry.card(live).get("created")
        except ArtifactError:
            return None
        if not created:
            return None
        stamp = _dt.datetime.fromisoformat(created)
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(_dt.UTC).replace(tzinfo=None)
        return stamp

    @staticmethod
    def _clear_dead_lock(store: Store) -> None:
        """Release a ``training`` lock left by a killed process on this host (no run is running)."""
        if store.release_dead_lock("training"):
            logger.warning("released the training lock of a dead process")


def init_app(app: Flask) -> None:
    app.extensions["dateideas.training"] = TrainingLauncher(
        app.config["DATABASE_URL"], str(app.config["MODEL_DIR"]), app.config.get("CATALOG_DIR"),
        app.config.get("TRAINING_LOG"), float(app.config["RETRAIN_CHECK_INTERVAL"]),
        float(app.config["RETRAIN_MIN_INTERVAL"]))


def get_launcher() -> TrainingLauncher:
    return current_app.extensions["dateideas.training"]
