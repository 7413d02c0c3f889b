"""Delivery: the week's emails to the partners' confirmed addresses through SMTP, throttled, at most once.

``dateideas newsletter --send`` runs :func:`deliver_newsletter` after the run
has written the week (:func:`engine.newsletter.run_newsletter`). For each
couple in the week's ``picks.jsonl`` and each of its confirmed, subscribed
addresses (``Store.mail_recipients``, read when the delivery starts: an
unsubscribe is honoured from the next delivery on) it sends one
``multipart/alternative`` message - the newsletter's own text and HTML
(:func:`~engine.newsletter.render_email`) with that reader's signed links: a
"rate it" link per idea that opens the rate page signed in as that partner,
and a one-click unsubscribe link, also in the ``List-Unsubscribe`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` headers (RFC 8058).

At most once, resumable
-----------------------
Each email is **claimed** in the store before it goes to SMTP
(``Store.claim_mail``: a ``sending`` row, committed, unique per week, couple
and address) and marked ``sent`` when the server has accepted it
(``Store.finish_mail``). A claim that exists is never sent again, so a
delivery that is killed and run again sends what was not claimed yet and
nothing twice. The price of "never twice": an email claimed by a killed run
in the instant between its claim and the server's answer stays ``sending``
(outcome unknown) and is not retried; the result counts such rows
(``unknown``) so the operator knows. An email the server refused (it answered
with an error code, so it certainly did not take it) is marked ``failed`` and
is tried again by the next delivery of the week.

Throttle: at most ``per_second`` messages a second (``DATEIDEAS_SMTP_PER_SECOND``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..domain.catalog import Catalog
from .errors import NewsletterError
from .links import MailLinks
from .planning import pick_records, week_start
from .rendering import _idea_info, email_subject, render_email

__all__ = ["DeliveryResult", "SmtpSender", "confirmation_message", "deliver_newsletter", "newsletter_message",
           "read_week_picks"]

logger = logging.getLogger(__name__)

#: answers that say the server did not take the message (so it may be tried again)
_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def send_claimed(smtp: SmtpSender, throttle: _Throttle, message: EmailMessage, finish: Callable[..., Any], *,
                 to: str, sent: int) -> bool:
    """Send one email already claimed in the store, and record how it went through ``finish``.

    ``finish(status, **details)`` records the outcome (``"sent"`` with the
    message id, ``"failed"`` with the error). Returns True when sent, False
    when the server refused it (recorded as failed, tried again by the next
    run). A broken connection raises :class:`NewsletterError` and leaves the
    claim as 'sending': its outcome is unknown, so it is never sent twice.
    ``to`` names the recipient in messages; ``sent`` is how many this run sent.
    """
    throttle.wait()
    try:
        smtp.send(message)
    except _REFUSED as exc:
        finish("failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        logger.warning("the SMTP server refused the email to %s: %s", to, exc)
        return False
    except (OSError, smtplib.SMTPException) as exc:
        raise NewsletterError(
            f"the SMTP connection failed while sending to {to}: {exc}; {sent} email(s) were sent in this run. "
            "That email is recorded as 'sending' and is never sent again (its outcome is unknown); run the same "
            "command again to carry on") from exc
    finish("sent", message_id=message["Message-ID"])
    return True


@dataclass(kw_only=True)
class SendCounts:
    """What one delivery of claimed emails did (the newsletter's and the daily nudge's share these).

    Attributes
    ----------
    addresses : int
        Confirmed, subscribed addresses to mail (the emails the delivery should send).
    sent : int
        Emails the SMTP server accepted in this delivery.
    already_sent : int
        Emails an earlier delivery had sent (skipped).
    unknown : int
        Emails an earlier, killed delivery had claimed without recording the
        server's answer; never retried (at most once).
    failed : int
        Emails the server refused in this delivery (tried again next time).
    seconds : float
    """

    addresses: int
    sent: int
    already_sent: int
    unknown: int
    failed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"addresses": self.addresses, "sent": self.sent, "already_sent": self.already_sent,
                "unknown": self.unknown, "failed": self.failed, "seconds": round(self.seconds, 3)}


@dataclass(kw_only=True)
class DeliveryResult(SendCounts):
    """What :func:`deliver_newsletter` did: the week, the couples with at least one address to mail,
    and the :class:`SendCounts` of their confirmed, subscribed addresses."""

    week: _dt.date
    couples: int

    def as_dict(self) -> dict[str, Any]:
        return {"week": self.week.isoformat(), "couples": self.couples, **super().as_dict()}


# --------------------------------------------------------------------------- SMTP

class SmtpSender:
    """One SMTP connection (``smtplib``), opened on entering, closed on leaving, renewed every
    ``per_connection`` messages (servers cap messages per connection).

    Parameters
    ----------
    settings
        Has ``host``, ``port``, ``tls`` (``none``/``starttls``/``ssl``), ``user``,
        ``password`` and ``timeout`` (:class:`engine.config.MailSettings`).
    per_connection : int, default 100
    """

    def __init__(self, settings, per_connection: int = 100):
        self.settings = settings
        self.per_connection = per_connection
        self._smtp: smtplib.SMTP | None = None
        self._used = 0

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise NewsletterError(f"cannot connect to the SMTP server {s.host}:{s.port} (tls={s.tls}): {exc}; "
                                  "check DATEIDEAS_SMTP_HOST, _PORT, _TLS, _USER and _PASSWORD") from exc
        return smtp

    def __enter__(self) -> SmtpSender:
        self._smtp = self._connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT and close (harmless when closed)."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def ready(self) -> None:
        """Connect (again) when not connected or the connection has carried ``per_connection`` messages;
        :class:`NewsletterError` when the server cannot be reached. Called before an email is claimed,
        so a server that is down never leaves a claimed, unsent email."""
        if self._smtp is None or self._used >= self.per_connection:
            self.close()
            self._smtp = self._connect()
            self._used = 0

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; raises what ``smtplib`` raises."""
        self.ready()
        self._used += 1
        self._smtp.send_message(message)


