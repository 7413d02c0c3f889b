"""Bearer-token auth: a couple's token for its routes, the admin token for admin routes.

A couple's routes take the couple's shared token or one partner's own token
(``POST /v1/couples/{id}/partners/{a|b}/token``); :func:`couple_required`
sets ``g.partner`` to ``"a"`` or ``"b"`` for a partner's token and to None
for the couple's, and the views use it (a partner rates only for
themselves and sees the other's rating of a date once both rated).

A wrong or missing couple token and an unknown couple id get the same 404,
so ids cannot be enumerated. Tokens are compared in constant time (the store
keeps only salted hashes).
"""

from __future__ import annotations

import functools
import hmac

from flask import current_app, g, request

from .db import get_store
from .errors import ApiError

__all__ = ["admin_required", "bearer_token", "couple_required", "couple_token_required"]

_NO_COUPLE = "no couple with this id, or the bearer token does not belong to it"


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def couple_required(view):
    """The bearer token must be the couple's or one of its partners'; sets ``g.couple_id`` and ``g.partner``.

    ``g.partner`` is ``"a"`` or ``"b"`` for a partner's own token, None for
    the couple's shared token. The token check and the view share one
    database connection (:meth:`engine.store.Store.one_connection`).
    """

    @functools.wraps(view)
    def wrapped(couple_id: str, **kwargs):
        token = bearer_token()
        store = get_store()
        with store.one_connection():
            role = None if token is None or len(couple_id) > 64 else store.token_role(couple_id, token)
            if role is None:
                raise ApiError(404, _NO_COUPLE, code="not_found")
            g.couple_id = couple_id
            g.partner = None if role == "couple" else role
            return view(couple_id=couple_id, **kwargs)

    return wrapped


def couple_token_required(view):
    """Like :func:`couple_required`, but a partner's own token is refused (403): the couple's token only."""

    @functools.wraps(view)
    def checked(couple_id: str, **kwargs):
        if g.partner is not None:
            raise ApiError(403, f"this needs the couple's token; a partner's token (signed in as partner "
                                f"{g.partner}) is not enough", code="forbidden")
        return view(couple_id=couple_id, **kwargs)

    return couple_required(checked)


def admin_required(view):
    """The bearer token must equal ``ADMIN_TOKEN`` (401 when missing, 403 when wrong or unset)."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        expected = current_app.config.get("ADMIN_TOKEN")
        token = bearer_token()
        if not expected:
            raise ApiError(403, "admin routes are disabled: set DATEIDEAS_ADMIN_TOKEN on the server")
        if token is None:
            raise ApiError(401, "admin routes need Authorization: Bearer <DATEIDEAS_ADMIN_TOKEN>")
        if not hmac.compare_digest(token.encode(), str(expected).encode()):
            raise ApiError(403, "the bearer token is not the admin token")
        return view(**kwargs)

    return wrapped
