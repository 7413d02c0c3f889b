"""``/v1/couples/{id}/prompts``: where a couple is with the prompts, and marking one talked about or skipped."""

from __future__ import annotations

from flask import Blueprint

from engine.app import PromptMarkError, mark_prompt, prompt_state

from .auth import couple_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError

__all__ = ["bp"]

bp = Blueprint("prompts", __name__, url_prefix="/v1/couples")


@bp.get("/<couple_id>/prompts")
@couple_required
def state(couple_id: str):
    """``{"depth", "talked", "skipped"}``: the depth of the next prompts (1 light ... 3 deep)."""
    return prompt_state(get_store(), couple_id)


@bp.post("/<couple_id>/prompts/<prompt_id>")
@couple_required
def mark(couple_id: str, prompt_id: str):
    """Body ``{"status": "talked" | "skipped"}``; 200 with the couple's depth after it."""
    body = json_object(("status",))
    try:
        return mark_prompt(get_store(), couple_id, prompt_id, body.get("status"))
    except PromptMarkError as exc:
        status = 404 if exc.field == "prompt_id" else 400
        raise ApiError(status, str(exc), field=exc.field,
                       code="not_found" if status == 404 else "bad_request") from exc
