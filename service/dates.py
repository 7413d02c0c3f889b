"""``/v1/couples/{id}/dates``: record a completed date (idempotent with a key) and list the history;
``/v1/couples/{id}/partners/{a|b}/token``: a partner's own sign-in token.

A retried ``POST`` with the same ``Idempotency-Key`` stores nothing new and
answers ``200`` with the body of the first answer; the same key with a
different body is refused with ``422``.

Partners rate on their own. One partner's rating of a date the other
partner already rated (same idea and day, that partner's rating missing)
completes that date: ``200`` with the date and ``"completed": true``, never
a second date (``Store.add_date``). Signed in with a partner's own token,
a partner rates only as themselves and sees the other's rating of a date
only once both have rated (:func:`visible`); the couple's token sees both.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, g, request

from engine.app import DateInputError, check_date_input

from .auth import couple_required, couple_token_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .metrics import get_metrics
from .models import get_catalog
from .training import get_launcher

__all__ = ["after_date_stored", "bp", "edit_date", "visible"]

bp = Blueprint("dates", __name__, url_prefix="/v1/couples")

_FIELDS = ("idea_id", "done_on", "ratings", "note")
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


def visible(record: dict, partner: str | None) -> dict:
    """A date's ratings as ``partner`` may see them: ``{"ratings": {"a", "b"}, "hidden": [...]}``.

    The couple (``partner`` None) sees both. A partner sees the other's
    rating only once they rated the date themselves; until then it is
    ``None`` and named in ``hidden``. Shared with the pages (Our dates).
    """
    ratings = {"a": record["rating_a"], "b": record["rating_b"]}
    hidden = []
    if partner is not None and ratings[partner] is None:
        other = "b" if partner == "a" else "a"
        if ratings[other] is not None:
            ratings[other] = None
            hidden.append(other)
    return {"ratings": ratings, "hidden": hidden}


def _public(record: dict, partner: str | None) -> dict:
    return {"id": record["id"], "idea_id": record["idea_id"], "done_on": record["done_on"],
            **visible(record, partner), "note": record["note"],
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
    if g.partner is not None and clean[f"rating_{'b' if g.partner == 'a' else 'a'}"] is not None:
        raise ApiError(403, f"signed in as partner {g.partner}, you rate only for yourself: send "
                            f'{{"ratings": {{"{g.partner}": 1-5}}}}', field="ratings", code="forbidden")
    store = get_store()
    record, created = store.add_date(couple_id, clean["idea_id"], clean["done_on"], clean["rating_a"],
                                     clean["rating_b"], note=clean["note"], context=clean["context"],
                                     idempotency_key=key)
    if not created and not _same_date(record, clean):
        raise ApiError(422, "this Idempotency-Key was already used with a different date; "
                            "use a new key for a new date", field="Idempotency-Key")
    after_date_stored(store, created)
    if record.get("completed"):  # said only then: otherwise the body is the date as GET lists it
        return dict(_public(record, g.partner), completed=True), 200
    return _public(record, g.partner), 201 if created else 200


def edit_date(couple_id: str, date_id: int, changes: dict, partner: str | None) -> dict | None:
    """Change one of the couple's dates: the one path of ``PATCH /v1/couples/{id}/dates/{date_id}`` and
    the pages' "Change this date" form.

    ``changes`` holds some of ``idea_id``, ``done_on``, ``ratings`` (``{"a"?, "b"?}``: only the partners
    named change) and ``note``; the date they make is validated as a new one is
    (:func:`engine.app.check_date_input`), and only the fields given are written
    (``Store.update_date``, one transaction that also changes the couple's history stamp, so the next
    suggestion is ranked from the changed history). A new day also updates the date's weekday and season.

    Returns the date after the change, or None when the couple has no date with this id.

    Raises
    ------
    DateInputError
        A field is not allowed (``field`` names it, as for a new date).
    PermissionError
        ``partner`` (signed in with a partner's own token) changing the other partner's rating.
    """
    store = get_store()
    current = store.get_date(couple_id, date_id)
    if current is None:
        return None
    given = changes.get("ratings", {})
    if "ratings" in changes and not isinstance(given, dict):
        raise DateInputError("ratings", f"ratings must be an object like {{\"a\": 4, \"b\": 5}}, got {given!r}")
    if partner is not None and set(given) - {partner}:
        raise PermissionError(f"signed in as partner {partner}, you change only your own rating")

    def stored(value):  # an unchanged rating as the validator takes it (imports may hold halves)
        return None if value is None else int(round(float(value)))

    ratings = {p: given[p] if p in given else stored(current[f"rating_{p}"]) for p in ("a", "b")}
    ratings.update({k: v for k, v in given.items() if k not in ("a", "b")})  # unknown keys: the validator says
    clean = check_date_input(get_catalog(), changes.get("idea_id", current["idea_id"]), ratings,
                             changes.get("done_on", current["done_on"]), changes.get("note", current["note"]))
    write: dict = {}
    for key in ("idea_id", "note"):
        if key in changes:
            write[key] = clean[key]
    for p in given:
        write[f"rating_{p}"] = clean[f"rating_{p}"]
    if "done_on" in changes:
        write["done_on"] = clean["done_on"]
        write["context"] = {**(current["context"] or {}), **clean["context"]}
    return store.update_date(couple_id, date_id, write)


@bp.patch("/<couple_id>/dates/<int:date_id>")
@couple_required
def change(couple_id: str, date_id: int):
    """Body: some of ``{idea_id, done_on, ratings: {a?, b?}, note}``; 200 with the date after the change,
    404 when the couple has no date with this id. A partner's own token changes only its own rating."""
    body = json_object(_FIELDS)
    try:
        record = edit_date(couple_id, date_id, body, g.partner)
    except DateInputError as exc:
        raise ApiError(400, str(exc), field=exc.field) from exc
    except PermissionError as exc:
        raise ApiError(403, str(exc), field="ratings", code="forbidden") from exc
    if record is None:
        raise ApiError(404, f"this couple has no date with id {date_id}", field="date_id", code="not_found")
    return _public(record, g.partner)


@bp.delete("/<couple_id>/dates/<int:date_id>")
@couple_required
def remove(couple_id: str, date_id: int):
    """Delete one of the couple's dates; 204, or 404 when the couple has no date with this id."""
    if not get_store().delete_date(couple_id, date_id):
        raise ApiError(404, f"this couple has no date with id {date_id}", field="date_id", code="not_found")
    return "", 204


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

    if record.get("completed"):  # the key completed a date: its ratings and note carry the other partner's too
        return (record["idea_id"] == clean["idea_id"] and record["done_on"] == clean["done_on"].isoformat()
                and all(rating(record[f"rating_{p}"]) == clean[f"rating_{p}"]
                        for p in "ab" if clean[f"rating_{p}"] is not None)
                and clean["note"] in record["note"])
    return (record["idea_id"] == clean["idea_id"] and record["done_on"] == clean["done_on"].isoformat()
            and rating(record["rating_a"]) == clean["rating_a"] and rating(record["rating_b"]) == clean["rating_b"]
            and record["note"] == clean["note"])


@bp.get("/<couple_id>/dates")
@couple_required
def history(couple_id: str):
    """The couple's dates, oldest first: ``{"dates": [...]}``."""
    return {"dates": [_public(r, g.partner) for r in get_store().list_dates(couple_id)]}


@bp.post("/<couple_id>/partners/<partner>/token")
@couple_token_required
def partner_token(couple_id: str, partner: str):
    """A new sign-in token for partner ``a`` or ``b`` (the old one stops working); 201, shown once.

    Needs the couple's token. The partner signs in with it on the pages or
    sends it as the bearer token of the couple's routes.
    """
    if partner not in ("a", "b"):
        raise ApiError(404, f"partner must be a or b, got {partner!r}", field="partner")
    token = get_store().issue_partner_token(couple_id, partner)
    return {"couple_id": couple_id, "partner": partner, "token": token}, 201
