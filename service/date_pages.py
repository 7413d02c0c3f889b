"""The pages for a couple's dates: We did it, Our dates, and changing or deleting a mistaken date.

Routes on the pages blueprint (:mod:`service.pages`: same session, CSRF check
and headers). A date is checked by :func:`engine.app.serving.check_date_input`
and stored with ``Store.add_date`` followed by
:func:`service.dates.after_date_stored`; a change goes through
:func:`service.dates.edit_date` (as ``PATCH /v1/couples/{id}/dates/{date_id}``).
Signed in as a partner, only that partner's rating is taken, and the other's
stays hidden until both have rated (:func:`service.dates.visible`).
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from engine.app import NOTE_MAX, RECENT_DAYS, DateInputError, check_date_input

from .dates import after_date_stored, visible
from .dates import edit_date as edit_dates
from .db import get_store
from .models import get_catalog
from .pages import _ERROR_FIELDS, _allowed_ideas, _error_page, _signed_in, _words, bp

__all__ = ["human_day"]

_FORM_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_NOT_YOURS = "This date is not one of yours. Go back to Our dates and choose one there."


# ------------------------------------------------------------------ We did it

def _form_rating(raw: str) -> Any:
    """The radio value as an int; nothing chosen = None; anything else goes to the validator as is."""
    raw = raw.strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() and len(raw) < 4 else raw


def _resolve_idea(value: str, couple_id: str) -> str:
    """What the idea field holds as an idea id: an id as is, or an idea's exact title (any case) typed in
    instead of picked from the list; anything else goes to the validator as is."""
    value = value.strip()
    catalog = get_catalog()
    if not value or value in catalog:
        return value
    wanted = value.casefold()
    titles = catalog.frame["title"]
    for idea in _allowed_ideas(couple_id):
        if str(titles.at[idea]).casefold() == wanted:
            return idea
    return value


def _idea_choices(couple_id: str) -> tuple[list[dict], list[dict]]:
    """(ideas suggested in the last RECENT_DAYS days, newest first; the whole catalog by title)."""
    catalog = get_catalog()
    since = _dt.date.today() - _dt.timedelta(days=RECENT_DAYS)
    rows = get_store().recent_suggestions(couple_id, since=since)
    recent: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: (r["served_at"], -r["rank"]), reverse=True):
        if row["idea_id"] in catalog and row["idea_id"] not in recent:
            recent[row["idea_id"]] = {"id": row["idea_id"], "title": catalog.frame.at[row["idea_id"], "title"]}
    # no idea above the couple's intimacy level is listed either (the rule every suggestion obeys)
    everything = sorted(({"id": i, "title": catalog.frame.at[i, "title"]} for i in _allowed_ideas(couple_id)),
                        key=lambda item: item["title"].lower())
    return list(recent.values()), everything


@bp.route("/we-did-it", methods=["GET", "POST"])
@_signed_in
def we_did_it():
    """Rate a date: the idea, the day, one 1-5 rating per partner (a partner signed in: their own), a note."""
    errors: dict[str, str] = {}
    today = _dt.date.today()
    form = {"idea_id": request.args.get("idea", ""), "done_on": today.isoformat(), "rating_a": "",
            "rating_b": "", "note": "", "form_id": uuid.uuid4().hex}
    if request.method == "POST":
        form = {name: request.form.get(name, "") for name in form}
        form["idea_id"] = _resolve_idea(form["idea_id"], g.couple_id)
        ratings = {"a": _form_rating(form["rating_a"]), "b": _form_rating(form["rating_b"])}
        if g.partner is not None:  # a partner rates only for themselves
            ratings = {g.partner: ratings[g.partner]}
        try:
            clean = check_date_input(get_catalog(), form["idea_id"], ratings, form["done_on"].strip() or None,
                                     form["note"], today=today)
        except DateInputError as exc:
            errors[_ERROR_FIELDS.get(exc.field, exc.field)] = _words(exc)
        else:
            key = f"page-{form['form_id']}" if _FORM_ID_RE.match(form["form_id"]) else None
            store = get_store()
            record, created = store.add_date(g.couple_id, clean["idea_id"], clean["done_on"],
                                             clean["rating_a"], clean["rating_b"], note=clean["note"],
                                             context=clean["context"], idempotency_key=key)
            after_date_stored(store, created)
            title = get_catalog().frame.at[record["idea_id"], "title"]
            if not created:
                flash(f"{title} was already saved.")
            elif record["completed"]:
                flash(f"Saved: your rating completes {title} on {human_day(record['done_on'])}, "
                      "which your partner rated too.")
            else:
                flash(f"Saved: {title} on {human_day(record['done_on'])}.")
            return redirect(url_for("pages.our_dates"), 303)
    recent, everything = _idea_choices(g.couple_id)
    if not form["idea_id"] and recent:
        form["idea_id"] = recent[0]["id"]
    html = render_template("pages/we_did_it.html", form=form, errors=errors, recent=recent,
                           everything=everything, today=today.isoformat(), note_max=NOTE_MAX)
    return html, 400 if errors else 200


# ------------------------------------------------------------------ Our dates

def human_day(value: object, today: _dt.date | None = None) -> str:
    """A day as people say it: "Saturday 12 December", with the year when it is not this year's;
    "an unknown day" when there is none. ``value`` is a date or an ISO ``YYYY-MM-DD`` string."""
    if not value:
        return "an unknown day"
    day = value if isinstance(value, _dt.date) else _dt.date.fromisoformat(str(value)[:10])
    year = "" if day.year == (today or _dt.date.today()).year else f" {day.year}"
    return f"{day:%A} {day.day} {day:%B}{year}"


bp.add_app_template_filter(human_day, "human_day")


@bp.get("/our-dates")
@_signed_in
def our_dates():
    """The couple's dates, newest first, with both ratings."""
    catalog = get_catalog()
    dates = list(reversed(get_store().list_dates(g.couple_id)))
    for record in dates:
        record["title"] = catalog.frame.at[record["idea_id"], "title"] if record["idea_id"] in catalog \
            else record["idea_id"]
        record.update(visible(record, g.partner))
    return render_template("pages/our_dates.html", dates=dates)


