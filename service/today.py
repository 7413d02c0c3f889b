"""``/v1/couples/{id}/today``: each partner's appreciation nudge for today, and marking it done."""

from __future__ import annotations

from flask import Blueprint

from engine.app import PARTNERS, mark_done, today_for

from .auth import couple_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .models import get_catalog

__all__ = ["bp"]

bp = Blueprint("today", __name__, url_prefix="/v1/couples")


@bp.get("/<couple_id>/today")
@couple_required
def today(couple_id: str):
    """``{"day", "partners": {"a": {"id", "text", "kind", "done", "streak"}, "b": {...}}}``."""
    return today_for(get_store(), couple_id, catalog=get_catalog())


@bp.post("/<couple_id>/today")
@couple_required
def done(couple_id: str):
    """Body ``{"partner": "a" | "b"}``: that partner did today's nudge; 200 with today after it."""
    partner = json_object(("partner",)).get("partner")
    if partner not in PARTNERS:
        raise ApiError(400, f"partner must be \"a\" or \"b\", got {partner!r}", field="partner")
    return mark_done(get_store(), couple_id, partner, catalog=get_catalog())
