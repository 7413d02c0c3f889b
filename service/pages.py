"""Server-rendered pages for couples: the blueprint, its session and CSRF; sign up, sign in, Tonight, Invite.

The other pages register their routes on this blueprint from their own modules (imported at
the bottom): :mod:`service.date_pages` (We did it, Our dates, change or delete a date),
:mod:`service.idea_pages` (Ideas, Saved, "not for us"), :mod:`service.practice_pages` (Today,
prompts), :mod:`service.settings_pages` (Settings: the profile, changeable later) and
:mod:`service.mail_pages` (what an email's links open).

The pages are a thin skin over the same calls as the JSON API: the context is
validated by :func:`engine.domain.context.parse_context`, tonight's ideas come from
:func:`engine.app.serving.serve_tonight` (and are logged by it), a date is checked
by :func:`engine.app.serving.check_date_input` and stored with ``Store.add_date``
followed by :func:`service.dates.after_date_stored`. Nothing is scored or
validated here.

Partners
--------
Signed in with the couple's token, the pages show and take both partners'
ratings. From "Invite", the couple makes a sign-in token for partner A or B
(``Store.issue_partner_token``, shown once). Signed in with a partner's own
token (the session keeps ``partner``), "We did it" takes only that partner's
rating - which completes the date if the other partner rated it first - and
"Our dates" hides the other's rating of a date until both have rated
(:func:`service.dates.visible`, as the API does).

Session and CSRF
----------------
Signing up creates the couple with the profile from the form (its interests,
budget ceiling, kids and intimacy level: affection only unless they choose more)
and signs it in, showing the token once. Signing in
posts the couple id and token (checked with the store's constant-time
``verify_token``); the session (:mod:`service.sessions`: revoked on sign-out,
token rotation and erasure; idle and absolute lifetimes) is Flask's signed cookie
(``httponly``, ``SameSite=Lax``; ``Secure`` when ``SESSION_COOKIE_SECURE`` or
``DATEIDEAS_SECURE_COOKIES=1``). Its key is ``SECRET_KEY`` from the config,
else ``$DATEIDEAS_SECRET_KEY``, else a random key kept in
``<MODEL_DIR>/session-secret`` (created once, mode 0600;
:func:`engine.config.signing_secret`), so every gunicorn worker and replica on
the same model folder accepts the same cookie, and the links that
``dateideas newsletter --send`` signs with it verify here (:mod:`service.mail_pages`). Every
form carries a per-session CSRF token in a hidden field, checked on every POST.
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from engine.app import NOTE_MAX, AnotherLimitError, NoModelError, serve_tonight
from engine.config import signing_secret
from engine.domain.constraints import allowed_for_couples
from engine.domain.context import TIMES_OF_DAY, WEATHERS, ContextError, parse_context
from engine.domain.profiles import (
    DEFAULT_INTIMACY,
    NAME_MAX,
    ProfileError,
    budget_ceiling,
    check_profile,
    from_record,
    intimacy_level,
)

from . import mail, sessions
from .db import get_store
from .metrics import get_metrics
from .models import get_catalog, get_recommender

__all__ = ["bp", "csrf_token", "partner_names"]

bp = Blueprint("pages", __name__)

_CONTEXT_FIELDS = ("budget", "minutes", "setting", "weather", "kids", "time_of_day")
_ID_MAX = 64
# what the pages say instead of the API's field names, in validation messages
_FIELD_WORDS = (("ratings.a", "partner A's rating"), ("ratings.b", "partner B's rating"),
                ("idea_id", "the idea"), ("done_on", "the day"))
_ERROR_FIELDS = {"ratings.a": "rating_a", "ratings.b": "rating_b"}
# what the pages say for a bad field: what to do, in plain words (the API keeps its precise messages)
_PLAIN = {
    "budget": "Pick a budget from the list: free, cheap, moderate or splurge.",
    "minutes": "Pick between 15 minutes and a day.",
    "setting": "Pick at home or out.",
    "weather": "Pick the weather from the list.",
    "kids": "Tick the box if the kids come along, or leave it empty.",
    "time_of_day": "Pick when from the list: morning, afternoon, evening or night.",
    "idea_id": "Choose the idea you did from the list: type a word of its name and pick it.",
    "ratings": "Give at least one rating: 1 to 5 from either of you.",
    "ratings.a": "Choose {name}'s rating from 1 to 5, or leave it empty.",  # {name}: partner_names()
    "ratings.b": "Choose {name}'s rating from 1 to 5, or leave it empty.",
    "note": f"Keep the note to {NOTE_MAX:,} characters or fewer.",
}
_PLAIN_NAME = (f"Write a first name of up to {NAME_MAX} characters "
               "(letters, spaces and punctuation), or leave it empty.")
_PLAIN_DAY = "Pick the day of the date from the calendar."
_PLAIN_ANOTHER = ("You have asked for another idea {limit} times today, the most in one day. "
                  "\"Another idea\" works again tomorrow; tonight's ideas are still here.")
_PLAIN_OUT_OF_RANGE_DAY = "Pick a day the date has happened on: today, or an earlier day from 1900 on."

_COST_WORDS = ("free", "cheap", "moderate", "splurge")
_SETTING_WORDS = {"home": "at home", "out": "out", "away": "away"}
_RATING_WORDS = {1: "didn't enjoy it", 2: "so-so", 3: "nice", 4: "lovely", 5: "loved it"}


# ------------------------------------------------------------------ setup

@bp.record_once
def _configure(state) -> None:
    """Session cookie settings and the signing key (see the module docstring)."""
    config = state.app.config
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = signing_secret(config["MODEL_DIR"])  # $DATEIDEAS_SECRET_KEY or the file
    config["SESSION_COOKIE_HTTPONLY"] = True
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if os.environ.get("DATEIDEAS_SECURE_COOKIES") == "1":
        config["SESSION_COOKIE_SECURE"] = True


# ------------------------------------------------------------------ CSRF, auth, headers

def csrf_token() -> str:
    """This session's CSRF token (created on first use); every form posts it as ``csrf_token``."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def partner_names(couple_id: str | None = None) -> dict[str, str]:
    """What the pages call each partner: the first names given at sign-up (``profile.name_a`` /
    ``name_b``), else "Partner A" / "Partner B". Read once per request (``g.names``)."""
    couple_id = couple_id or g.get("couple_id")
    if "names" not in g or g.get("names_of") != couple_id:
        profile = ((get_store().get_couple(couple_id) or {}).get("profile") or {}) if couple_id else {}
        g.names = {p: profile.get(f"name_{p}") or f"Partner {p.upper()}" for p in ("a", "b")}
        g.names_of = couple_id
    return g.names


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "signed_in": session.get("couple_id"), "partner": session.get("partner"),
            "names": partner_names,
            "cost_words": _COST_WORDS,
            "setting_words": _SETTING_WORDS, "rating_words": _RATING_WORDS, "duration": _duration}


