"""``/v1/couples/{id}/dates``: record a completed date (idempotent with a key) and list the history.

A retried ``POST`` with the same ``Idempotency-Key`` stores nothing new and
answers ``200`` with the body of the first ``201``; the same key with a
different body is refused with ``422``.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, request

from engine.serving import DateInputError, check_date_input

from .auth import couple_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .metrics import get_metrics
from .models import get_catalog
from .training import get_launcher

__all__ = ["after_date_stored", "bp"]

bp = Blueprint("dates", __name__, url_prefix="/v1/couples")

_FIELDS = ("idea_id", "done_on", "ratings", "note")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


def _public(record: dict) -> dict:
    return {"id": record["id"], "idea_id": record["idea_id"], "done_on": record["done_on"],
            "ratings": {"a": record["rating_a"], "b": record["rating_b"]}, "note": record["note"],
            "context": record["context"], "created_at": record["created_at"]}


@bp.post("/<couple_id>/dates")
@couple_required
def add(couple_id: str):
    """Body ``{idea_id, done_on?, ratings: {a?, b?}, note?}``; 201 with the stored record."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY_RE.match(key):
        raise ApiError(400, "Idempotency-Key must be 1-200 printable ASCII characters without spaces",
                       field="Idempotency-Key")
    body = json_object(_FIELDS)
    if "idea_id" not in body:
        raise ApiError(400, "idea_id is required: the id of the idea you did (see GET /v1/ideas)",
                       field="idea_id")
    if "ratings" not in body:
        raise ApiError(400, 'ratings is required, e.g. {"a": 4, "b": 5} (integers from 1 to 5)',
                       field="ratings")
    try:
        clean = check_date_input(get_catalog(), body["idea_id"], body["ratings"], body.get("done_on"),
                                 body.get("note"))
    except DateInputError as exc:
        raise ApiError(400, str(exc), field=exc.field) from exc
    store = get_store()
    record, created = store.add_date(couple_id, clean["idea_id"], clean["done_on"], clean["rating_a"],
                                     clean["rating_b"], note=clean["note"], context=clean["context"],
                                     idempotency_key=key)
    if not created and not _same_date(record, clean):
        raise ApiError(422, "this Idempotency-Key was already used with a different date; "
                            "use a new key for a new date", field="Idempotency-Key")
    after_date_stored(store, created)
    return _public(record), 201 if created else 200


# Shared with the web pages (service/pages.py, "We did it"), so both routes count and retrain alike.
def after_date_stored(store, created: bool) -> None:
    """Count a stored (or replayed) date and, for a new one, maybe start a background retraining."""
    get_metrics().dates.labels(result="created" if created else "replayed").inc()
    if created:
        get_launcher().maybe_retrain(store, current_app.config["RETRAIN_AFTER_DATES"])


def _same_date(record: dict, clean: dict) -> bool:
    """Whether a stored date is the one described by a validated body (for Idempotency-Key replays)."""
    def rating(value):
        return None if value is None else float(value)

    return (record["idea_id"] == clean["idea_id"] and record["done_on"] == clean["done_on"].isoformat()
            and rating(record["rating_a"]) == clean["rating_a"] and rating(record["rating_b"]) == clean["rating_b"]
            and record["note"] == clean["note"])


@bp.get("/<couple_id>/dates")
@couple_required
def history(couple_id: str):
    """The couple's dates, oldest first: ``{"dates": [...]}``."""
    return {"dates": [_public(r) for r in get_store().list_dates(couple_id)]}
