"""The Settings page: the profile a couple stated at sign-up, shown pre-filled and changeable later.

Routes on the pages blueprint (:mod:`service.pages`: same session, CSRF check
and headers). A change goes through the same calls as ``PATCH /v1/couples/{id}``
(:mod:`service.couples`): the form becomes profile changes (an emptied field is
``None``: removed), each field is checked by
:func:`engine.domain.profiles.check_profile` (the one validation of a profile,
so every bad field gets its own plain-words error next to it), and the whole
change is stored by ``Store.update_profile`` in one transaction (which also gives
the couple a new history stamp, so the next suggestion reads the new profile).

Signed in with the couple's shared token, everything may change, email
addresses included (a new or changed address is stored unconfirmed and sent a
confirmation link, :func:`service.mail.store_emails`; an emptied one is removed)
and each address's opt-in to the daily nudge email ("Also a daily nudge by
email", ``Store.set_daily``; it is sent once the address is confirmed). An
address still waiting for confirmation has "Send the link again" (a link sent
at sign-up can be lost: a mail server that refused it, a worker stopped before
its background send).
Signed in with one partner's own token, only the intimacy level may change and
only downwards, the API's rule (:func:`service.couples._partner_may_change`): the
higher levels are shown but not selectable, the other fields are read-only, and a
forged POST that raises the level is refused (403) with a sentence saying why.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from engine.app import UnknownCoupleError, ValidationError
from engine.domain.profiles import INTIMACY_LEVELS, NAME_MAX, ProfileError, check_profile, intimacy_level

from . import mail
from .couples import _partner_may_change
from .db import get_store
from .errors import ApiError
from .pages import _PLAIN_NAME, _error_page, _interest_choices, _signed_in, bp

__all__: list[str] = []

#: what the page says for a bad field, in plain words (the API keeps the validator's precise message)
_PLAIN_PROFILE = {
    "name_a": _PLAIN_NAME,
    "name_b": _PLAIN_NAME,
    "interests": "Choose from the listed interests.",
    "budget_ceiling": "Choose a budget from the list, or leave it open.",
    "kids": "Tick the box if you have kids, or leave it empty.",
    "home": "Write where you live as latitude,longitude (like 51.5074,-0.1278), or leave it empty.",
    "accessibility_needs": "Describe what you need in words, or leave it empty.",
    "intimacy": "Choose affection only, romantic or sensual.",
}
_PLAIN_EMAIL = "Enter an email address like sam@example.org, or leave it empty."
_PARTNER_RAISES = ("Raising how much physical closeness ideas include needs both of you: sign in with the "
                   "couple's shared sign-in to choose a higher level. On your own you can only lower it.")
_TEXT_FIELDS = ("name_a", "name_b", "home", "accessibility_needs")


def _form_of(profile: dict[str, Any], emails: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The form's values for a stored profile and the stored addresses."""
    kids = profile.get("kids")
    return {"name_a": profile.get("name_a", ""), "name_b": profile.get("name_b", ""),
            "interests": list(profile.get("interests") or []),
            "budget_ceiling": "" if profile.get("budget_ceiling") is None else str(profile["budget_ceiling"]),
            "kids": "yes" if kids else "", "home": profile.get("home") or "",
            "accessibility_needs": profile.get("accessibility_needs") or "",
            "intimacy": intimacy_level(profile.get("intimacy")),
            "email_a": (emails.get("a") or {}).get("address", ""),
            "email_b": (emails.get("b") or {}).get("address", ""),
            "daily_a": "yes" if (emails.get("a") or {}).get("daily") else "",
            "daily_b": "yes" if (emails.get("b") or {}).get("daily") else ""}


def _posted_form() -> dict[str, Any]:
    form = {name: request.form.get(name, "").strip() for name in (*_TEXT_FIELDS, "budget_ceiling", "kids",
                                                                   "intimacy", "email_a", "email_b",
                                                                   "daily_a", "daily_b")}
    form["interests"] = request.form.getlist("interests")
    return form


def _changes(form: dict[str, Any], stored: dict[str, Any], choices: list[str]) -> tuple[dict, dict[str, str]]:
    """(profile changes for ``Store.update_profile``, field -> plain-words error).

    Every field is checked on its own by :func:`check_profile` so each error stands next to its field;
    an empty field is ``None`` (the store removes it)."""
    raw: dict[str, Any] = {name: form[name] or None for name in _TEXT_FIELDS}
    tier = form["budget_ceiling"]
    raw["budget_ceiling"] = (int(tier) if tier.isdigit() else tier) if tier else None  # "9" -> 9: the check says no
    raw["kids"] = True if form["kids"] == "yes" else (False if "kids" in stored else None)
    raw["interests"] = form["interests"] or None
    raw["intimacy"] = form["intimacy"] or None
    errors: dict[str, str] = {}
    if any(i not in choices for i in form["interests"]):
        errors["interests"] = _PLAIN_PROFILE["interests"]
    changes: dict[str, Any] = {}
    for name, value in raw.items():
        if name in errors:
            continue
        try:
            checked = check_profile({name: value})
        except ProfileError:
            errors[name] = _PLAIN_PROFILE[name]
        else:
            changes[name] = checked.get(name)  # None: removed
    return changes, errors