@bp.before_request
def _check_csrf():
    if request.method != "POST" or request.endpoint in TOKEN_POSTS:  # a signed link's POST (RFC 8058)
        return None
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if expected and hmac.compare_digest(sent.encode(), expected.encode()):
        return None
    return _error_page(400, "This form has expired or did not come from this site. "
                            "Reload the page and send it again.")


@bp.after_request
def _headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; frame-ancestors 'none'; "
                                                   "form-action 'self'; base-uri 'none'; object-src 'none'")
    return response


# what a page says for an HTTP error instead of the framework's wording
_PLAIN_HTTP = {
    404: "There is no such page here. Check the address, or start again from the home page.",
    405: "This page cannot be opened that way. Go back and use the page's own buttons.",
    413: f"What you sent is too long. Keep the note to {NOTE_MAX:,} characters or fewer and send it again.",
}


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 400
    return _error_page(status, _PLAIN_HTTP.get(status) or exc.description or exc.name)


def _error_page(status: int, message: str):
    return render_template("pages/error.html", status=status, message=message), status


def _signed_in(view):
    """The view needs a signed-in couple (``g.couple_id``); otherwise go to the sign-in page.

    Like the API's couple routes, the view's store calls share one connection.
    """

    @functools.wraps(view)
    def wrapped(**kwargs):
        couple_id = sessions.current()  # None when signed out, revoked, erased or expired
        store = get_store()
        if not couple_id:
            flash("Please sign in first.")
            return redirect(url_for("pages.signin"), 303)
        g.couple_id = couple_id
        g.partner = session.get("partner")  # "a" or "b" signed in with their own token; None: the couple's
        with store.one_connection():
            return view(**kwargs)

    return wrapped


# ------------------------------------------------------------------ sign up, in and out

