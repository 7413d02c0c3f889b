"""Partners' email addresses and the newsletter's mail log (:class:`MailRepository`).

* ``email_addresses``: one optional address per partner (``a``, ``b``) of a
  couple, with when it was confirmed (by the link in the confirmation email)
  and when it was unsubscribed (by the link in any newsletter, RFC 8058).
  Only confirmed, subscribed addresses receive the newsletter
  (:meth:`MailRepository.mail_recipients`). Setting a new address starts it
  over: unconfirmed, subscribed.
* ``newsletter_mail``: one row per week, couple and address, unique on
  ``(week, couple_id, address)``. A delivery *claims* the row (status
  ``sending``, committed) before it hands the message to SMTP and marks it
  ``sent`` after; a claim that exists already is never sent again. A
  ``sending`` row left by a killed run is "sent or not, unknown" and stays
  that way (never retried: at most once). A ``failed`` row (the SMTP server
  refused the message, so it was certainly not sent) may be claimed again.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..domain.emails import EmailError, check_email
from ._values import _as_day, _chunks, _iso_instant, _utcnow
from .errors import UnknownCoupleError, ValidationError
from .tables import PARTNERS, tbl_couples, tbl_email_addresses, tbl_newsletter_mail

__all__ = ["MAIL_STATUSES", "MailRepository"]

#: a week's mail to one address: claimed (outcome unknown until marked), sent, or refused by the server
MAIL_STATUSES = ("sending", "sent", "failed")


def _partner(partner: Any) -> str:
    if partner not in PARTNERS:
        raise ValidationError("partner", f"must be 'a' or 'b', got {partner!r}")
    return partner


def _address_row(row) -> dict[str, Any]:
    return {"partner": row.partner, "address": row.address, "created_at": _iso_instant(row.created_at),
            "confirmed": row.confirmed_at is not None, "confirmed_at": _iso_instant(row.confirmed_at),
            "subscribed": row.unsubscribed_at is None, "unsubscribed_at": _iso_instant(row.unsubscribed_at),
            "daily": bool(row.daily)}


class MailRepository:
    """Email addresses and the newsletter's mail log (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- addresses

    def set_email(self, couple_id: str, partner: str, address: str | None) -> dict[str, Any] | None:
        """Give ``partner`` of the couple an email address (unconfirmed, subscribed), or none (``None``).

        The same address again keeps its state; another address replaces it
        and must be confirmed again.

        Returns
        -------
        dict or None
            The partner's address as :meth:`email_addresses` gives it; None when removed.

        Raises
        ------
        ValidationError
            ``partner`` is not ``a``/``b`` or the address is not one (``field`` ``email_a``/``email_b``).
        UnknownCoupleError
        """
        partner = _partner(partner)
        key = (tbl_email_addresses.c.couple_id == couple_id) & (tbl_email_addresses.c.partner == partner)
        with self._write() as conn:
            if conn.execute(sa.select(tbl_couples.c.id).where(tbl_couples.c.id == couple_id)).first() is None:
                raise UnknownCoupleError(couple_id)
            if address is None:
                conn.execute(tbl_email_addresses.delete().where(key))
                return None
            try:
                clean = check_email(address, f"email_{partner}")
            except EmailError as exc:
                raise ValidationError(exc.field, exc.message) from None
            row = conn.execute(sa.select(tbl_email_addresses).where(key)).first()
            if row is None:
                conn.execute(tbl_email_addresses.insert().values(couple_id=couple_id, partner=partner,
                                                                 address=clean, created_at=_utcnow()))
            elif row.address != clean:
                conn.execute(tbl_email_addresses.update().where(key).values(
                    address=clean, created_at=_utcnow(), confirmed_at=None, unsubscribed_at=None))
            row = conn.execute(sa.select(tbl_email_addresses).where(key)).one()
        return _address_row(row)

    def email_addresses(self, couple_id: str) -> dict[str, dict[str, Any]]:
        """The couple's addresses by partner: ``{"a": {"address", "confirmed", "subscribed", ...}}``."""
        with self._read() as conn:
            rows = conn.execute(sa.select(tbl_email_addresses)
                                .where(tbl_email_addresses.c.couple_id == couple_id)).all()
        return {row.partner: _address_row(row) for row in rows}

    def confirm_email(self, couple_id: str, partner: str, address: str) -> bool:
        """Mark the partner's address confirmed if it is still ``address``; False otherwise
        (changed or removed since the link was made). Confirming twice is harmless (True)."""
        return self._mark_address(couple_id, partner, address, confirmed_at=_utcnow(),
                                  only_null=tbl_email_addresses.c.confirmed_at)

    def unsubscribe_email(self, couple_id: str, partner: str, address: str) -> bool:
        """Stop the newsletter to the partner's address if it is still ``address``; False otherwise.
        Unsubscribing twice is harmless (True); the next delivery leaves it out."""
        return self._mark_address(couple_id, partner, address, unsubscribed_at=_utcnow(),
                                  only_null=tbl_email_addresses.c.unsubscribed_at)

    def _mark_address(self, couple_id: str, partner: str, address: str, only_null, **values) -> bool:
        key = ((tbl_email_addresses.c.couple_id == couple_id) & (tbl_email_addresses.c.partner == _partner(partner))
               & (tbl_email_addresses.c.address == address))
        with self._write() as conn:
            if conn.execute(tbl_email_addresses.update().where(key & only_null.is_(None)).values(**values)).rowcount:
                return True
            return conn.execute(sa.select(tbl_email_addresses.c.partner).where(key)).first() is not None

    def mail_recipients(self, couple_ids: Iterable[str] | None = None) -> dict[str, list[dict[str, str]]]:
        """Confirmed, subscribed addresses of active couples: couple id -> ``[{"partner", "address"}]``
        (partner order); couples without one are left out."""
        query = (sa.select(tbl_email_addresses.c.couple_id, tbl_email_addresses.c.partner,
                           tbl_email_addresses.c.address)
                 .select_from(tbl_email_addresses.join(tbl_couples,
                                                       tbl_couples.c.id == tbl_email_addresses.c.couple_id))
                 .where(tbl_email_addresses.c.confirmed_at.is_not(None),
                        tbl_email_addresses.c.unsubscribed_at.is_(None), tbl_couples.c.active.is_(True))
                 .order_by(tbl_email_addresses.c.couple_id, tbl_email_addresses.c.partner))
        rows = []
        with self._read() as conn:
            if couple_ids is None:
                rows = conn.execute(query).all()
            else:
                for chunk in _chunks(list(dict.fromkeys(couple_ids))):
                    rows.extend(conn.execute(query.where(tbl_email_addresses.c.couple_id.in_(chunk))).all())
        out: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            out.setdefault(row.couple_id, []).append({"partner": row.partner, "address": row.address})
        return out

    # ---------------------------------------------------------------- the mail log

    def claim_mail(self, run_id: int, week: _dt.date | str, couple_id: str, partner: str, address: str) -> bool:
        """Claim the week's email to ``address`` (status ``sending``, committed) before it is sent.

        True: this caller sends it. False: it was claimed before (sent, or
        claimed by a run that stopped before it could say whether the server
        took it): never send it. A ``failed`` row (the server refused it) is
        claimed again. Settled by the unique constraint on (week, couple,
        address), so two runs at once never both get True.
        """
        day = _as_day("week", week, required=True)
        now = _utcnow()
        try:
            with self._write() as conn:
                conn.execute(tbl_newsletter_mail.insert().values(
                    run_id=int(run_id), week=day, couple_id=couple_id, partner=_partner(partner), address=address,
                    status="sending", claimed_at=now))
            return True
        except IntegrityError:
            pass
        with self._write() as conn:
            return bool(conn.execute(tbl_newsletter_mail.update().where(
                tbl_newsletter_mail.c.week == day, tbl_newsletter_mail.c.couple_id == couple_id,
                tbl_newsletter_mail.c.address == address, tbl_newsletter_mail.c.status == "failed",
            ).values(run_id=int(run_id), status="sending", claimed_at=now, error=None)).rowcount)

    def finish_mail(self, week: _dt.date | str, couple_id: str, address: str, status: str, *,
                    message_id: str | None = None, error: str | None = None) -> bool:
        """Mark a claimed email ``sent`` (the server accepted it) or ``failed`` (refused); False if unclaimed."""
        if status not in MAIL_STATUSES[1:]:
            raise ValidationError("status", f"must be one of {list(MAIL_STATUSES[1:])}, got {status!r}")
        day = _as_day("week", week, required=True)
        values: dict[str, Any] = {"status": status, "error": error}
        if status == "sent":
            values.update(sent_at=_utcnow(), message_id=message_id)
        with self._write() as conn:
            return bool(conn.execute(tbl_newsletter_mail.update().where(
                tbl_newsletter_mail.c.week == day, tbl_newsletter_mail.c.couple_id == couple_id,
                tbl_newsletter_mail.c.address == address, tbl_newsletter_mail.c.status == "sending",
            ).values(**values)).rowcount)

    def mail_log(self, week: _dt.date | str) -> list[dict[str, Any]]:
        """The week's mail rows: ``{"run_id", "couple_id", "partner", "address", "status", "claimed_at",
        "sent_at", "message_id", "error"}``, in claim order."""
        day = _as_day("week", week, required=True)
        with self._read() as conn:
            rows = conn.execute(sa.select(tbl_newsletter_mail).where(tbl_newsletter_mail.c.week == day)
                                .order_by(tbl_newsletter_mail.c.id)).all()
        return [{"run_id": int(row.run_id), "couple_id": row.couple_id, "partner": row.partner,
                 "address": row.address, "status": row.status, "claimed_at": _iso_instant(row.claimed_at),
                 "sent_at": _iso_instant(row.sent_at), "message_id": row.message_id, "error": row.error}
                for row in rows]

    def mail_counts(self, week: _dt.date | str) -> dict[str, int]:
        """How many of the week's emails are in each status (every status a key)."""
        day = _as_day("week", week, required=True)
        with self._read() as conn:
            rows = conn.execute(sa.select(tbl_newsletter_mail.c.status, sa.func.count())
                                .where(tbl_newsletter_mail.c.week == day)
                                .group_by(tbl_newsletter_mail.c.status)).all()
        return {status: 0 for status in MAIL_STATUSES} | {status: int(n) for status, n in rows}