class _Throttle:
    """At most ``per_second`` calls of :meth:`wait` return per second (0: no limit)."""

    def __init__(self, per_second: float, clock: Callable[[], float], sleep: Callable[[float], None]):
        self.interval = 1.0 / per_second if per_second and per_second > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


# --------------------------------------------------------------------------- messages

def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def _message(subject: str, mail_from: str, to: str, text: str, html: str | None,
             headers: Mapping[str, str] | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(mail_from))
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def newsletter_message(couple_id: str, picks: list[Mapping], week: _dt.date | str, catalog: Catalog, *,
                       partner: str, address: str, links: MailLinks, mail_from: str,
                       _info: dict | None = None) -> EmailMessage:
    """One reader's newsletter email: text + HTML with their signed links and the RFC 8058 headers."""
    rate = {str(p["idea_id"]): links.url("rate", couple_id, partner, address, str(p["idea_id"])) for p in picks}
    unsubscribe = links.url("unsubscribe", couple_id, partner, address)
    html, text = render_email(couple_id, picks, week, catalog, links={"rate": rate, "unsubscribe": unsubscribe},
                              _info=_info)
    return _message(email_subject(len(picks), week), mail_from, address, text, html, {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    })


def confirmation_message(couple_id: str, partner: str, address: str, *, links: MailLinks,
                         mail_from: str) -> EmailMessage:
    """The email that asks a partner to confirm their address (plain text; one signed link, 7 days)."""
    url = links.url("confirm", couple_id, partner, address)
    text = ("Hello,\n\nthis address was given for the weekly date ideas of couple "
            f"{couple_id} (partner {partner.upper()}). To receive them, confirm it with this link "
            f"(it works for 7 days):\n\n{url}\n\nIf you did not sign up, ignore this email: nothing "
            "will be sent to you.\n")
    return _message("Confirm your email for your weekly date ideas", mail_from, address, text, None)


# --------------------------------------------------------------------------- the week's picks