def _interest_choices() -> list[str]:
    """What a couple can say it is into: the catalog's categories (the values the model matches)."""
    frame = get_catalog().frame
    return sorted(frame["category"].dropna().astype(str).unique()) if "category" in frame else []


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Onboarding: interests, budget ceiling, kids and the intimacy level become the new couple's
    profile; the id and token are shown once, and the couple is signed in."""
    choices = _interest_choices()
    errors: dict[str, str] = {}
    form = {"interests": [], "budget_ceiling": "", "kids": "", "intimacy": DEFAULT_INTIMACY, "email_a": "",
            "email_b": "", "name_a": "", "name_b": ""}
    if request.method == "POST":
        form = {"interests": request.form.getlist("interests"),
                "name_a": request.form.get("name_a", "").strip(), "name_b": request.form.get("name_b", "").strip(),
                "budget_ceiling": request.form.get("budget_ceiling", "").strip(),
                "kids": request.form.get("kids", ""),
                "intimacy": request.form.get("intimacy", "").strip(),
                "email_a": request.form.get("email_a", "").strip(), "email_b": request.form.get("email_b", "").strip()}
        addresses, bad = mail.check_emails(form)
        for field in bad:
            errors[field] = "Enter an email address like sam@example.org, or leave it empty."
        profile: dict[str, Any] = {}
        for field in ("name_a", "name_b"):
            if form[field]:
                try:
                    profile[field] = check_profile({field: form[field]})[field]
                except ProfileError:
                    errors[field] = _PLAIN_NAME
        unknown = [i for i in form["interests"] if i not in choices]
        if unknown:
            errors["interests"] = "Choose from the listed interests."
        elif form["interests"]:
            profile["interests"] = form["interests"]
        try:
            ceiling = budget_ceiling(form["budget_ceiling"])
        except ValueError:
            errors["budget_ceiling"] = "Choose a budget from the list, or leave it open."
        else:
            if ceiling is not None:
                profile["budget_ceiling"] = ceiling
        if form["kids"]:
            profile["kids"] = form["kids"] == "yes"
        try:
            level = intimacy_level(form["intimacy"])
        except ValueError:
            errors["intimacy"] = "Choose affection only, romantic or sensual (or leave it at affection only)."
        else:
            if level != DEFAULT_INTIMACY:  # the default is not stored: existing couples look the same
                profile["intimacy"] = level
        if not errors:
            couple_id, token = get_store().create_couple(profile=profile)
            emails = mail.store_emails(couple_id, addresses)  # unconfirmed; a confirmation link when SMTP is set
            sessions.start(couple_id)  # a fresh session (and CSRF token) for the new couple
            g.couple_id = couple_id  # the welcome page says their names
            return render_template("pages/welcome.html", couple_id=couple_id, token=token,
                                   interests=profile.get("interests", []), emails=emails), 201
    status = 400 if errors else 200
    return render_template("pages/signup.html", choices=choices, form=form, errors=errors,
                           name_max=NAME_MAX), status


@bp.get("/")
def home():
    return redirect(url_for("pages.tonight" if session.get("couple_id") else "pages.signin"), 303)


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """Couple id + token; the token is checked in constant time by the store."""
    errors: dict[str, str] = {}
    couple_id = (request.form if request.method == "POST" else request.args).get("couple_id", "").strip()
    if request.method == "POST":
        token = request.form.get("token", "").strip()
        if not couple_id:
            errors["couple_id"] = "Enter your couple id (you got it with your token)."
        if not token:
            errors["token"] = "Enter your token."
        role = None if errors or len(couple_id) > _ID_MAX else get_store().token_role(couple_id, token)
        if not errors and role is None:
            errors["token"] = "No couple has this id and token. Check both and try again."
        if not errors:
            sessions.start(couple_id, None if role == "couple" else role)  # a fresh session (and CSRF token)
            return redirect(url_for("pages.tonight"), 303)
    status = 401 if errors else 200
    return render_template("pages/signin.html", errors=errors, couple_id=couple_id), status


@bp.post("/signout")
def signout():
    sessions.end()  # every session of this couple ends, on every device (service/sessions.py)
    flash("You are signed out.")
    return redirect(url_for("pages.signin"), 303)


# ------------------------------------------------------------------ Tonight

def _context_params(source) -> dict[str, str]:
    """The context form's non-empty fields (empty = "any"); an unticked kids box is absent."""
    return {name: source.get(name, "").strip() for name in _CONTEXT_FIELDS if source.get(name, "").strip()}


@bp.get("/tonight")
@_signed_in
def tonight():
    """Tonight's idea for the context saved in the session (default: no constraints)."""
    params = session.get("context", {})
    try:
        context, _ = parse_context(params, allowed=_CONTEXT_FIELDS)
    except ContextError:  # saved by an older version of this page: start again
        params, context = {}, parse_context({}, allowed=_CONTEXT_FIELDS)[0]
        session.pop("context", None)
    return _render_tonight(params, context, another=False)