def _titled(record: dict) -> dict:
    catalog = get_catalog()
    record["title"] = catalog.frame.at[record["idea_id"], "title"] if record["idea_id"] in catalog \
        else record["idea_id"]
    return record


@bp.route("/our-dates/<int:date_id>", methods=["GET", "POST"])
@_signed_in
def edit_date(date_id: int):
    """Change a mistaken date (the idea, the day, the ratings, the note): the We did it form, filled in,
    validated alike (:func:`service.dates.edit_date`, one transaction); only the couple's own dates."""
    record = get_store().get_date(g.couple_id, date_id)
    if record is None:
        return _error_page(404, _NOT_YOURS)
    _titled(record)
    shown = visible(record, g.partner)["ratings"]

    def as_field(value):
        return "" if value is None else str(int(round(float(value))))

    form = {"idea_id": record["idea_id"], "done_on": record["done_on"] or "", "note": record["note"],
            "rating_a": as_field(shown["a"]), "rating_b": as_field(shown["b"]), "form_id": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form.update({name: request.form.get(name, "") for name in ("idea_id", "done_on", "note", "rating_a",
                                                                   "rating_b")})
        mine = ("a", "b") if g.partner is None else (g.partner,)
        form["idea_id"] = _resolve_idea(form["idea_id"], g.couple_id)
        changes = {"idea_id": form["idea_id"], "note": form["note"],
                   "ratings": {p: _form_rating(form[f"rating_{p}"]) for p in mine}}
        if form["done_on"].strip():
            changes["done_on"] = form["done_on"].strip()
        try:
            changed = edit_dates(g.couple_id, date_id, changes, g.partner)
        except DateInputError as exc:
            errors[_ERROR_FIELDS.get(exc.field, exc.field)] = _words(exc)
        else:
            if changed is None:  # deleted meanwhile
                return _error_page(404, _NOT_YOURS)
            flash(f"Changed: {_titled(changed)['title']} on {human_day(changed['done_on'])}.")
            return redirect(url_for("pages.our_dates"), 303)
    recent, everything = _idea_choices(g.couple_id)
    html = render_template("pages/we_did_it.html", form=form, errors=errors, recent=recent, everything=everything,
                           today=_dt.date.today().isoformat(), note_max=NOTE_MAX, editing=record)
    return html, 400 if errors else 200


@bp.post("/our-dates/<int:date_id>/delete")
@_signed_in
def delete_date(date_id: int):
    """Delete a mistaken date: the couple's own only; the next suggestion is ranked without it."""
    record = get_store().get_date(g.couple_id, date_id)
    if record is None or not get_store().delete_date(g.couple_id, date_id):
        return _error_page(404, _NOT_YOURS)
    flash(f"Deleted: {_titled(record)['title']} on {human_day(record['done_on'])}.")
    return redirect(url_for("pages.our_dates"), 303)
