"""Couples' dates: adding and completing one, reading them back as frames (:class:`DatesRepository`)."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..domain.dates import as_dates_frame
from ..domain.profiles import DEFAULT_INTIMACY, Profile
from ._values import (
    _as_day,
    _as_rating,
    _as_text,
    _chunks,
    _context_json,
    _implausible_rows,
    _iso_day,
    _iso_instant,
    _loads,
    _naive_utc,
    _new_stamp,
    _partner_column,
    _plain_number,
    _plausible_day,
    _stated_profile,
    _utcnow,
)
from .errors import StoreError, UnknownCoupleError, ValidationError
from .tables import _ID_MAX, _KEY_MAX, PARTNERS, tbl_couples, tbl_dates, tbl_rating_keys

__all__ = ["DatesRead", "DatesRepository"]

logger = logging.getLogger(__name__)

_FETCH_BATCH = 100_000  # rows per fetchmany in dates_frame


def _date_id_ok(date_id: Any) -> bool:
    """A date id the database can hold (a positive 64-bit integer); any other matches no date."""
    return isinstance(date_id, int) and not isinstance(date_id, bool) and 0 < date_id < 2**63


def _new_dates_stamp(conn: Connection, couple_id: str) -> bool:
    """Give the couple a new ``dates_stamp``, first in every write to its dates (on PostgreSQL this row
    lock orders them); False when there is no such couple."""
    return bool(conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                             .values(dates_stamp=_new_stamp())).rowcount)


class DatesRead(NamedTuple):
    """What :meth:`Store.read_dates` returns: the dates frame and the stored rows left out of it."""

    frame: pd.DataFrame
    skipped: list[dict[str, Any]]


class DatesRepository:
    """Dates and the frames of them (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- dates

    def add_date(self, couple_id: str, idea_id: str, done_on: _dt.date | str | None,
                 rating_a: float | None = None, rating_b: float | None = None, note: str = "",
                 context: dict[str, Any] | None = None,
                 idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Record a completed date, or one partner's later rating of it.

        One date is one row with both partners' ratings. Given exactly one
        partner's rating, the call first looks for *the same date*: the
        couple's date of ``idea_id`` on ``done_on`` whose rating by that
        partner is still missing (the oldest, if several). If there is one,
        the rating completes it (the note is added to the date's note) and no
        new date is written; otherwise a new date is. Both ratings, or an
        undated date, always make a new date (doing an idea again is a new
        date). The search and the write are one transaction, serialised per
        couple, so two partners rating at once never make two dates.

        Parameters
        ----------
        couple_id, idea_id : str
        done_on : date or "YYYY-MM-DD" or None
        rating_a, rating_b : float, optional
            Each partner's rating, stored as given (None = not rated).
        note : str, default ""
        context : dict, optional
            JSON object (weekday, season, weather, ...). Kept from the first
            rating when a date is completed.
        idempotency_key : str, optional
            At most 200 characters. If the couple already used this key (for
            a new date or a completion), nothing is written and the date it
            wrote comes back with ``created=False`` (even when two requests race).

        Returns
        -------
        (record, created) : (dict, bool)
            ``record`` as in :meth:`list_dates`, plus ``"completed"``: True
            when this call filled in a partner's missing rating of an
            existing date. ``created`` is True when the call wrote something
            (a new date or a completion), False for a replayed key.

        Raises
        ------
        ValidationError
            A field has a bad type or format.
        UnknownCoupleError
            No such couple.
        """
        _as_text("couple_id", couple_id, max_len=_ID_MAX)
        values = {
            "couple_id": couple_id,
            "idea_id": _as_text("idea_id", idea_id, max_len=200),
            "done_on": _plausible_day(_as_day("done_on", done_on)),
            "rating_a": _as_rating("rating_a", rating_a),
            "rating_b": _as_rating("rating_b", rating_b),
            "note": _as_text("note", "" if note is None else note, empty_ok=True),
            "context": _context_json("context", context),
            "idempotency_key": None if idempotency_key is None
            else _as_text("idempotency_key", idempotency_key, max_len=_KEY_MAX),
            "created_at": _utcnow(),
        }
        if idempotency_key is not None:
            first = self._date_by_key(couple_id, idempotency_key)
            if first is not None:
                return first, False
        given = [p for p in PARTNERS if values[f"rating_{p}"] is not None]
        partner = given[0] if len(given) == 1 and values["done_on"] is not None else None
        try:
            with self._write() as conn:
                if not _new_dates_stamp(conn, couple_id):  # first: orders every date write of the couple
                    raise UnknownCoupleError(couple_id)
                date_id = self._complete_date(conn, values, partner) if partner else None
                completed = date_id is not None
                if completed and idempotency_key is not None:
                    conn.execute(tbl_rating_keys.insert().values(couple_id=couple_id, idempotency_key=idempotency_key,
                                                                 date_id=date_id))
                if not completed:
                    date_id = conn.execute(tbl_dates.insert().values(**values)).inserted_primary_key[0]
                row = conn.execute(sa.select(tbl_dates).where(tbl_dates.c.id == date_id)).one()
        except IntegrityError as exc:
            if idempotency_key is not None:
                first = self._date_by_key(couple_id, idempotency_key)
                if first is not None:  # lost the race to a concurrent retry
                    return first, False
            if self.get_couple(couple_id) is None:
                raise UnknownCoupleError(couple_id) from exc
            raise StoreError(f"could not store the date: {exc.orig}") from exc
        record = row._asdict()
        record["context"] = _loads(record["context"])
        return dict(self._date_record(record), completed=completed), True

    @staticmethod
    def _complete_date(conn: Connection, values: dict[str, Any], partner: str) -> int | None:
        """Fill in ``partner``'s missing rating of the same date (see :meth:`add_date`); its id, or None."""
        column = tbl_dates.c[_partner_column(partner, "rating")]
        found = conn.execute(
            sa.select(tbl_dates.c.id, tbl_dates.c.note)
            .where(tbl_dates.c.couple_id == values["couple_id"], tbl_dates.c.idea_id == values["idea_id"],
                   tbl_dates.c.done_on == values["done_on"], column.is_(None))
            .order_by(tbl_dates.c.id).limit(1)).first()
        if found is None:
            return None
        note = "\n".join(n for n in (found.note, values["note"]) if n)
        done = conn.execute(tbl_dates.update().where(tbl_dates.c.id == found.id, column.is_(None))
                            .values({column.name: values[column.name], "note": note})).rowcount
        return int(found.id) if done else None

    def _date_by_key(self, couple_id: str, key: str) -> dict[str, Any] | None:
        """The date a key wrote: a new date (its own key) or a completion (``rating_keys``)."""
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_dates).where(tbl_dates.c.couple_id == couple_id,
                                                          tbl_dates.c.idempotency_key == key)).first()
            completed = row is None
            if completed:
                keyed = tbl_rating_keys.c.date_id == tbl_dates.c.id
                row = conn.execute(sa.select(tbl_dates).join(tbl_rating_keys, keyed)
                                   .where(tbl_rating_keys.c.couple_id == couple_id,
                                          tbl_rating_keys.c.idempotency_key == key)).first()
        if row is None:
            return None
        record = row._asdict()
        record["context"] = _loads(record["context"])
        return dict(self._date_record(record), completed=completed)

    @staticmethod
    def _date_record(values: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": int(values["id"]),
            "couple_id": values["couple_id"],
            "idea_id": values["idea_id"],
            "done_on": _iso_day(values["done_on"]),
            "rating_a": _plain_number(values["rating_a"]),
            "rating_b": _plain_number(values["rating_b"]),
            "note": values["note"],
            "context": values["context"],
            "created_at": _iso_instant(values["created_at"]),
        }

    _EDITABLE = frozenset({"idea_id", "done_on", "rating_a", "rating_b", "note", "context"})

    def update_date(self, couple_id: str, date_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change some fields of one of the couple's dates (a mistaken idea, day, rating or note).

        One write transaction: the couple's ``dates_stamp`` changes first (which also orders it after
        any other date write of the couple, see :meth:`add_date`), so the next tonight request reads
        the history again; then the row is updated where it is this couple's.

        Parameters
        ----------
        couple_id : str
        date_id : int
        changes : dict
            Some of ``idea_id``, ``done_on``, ``rating_a``, ``rating_b`` (None = not rated),
            ``note``, ``context`` (dict), checked as :meth:`add_date` checks them; other keys are refused.

        Returns
        -------
        dict or None
            The date after the change, as in :meth:`list_dates`; None when the couple has no date
            with this id (another couple's date included: nothing is written).

        Raises
        ------
        ValidationError
            A bad field or an unknown key.
        """
        unknown = sorted(set(changes) - self._EDITABLE)
        if unknown:
            raise ValidationError(unknown[0], f"is not a field of a date; allowed: {sorted(self._EDITABLE)}")
        checks = {"idea_id": lambda v: _as_text("idea_id", v, max_len=200),
                  "done_on": lambda v: _plausible_day(_as_day("done_on", v)),
                  "rating_a": lambda v: _as_rating("rating_a", v), "rating_b": lambda v: _as_rating("rating_b", v),
                  "note": lambda v: _as_text("note", "" if v is None else v, empty_ok=True),
                  "context": lambda v: _context_json("context", v)}
        values = {key: checks[key](value) for key, value in changes.items()}
        if not _date_id_ok(date_id):
            return None
        with self._write() as conn:
            if not _new_dates_stamp(conn, couple_id):
                return None
            mine = (tbl_dates.c.id == date_id) & (tbl_dates.c.couple_id == couple_id)
            if values:
                done = conn.execute(tbl_dates.update().where(mine).values(**values)).rowcount
            else:
                done = conn.execute(sa.select(sa.func.count()).select_from(tbl_dates).where(mine)).scalar()
            if not done:
                return None
            row = conn.execute(sa.select(tbl_dates).where(mine)).one()
        record = row._asdict()
        record["context"] = _loads(record["context"])
        return self._date_record(record)

    def delete_date(self, couple_id: str, date_id: int) -> bool:
        """Delete one of the couple's dates (and the rating keys that point at it), in one transaction
        that first changes the couple's ``dates_stamp``; False when the couple has no date with this id."""
        if not _date_id_ok(date_id):
            return False
        with self._write() as conn:
            if not _new_dates_stamp(conn, couple_id):
                return False
            conn.execute(tbl_rating_keys.delete().where(tbl_rating_keys.c.date_id == date_id,
                                                        tbl_rating_keys.c.couple_id == couple_id))
            return bool(conn.execute(tbl_dates.delete().where(tbl_dates.c.id == date_id,
                                                              tbl_dates.c.couple_id == couple_id)).rowcount)

    def get_date(self, couple_id: str, date_id: int) -> dict[str, Any] | None:
        """One of the couple's dates as in :meth:`list_dates`, or None (another couple's date included)."""
        if not _date_id_ok(date_id):
            return None
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_dates).where(tbl_dates.c.id == date_id,
                                                          tbl_dates.c.couple_id == couple_id)).first()
        if row is None:
            return None
        record = row._asdict()
        record["context"] = _loads(record["context"])
        return self._date_record(record)

    def list_dates(self, couple_id: str) -> list[dict[str, Any]]:
        """The couple's dates, oldest first (by day, then by insertion).

        Returns
        -------
        list of dict
            ``{"id", "couple_id", "idea_id", "done_on" (ISO day or None),
            "rating_a", "rating_b" (number or None), "note", "context" (dict),
            "created_at" (ISO instant)}`` -- JSON-ready.
        """
        query = (sa.select(tbl_dates).where(tbl_dates.c.couple_id == couple_id)
                 .order_by(tbl_dates.c.done_on.is_(None).desc(), tbl_dates.c.done_on, tbl_dates.c.id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            record = row._asdict()
            record["context"] = _loads(record["context"])
            out.append(self._date_record(record))
        return out

    def count_dates(self, couple_id: str | None = None) -> int:
        """Number of dates, of one couple or of everyone."""
        query = sa.select(sa.func.count()).select_from(tbl_dates)
        if couple_id is not None:
            query = query.where(tbl_dates.c.couple_id == couple_id)
        with self._read() as conn:
            return int(conn.execute(query).scalar())

    def count_dates_created_since(self, since: _dt.datetime | None) -> int:
        """Dates stored after ``since`` (naive UTC or aware datetime); all dates if None.

        Counts by ``created_at`` (when the row was written, bulk loads included),
        not by ``done_on``; used to trigger retraining after N new dates.
        """
        query = sa.select(sa.func.count()).select_from(tbl_dates)
        if since is not None:
            query = query.where(tbl_dates.c.created_at > _naive_utc(since))
        with self._read() as conn:
            return int(conn.execute(query).scalar())

    def max_date_id(self) -> int:
        """The highest date id (0 when there are none); ids only grow."""
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(tbl_dates.c.id))).scalar() or 0)

    def couple_history(self, couple_id: str) -> pd.DataFrame:
        """One couple's dates as a dates frame, oldest first: the per-request fast path.

        Same content as ``dates_frame([couple_id])`` but built straight from
        typed columns (no sorting, no re-normalising), since tonight's request
        reads it every time.
        """
        query = (sa.select(tbl_dates.c.idea_id, tbl_dates.c.done_on, tbl_dates.c.rating_a, tbl_dates.c.rating_b)
                 .where(tbl_dates.c.couple_id == couple_id).order_by(tbl_dates.c.id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        ideas, days, a, b = (list(col) for col in zip(*rows)) if rows else ([], [], [], [])
        return pd.DataFrame({
            "couple_id": np.full(len(rows), couple_id, dtype=object),
            "idea_id": np.array(ideas, dtype=object),
            "done_on": np.array([np.datetime64(d, "ns") if d is not None else np.datetime64("NaT", "ns")
                                 for d in days], dtype="datetime64[ns]"),
            "rating_a": np.array([np.nan if v is None else v for v in a], dtype=float),
            "rating_b": np.array([np.nan if v is None else v for v in b], dtype=float),
        })

    def dates_frame(self, couple_ids: Iterable[str] | None = None,
                    context: bool = False) -> pd.DataFrame:
        """:meth:`read_dates`' frame: stored rows with an implausible day are skipped (and logged)."""
        return self.read_dates(couple_ids, context).frame

    def read_dates(self, couple_ids: Iterable[str] | None = None, context: bool = False) -> DatesRead:
        """Dates as a dates frame (see :mod:`engine.domain.dates`), in insertion order, and the rows skipped.

        A stored row whose day :func:`engine.domain.dates.check_day` refuses (before
        1900-01-01, after 2099-12-31, or not a date: written before that rule,
        or straight into the database) is left out of the frame, logged with
        its id and couple, and listed in ``skipped``, so one bad row cannot
        stop training or the newsletter for everyone.

        Parameters
        ----------
        couple_ids : iterable of str, optional
            Only these couples (default: everyone).
        context : bool, default False
            Also turn each date's context JSON into ``ctx_<key>`` columns. This
            parses one JSON document per row, so it is off by default.

        Returns
        -------
        DatesRead
            ``frame``: shape (n_dates, 5 [+ n_ctx]): ``couple_id``,
            ``idea_id``, ``done_on`` (datetime64, NaT if unknown),
            ``rating_a``, ``rating_b`` (float, NaN = not rated);
            ``skipped``: ``{"id", "couple_id", "done_on", "reason"}`` per row
            left out, by id.
        """
        day = self._day_text("done_on")
        names = ["id", "couple_id", "idea_id", "done_on", "rating_a", "rating_b"] + (["context"] if context else [])
        base = f"SELECT id, couple_id, idea_id, {day}, rating_a, rating_b{', context' if context else ''} FROM dates"
        mark = self._mark
        parts: list[pd.DataFrame] = []

        def collect(cursor: Any) -> None:
            # column arrays batch by batch: the peak holds one batch of Python tuples, not all rows
            while batch := cursor.fetchmany(_FETCH_BATCH):
                parts.append(pd.DataFrame({
                    name: pd.Series(values, dtype=float if name.startswith("rating") else object)
                    for name, values in zip(names, zip(*batch))}))

        with self._read() as conn, conn.begin():  # one snapshot for every chunk
            # plain DBAPI tuples: SQLAlchemy Row objects make DataFrame construction ~10x slower
            cursor = conn.connection.driver_connection.cursor()
            try:
                if couple_ids is None:
                    cursor.execute(base)
                    collect(cursor)
                else:
                    for chunk in _chunks(list(dict.fromkeys(couple_ids))):
                        cursor.execute(f"{base} WHERE couple_id IN ({', '.join([mark] * len(chunk))})",
                                       tuple(chunk))
                        collect(cursor)
            finally:
                cursor.close()
        if parts:
            frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        else:
            frame = pd.DataFrame({name: pd.Series([], dtype=float if name.startswith("rating") else object)
                                  for name in names})
        parts = []  # the batches go before the frame is used, not at the end of the call
        frame = frame.sort_values("id", kind="stable")
        skipped = _implausible_rows(frame)
        if skipped:
            frame = frame[~frame["id"].isin([row["id"] for row in skipped])]
        frame = frame.drop(columns="id").reset_index(drop=True)
        frame["done_on"] = pd.to_datetime(frame["done_on"], format="%Y-%m-%d", errors="coerce")
        if context:
            parsed = pd.DataFrame.from_records([_loads(text) for text in frame.pop("context")],
                                               index=frame.index)
            for key in parsed.columns:
                frame[f"ctx_{key}"] = parsed[key]
        return DatesRead(as_dates_frame(frame), skipped)

    def profiles(self, couple_ids: Iterable[str] | None = None) -> dict[str, Profile]:
        """Couples' stated profiles as the model uses them (interests, budget ceiling and home,
        see :mod:`engine.domain.profiles`), and the intimacy level the ranking enforces, by couple id.

        Only couples that stated any of them (or an intimacy level above the default) are in the
        result; ``couple_ids`` limits it (default: everyone).
        """
        query = sa.select(tbl_couples.c.id, tbl_couples.c.profile).where(sa.or_(
            tbl_couples.c.profile.like('%"interests"%'), tbl_couples.c.profile.like('%"budget_ceiling"%'),
            tbl_couples.c.profile.like('%"home"%'), tbl_couples.c.profile.like('%"intimacy"%')))
        out: dict[str, Profile] = {}
        with self._read() as conn:
            if couple_ids is None:
                rows = conn.execute(query).all()
            else:
                rows = [row for chunk in _chunks(list(dict.fromkeys(couple_ids)))
                        for row in conn.execute(query.where(tbl_couples.c.id.in_(chunk))).all()]
        for couple_id, profile in rows:
            found = _stated_profile(profile)
            if found or found.intimacy != DEFAULT_INTIMACY:
                out[couple_id] = found
        return out
