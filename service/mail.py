"""Partners' email addresses at sign-up (API and page): checked, stored, and a confirmation link queued.

The address is checked by :func:`engine.domain.emails.check_email` (the one
check; the API answers 400 with its message, the page in plain words),
stored unconfirmed (``Store.set_email``), and, when SMTP is configured
(``MAIL``: :func:`engine.config.mail_settings_from_env`), a confirmation email
with a signed link (:class:`engine.app.MailLinks`, 7 days) is sent right after
the response (:mod:`service.outbox`) through the same SMTP sender as the
newsletter. Without SMTP the address
waits unconfirmed (an operator can send the links later); sign-up never
fails because mail could not be sent.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import current_app, request

from engine.app import MailLinks, NewsletterError, SmtpSender, confirmation_message
from engine.domain.emails import EmailError, check_email

from .db import get_store
from .outbox import get_outbox

__all__ = ["EMAIL_FIELDS", "change_emails", "check_daily", "check_emails", "links", "store_emails"]

logger = logging.getLogger(__name__)

#: the sign-up fields, one per partner
EMAIL_FIELDS = {"a": "email_a", "b": "email_b"}


def check_emails(values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, EmailError]]:
    """(partner -> clean address, field -> error) for the ``email_a`` / ``email_b`` given (empty = none)."""
    clean: dict[str, str] = {}
    errors: dict[str, EmailError] = {}
    for partner, field in EMAIL_FIELDS.items():
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            clean[partner] = check_email(value, field)
        except EmailError as exc:
            errors[field] = exc
    return clean, errors


def check_daily(values: Mapping[str, Any], has_address: Mapping[str, bool]) -> tuple[dict[str, bool], dict[str, str]]:
    """(partner -> opted in, field -> error) for the ``daily_a`` / ``daily_b`` given: each must be true or false,
    and true needs that partner's address (``has_address``, as it will be after the request)."""
    daily: dict[str, bool] = {}
    errors: dict[str, str] = {}
    for partner in EMAIL_FIELDS:
        field = f"daily_{partner}"
        if field not in values:
            continue
        value = values[field]
        if not isinstance(value, bool):
            errors[field] = f"{field} must be true or false"
        elif value and not has_address.get(partner):
            errors[field] = f"{field} needs email_{partner}: the daily nudge goes to that address"
        else:
            daily[partner] = value
    return daily, errors


def change_emails(couple_id: str, addresses: Mapping[str, str | None], daily: Mapping[str, bool],
                  stored: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Apply checked changes to the couple's addresses: a new or changed address is stored and sent a
    confirmation link (:func:`store_emails`), ``None`` removes one, an unchanged one keeps its state;
    then each partner in ``daily`` is opted in to or out of the daily nudge email. ``stored``: the
    couple's addresses before the change (``Store.email_addresses``, which the caller has read to check it).

    Returns
    -------
    emails : dict
        partner -> ``{"address", "confirmed", "subscribed", "daily", "confirmation_sent"}`` after the
        change, as at sign-up (``confirmation_sent`` only for an address this change sent a link to).
    changed : set of str
        The partners whose address this change set anew.
    """
    store = get_store()
    changed = {p: a for p, a in addresses.items() if a is not None and (stored.get(p) or {}).get("address") != a}
    for partner, address in addresses.items():
        if address is None and partner in stored:
            store.set_email(couple_id, partner, None)
    sent = store_emails(couple_id, changed) if changed else {}
    for partner, on in daily.items():
        store.set_daily(couple_id, partner, on)
    emails = {p: {"address": row["address"], "confirmed": row["confirmed"], "subscribed": row["subscribed"],
                  "daily": row["daily"], "confirmation_sent": (sent.get(p) or {}).get("confirmation_sent", False)}
              for p, row in store.email_addresses(couple_id).items()}
    return emails, set(changed)


def links() -> MailLinks:
    """The signed links of this service: ``DATEIDEAS_PUBLIC_URL`` when set, else this request's host."""
    mail = current_app.config.get("MAIL")
    base = (mail.public_url if mail is not None and mail.public_url else None) or request.url_root
    return MailLinks(current_app.config["SECRET_KEY"], base)


def store_emails(couple_id: str, addresses: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Store the couple's addresses (unconfirmed) and, when SMTP is configured, queue a confirmation link
    to each for after the response (:mod:`service.outbox`: a slow mail server never holds the request).

    Returns
    -------
    dict
        partner -> ``{"address", "confirmed", "subscribed", "confirmation_sent"}``; ``confirmation_sent``:
        a link is on its way (if the mail server then refuses it, the log says so and the address stays
        unconfirmed until a link from a later change or an operator confirms it).
    """
    store = get_store()
    out: dict[str, dict[str, Any]] = {}
    for partner, address in addresses.items():
        row = store.set_email(couple_id, partner, address)
        out[partner] = {"address": row["address"], "confirmed": row["confirmed"], "subscribed": row["subscribed"],
                        "confirmation_sent": False}
    mail = current_app.config.get("MAIL")
    pending = [(p, row) for p, row in out.items() if not row["confirmed"]]
    if mail is None or not pending:
        return out
    messages = [confirmation_message(couple_id, partner, row["address"], links=links(), mail_from=mail.mail_from)
                for partner, row in pending]  # built now: the links need this request's host
    get_outbox().submit(f"confirmation email(s) of couple {couple_id}", partial(_send, mail, couple_id, messages))
    for _, row in pending:
        row["confirmation_sent"] = True
    return out


def _send(mail, couple_id: str, messages: list) -> None:
    """Send the confirmation emails in the background; mail is best effort: the sign-up stands."""
    try:
        with SmtpSender(mail) as sender:
            for message in messages:
                sender.send(message)
    except (NewsletterError, OSError, smtplib.SMTPException) as exc:
        logger.warning("could not send the confirmation email(s) of couple %s: %s", couple_id, exc)
