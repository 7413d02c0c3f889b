"""The daily nudge email's opt-in and mail log (:class:`DailyMailRepository`).

* ``email_addresses.daily``: whether the partner opted in to a daily email of
  their Today nudge (default off: a confirmed newsletter address gets no daily
  mail unless opted in). The daily email's own unsubscribe link turns it off
  again and leaves the newsletter alone.
* ``daily_mail``: one row per day, couple and address, unique on
  ``(day, couple_id, address)``, claimed (``sending``, committed) before the
  email goes to SMTP and marked ``sent``/``failed`` after - the same rules as
  the newsletter's ``newsletter_mail`` (:mod:`engine.store.mail`): a claim is
  never sent again, a ``failed`` one may be claimed again.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._values import _as_day, _iso_instant, _utcnow
from .errors import UnknownCoupleError, ValidationError
from .mail import MAIL_STATUSES, _partner
from .tables import tbl_couples, tbl_daily_mail, tbl_email_addresses

__all__ = ["DailyMailRepository"]

_A = tbl_email_addresses.c
_D = tbl_daily_mail.c


class DailyMailRepository:
    """The daily email's opt-in and its mail log (a base of :class:`engine.store.Store`)."""

    def set_daily(self, couple_id: str, partner: str, on: bool, address: str | None = None) -> bool:
        """Opt the partner's address in to (``on``) or out of the daily nudge email.

        With ``address`` only while the partner's address is still that one (a
        signed link's address). True when the partner has such an address (it
        is now as asked), False when not.
        """
        key = (_A.couple_id == couple_id) & (_A.partner == _partner(partner))
        if address is not None:
            key = key & (_A.address == address)
        with self._write() as conn:
            conn.execute(tbl_email_addresses.update().where(key).values(daily=bool(on)))
            return conn.execute(sa.select(_A.partner).where(key)).first() is not None

    def daily_recipients(self) -> list[dict[str, str]]:
        """Opted-in, confirmed, subscribed addresses of active couples: ``[{"couple_id", "partner", "address"}]``
        in couple and partner order."""
        query = (sa.select(_A.couple_id, _A.partner, _A.address)
                 .select_from(tbl_email_addresses.join(tbl_couples, tbl_couples.c.id == _A.couple_id))
                 .where(_A.daily.is_(True), _A.confirmed_at.is_not(None), _A.unsubscribed_at.is_(None),
                        tbl_couples.c.active.is_(True))
                 .order_by(_A.couple_id, _A.partner))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [{"couple_id": r.couple_id, "partner": r.partner, "address": r.address} for r in rows]

    def claim_daily(self, day: _dt.date | str, couple_id: str, partner: str, address: str) -> bool:
        """Claim the day's email to ``address`` before it is sent: True, this caller sends it; False, it was
        claimed before (never send it). A ``failed`` row is claimed again."""
        day = _as_day("day", day, required=True)
        now = _utcnow()
        try:
            with self._write() as conn:
                if conn.execute(sa.select(tbl_couples.c.id).where(tbl_couples.c.id == couple_id)).first() is None:
                    raise UnknownCoupleError(couple_id)
                conn.execute(tbl_daily_mail.insert().values(day=day, couple_id=couple_id, partner=_partner(partner),
                                                            address=address, status="sending", claimed_at=now))
            return True
        except IntegrityError:
            pass
        with self._write() as conn:
            return bool(conn.execute(tbl_daily_mail.update().where(
                _D.day == day, _D.couple_id == couple_id, _D.address == address, _D.status == "failed",
            ).values(status="sending", claimed_at=now, error=None)).rowcount)

    def finish_daily(self, day: _dt.date | str, couple_id: str, address: str, status: str, *,
                     message_id: str | None = None, error: str | None = None) -> bool:
        """Mark a claimed daily email ``sent`` or ``failed``; False if it was not claimed."""
        if status not in MAIL_STATUSES[1:]:
            raise ValidationError("status", f"must be one of {list(MAIL_STATUSES[1:])}, got {status!r}")
        day = _as_day("day", day, required=True)
        values: dict[str, Any] = {"status": status, "error": error}
        if status == "sent":
            values.update(sent_at=_utcnow(), message_id=message_id)
        with self._write() as conn:
            return bool(conn.execute(tbl_daily_mail.update().where(
                _D.day == day, _D.couple_id == couple_id, _D.address == address, _D.status == "sending",
            ).values(**values)).rowcount)

    def daily_log(self, day: _dt.date | str) -> list[dict[str, Any]]:
        """The day's daily-mail rows (``couple_id``, ``partner``, ``address``, ``status``, ``claimed_at``,
        ``sent_at``, ``message_id``, ``error``), in claim order."""
        day = _as_day("day", day, required=True)
        with self._read() as conn:
            rows = conn.execute(sa.select(tbl_daily_mail).where(_D.day == day).order_by(_D.id)).all()
        return [{"couple_id": r.couple_id, "partner": r.partner, "address": r.address, "status": r.status,
                 "claimed_at": _iso_instant(r.claimed_at), "sent_at": _iso_instant(r.sent_at),
                 "message_id": r.message_id, "error": r.error} for r in rows]
