"""``/v1/couples``: create a couple (its token is shown once) and erase one."""

from __future__ import annotations

from flask import Blueprint, url_for

from engine.app import ValidationError

from .auth import couple_token_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .headers import NO_STORE
from .mail import check_emails, store_emails

__all__ = ["bp"]

bp = Blueprint("couples", __name__, url_prefix="/v1/couples")


@bp.post("")
def create():
    """Create a couple; 201 with ``{id, token, profile, created_at, emails}``; the token is never shown again
    (``Cache-Control: no-store``, so no cache keeps it either).

    ``email_a`` / ``email_b`` (optional) are the partners' addresses for the weekly newsletter: stored
    unconfirmed, each sent a confirmation link when SMTP is configured (:mod:`service.mail`); ``emails``
    says, per partner, the address, ``confirmed`` and ``confirmation_sent``."""
    body = json_object(("profile", "email_a", "email_b"), optional=True)
    addresses, bad = check_emails(body)
    if bad:
        field, exc = next(iter(bad.items()))
        raise ApiError(400, str(exc), field=field)
    store = get_store()
    try:
        couple_id, token = store.create_couple(profile=body.get("profile"))
    except ValidationError as exc:
        raise ApiError(400, f"{exc.field} {exc.message}", field=exc.field) from exc
    emails = store_emails(couple_id, addresses)
    couple = store.get_couple(couple_id)
    location = url_for("tonight.tonight", couple_id=couple_id)
    return ({"id": couple_id, "token": token, "profile": couple["profile"],
             "created_at": couple["created_at"], "emails": emails}, 201, {"Location": location, **NO_STORE})


@bp.delete("/<couple_id>")
@couple_token_required
def delete(couple_id: str):
    """Erase the couple and everything about them; 204. Needs the couple's token (a partner's: 403)."""
    get_store().delete_couple(couple_id)
    return "", 204
