"""``/v1/couples``: create a couple (its token is shown once) and erase one."""

from __future__ import annotations

from flask import Blueprint, url_for

from engine.app import ValidationError

from .auth import couple_token_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .headers import NO_STORE

__all__ = ["bp"]

bp = Blueprint("couples", __name__, url_prefix="/v1/couples")


@bp.post("")
def create():
    """Create a couple; 201 with ``{id, token, profile, created_at}``; the token is never shown again
    (``Cache-Control: no-store``, so no cache keeps it either)."""
    body = json_object(("profile",), optional=True)
    store = get_store()
    try:
        couple_id, token = store.create_couple(profile=body.get("profile"))
    except ValidationError as exc:
        raise ApiError(400, f"{exc.field} {exc.message}", field=exc.field) from exc
    couple = store.get_couple(couple_id)
    location = url_for("tonight.tonight", couple_id=couple_id)
    return ({"id": couple_id, "token": token, "profile": couple["profile"],
             "created_at": couple["created_at"]}, 201, {"Location": location, **NO_STORE})


@bp.delete("/<couple_id>")
@couple_token_required
def delete(couple_id: str):
    """Erase the couple and everything about them; 204. Needs the couple's token (a partner's: 403)."""
    get_store().delete_couple(couple_id)
    return "", 204
