"""Partners' email addresses at sign-up (API and page): checked, stored, and a confirmation link sent.

The address is checked by :func:`engine.domain.emails.check_email` (the one
check; the API answers 400 with its message, the page in plain words),
stored unconfirmed (``Store.set_email``), and, when SMTP is configured
(``MAIL``: :func:`engine.config.mail_settings_from_env`), a confirmation email
with a signed link (:class:`engine.app.MailLinks`, 7 days) is sent at once
through the same SMTP sender as the newsletter. Without SMTP the address
waits unconfirmed (an operator can send the links later); sign-up never
fails because mail could not be sent.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from typing import Any

from flask import current_app, request

from engine.app import MailLinks, NewsletterError, SmtpSender, confirmation_message
from engine.domain.emails import EmailError, check_email

from .db import get_store

__all__ = ["EMAIL_FIELDS", "check_emails", "links", "store_emails"]

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


def links() -> MailLinks:
    """The signed links of this service: ``DATEIDEAS_PUBLIC_URL`` when set, else this request's host."""
    mail = current_app.config.get("MAIL")
    base = (mail.public_url if mail is not None and mail.public_url else None) or request.url_root
    return MailLinks(current_app.config["SECRET_KEY"], base)


def store_emails(couple_id: str, addresses: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Store the couple's addresses (unconfirmed) and send each a confirmation link when SMTP is configured.

    Returns
    -------
    dict
        partner -> ``{"address", "confirmed", "subscribed", "confirmation_sent"}``.
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
    try:
        with SmtpSender(mail) as sender:
            for partner, row in pending:
                sender.send(confirmation_message(couple_id, partner, row["address"], links=links(),
                                                 mail_from=mail.mail_from))
                row["confirmation_sent"] = True
    except (NewsletterError, OSError, smtplib.SMTPException) as exc:  # mail is best effort: the sign-up stands
        logger.warning("could not send the confirmation email(s) of couple %s: %s", couple_id, exc)
    return out
