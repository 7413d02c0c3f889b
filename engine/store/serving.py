"""The serving log and tonight's per-request reads and counts (:class:`ServingRepository`)."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.dates import CoupleDates
from ..domain.profiles import NO_PROFILE
from ._values import (
    _as_day,
    _as_rating,
    _as_text,
    _chunks,
    _context_json,
    _iso_day,
    _iso_instant,
    _loads,
    _naive_utc,
    _stated_profile,
    _utcnow,
)
from .errors import UnknownCoupleError, ValidationError
from .marks import NOT_FOR_US
from .tables import _ID_MAX, _KEY_MAX, tbl_couples, tbl_suggestions

__all__ = ["ServingRepository", "TonightReads"]

logger = logging.getLogger(__name__)

#: rows read back of the list logged last under a request key (a list is at most this long)
_LATEST_ROWS = 50


class TonightReads(NamedTuple):
    """What :meth:`Store.tonight_reads` returns (see there)."""

    history: CoupleDates
    served_before: list[tuple[str, str]]
    another_today: int
    latest_served: list[tuple[str, int, str | None]]
    not_for_us: frozenset[str] = frozenset()


class ServingRepository:
    """Suggestions served, ``another`` counts, tonight's reads (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- suggestions

    _SUGGESTION_KEYS = frozenset({"couple_id", "idea_id", "rank", "score", "model_version",
                                  "context", "request_key", "served_at", "served_on"})

    def log_suggestions(self, rows: Iterable[dict[str, Any]]) -> int:
        """Record served suggestions in one transaction.

        Parameters
        ----------
        rows : iterable of dict
            ``couple_id``, ``idea_id``, ``rank`` (required); ``score``,
            ``model_version``, ``context`` (dict), ``request_key`` (str),
            ``served_at`` (datetime, default now, UTC), ``served_on`` (date,
            default ``served_at``'s day).

        Returns
        -------
        int
            Rows written. Rows of couples erased meanwhile are skipped.
        """
        clean = self._clean_suggestions(rows)
        if not clean:
            return 0
        try:
            with self._raw_write(flush=False) as cursor:  # on every new tonight list: one plain executemany
                cursor.executemany(*self._suggestions_insert(clean))
            return len(clean)
        except self.engine.dialect.loaded_dbapi.IntegrityError:
            pass  # the foreign key: a couple was erased meanwhile; write the rows of those still there
        with self._write() as conn:
            clean = self._existing_only(conn, clean)
            if clean:
                conn.execute(tbl_suggestions.insert(), clean)
        return len(clean)

    def record_served(self, couple_id: str, since: _dt.date,
                      choose: Callable[[list[dict[str, Any]]], tuple[Any, list[dict[str, Any]]]] | None,
                      rows: Iterable[dict[str, Any]]) -> tuple[Any, int]:
        """Store a tonight request's new prompts and log its suggestions, in one write transaction.

        With ``choose``, this is :meth:`assign_prompts` and :meth:`log_suggestions`
        in one transaction, so a fresh request takes the write lock once
        (SQLite's ``BEGIN IMMEDIATE`` is one lock for every worker): the
        couple's row is locked, its prompt rows read, ``choose`` called, its
        new rows and the log rows inserted, then one commit; the prompts and
        the log are stored both or neither. Without ``choose`` (no prompt is
        new) it is :meth:`log_suggestions`, and writes nothing when ``rows``
        is empty.

        Parameters
        ----------
        couple_id : str
        since : date
            As for :meth:`prompt_history`.
        choose : callable or None
            ``choose(rows) -> (chosen, new_rows)``, as for :meth:`assign_prompts`;
            None when no prompt needs storing.
        rows : iterable of dict
            As for :meth:`log_suggestions`; with ``choose``, every row is
            ``couple_id``'s.

        Returns
        -------
        (chosen, written)
            What ``choose`` returned first (None without ``choose``), and the
            log rows written.

        Raises
        ------
        ValidationError
            A log row :meth:`log_suggestions` refuses, or (with ``choose``) of
            another couple; nothing is written.
        UnknownCoupleError
            With ``choose``, no such couple (erased meanwhile); nothing is written.
        """
        if choose is None:
            return None, self.log_suggestions(rows)
        clean = self._clean_suggestions(rows)
        for i, row in enumerate(clean):
            if row["couple_id"] != couple_id:
                raise ValidationError(f"rows[{i}].couple_id", f"must be {couple_id!r}, the couple whose "
                                                              f"prompts are stored with it; got {row['couple_id']!r}")
        lock = f"SELECT id FROM couples WHERE id = {self._mark}" + self._for_update_sql()
        with self._raw_write() as cursor:  # new prompts wait for the disk, as every assign_prompts did
            cursor.execute(lock, (couple_id,))
            if cursor.fetchone() is None:
                raise UnknownCoupleError(couple_id)
            chosen, new_rows = choose(self._prompt_rows(cursor, couple_id, since))
            if new_rows:
                cursor.executemany(*self._prompts_insert(new_rows))
            if clean:  # the couple's row is locked: no foreign key can fail
                cursor.executemany(*self._suggestions_insert(clean))
        return chosen, len(clean)

    def _clean_suggestions(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`log_suggestions`' rows checked and converted (``ValidationError`` names the first bad one)."""
        now = _utcnow()
        clean = []
        rows = list(rows)  # every row as it is now, so one context object has one encoding
        contexts: dict[int, tuple[Any, str]] = {}  # a request's rows share one context: encode it once
        for i, row in enumerate(rows):
            unknown = sorted(set(row) - self._SUGGESTION_KEYS)
            if unknown:
                raise ValidationError(f"rows[{i}].{unknown[0]}",
                                      f"unknown key(s) {unknown}; allowed: {sorted(self._SUGGESTION_KEYS)}")
            for key in ("couple_id", "idea_id", "rank"):
                if row.get(key) is None:
                    raise ValidationError(f"rows[{i}].{key}", "is required")
            served_at = _naive_utc(row.get("served_at") or now)
            clean.append({
                "couple_id": _as_text(f"rows[{i}].couple_id", row["couple_id"], max_len=_ID_MAX),
                "idea_id": _as_text(f"rows[{i}].idea_id", row["idea_id"], max_len=200),
                "rank": int(row["rank"]),
                "score": _as_rating(f"rows[{i}].score", row.get("score")),
                "model_version": None if row.get("model_version") is None else str(row["model_version"]),
                "context": self._context_text(contexts, f"rows[{i}].context", row.get("context")),
                "request_key": row.get("request_key"),
                "served_at": served_at,
                "served_on": _as_day(f"rows[{i}].served_on", row.get("served_on")) or served_at.date(),
            })
        return clean

    def _suggestions_insert(self, clean: list[dict[str, Any]]) -> tuple[str, list[tuple]]:
        """One DBAPI ``executemany`` (statement, parameters) for rows of :meth:`_clean_suggestions`."""
        return self._rows_insert("suggestions", clean)

    def _prompts_insert(self, new_rows: list[dict[str, Any]]) -> tuple[str, list[tuple]]:
        """One DBAPI ``executemany`` for new ``prompts_served`` rows (``couple_id``, ``prompt_id``,
        ``idea_id``, ``depth``, ``served_on``), shown now."""
        now = _utcnow()
        return self._rows_insert("prompts_served", [
            {"couple_id": r["couple_id"], "prompt_id": r["prompt_id"], "idea_id": r["idea_id"],
             "depth": int(r["depth"]), "served_on": r["served_on"], "served_at": now} for r in new_rows])

    def _rows_insert(self, table: str, rows: list[dict[str, Any]]) -> tuple[str, list[tuple]]:
        names = list(rows[0])
        insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join([self._mark] * len(names))})"
        return insert, [tuple(self._day_param(v) if isinstance(v, _dt.date) else v for v in row.values())
                        for row in rows]

    @staticmethod
    def _context_text(seen: dict[int, tuple[Any, str]], field: str, context: Any) -> str:
        """``context`` checked and encoded, once per distinct object (``seen`` keeps each
        object alive, so its id cannot be reused by another within the call)."""
        hit = seen.get(id(context))
        if hit is None or hit[0] is not context:
            hit = seen[id(context)] = (context, _context_json(field, context))
        return hit[1]

    @staticmethod
    def _existing_only(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = sorted({row["couple_id"] for row in rows})
        present: set[str] = set()
        for chunk in _chunks(wanted):
            present.update(conn.execute(sa.select(tbl_couples.c.id).where(tbl_couples.c.id.in_(chunk))).scalars())
        if len(present) < len(wanted):
            logger.info("skipping rows of %d couple(s) that no longer exist", len(wanted) - len(present))
            rows = [row for row in rows if row["couple_id"] in present]
        return rows

    def recent_suggestions(self, couple_id: str, since: _dt.date | _dt.datetime | None = None,
                           request_key: str | None = None) -> list[dict[str, Any]]:
        """Suggestions served to a couple, oldest first.

        Parameters
        ----------
        couple_id : str
        since : date or datetime, optional
            A date keeps rows with ``served_on >= since``; a datetime keeps
            rows with ``served_at >= since``. Default: all.
        request_key : str, optional
            Only rows logged with this request key.

        Returns
        -------
        list of dict
            ``{"id", "couple_id", "idea_id", "served_at", "served_on",
            "context", "model_version", "rank", "score", "request_key"}``.
        """
        query = sa.select(tbl_suggestions).where(tbl_suggestions.c.couple_id == couple_id)
        if isinstance(since, _dt.datetime):
            query = query.where(tbl_suggestions.c.served_at >= _naive_utc(since))
        elif since is not None:
            query = query.where(tbl_suggestions.c.served_on >= _as_day("since", since))
        if request_key is not None:
            query = query.where(tbl_suggestions.c.request_key == request_key)
        with self._read() as conn:
            rows = conn.execute(query.order_by(tbl_suggestions.c.id)).all()
        return [{
            "id": int(row.id), "couple_id": row.couple_id, "idea_id": row.idea_id,
            "served_at": _iso_instant(row.served_at), "served_on": _iso_day(row.served_on),
            "context": _loads(row.context), "model_version": row.model_version,
            "rank": int(row.rank), "score": row.score, "request_key": row.request_key,
        } for row in rows]

    def count_another(self, couple_id: str, today: _dt.date, request: str, limit: int | None = None) -> int | None:
        """Count one ``another`` request of the couple today; the request's new count, or None over ``limit``.

        Two primary-key upserts in one write transaction: the couple's total
        for the day (``request = ''``), incremented only while it is below
        ``limit``, then this request's own count, which is the offset the
        request moves on to. The counts live in the database, so the limit
        holds across workers and replicas; two concurrent requests get two
        different counts. A couple's counts of earlier days are deleted when
        its first ``another`` of a day is counted.

        Parameters
        ----------
        couple_id : str
        today : date
            The serving day.
        request : str
            The request's hash (:func:`engine.app.serving.request_key`), at most 200 characters.
        limit : int, optional
            ``another`` requests allowed per couple and day; None = no limit.

        Returns
        -------
        int or None
            This request's ``another`` count today (1 for the first), or None
            when the couple already made ``limit`` of them today (nothing is
            counted then).

        Raises
        ------
        UnknownCoupleError
            No such couple (erased meanwhile).
        """
        _as_text("request", request, max_len=_KEY_MAX)
        if limit is not None and limit < 1:
            return None
        mark, day = self._mark, self._day_param(today)
        upsert = (f"INSERT INTO tonight_counts (couple_id, day, request, n) VALUES ({mark}, {mark}, {mark}, 1) "
                  "ON CONFLICT (couple_id, day, request) DO UPDATE SET n = tonight_counts.n + 1")
        try:
            with self._raw_write(flush=False) as cursor:
                if limit is None:
                    cursor.execute(upsert + " RETURNING n", (couple_id, day, ""))
                else:
                    cursor.execute(upsert + f" WHERE tonight_counts.n < {mark} RETURNING n",
                                   (couple_id, day, "", int(limit)))
                total = cursor.fetchone()
                if total is None:  # the limit is reached: nothing written
                    return None
                if total[0] == 1:  # the couple's first today: forget earlier days
                    cursor.execute(f"DELETE FROM tonight_counts WHERE couple_id = {mark} AND day < {mark}",
                                   (couple_id, day))
                cursor.execute(upsert + " RETURNING n", (couple_id, day, request))
                return int(cursor.fetchone()[0])
        except self.engine.dialect.loaded_dbapi.IntegrityError as exc:
            raise UnknownCoupleError(couple_id) from exc

    def tonight_reads(self, couple_id: str, today: _dt.date, since: _dt.date, request: str) -> TonightReads:
        """Everything tonight's request reads, on one connection with a few indexed queries.

        The history comes from this store's cache of the last
        :data:`HISTORY_CACHE` couples when the couple's ``dates_stamp`` is
        the one it was read under (a date added since changes the stamp, so
        the next call reads the history again).

        Parameters
        ----------
        couple_id : str
        today : date
            The serving day.
        since : date
            Oldest serving day whose suggestions count as recent.
        request : str
            The request's hash (:func:`engine.app.serving.request_key`); its rows
            are logged under ``<request>:<n>``.

        Returns
        -------
        TonightReads
            ``history`` (the couple's dates, oldest first: insertion order),
            ``served_before`` (each idea served on a day in ``[since, today)``
            with the latest such day, as ``(idea_id, ISO day)``),
            ``another_today`` (``n``: the ``another`` requests counted today
            for this request by :meth:`count_another`, 0 if none) and
            ``latest_served`` (the list logged last today under
            ``<request>:<n>``, as ``(idea_id, rank, model_version)`` by rank;
            empty when there is none) and ``not_for_us`` (the ideas the couple marked
            "not for us": never suggested again; a seek on ``idea_marks``' primary key).

        Every query is a seek on an index whose leading columns it fixes:
        ``couples`` and ``tonight_counts`` by primary key, ``dates`` by
        ``ix_dates_couple``, ``suggestions`` by ``ix_suggestions_couple_day``
        and ``ix_suggestions_request``. So the cost does not grow with how
        many requests the couple made today (tests/test_store.py shows the
        plans; ``python -m bench abuse`` the latencies).
        """
        mark = self._mark
        day = self._epoch_days("done_on")
        with self._raw_cursor() as cursor:
            cursor.execute(f"SELECT dates_stamp, profile FROM couples WHERE id = {mark}", (couple_id,))
            found = cursor.fetchone()
            stamp = found[0] if found is not None else None
            history = self._histories.get(couple_id, stamp) if found is not None else None
            if history is None:
                # a profile change (update_profile) and a re-load change the stamp
                profile = _stated_profile(found[1]) if found is not None else NO_PROFILE
                cursor.execute(f"SELECT idea_id, {day}, rating_a, rating_b FROM dates WHERE couple_id = {mark} "
                               "ORDER BY id", (couple_id,))
                history = CoupleDates(couple_id, tuple(cursor.fetchall()), profile)  # DBAPI rows are tuples
                if found is not None:  # read after the stamp: at least as new as it says
                    self._histories.put(couple_id, stamp, history)
            cursor.execute(f"SELECT idea_id, MAX(served_on) FROM suggestions WHERE couple_id = {mark} "
                           f"AND served_on >= {mark} AND served_on < {mark} GROUP BY idea_id",
                           (couple_id, self._day_param(since), self._day_param(today)))
            before = [(idea, _iso_day(served)) for idea, served in cursor.fetchall()]
            cursor.execute(*self._another_query(couple_id, today, request))
            found = cursor.fetchone()
            another = int(found[0]) if found is not None else 0
            latest: list[tuple[str, int, str | None]] = []
            cursor.execute(*self._latest_query(couple_id, today, f"{request}:{another}"))
            for idea, rank, version in cursor.fetchall():  # newest first: ranks k .. 1 of the last list
                latest.append((idea, int(rank), version))
                if rank == 1:
                    break
            latest.reverse()
            cursor.execute(f"SELECT idea_id FROM idea_marks WHERE couple_id = {mark} AND kind = {mark}",
                           (couple_id, NOT_FOR_US))
            not_for_us = frozenset(idea for (idea,) in cursor.fetchall())
        return TonightReads(history, before, another, latest, not_for_us)

    def _another_query(self, couple_id: str, today: _dt.date, request: str) -> tuple[str, tuple]:
        """This request's ``another`` count today: one primary-key seek on ``tonight_counts``."""
        mark = self._mark
        return (f"SELECT n FROM tonight_counts WHERE couple_id = {mark} AND day = {mark} AND request = {mark}",
                (couple_id, self._day_param(today), request))

    def _latest_query(self, couple_id: str, today: _dt.date, key: str) -> tuple[str, tuple]:
        """The rows logged today under ``key``, newest first: a seek on ``ix_suggestions_request``."""
        mark = self._mark
        return (f"SELECT idea_id, rank, model_version FROM suggestions WHERE couple_id = {mark} "
                f"AND request_key = {mark} AND served_on = {mark} ORDER BY id DESC LIMIT {_LATEST_ROWS}",
                (couple_id, key, self._day_param(today)))
