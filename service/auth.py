"""Bearer-token auth: a couple's token for its routes, the admin token for admin routes.

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

__all__ = ["admin_required", "bearer_token", "couple_required"]

_NO_COUPLE = "no couple with this id, or the bearer token does not belong to it"


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def couple_required(view):
    """The view's ``couple_id`` must match the bearer token; sets ``g.couple_id``.

    The token check and the view share one database connection
    (:meth:`engine.store.Store.one_connection`).
    """

    @functools.wraps(view)
    def wrapped(couple_id: str, **kwargs):
        token = bearer_token()
        store = get_store()
        with store.one_connection():
            if token is None or len(couple_id) > 64 or not store.verify_token(couple_id, token):
                raise ApiError(404, _NO_COUPLE, code="not_found")
            g.couple_id = couple_id
            return view(couple_id=couple_id, **kwargs)

    return wrapped


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
