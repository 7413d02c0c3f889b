"""The pages' part for the daily practice: the Today page and a prompt's buttons on Tonight.

Routes on the pages blueprint (:mod:`service.pages`: same session, CSRF
check and headers), calling the same engine functions as the JSON API:

* ``GET /today`` - each partner's nudge (:func:`engine.practice.today.today_for`) and streak;
* ``POST /today`` - a partner marks theirs done (:func:`engine.practice.today.mark_done`);
* ``POST /prompts/<id>`` - "We talked about it" / "Skip this one" on tonight's
  prompt (:func:`engine.practice.prompts.mark_prompt`), then back to Tonight.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from engine.app import PARTNERS, PromptMarkError, mark_done, mark_prompt, today_for

from .db import get_store
from .models import get_catalog
from .pages import _error_page, _signed_in, bp

__all__: list[str] = []

_PROMPT_WORDS = {"talked": "Lovely. The next questions can go a little deeper when you are ready.",
                 "skipped": "Skipped. We will keep the next questions lighter."}


@bp.get("/today")
@_signed_in
def today():
    """Today's small appreciation for each partner, with a Done button and a gentle streak."""
    return render_template("pages/today.html", today=today_for(get_store(), g.couple_id, catalog=get_catalog()))


@bp.post("/today")
@_signed_in
def today_done():
    partner = request.form.get("partner", "")
    if partner not in PARTNERS:
        return _error_page(400, "Choose partner A or partner B.")
    mark_done(get_store(), g.couple_id, partner, catalog=get_catalog())
    flash("Done. Thank you for noticing each other.")
    return redirect(url_for("pages.today"), 303)


@bp.post("/prompts/<prompt_id>")
@_signed_in
def prompt_mark(prompt_id: str):
    """The buttons under tonight's prompt."""
    status = request.form.get("status", "")
    try:
        mark_prompt(get_store(), g.couple_id, prompt_id, status)
    except PromptMarkError as exc:
        if exc.field == "status":
            return _error_page(400, "Choose 'We talked about it' or 'Skip this one'.")
        return _error_page(404, "This question was not one of your suggestions. Go back to Tonight and try again.")
    flash(_PROMPT_WORDS[status])
    return redirect(url_for("pages.tonight"), 303)
