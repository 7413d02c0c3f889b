"""The daily nudge email: each opted-in partner's Today nudge, at most once per address and day.

``dateideas today --send`` (a daily cron job) runs :func:`deliver_daily`. For
each opted-in, confirmed, not unsubscribed address of an active couple
(``Store.daily_recipients``) it sends one ``multipart/alternative`` message:
that partner's nudge of the day - the very text the Today page shows them
(:func:`engine.practice.today.today_for`, which stores the day's nudges on its
first call) - a link to the Today page to mark it done, and the daily email's
own one-click unsubscribe link (``List-Unsubscribe`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, RFC 8058) that stops the
daily email only (the newsletter goes on).

The same SMTP sender, throttle and at-most-once rule as the newsletter
(:mod:`.delivery`): each email is claimed (``Store.claim_daily``, committed,
unique per day, couple and address) before it goes to SMTP and marked
``sent`` after, so a second run of the day sends nothing and a killed run
resumes without duplicates; one the server refused is ``failed`` and tried
again by the next run of the day.
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from typing import Any

from ..practice.today import Nudge, today_for
from .delivery import SendCounts, SmtpSender, _message, _Throttle, send_claimed
from .links import MailLinks

__all__ = ["DailyResult", "daily_message", "deliver_daily"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class DailyResult(SendCounts):
    """What :func:`deliver_daily` did: the day and the :class:`~.delivery.SendCounts` of its opted-in
    addresses (``already_sent`` by an earlier run of the day, ``failed`` tried again by the next)."""

    day: _dt.date

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), **super().as_dict()}


def daily_message(couple_id: str, partner: str, address: str, nudge: str, day: _dt.date, *, links: MailLinks,
                  mail_from: str) -> EmailMessage:
    """One partner's daily email: their nudge (text + HTML), the Today page, and the daily-only unsubscribe."""
    today = f"{links.base_url.rstrip('/')}/today"
    unsubscribe = links.url("daily-unsubscribe", couple_id, partner, address)
    text = (f"Your small one for today ({day.isoformat()}):\n\n{nudge}\n\n"
            f"Done it? Mark it on your Today page: {today}\n\n"
            f"You get this because you asked for a daily nudge by email. Stop the daily email "
            f"(the weekly ideas stay): {unsubscribe}\n")
    esc = _html.escape
    html = (f"<!doctype html><html><body><p>Your small one for today ({esc(day.isoformat())}):</p>"
            f"<p style=\"font-size:1.2em\"><strong>{esc(nudge)}</strong></p>"
            f"<p><a href=\"{esc(today)}\">Mark it done on your Today page</a></p>"
            f"<p style=\"color:#666;font-size:.9em\">You get this because you asked for a daily nudge by email. "
            f"<a href=\"{esc(unsubscribe)}\">Stop the daily email</a> (the weekly ideas stay).</p></body></html>")
    return _message("Today's small one", mail_from, address, text, html, {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    })


def deliver_daily(store, day: _dt.date, *, settings, links: MailLinks, sender: SmtpSender | None = None,
                  nudges: Sequence[Nudge] | None = None, catalog=None,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> DailyResult:
    """Send the day's nudge emails, at most once per day and address (see the module docstring).

    Raises ``NewsletterError`` as :func:`~.delivery.deliver_newsletter` does: the SMTP server cannot be
    reached, or the connection broke mid-message (that email stays ``sending``); run again to carry on.
    """
    started = time.perf_counter()
    recipients = store.daily_recipients()
    log = {(row["couple_id"], row["address"]): row["status"] for row in store.daily_log(day)}
    todo, already, unknown = [], 0, 0
    for reader in recipients:
        status = log.get((reader["couple_id"], reader["address"]))
        if status == "sent":
            already += 1
        elif status == "sending":
            unknown += 1
        else:
            todo.append(reader)
    if unknown:
        logger.warning("%d daily email(s) of %s were claimed by a run that stopped before the SMTP server's answer "
                       "was recorded; they are not sent again (at most once)", unknown, day)
    sent = failed = 0
    throttle = _Throttle(float(settings.per_second or 0), clock, sleep)
    own = sender is None
    smtp = SmtpSender(settings) if own else sender
    texts: dict[str, dict[str, Any]] = {}
    try:
        for reader in todo:
            couple, partner, address = reader["couple_id"], reader["partner"], reader["address"]
            if couple not in texts:  # the day's nudges, stored on the first call (the Today page shows the same)
                texts[couple] = today_for(store, couple, day, nudges=nudges, catalog=catalog)["partners"]
            smtp.ready()  # connected before the claim: an unreachable server leaves nothing claimed
            if not store.claim_daily(day, couple, partner, address):
                already += 1
                continue
            message = daily_message(couple, partner, address, texts[couple][partner]["text"], day, links=links,
                                    mail_from=settings.mail_from)
            finish = partial(store.finish_daily, day, couple, address)
            if send_claimed(smtp, throttle, message, finish, to=f"{address} (couple {couple}, daily)", sent=sent):
                sent += 1
            else:
                failed += 1
    finally:
        if own:
            smtp.close()
    result = DailyResult(day=day, addresses=len(recipients), sent=sent, already_sent=already, unknown=unknown,
                         failed=failed, seconds=time.perf_counter() - started)
    logger.info("daily nudge email of %s: %s", day, result.as_dict())
    return result