@bp.route("/settings", methods=["GET", "POST"])
@_signed_in
def settings():
    """The couple's profile, pre-filled; a POST saves the changes (see the module docstring)."""
    store = get_store()
    stored = (store.get_couple(g.couple_id) or {}).get("profile") or {}
    addresses = store.email_addresses(g.couple_id) if g.partner is None else {}
    current = _form_of(stored, addresses)
    choices = sorted(set(_interest_choices()) | set(current["interests"]))  # labels set through the API stay
    errors: dict[str, str] = {}
    form = current
    if request.method == "POST":
        if g.partner is not None:  # one partner alone: only the intimacy level, only downwards
            return _partner_saves(store, current, choices)
        if "resend" in request.form:  # "Send the link again" beside an address waiting for confirmation
            return _resend(addresses, request.form["resend"])
        form = _posted_form()
        changes, errors = _changes(form, stored, choices)
        new_addresses, bad = mail.check_emails(form)
        errors.update({field: _PLAIN_EMAIL for field in bad})
        if not errors:
            try:
                store.update_profile(g.couple_id, changes)  # one transaction, checked again by the store
            except ValidationError as exc:  # cannot happen after the checks above; said in words all the same
                field = exc.field.removeprefix("profile.")
                errors[field] = _PLAIN_PROFILE.get(field, "Check this field and send the form again.")
            except UnknownCoupleError:
                return _error_page(404, "This couple no longer exists. Sign up again to start over.")
            else:
                _save_emails(addresses, new_addresses, {p for p in mail.EMAIL_FIELDS if form[f"daily_{p}"] == "yes"})
                return redirect(url_for("pages.settings"), 303)
    return _render(form, errors, choices, addresses, status=400 if errors else 200)


def _save_emails(stored: dict[str, dict[str, Any]], wanted: dict[str, str], daily: set[str]) -> None:
    """The form's addresses (:func:`service.mail.change_emails`: an emptied one is removed), each kept one
    opted in to (ticked) or out of the daily nudge email; the flash says which were sent a link."""
    emails, changed = mail.change_emails(g.couple_id, {p: wanted.get(p) for p in mail.EMAIL_FIELDS},
                                         {p: p in daily for p in wanted}, stored)
    words = ["Your settings are saved."]
    for partner in sorted(changed):
        row = emails[partner]
        words.append(f"We are sending a link to {row['address']} to confirm it." if row["confirmation_sent"]
                     else f"{row['address']} is saved; it gets the newsletter once confirmed.")
    flash(" ".join(words))


def _resend(addresses: dict[str, dict[str, Any]], partner: str):
    """A new confirmation link to the partner's stored address, still unconfirmed (nothing else is saved)."""
    row = addresses.get(partner)
    if row is None or row["confirmed"] or not row["subscribed"]:
        return _error_page(400, "There is no address waiting for confirmation there. Reload Settings and try again.")
    sent = mail.store_emails(g.couple_id, {partner: row["address"]})[partner]
    flash(f"We are sending a new link to {row['address']} to confirm it." if sent["confirmation_sent"]
          else f"Email is not set up on this service, so no link can be sent to {row['address']} yet.")
    return redirect(url_for("pages.settings"), 303)


def _partner_saves(store, current: dict[str, Any], choices: list[str]):
    """A partner alone: the posted level is taken only if it is not higher (other fields are ignored)."""
    wanted = request.form.get("intimacy", "").strip() or current["intimacy"]
    try:
        level = intimacy_level(wanted)
    except ValueError:
        return _render(current, {"intimacy": _PLAIN_PROFILE["intimacy"]}, choices, {}, status=400)
    try:
        _partner_may_change(store, g.couple_id, {"intimacy": level})  # the API's rule, word for word
    except ApiError:
        return _error_page(403, _PARTNER_RAISES)
    if level != current["intimacy"]:
        store.update_profile(g.couple_id, {"intimacy": level})
    flash("Your settings are saved.")
    return redirect(url_for("pages.settings"), 303)


def _render(form: dict[str, Any], errors: dict[str, str], choices: list[str],
            addresses: dict[str, dict[str, Any]], *, status: int):
    # a partner alone sees the levels above the stored one, not selectable (``form`` is what is stored)
    highest = INTIMACY_LEVELS.index(form["intimacy"]) if g.partner is not None else None
    return render_template("pages/settings.html", form=form, errors=errors, choices=choices, emails=addresses,
                           name_max=NAME_MAX, intimacy_max=highest), status