@bp.post("/tonight")
@_signed_in
def tonight_update():
    """The context form ("Show ideas") and the "Another idea" button; then back to GET /tonight."""
    params = _context_params(request.form)
    try:
        context, _ = parse_context(params, allowed=_CONTEXT_FIELDS)
    except ContextError as exc:
        return _render_tonight(params, None, errors={exc.field: _words(exc)}, status=400)
    session["context"] = params
    if request.form.get("action") == "another":
        try:
            _served, problem = _serve(context, another=True)  # logs the next ideas as served
        except AnotherLimitError as exc:  # the couple's daily limit, as GET /v1/couples/{id}/tonight's 429
            return _render_tonight(params, None, problem=_PLAIN_ANOTHER.format(limit=exc.limit), status=429)
        if problem:
            return _render_tonight(params, None, problem=problem, status=503)
    return redirect(url_for("pages.tonight"), 303)


def _serve(context, *, another: bool):
    """(what ``serve_tonight`` served, None) or (None, why nothing could be served)."""
    try:
        recommender = get_recommender()  # this request's model, whatever is promoted meanwhile
    except NoModelError:
        return None, "No model is trained yet, so there are no suggestions. Please try again later."
    served = serve_tonight(get_store(), recommender, g.couple_id, context, 3, another=another,
                           another_limit=current_app.config["ANOTHER_PER_DAY"])
    get_metrics().suggestions.inc(len(served.suggestions))
    return served, None


def _render_tonight(params: dict, context, *, another: bool = False, errors: dict | None = None,
                    problem: str | None = None, status: int = 200):
    served = None
    if context is not None:
        served, problem = _serve(context, another=another)
        status = 503 if problem else status
    catalog = get_catalog()
    picks = [{"s": s, "idea": catalog.idea(s.idea_id)} for s in served.suggestions] if served else []
    html = render_template("pages/tonight.html", params=params, errors=errors or {}, picks=picks,
                           served=served, problem=problem, weathers=WEATHERS, times_of_day=TIMES_OF_DAY)
    return html, status


# ------------------------------------------------------------------ Invite

@bp.route("/invite", methods=["GET", "POST"])
@_signed_in
def invite():
    """The couple (not a partner) makes partner A's or B's own sign-in token; shown once."""
    if g.partner is not None:
        return _error_page(403, "Only the couple's sign-in can invite a partner: sign in with the couple's token.")
    partner = request.form.get("partner", "") if request.method == "POST" else ""
    if request.method == "POST" and partner not in ("a", "b"):
        return _error_page(400, "Choose partner A or partner B.")
    token = get_store().issue_partner_token(g.couple_id, partner) if partner else None
    link = url_for("pages.signin", couple_id=g.couple_id, _external=True)
    return render_template("pages/invite.html", partner=partner, token=token, link=link), 201 if token else 200


# ------------------------------------------------------------------ helpers

def _allowed_ideas(couple_id: str) -> list[str]:
    """The catalog's ideas the couple may see, in catalog order: none above its intimacy level
    (:func:`engine.domain.constraints.allowed_for_couples`, the rule every suggestion obeys)."""
    catalog = get_catalog()
    profile = from_record((get_store().get_couple(couple_id) or {}).get("profile"))
    fits = allowed_for_couples(catalog, None, [profile])[0]
    return [idea for idea, ok in zip(catalog.frame.index, fits) if ok]


def _words(exc: ValueError) -> str:
    """A validator's error in plain words for the page (the API keeps the validator's precise message).

    A field with a wording in :data:`_PLAIN` gets it (``done_on`` distinguishes a day out of range);
    any other field falls back to the message with the field names said in words.
    """
    field = getattr(exc, "field", None)
    if field == "done_on":
        return _PLAIN_OUT_OF_RANGE_DAY if "must be a date from" in str(exc) else _PLAIN_DAY
    if field in ("ratings.a", "ratings.b"):
        return _PLAIN[field].format(name=partner_names()[field[-1]])
    if field in _PLAIN:
        return _PLAIN[field]
    message = str(exc)
    for name, words in _FIELD_WORDS:
        message = message.replace(name, words)
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _duration(minutes: Any) -> str:
    """``90`` -> ``"1 h 30 min"``."""
    minutes = int(minutes)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


# the other pages, each its own module with routes on this blueprint: the dates (We did it, Our dates),
# the ideas (Ideas, Saved, "not for us"), the practice (Today, prompt buttons), Settings (the profile)
from . import date_pages, idea_pages, practice_pages, settings_pages  # noqa: E402,F401
from .mail_pages import TOKEN_POSTS  # noqa: E402 - the pages an email's links open, routes on this blueprint
