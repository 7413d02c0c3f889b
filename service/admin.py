"""``/v1/admin``: start a retraining (202) and show the registry; admin token required."""

from __future__ import annotations

from flask import Blueprint

from engine.app import retrain_queue

from .auth import admin_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .models import get_holder
from .training import get_launcher

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


@bp.post("/train")
@admin_required
def train():
    """Start ``dateideas train`` in the background; 202, or 409 while a run is under way."""
    json_object((), optional=True)
    store = get_store()
    launcher = get_launcher()
    pid = launcher.start(store, "POST /v1/admin/train")
    if pid is None:
        running = launcher.running(store)
        if running:
            message = (f"a training is already under way: run {running['id']} (pid {running['pid']}); "
                       "see GET /v1/admin/models")
        else:  # the launch lock lives from the launch until the process is reaped
            message = ("a training process is starting or just finishing; try again in a few seconds "
                       "(GET /v1/admin/models shows the runs)")
        raise ApiError(409, message, code="training_running")
    return {"status": "started", "pid": pid, "models": "/v1/admin/models"}, 202


@bp.get("/models")
@admin_required
def models():
    """Versions (cards with metrics and gate verdicts), the live and pinned ones, what this worker serves,
    training runs, the queued retraining request, the last failure."""
    store = get_store()
    holder = get_holder()
    running = get_launcher().running(store)  # also fails runs whose process is gone
    runs = store.training_runs(limit=10)
    failure = next((run for run in runs if run["status"] == "failed"), None)
    return {
        "live": holder.registry.live_version(),
        "pinned": holder.registry.pinned_version(),
        "serving": holder.loaded_version,
        "versions": [_card(card) for card in holder.registry.versions()],
        "training": {"running": running, "last_failure": failure, "runs": runs,
                     "queued": retrain_queue.pending(store)},
    }


def _card(card: dict) -> dict:
    keys = ("version", "created", "metrics", "data", "live", "pinned", "gate")
    return {key: card.get(key) for key in keys} | {"live": bool(card.get("live")), "pinned": bool(card.get("pinned"))}
