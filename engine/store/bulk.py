"""Bulk load: couples and their dates in one transaction (COPY on PostgreSQL) (:class:`BulkRepository`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from tqdm.auto import tqdm

from ..domain.dates import as_dates_frame, implausible_days
from ._values import _as_text, _checked_profile, _chunks, _dumps, _naive_utc, _new_stamp, _plain_day, _utcnow
from .errors import CouplesExistError, ValidationError
from .tables import _COUPLE_TABLES, _ID_MAX, tbl_couples

__all__ = ["BulkRepository"]

logger = logging.getLogger(__name__)


class BulkRepository:
    """Bulk loads (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- bulk load

    _COUPLE_KEYS = frozenset({"id", "profile", "active", "created_at"})

    def bulk_load(self, couples: Sequence[dict[str, Any]], dates: pd.DataFrame, *,
                  replace: bool = False, source: str = "import", chunk_size: int = 50_000,
                  progress: bool = False) -> tuple[int, int]:
        """Load couples and their dates in ONE transaction: all of it or none of it.

        Every couple id in ``dates`` that is not in ``couples`` is created with
        an empty profile. Couples get no token (use :meth:`rotate_token`).

        Parameters
        ----------
        couples : sequence of dict
            ``{"id": str, "profile": dict (optional), "active": bool (optional),
            "created_at": datetime (optional)}``.
        dates : pandas.DataFrame
            A dates frame (see :func:`engine.domain.dates.as_dates_frame`; a ``rating``
            column is read as ``rating_a``); ``ctx_<name>`` columns become the
            date's context ``{"<name>": value}``. Rows are stored grouped by
            couple, in frame order within each couple (ids follow that order).
        replace : bool, default False
            If any of these couples already exists the load is refused
            (:class:`StoreError`, naming them). With ``replace=True`` those
            couples are erased (with all their rows) and loaded afresh, in the
            same transaction.
        source : str, default "import"
            Recorded on each couple (e.g. ``"demo"``).
        chunk_size : int, default 50000
            Rows per insert batch.
        progress : bool, default False
            Show a tqdm bar over the dates.

        Returns
        -------
        (n_couples, n_dates) : tuple of int
            Couples created (explicit + implied by dates) and dates stored.

        Raises
        ------
        ValidationError
            A bad couple or date row (its position is named), or duplicates.
        CouplesExistError
            Couples already exist and ``replace`` is False (a :class:`StoreError`).
        """
        couple_rows = self._check_couples(couples, source)
        frame, n_rows = self._check_dates(dates)
        # grouped by couple (frame order kept within a couple): index inserts become
        # sequential, which keeps multi-million-row loads linear
        frame = frame.sort_values("couple_id", kind="stable")
        known = {row["id"] for row in couple_rows}
        implied = [cid for cid in pd.unique(frame["couple_id"]) if cid not in known]
        now = _utcnow()
        couple_rows += [{"id": cid, "created_at": now, "profile": "{}", "active": True, "source": source}
                        for cid in implied]
        all_ids = [row["id"] for row in couple_rows]
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")

        with self._write() as conn:
            existing: list[str] = []
            for chunk in _chunks(all_ids):
                existing.extend(conn.execute(sa.select(tbl_couples.c.id).where(tbl_couples.c.id.in_(chunk))).scalars())
            if existing and not replace:
                raise CouplesExistError(existing)
            for chunk in _chunks(sorted(existing)):
                for table in _COUPLE_TABLES:
                    conn.execute(table.delete().where(table.c.couple_id.in_(chunk)))
                conn.execute(tbl_couples.delete().where(tbl_couples.c.id.in_(chunk)))
            self._copy_rows(conn, "couples", ("id", "created_at", "profile", "active", "source", "dates_stamp"),
                            [(r["id"], r["created_at"].strftime("%Y-%m-%d %H:%M:%S.%f"), r["profile"],
                              bool(r["active"]), r["source"], _new_stamp()) for r in couple_rows])
            with tqdm(total=n_rows, unit="date", desc="loading dates", disable=not progress) as bar:
                for start in range(0, n_rows, chunk_size):
                    part = frame.iloc[start:start + chunk_size]
                    self._insert_dates_chunk(conn, part, stamp)
                    bar.update(len(part))
        logger.info("bulk-loaded %d couples and %d dates", len(couple_rows), n_rows)
        return len(couple_rows), n_rows

    def _check_couples(self, items: Sequence[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        out, seen = [], set()
        now = _utcnow()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"couples[{i}]", f"must be a dict, got {type(item).__name__}")
            unknown = sorted(set(item) - self._COUPLE_KEYS)
            if unknown:
                raise ValidationError(f"couples[{i}].{unknown[0]}",
                                      f"unknown key(s) {unknown}; allowed: {sorted(self._COUPLE_KEYS)}")
            cid = _as_text(f"couples[{i}].id", item.get("id"), max_len=_ID_MAX)
            if cid in seen:
                raise ValidationError(f"couples[{i}].id", f"duplicate couple id {cid!r}")
            seen.add(cid)
            try:
                profile = _checked_profile(item.get("profile"))
            except ValidationError as exc:
                raise ValidationError(f"couples[{i}].{exc.field}", exc.message) from exc
            created = item.get("created_at")
            out.append({"id": cid, "profile": _dumps(profile), "active": bool(item.get("active", True)),
                        "created_at": now if created is None else _naive_utc(pd.Timestamp(created).to_pydatetime()),
                        "source": source})
        return out

    @staticmethod
    def _check_dates(raw: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        if not isinstance(raw, pd.DataFrame):
            raise ValidationError("dates", f"must be a pandas DataFrame, got {type(raw).__name__}")
        if "done_on" in raw.columns:  # before as_dates_frame: a day before 1677 overflows datetime64[ns]
            column = raw["done_on"].reset_index(drop=True)
            uniques = pd.unique(column)
            far = implausible_days(_plain_day(v) for v in uniques)
            if far:
                bad_raw = [v for v in uniques if _plain_day(v) in far]
                rows = np.flatnonzero(column.isin(bad_raw).to_numpy())
                raise ValidationError("dates", "bad rows (0-based positions in the frame), nothing was loaded: "
                                      + "; ".join(f"row {i}: {far[_plain_day(column.iat[i])]}" for i in rows[:10]))
        try:
            frame = as_dates_frame(raw)
        except ValueError as exc:
            raise ValidationError("dates", str(exc)) from exc
        raw = raw.reset_index(drop=True)
        if "rating_a" not in raw.columns and "rating" in raw.columns:
            raw = raw.rename(columns={"rating": "rating_a"})
        problems: list[str] = []
        for col in ("couple_id", "idea_id"):
            bad = raw[col].isna().to_numpy() | (raw[col].astype(str).str.strip() == "").to_numpy()
            bad |= (frame[col].str.len() > (_ID_MAX if col == "couple_id" else 200)).to_numpy()
            problems += [f"row {i}: {col} is empty or too long" for i in np.flatnonzero(bad)[:5]]
        if "done_on" in raw.columns:
            bad = raw["done_on"].notna().to_numpy() & frame["done_on"].isna().to_numpy()
            problems += [f"row {i}: done_on {raw['done_on'].iloc[i]!r} is not a date (YYYY-MM-DD)"
                         for i in np.flatnonzero(bad)[:5]]
        for col in ("rating_a", "rating_b"):
            if col in raw.columns:
                values = frame[col].to_numpy()
                bad = (raw[col].notna().to_numpy() & np.isnan(values)) | np.isinf(values)
                problems += [f"row {i}: {col} {raw[col].iloc[i]!r} is not a number"
                             for i in np.flatnonzero(bad)[:5]]
        if problems:
            raise ValidationError("dates", "bad rows (0-based positions in the frame), nothing was "
                                           "loaded: " + "; ".join(problems[:10]))
        return frame, len(frame)

    def _insert_dates_chunk(self, conn: Connection, part: pd.DataFrame, stamp: str) -> None:
        n = len(part)
        days = part["done_on"].dt.strftime("%Y-%m-%d")
        days = days.astype(object).where(part["done_on"].notna(), None).tolist()
        ratings = []
        for col in ("rating_a", "rating_b"):
            values = part[col].to_numpy(dtype=float)
            ratings.append(np.where(np.isnan(values), None, values.astype(object)).tolist())
        ctx_cols = [c for c in part.columns if c.startswith("ctx_")]
        if ctx_cols:
            ctx = (part[ctx_cols].rename(columns=lambda c: c[4:]).reset_index(drop=True)
                   .to_json(orient="records", lines=True, date_format="iso").splitlines())
        else:
            ctx = ["{}"] * n
        rows = list(zip(part["couple_id"].tolist(), part["idea_id"].tolist(), days,
                        ratings[0], ratings[1], [""] * n, ctx, [stamp] * n))
        self._copy_rows(conn, "dates", ("couple_id", "idea_id", "done_on", "rating_a", "rating_b",
                                        "note", "context", "created_at"), rows)
