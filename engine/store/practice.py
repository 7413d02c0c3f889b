"""The store's part for the daily practice: prompts shown with ideas, and appreciation nudges.

:class:`PracticeRepository` is a base of :class:`engine.store.Store` (its methods
use the store's transactions); the tables are ``prompts_served`` and
``nudges_shown`` (declared in :mod:`engine.store.tables`, created by the
migration ``_migration_practice``). Both are erased with their couple.

* A prompt shown is one row per couple, day and idea (unique), so the same
  idea on the same day keeps its prompt; :meth:`PracticeRepository.assign_prompts`
  (and ``Store.record_served``, which logs tonight's suggestions in the same
  transaction) reads the couple's rows and writes new ones in one transaction under a lock
  on the couple's row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite's
  ``BEGIN IMMEDIATE`` write lock), so two requests at once never pick the
  same prompt.
* A nudge is one row per couple, day and partner (the primary key): the first
  request of the day stores it, later ones read it, so it is stable within the
  day whatever happens meanwhile.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from ._values import _chunks, _utcnow
from .tables import tbl_couples, tbl_newsletter_sends, tbl_nudges_shown, tbl_prompts_served

__all__ = ["PracticeRepository"]


def _iso(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="microseconds") + "Z"
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _parse(value: Any) -> Any:
    """A SQLite date/datetime string (SQLAlchemy's storage format) as a date or datetime."""
    if isinstance(value, str):
        return _dt.date.fromisoformat(value) if len(value) == 10 else _dt.datetime.fromisoformat(value)
    return value


def _prompt_row(row) -> dict[str, Any]:
    return {"id": int(row.id), "prompt_id": row.prompt_id, "idea_id": row.idea_id, "depth": int(row.depth),
            "served_on": _iso(row.served_on), "status": row.status, "marked_at": _iso(row.marked_at)}


class PracticeRepository:
    """Prompts and nudges (a base of :class:`engine.store.Store`)."""

    # ------------------------------------------------------------ prompts

    def _prompt_query(self, couple_ids: Sequence[str], since: _dt.date):
        prompts = tbl_prompts_served
        return (sa.select(prompts).where(prompts.c.couple_id.in_(list(couple_ids)))
                .where(sa.or_(prompts.c.served_on > since, prompts.c.status.is_not(None)))
                .order_by(prompts.c.couple_id, prompts.c.id))

    def prompt_history(self, couple_ids: Iterable[str], since: _dt.date) -> dict[str, list[dict[str, Any]]]:
        """Each couple's prompt rows shown after ``since`` or ever marked, oldest first.

        Returns
        -------
        dict couple id -> list of dict
            ``id``, ``prompt_id``, ``idea_id``, ``depth``, ``served_on``
            (ISO day), ``status`` (``"talked"``, ``"skipped"`` or None),
            ``marked_at`` (ISO instant or None). Couples without rows are absent.
        """
        couple_ids = sorted(set(map(str, couple_ids)))
        if len(couple_ids) == 1:
            return self._one_prompt_history(couple_ids[0], since)
        out: dict[str, list[dict[str, Any]]] = {}
        with self._read() as conn:
            for chunk in _chunks(couple_ids):
                for row in conn.execute(self._prompt_query(chunk, since)):
                    out.setdefault(row.couple_id, []).append(_prompt_row(row))
        return out

    def _one_prompt_history(self, couple_id: str, since: _dt.date) -> dict[str, list[dict[str, Any]]]:
        """:meth:`prompt_history` of one couple (every tonight request): one plain indexed query on the
        request's connection (see ``Store.one_connection``)."""
        with self._raw_cursor() as cursor:
            rows = self._prompt_rows(cursor, couple_id, since)
        return {couple_id: rows} if rows else {}

    def _prompt_rows(self, cursor: Any, couple_id: str, since: _dt.date) -> list[dict[str, Any]]:
        """One couple's rows of :meth:`prompt_history`, read with a DBAPI cursor (in or out of a transaction)."""
        mark = self._mark
        cursor.execute("SELECT id, prompt_id, idea_id, depth, served_on, status, marked_at FROM prompts_served "
                       f"WHERE couple_id = {mark} AND (served_on > {mark} OR status IS NOT NULL) ORDER BY id",
                       (couple_id, self._day_param(since)))
        return [{"id": int(i), "prompt_id": p, "idea_id": idea, "depth": int(d), "served_on": _iso(_parse(day)),
                 "status": status, "marked_at": _iso(_parse(marked))}
                for i, p, idea, d, day, status, marked in cursor.fetchall()]

    def assign_prompts(self, couple_id: str, since: _dt.date,
                       choose: Callable[[list[dict[str, Any]]], tuple[Any, list[dict[str, Any]]]]) -> Any:
        """Read a couple's prompt rows, choose, and store the new rows, in one locked transaction.

        :meth:`Store.record_served` without log rows (a tonight request stores
        its new prompts and its log rows together with that).

        Parameters
        ----------
        couple_id : str
        since : date
            As for :meth:`prompt_history`.
        choose : callable
            ``choose(rows) -> (chosen, new_rows)`` (:func:`engine.practice.prompts.choose_prompts`);
            ``new_rows`` carry ``couple_id``, ``prompt_id``, ``idea_id``, ``depth``, ``served_on``.

        Returns
        -------
        What ``choose`` returned first (``chosen``).

        Raises
        ------
        UnknownCoupleError
            No such couple (erased meanwhile).
        """
        return self.record_served(couple_id, since, choose, ())[0]

    def record_prompts(self, rows: Iterable[dict[str, Any]]) -> int:
        """Store prompts chosen elsewhere (the newsletter), in one transaction.

        A row for a couple, day and idea that already has one is left as it
        is (a resumed newsletter week chooses the same prompts again); rows of
        couples erased meanwhile are skipped. The couples' rows are locked
        first, as :meth:`assign_prompts` locks its couple's, so a tonight
        request choosing prompts meanwhile either finishes before these are
        written or reads them (never a duplicate key). Returns the rows written.
        """
        couples, prompts = tbl_couples, tbl_prompts_served
        rows = list(rows)
        if not rows:
            return 0
        now = _utcnow()
        wanted = sorted({r["couple_id"] for r in rows})
        insert = self._insert(prompts)
        insert = insert.on_conflict_do_nothing(index_elements=["couple_id", "served_on", "idea_id"])
        with self._write() as conn:
            lock = self._for_update(sa.select(couples.c.id).where(couples.c.id.in_(wanted)).order_by(couples.c.id))
            present = set(conn.execute(lock).scalars())
            clean = [dict(r, served_at=now) for r in rows if r["couple_id"] in present]
            if not clean:
                return 0
            # the ids of the rows inserted (a driver's rowcount of an executemany may be -1)
            return len(conn.execute(insert.returning(prompts.c.id), clean).all())

    def mark_prompt(self, couple_id: str, prompt_id: str, status: str) -> dict[str, Any] | None:
        """Say whether the couple talked about a prompt or skipped it (the latest time it was shown).

        Marking again replaces the earlier mark. Returns the updated row, or
        None when the prompt was never shown to the couple.
        """
        prompts = tbl_prompts_served
        with self._write() as conn:
            latest = conn.execute(
                sa.select(prompts.c.id).where(prompts.c.couple_id == couple_id)
                .where(prompts.c.prompt_id == prompt_id).order_by(prompts.c.id.desc()).limit(1)).scalar()
            if latest is None:
                return None
            conn.execute(prompts.update().where(prompts.c.id == latest).values(status=status, marked_at=_utcnow()))
            row = conn.execute(sa.select(prompts).where(prompts.c.id == latest)).first()
        return _prompt_row(row)

    # ------------------------------------------------------------ pillars in balance

    def newsletter_window(self, couple_ids: Iterable[str], week: _dt.date, weeks: int) -> dict[str, set[str]]:
        """Ideas sent to each couple in the ``weeks`` newsletter weeks before ``week`` (a Monday).

        Returns
        -------
        dict couple id -> set of idea ids (couples with no such sends are absent)
        """
        sends = tbl_newsletter_sends

        start = week - _dt.timedelta(weeks=weeks)
        out: dict[str, set[str]] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(map(str, couple_ids)))):
                query = (sa.select(sends.c.couple_id, sends.c.idea_id).where(sends.c.couple_id.in_(list(chunk)))
                         .where(sends.c.week >= start).where(sends.c.week < week))
                for couple, idea in conn.execute(query):
                    out.setdefault(couple, set()).add(idea)
        return out

    # ------------------------------------------------------------ nudges

    def nudge_rows(self, couple_id: str, since: _dt.date) -> list[dict[str, Any]]:
        """The couple's nudges shown on days after ``since``, oldest first.

        Each: ``day`` (ISO), ``partner`` (``"a"``/``"b"``), ``nudge_id``,
        ``text``, ``done_at`` (ISO instant or None).
        """
        nudges = tbl_nudges_shown
        query = (sa.select(nudges).where(nudges.c.couple_id == couple_id).where(nudges.c.day > since)
                 .order_by(nudges.c.day, nudges.c.partner))
        with self._read() as conn:
            return [{"day": _iso(r.day), "partner": r.partner, "nudge_id": r.nudge_id, "text": r.text,
                     "done_at": _iso(r.done_at)} for r in conn.execute(query)]

    def save_nudges(self, couple_id: str, day: _dt.date, picks: Iterable[dict[str, Any]]) -> None:
        """Store a day's nudges (``partner``, ``nudge_id``, ``text``); a partner's nudge already
        stored for that day (by a request at the same time) is kept."""
        nudges = tbl_nudges_shown
        now = _utcnow()
        rows = [{"couple_id": couple_id, "day": day, "partner": p["partner"], "nudge_id": p["nudge_id"],
                 "text": p["text"], "shown_at": now} for p in picks]
        if not rows:
            return
        insert = self._insert(nudges)
        with self._write() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["couple_id", "day", "partner"]), rows)

    def mark_nudge_done(self, couple_id: str, day: _dt.date, partner: str) -> bool:
        """Mark a partner's nudge of ``day`` as done (once; again is harmless).

        Returns False when no nudge was shown to that partner that day.
        """
        nudges = tbl_nudges_shown
        where = sa.and_(nudges.c.couple_id == couple_id, nudges.c.day == day, nudges.c.partner == partner)
        with self._write() as conn:
            conn.execute(nudges.update().where(where).where(nudges.c.done_at.is_(None)).values(done_at=_utcnow()))
            return conn.execute(sa.select(nudges.c.day).where(where)).first() is not None