def read_week_picks(out_dir: str | Path, week: _dt.date | str) -> pd.DataFrame:
    """The week's picks from ``out_dir/picks.jsonl`` (a complete run's folder), best rank first per couple.

    Raises
    ------
    NewsletterError
        The folder holds another week, or no complete run (no ``picks.jsonl``).
    """
    out_dir, monday = Path(out_dir), week_start(week)
    marker = out_dir / "week.json"
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8")).get("week")
    except (OSError, ValueError):
        recorded = None
    if recorded != monday.isoformat() or not (out_dir / "picks.jsonl").is_file():
        raise NewsletterError(f"{out_dir} does not hold a complete newsletter of the week of {monday} "
                              "(no week.json of that week, or no picks.jsonl); pass the --out folder of "
                              "the week's completed run")
    rows = [json.loads(line) for line in (out_dir / "picks.jsonl").read_text(encoding="utf-8").splitlines() if line]
    frame = pd.DataFrame(rows)
    if not len(frame):
        return frame
    frame["couple_id"] = frame["couple_id"].astype(str)
    return frame.sort_values(["couple_id", "rank"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- delivery

def deliver_newsletter(store, catalog: Catalog, week: _dt.date | str, picks: pd.DataFrame, *, run_id: int,
                       settings, links: MailLinks, sender: SmtpSender | None = None,
                       couple_ids: Iterable[str] | None = None, progress: bool = True,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> DeliveryResult:
    """Send the week's emails, at most once per week and address (see the module docstring).

    Parameters
    ----------
    store : Store
        Addresses (``mail_recipients``) and the mail log (``mail_log``,
        ``claim_mail``, ``finish_mail``).
    catalog : Catalog
    week : date or "YYYY-MM-DD"
    picks : DataFrame
        The week's picks (:func:`read_week_picks`).
    run_id : int
        The week's newsletter run the emails belong to.
    settings
        ``mail_from``, ``per_second`` and the SMTP connection's settings
        (:class:`engine.config.MailSettings`).
    links : MailLinks
    sender : SmtpSender, optional
        Default: ``SmtpSender(settings)``, connected when the first email is due.
    couple_ids : iterable of str, optional
        Only these couples of the week.
    progress : bool, default True
    clock, sleep : callables
        For the throttle (tests pass fakes).

    Returns
    -------
    DeliveryResult

    Raises
    ------
    NewsletterError
        The SMTP server cannot be reached, or the connection broke while a
        message was being handed over (that email stays ``sending``: never
        retried); run again to carry on.
    """
    monday = week_start(week)
    started = time.perf_counter()
    if len(picks):
        wanted = None if couple_ids is None else set(map(str, couple_ids))
        groups = {c: pick_records(g) for c, g in picks.groupby("couple_id", sort=True)
                  if wanted is None or c in wanted}
    else:
        groups = {}
    recipients = store.mail_recipients(list(groups))
    log = {(row["couple_id"], row["address"]): row["status"] for row in store.mail_log(monday)}
    todo, already, unknown = [], 0, 0
    for couple in groups:
        for reader in recipients.get(couple, []):
            status = log.get((couple, reader["address"]))
            if status == "sent":
                already += 1
            elif status == "sending":
                unknown += 1
            else:
                todo.append((couple, reader["partner"], reader["address"]))
    n_addresses = sum(len(recipients.get(c, [])) for c in groups)
    if unknown:
        logger.warning("%d email(s) of week %s were claimed by a delivery that stopped before the SMTP server's "
                       "answer was recorded; they are not sent again (at most once)", unknown, monday)
    sent = failed = 0
    throttle = _Throttle(float(settings.per_second or 0), clock, sleep)
    info = _idea_info(catalog)
    own = sender is None
    smtp = SmtpSender(settings) if own else sender
    try:
        with tqdm(total=len(todo), unit="email", desc=f"sending {monday}", disable=not progress) as bar:
            for couple, partner, address in todo:
                smtp.ready()  # connected before the claim: an unreachable server leaves nothing claimed
                if not store.claim_mail(run_id, monday, couple, partner, address):
                    already += 1  # another delivery of the week took it meanwhile
                    bar.update(1)
                    continue
                message = newsletter_message(couple, groups[couple], monday, catalog, partner=partner,
                                             address=address, links=links, mail_from=settings.mail_from, _info=info)
                finish = partial(store.finish_mail, monday, couple, address)
                if send_claimed(smtp, throttle, message, finish, to=f"{address} (couple {couple})", sent=sent):
                    sent += 1
                else:
                    failed += 1
                bar.update(1)
    finally:
        if own:
            smtp.close()
    seconds = time.perf_counter() - started
    result = DeliveryResult(week=monday, couples=sum(1 for c in groups if recipients.get(c)),
                            addresses=n_addresses, sent=sent, already_sent=already, unknown=unknown,
                            failed=failed, seconds=seconds)
    logger.info("newsletter delivery of week %s: %s", monday, result.as_dict())
    return result
