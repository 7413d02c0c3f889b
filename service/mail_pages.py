"""The pages an email's links open: confirm an address, rate an idea signed in, unsubscribe in one click.

Routes on the pages blueprint (:mod:`service.pages`: same session and headers).
Each takes ``?token=``, a signed link (:func:`engine.app.read_link`, keyed with
the session's ``SECRET_KEY``; the newsletter signs with the same key). A link
names a couple, a partner and the address it was sent to, and works only
while that partner's address is still that one (a changed address voids the
old links).

* ``GET /email/confirm`` - marks the address confirmed (7-day link).
* ``GET /email/rate`` - starts a session signed in as that partner and goes
  to "We did it" with the idea chosen (60-day link). The couple must be active.
* ``GET /email/unsubscribe`` - a page with one button; ``POST`` (the button,
  or a mail client's RFC 8058 one-click ``List-Unsubscribe=One-Click`` POST,
  which carries no cookie and no CSRF token: the signed token in the URL is
  the proof) unsubscribes without signing in. The next delivery leaves the
  address out.
* ``GET|POST /email/daily/unsubscribe`` - the same for the daily nudge email
  (its own link and RFC 8058 headers): turns off that address's daily opt-in,
  and only that; the weekly newsletter goes on.
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for

from engine.app import LinkError, read_link

from . import sessions
from .db import get_store
from .pages import _error_page, bp

__all__ = ["TOKEN_POSTS"]

#: POST endpoints whose proof is the signed token in the URL, not the session's CSRF token (RFC 8058)
TOKEN_POSTS = frozenset({"pages.email_unsubscribe", "pages.email_daily_unsubscribe"})

_STALE = "This link is for an email address that has been changed or removed since it was sent."


def _read(kind: str):
    """(payload, None) for a good link whose address is still the partner's, else (None, error page)."""
    try:
        link = read_link(current_app.config["SECRET_KEY"], kind, request.args.get("token", ""))
    except LinkError as exc:
        words = ("This link has expired. " if exc.reason == "expired" else
                 "This link is not valid: it may have been copied incompletely. ")
        return None, _error_page(400 if exc.reason == "invalid" else 410, words + "Open it again from the email, "
                                 "or sign in with your couple id and token.")
    current = get_store().email_addresses(link["couple_id"]).get(link["partner"])
    if current is None or current["address"] != link["address"]:
        return None, _error_page(410, _STALE)
    return link, None


@bp.get("/email/confirm")
def email_confirm():
    link, problem = _read("confirm")
    if problem:
        return problem
    get_store().confirm_email(link["couple_id"], link["partner"], link["address"])
    return render_template("pages/email_done.html", title="Email confirmed",
                           message=f"{link['address']} will receive your weekly date ideas. Every email has a "
                                   "one-click unsubscribe link.")


@bp.get("/email/rate")
def email_rate():
    link, problem = _read("rate")
    if problem:
        return problem
    if get_store().session_generation(link["couple_id"], link["partner"]) is None:  # erased or paused
        return _error_page(410, "This couple is paused or no longer exists, so there is nothing to rate.")
    sessions.start(link["couple_id"], link["partner"])  # signed in as the partner the email went to
    return redirect(url_for("pages.we_did_it", idea=link["idea_id"]), 303)


@bp.route("/email/unsubscribe", methods=["GET", "POST"])
def email_unsubscribe():
    link, problem = _read("unsubscribe")
    if problem:
        return problem
    if request.method == "GET":
        return render_template("pages/unsubscribe.html", address=link["address"], token=request.args["token"])
    get_store().unsubscribe_email(link["couple_id"], link["partner"], link["address"])
    return render_template("pages/email_done.html", title="Unsubscribed",
                           message=f"{link['address']} will get no more newsletters from us.")


@bp.route("/email/daily/unsubscribe", methods=["GET", "POST"])
def email_daily_unsubscribe():
    link, problem = _read("daily-unsubscribe")
    if problem:
        return problem
    if request.method == "GET":
        return render_template("pages/unsubscribe.html", address=link["address"], token=request.args["token"],
                               endpoint="pages.email_daily_unsubscribe", what="the daily nudge email")
    get_store().set_daily(link["couple_id"], link["partner"], False, address=link["address"])
    return render_template("pages/email_done.html", title="Daily email stopped",
                           message=f"{link['address']} will get no more daily nudges from us. "
                                   "The weekly date ideas still come.")
