"""Web-page sessions that end: revocable in the database, with an idle and an absolute lifetime.

The session is Flask's signed cookie (see :mod:`service.pages` for its key and
flags). Signing in stores the couple id, the partner (when a partner signed
in alone) and the couple's **session generation**
(:meth:`engine.store.Store.session_generation`); every page request reads the
generation again (one indexed query, instead of the old "does the couple
exist") and ends the session when it differs. It changes when:

* someone signs out (:func:`end`: every session of that couple ends, on
  every device);
* the couple's token is rotated (``Store.rotate_token``);
* the couple is erased (no generation at all) or paused;
* one partner's sessions are revoked (``Store.revoke_sessions(couple,
  partner)``): only the sessions signed in as that partner end.

Lifetimes (configurable):

* **idle**: ``SESSION_IDLE_HOURS`` (env ``DATEIDEAS_SESSION_IDLE_HOURS``,
  default 24). The cookie is re-signed on every signed-in page request and
  the signature carries its time, so a cookie not used for that long no longer verifies,
  whatever the browser keeps. 24 hours covers a date night: choosing in the
  afternoon and rating the next morning, without signing in again.
* **absolute**: ``SESSION_MAX_DAYS`` (env ``DATEIDEAS_SESSION_MAX_DAYS``,
  default 14) after signing in, however active, the session ends.
"""

from __future__ import annotations

import datetime as _dt
import time

from flask import Flask, current_app, session

from .db import get_store

__all__ = ["current", "end", "init_app", "start"]


def start(couple_id: str, partner: str | None = None) -> None:
    """A fresh session (and CSRF token) for ``couple_id`` (``partner`` when one partner signed in)."""
    generation = get_store().session_generation(couple_id, partner)
    session.clear()
    session.permanent = True  # the cookie's lifetime is the idle lifetime, refreshed by current()
    session["couple_id"] = couple_id
    if partner:
        session["partner"] = partner
    session["generation"] = generation
    session["since"] = int(time.time())


def current() -> str | None:
    """The signed-in couple's id, or None (and the session is cleared) when it has ended."""
    couple_id = session.get("couple_id")
    if not couple_id:
        return None
    max_age = current_app.config["SESSION_MAX_DAYS"] * 86400
    fresh = time.time() - session.get("since", 0) < max_age
    if not fresh or get_store().session_generation(couple_id, session.get("partner")) != session.get("generation"):
        session.clear()
        return None
    session.modified = True  # re-signed now: the idle lifetime counts from this request
    return couple_id


def end() -> None:
    """Sign out: every session of the signed-in couple ends (this one and any other device's)."""
    couple_id = session.get("couple_id")
    if couple_id and current() == couple_id:  # a session that already ended revokes nothing
        get_store().revoke_sessions(couple_id)
    session.clear()


def init_app(app: Flask) -> None:
    """The idle lifetime becomes Flask's ``PERMANENT_SESSION_LIFETIME`` (the signature's max age)."""
    app.config["PERMANENT_SESSION_LIFETIME"] = _dt.timedelta(hours=float(app.config["SESSION_IDLE_HOURS"]))
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False  # refreshed by signed-in page requests only (current())
