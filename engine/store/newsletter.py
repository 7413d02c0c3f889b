"""Newsletter runs and the sends of each (:class:`NewsletterRepository`)."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._values import _as_day, _chunks, _iso_day, _iso_instant, _utcnow
from .errors import StoreError, ValidationError
from .tables import tbl_newsletter_runs, tbl_newsletter_sends

__all__ = ["NewsletterRepository"]

logger = logging.getLogger(__name__)

_NEWSLETTER_STATUSES = ("running", "completed", "failed")


class NewsletterRepository:
    """Newsletter runs and sends (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- newsletter

    def start_newsletter_run(self, week: _dt.date | str, k: int) -> int:
        """Open a newsletter run for ``week`` (status ``running``) and return its id."""
        day = _as_day("week", week, required=True)
        with self._write() as conn:
            return int(conn.execute(tbl_newsletter_runs.insert().values(
                week=day, k=int(k), status="running", started_at=_utcnow(),
                host=socket.gethostname(), pid=os.getpid())).inserted_primary_key[0])

    def finish_newsletter_run(self, run_id: int, status: str = "completed",
                              error: str | None = None) -> bool:
        """Close a run as ``completed`` or ``failed``; False if there is no such run."""
        if status not in _NEWSLETTER_STATUSES[1:]:
            raise ValidationError("status", f"must be one of {list(_NEWSLETTER_STATUSES[1:])}, got {status!r}")
        with self._write() as conn:
            return bool(conn.execute(tbl_newsletter_runs.update().where(tbl_newsletter_runs.c.id == run_id)
                                     .values(status=status, error=error,
                                             finished_at=_utcnow())).rowcount)

    def fail_running_newsletter_runs(self, week: _dt.date | str | None, reason: str) -> list[int]:
        """Mark ``running`` runs failed (of ``week``, or of every week whose lock has no live holder).

        A newsletter run holds the lock ``newsletter:<week>`` while it runs
        and renews it (a lease); a run still ``running`` whose week's lock is
        free was killed or crashed. With ``week`` the caller holds that
        week's lock, so every ``running`` run of it is such a run.

        Returns
        -------
        list of int
            The ids of the runs marked ``failed`` (``reason`` in ``error``).
        """
        query = sa.select(tbl_newsletter_runs.c.id, tbl_newsletter_runs.c.week).where(
            tbl_newsletter_runs.c.status == "running")
        if week is not None:
            query = query.where(tbl_newsletter_runs.c.week == _as_day("week", week, required=True))
        with self._read() as conn:
            running = conn.execute(query).all()
        marked = []
        for row in running:
            if week is None and self.lock_holder(f"newsletter:{_iso_day(row.week)}") is not None:
                continue  # its lease is live: still running
            with self._write() as conn:
                if conn.execute(tbl_newsletter_runs.update().where(
                        tbl_newsletter_runs.c.id == row.id, tbl_newsletter_runs.c.status == "running")
                        .values(status="failed", finished_at=_utcnow(), error=reason)).rowcount:
                    marked.append(int(row.id))
                    logger.warning("newsletter run %s of week %s marked failed: %s", row.id, row.week, reason)
        return marked

    def latest_newsletter_run(self, week: _dt.date | str) -> dict[str, Any] | None:
        """The most recently started run for ``week`` (any status) or None.

        Returns
        -------
        dict or None
            ``{"id", "week", "k", "status", "started_at", "finished_at", "error", "sends"}``.
        """
        return self._latest_newsletter_run(week)

    def completed_newsletter_run(self, week: _dt.date | str) -> dict[str, Any] | None:
        """The latest completed run for ``week`` or None (same keys as :meth:`latest_newsletter_run`)."""
        return self._latest_newsletter_run(week, status="completed")

    def _latest_newsletter_run(self, week: _dt.date | str, status: str | None = None) -> dict[str, Any] | None:
        day = _as_day("week", week, required=True)
        query = sa.select(tbl_newsletter_runs).where(tbl_newsletter_runs.c.week == day)
        if status is not None:
            query = query.where(tbl_newsletter_runs.c.status == status)
        with self._read() as conn:
            row = conn.execute(query.order_by(tbl_newsletter_runs.c.id.desc()).limit(1)).first()
            if row is None:
                return None
            sends = conn.execute(sa.select(sa.func.count()).select_from(tbl_newsletter_sends)
                                 .where(tbl_newsletter_sends.c.run_id == row.id)).scalar()
        return {"id": int(row.id), "week": _iso_day(row.week), "k": row.k, "status": row.status,
                "started_at": _iso_instant(row.started_at), "finished_at": _iso_instant(row.finished_at),
                "error": row.error, "sends": int(sends)}

    def record_sends(self, run_id: int, week: _dt.date | str, rows: Iterable[dict[str, Any]],
                     replace: bool = False) -> int:
        """Record picks as sent, all in one transaction.

        Parameters
        ----------
        run_id : int
        week : date or "YYYY-MM-DD"
        rows : iterable of dict
            ``{"couple_id", "idea_id", "rank"}``.
        replace : bool, default False
            First delete what those couples were already sent that week (for a
            forced re-run). Without it, a (week, couple, rank) already recorded
            makes the whole call fail with :class:`StoreError`.

        Returns
        -------
        int
            Rows written (rows of couples erased meanwhile are skipped).
        """
        day = _as_day("week", week, required=True)
        now = _utcnow()
        clean = []
        for i, row in enumerate(rows):
            for key in ("couple_id", "idea_id", "rank"):
                if row.get(key) is None:
                    raise ValidationError(f"rows[{i}].{key}", "is required")
            clean.append({"run_id": int(run_id), "week": day, "couple_id": str(row["couple_id"]),
                          "idea_id": str(row["idea_id"]), "rank": int(row["rank"]), "sent_at": now})
        if not clean:
            return 0
        try:
            with self._write() as conn:
                clean = self._existing_only(conn, clean)
                if replace:
                    ids = sorted({row["couple_id"] for row in clean})
                    for chunk in _chunks(ids):
                        conn.execute(tbl_newsletter_sends.delete().where(
                            tbl_newsletter_sends.c.week == day, tbl_newsletter_sends.c.couple_id.in_(chunk)))
                if clean:
                    conn.execute(tbl_newsletter_sends.insert(), clean)
        except IntegrityError as exc:
            raise StoreError(
                f"could not record {len(clean)} newsletter send(s) for week {day}: a couple already "
                "has a pick at that rank this week (or run_id is unknown); nothing from this call "
                "was recorded. Skip couples in sent_couples(week) or pass replace=True."
            ) from exc
        return len(clean)

    def sent_couples(self, week: _dt.date | str, after_run: int | None = None) -> set[str]:
        """Ids of couples with at least one pick recorded as sent for ``week``.

        ``after_run`` counts only sends of runs with a larger id (what a
        forced re-run of the week has sent so far).
        """
        day = _as_day("week", week, required=True)
        query = (sa.select(tbl_newsletter_sends.c.couple_id).distinct()
                 .where(tbl_newsletter_sends.c.week == day))
        if after_run is not None:
            query = query.where(tbl_newsletter_sends.c.run_id > int(after_run))
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def recent_newsletter_ideas(self, couple_ids: Iterable[str] | None, before_week: _dt.date | str,
                                last_n: int = 4) -> dict[str, set[str]]:
        """Ideas sent to each couple in their last ``last_n`` newsletters before ``before_week``.

        Parameters
        ----------
        couple_ids : iterable of str or None
            None = every couple with sends.
        before_week : date or "YYYY-MM-DD"
            Only weeks strictly before it count.
        last_n : int, default 4
            How many of the couple's most recent newsletter weeks to look at.

        Returns
        -------
        dict of str to set of str
            Every requested couple is a key (an empty set when nothing was sent).
        """
        day = _as_day("before_week", before_week, required=True)
        sql = (
            "SELECT couple_id, idea_id FROM (SELECT couple_id, idea_id, DENSE_RANK() OVER "
            "(PARTITION BY couple_id ORDER BY week DESC) AS recency FROM newsletter_sends "
            "WHERE week < :week{filter}) AS ranked WHERE recency <= :last_n"
        )
        week_param = sa.bindparam("week", type_=sa.Date)  # typed: no driver-level date adapter
        out: dict[str, set[str]] = {}
        with self._read() as conn:
            if couple_ids is None:
                pairs = conn.execute(sa.text(sql.format(filter="")).bindparams(week_param),
                                     {"week": day, "last_n": int(last_n)}).all()
            else:
                ids = list(dict.fromkeys(couple_ids))
                out = {cid: set() for cid in ids}
                query = sa.text(sql.format(filter=" AND couple_id IN :ids")).bindparams(
                    week_param, sa.bindparam("ids", expanding=True))
                pairs = []
                for chunk in _chunks(ids):
                    pairs.extend(conn.execute(query, {"week": day, "last_n": int(last_n),
                                                      "ids": list(chunk)}).all())
        for couple_id, idea_id in pairs:
            out.setdefault(couple_id, set()).add(idea_id)
        return out
