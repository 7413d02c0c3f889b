"""``/v1/couples``: create a couple (its token is shown once), change its profile, and erase one.

The profile's ``intimacy`` level (affection / romantic / sensual) is the couple's joint choice: with
the couple's shared token (both of you, as at sign-up) it may be set to any level; with one
partner's own token it may only be lowered (either partner can step back alone, neither can step
up alone), and no other field may be changed.
"""

from __future__ import annotations

from flask import Blueprint, g, url_for

from engine.app import UnknownCoupleError, ValidationError
from engine.domain.profiles import INTIMACY_LEVELS, intimacy_level

from .auth import couple_required, couple_token_required
from .bodies import json_object
from .db import get_store
from .errors import ApiError
from .headers import NO_STORE
from .mail import EMAIL_FIELDS, change_emails, check_daily, check_emails

__all__ = ["bp"]

bp = Blueprint("couples", __name__, url_prefix="/v1/couples")


@bp.post("")
def create():
    """Create a couple; 201 with ``{id, token, profile, created_at, emails}``; the token is never shown again
    (``Cache-Control: no-store``, so no cache keeps it either).

    ``email_a`` / ``email_b`` (optional) are the partners' addresses for the weekly newsletter: stored
    unconfirmed, each sent a confirmation link when SMTP is configured (:mod:`service.mail`); ``emails``
    says, per partner, the address, ``confirmed``, ``confirmation_sent`` and ``daily``. ``daily_a`` /
    ``daily_b`` (optional booleans, default false) opt that partner's address in to the daily nudge email
    (sent once the address is confirmed: ``dateideas today --send``)."""
    body = json_object(_FIELDS, optional=True)
    addresses, daily = _checked_emails(body, {})
    store = get_store()
    try:
        couple_id, token = store.create_couple(profile=body.get("profile"))
    except ValidationError as exc:
        raise ApiError(400, f"{exc.field} {exc.message}", field=exc.field) from exc
    emails, _ = change_emails(couple_id, addresses, daily, {})
    couple = store.get_couple(couple_id)
    location = url_for("tonight.tonight", couple_id=couple_id)
    return ({"id": couple_id, "token": token, "profile": couple["profile"],
             "created_at": couple["created_at"], "emails": emails}, 201, {"Location": location, **NO_STORE})


@bp.patch("/<couple_id>")
@couple_required
def update(couple_id: str):
    """Change some of the couple's profile and addresses; 200 with ``{id, profile, emails}``.

    ``profile``: keys as at creation, a null removes one. ``email_a`` / ``email_b``: a new address is
    stored unconfirmed and sent a confirmation link, the same one keeps its state, null or ``""``
    removes it. ``daily_a`` / ``daily_b``: opt that partner's address in to or out of the daily nudge
    email. Every field is checked before anything is written. A partner's own token may only lower
    ``profile.intimacy`` (403 for anything else)."""
    body = json_object(_FIELDS)
    if not body:
        raise ApiError(400, f"give at least one of {', '.join(_FIELDS)}")
    store = get_store()
    if g.partner is not None:
        if set(body) != {"profile"}:
            raise ApiError(403, f"with partner {g.partner}'s own token only profile.intimacy may be lowered; "
                                "other changes need the couple's token", code="forbidden")
        _partner_may_change(store, couple_id, body["profile"])
    stored = store.email_addresses(couple_id)
    addresses, daily = _checked_emails(body, {p: True for p in stored})
    try:
        profile = (store.update_profile(couple_id, body["profile"]) if "profile" in body
                   else store.get_couple(couple_id)["profile"])
    except ValidationError as exc:
        raise ApiError(400, f"{exc.field} {exc.message}", field=exc.field) from exc
    except UnknownCoupleError as exc:
        raise ApiError(404, "no couple with this id", code="not_found") from exc
    emails, _ = change_emails(couple_id, addresses, daily, stored)
    return {"id": couple_id, "profile": profile, "emails": emails}, 200, NO_STORE


#: what creating and changing a couple take
_FIELDS = ("profile", "email_a", "email_b", "daily_a", "daily_b")


def _checked_emails(body, stored: dict[str, bool]) -> tuple[dict[str, str | None], dict[str, bool]]:
    """The body's address changes (partner -> address; None: remove) and daily opt-ins, checked (400 on the
    first bad field); ``stored``: the partners who have an address now (a daily opt-in needs one after)."""
    addresses, bad = check_emails(body)
    if bad:
        field, exc = next(iter(bad.items()))
        raise ApiError(400, str(exc), field=field)
    given = {p: addresses.get(p) for p, field in EMAIL_FIELDS.items() if field in body}
    after = {**stored, **{p: a is not None for p, a in given.items()}}
    daily, wrong = check_daily(body, after)
    if wrong:
        field, message = next(iter(wrong.items()))
        raise ApiError(400, message, field=field)
    return given, daily


def _partner_may_change(store, couple_id: str, changes) -> None:
    """One partner alone may only lower the intimacy level (a 403 says what needs both)."""
    if not isinstance(changes, dict) or set(changes) - {"intimacy"}:
        raise ApiError(403, f"with partner {g.partner}'s own token only profile.intimacy may be lowered; "
                            "other changes need the couple's token", code="forbidden")
    if "intimacy" not in changes:
        return
    try:
        wanted = INTIMACY_LEVELS.index(intimacy_level(changes["intimacy"]))
    except ValueError:
        return  # the store's check answers with the allowed values (400)
    current = (store.get_couple(couple_id) or {}).get("profile") or {}
    if wanted > INTIMACY_LEVELS.index(intimacy_level(current.get("intimacy"))):
        raise ApiError(403, f"raising profile.intimacy needs both of you: use the couple's token (partner "
                            f"{g.partner}'s own token may only lower it)", code="forbidden")


@bp.delete("/<couple_id>")
@couple_token_required
def delete(couple_id: str):
    """Erase the couple and everything about them; 204. Needs the couple's token (a partner's: 403)."""
    get_store().delete_couple(couple_id)
    return "", 204
