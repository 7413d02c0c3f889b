"""The in-memory shape of date history, shared by the store, importer, simulator and model.

A *dates frame* is a :class:`pandas.DataFrame` with one row per completed date:

============  ==============================================================
column        meaning
============  ==============================================================
couple_id     str
idea_id       str
done_on       datetime64[ns] (NaT when the dataset has no dates)
rating_a      float, partner a's rating (NaN = not rated)
rating_b      float, partner b's rating (NaN = not rated)
ctx_<name>    optional context columns (weekday, season, weather, ...)
============  ==============================================================

:func:`as_dates_frame` checks and normalises such a frame; :func:`mean_rating`
gives the couple's rating of each date (mean of the partners who rated).

:class:`CoupleDates` is one couple's dates as plain rows, what the store reads
for a single request (``Store.tonight_reads``), with the couple's stated
profile: the model builds its features from it without a DataFrame, and two
reads of an unchanged history compare equal.

Plausible days
--------------
:func:`check_day` is the one rule for the day a date was done on, applied to
everything that records one (the API, the "We did it" page, ``dateideas rate
--on``, ``dateideas import`` and the store itself): from :data:`EARLIEST_DAY`
(1900-01-01) to tomorrow for a date a couple records now (tomorrow, not today:
the couple's time zone may be ahead of the server's clock), and to
:data:`LATEST_DATA_DAY` for imported history (datasets carry their own clock;
the simulator dates its worlds from 2024 onwards). Outside that range a day is
a typo or an attack, and before 1677 it overflows ``datetime64[ns]``. Rows
already stored outside it are skipped and reported by training and the
newsletter (``Store.read_dates``), never fatal.

Undated days
------------
Where a day is a number (days since 1970-01-01, negative before 1970: the
store's ``done_on - DATE '1970-01-01'``, :meth:`CoupleDates.arrays`, the
learning code), a date without a day has the number :data:`UNDATED`, the day
before :data:`EARLIEST_DAY`: no accepted day can have it, and it sorts before
every accepted day. It is the one sentinel; never test a day number's sign.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .profiles import NO_PROFILE, Profile

__all__ = ["DATE_COLUMNS", "EARLIEST_DAY", "LATEST_DATA_DAY", "UNDATED", "CoupleDates", "DayError", "as_dates_frame",
           "check_day", "empty_dates", "implausible_days", "mean_rating", "skipped_report", "stated_profiles"]

DATE_COLUMNS = ("couple_id", "idea_id", "done_on", "rating_a", "rating_b")
#: the earliest day a date may have been done on
EARLIEST_DAY = _dt.date(1900, 1, 1)
#: the latest day of imported or stored history (what a couple records now may be at most tomorrow)
LATEST_DATA_DAY = _dt.date(2099, 12, 31)
#: the day number (days since 1970-01-01) of a date without a day: 1899-12-31, the day before
#: :data:`EARLIEST_DAY`. No date before 1900-01-01 is accepted anywhere, so the day before it marks a
#: date without a day (and sorts before every real one)
UNDATED = (EARLIEST_DAY - _dt.timedelta(days=1) - _dt.date(1970, 1, 1)).days
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DayError(ValueError):
    """A day is not a plausible date day; ``field`` names it and the message says what is allowed."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def check_day(value: Any, *, field: str = "done_on", latest: _dt.date | None = None) -> _dt.date:
    """The day a date was done on, parsed and checked: the one rule for every caller.

    Parameters
    ----------
    value : datetime.date or str
        A date (not a datetime) or ``"YYYY-MM-DD"``.
    field : str, default "done_on"
        Named in the message.
    latest : date, optional
        The latest day allowed: tomorrow for a date a couple records now
        (``date.today() + 1 day``); default :data:`LATEST_DATA_DAY`, for
        imported or stored history.

    Returns
    -------
    datetime.date

    Raises
    ------
    DayError
        Not a date as YYYY-MM-DD, or outside ``EARLIEST_DAY .. latest``; the
        message names the range.
    """
    latest = LATEST_DATA_DAY if latest is None else latest
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        day = value
    elif isinstance(value, str) and _DAY_RE.match(value):
        try:
            day = _dt.date.fromisoformat(value)
        except ValueError:
            raise DayError(field, f"{field} must be a real date as YYYY-MM-DD, got {value!r}") from None
    else:
        raise DayError(field, f"{field} must be a date as YYYY-MM-DD, got {value!r}")
    if not EARLIEST_DAY <= day <= latest:
        raise DayError(field, f"{field} must be a date from {EARLIEST_DAY} to {latest}, got {day}")
    return day


def skipped_report(rows: list[dict[str, Any]], limit: int = 20) -> dict[str, Any]:
    """``{"count", "rows"}`` of stored dates left out (``Store.read_dates().skipped``), the first ``limit`` rows
    named, for the JSON of training and the newsletter's summary."""
    return {"count": len(rows), "rows": [dict(row) for row in rows[:limit]]}


def implausible_days(values: Iterable[Any], *, field: str = "done_on",
                     latest: _dt.date | None = None) -> dict[Any, str]:
    """``{value: message}`` for each distinct value that :func:`check_day` refuses.

    For columns of many rows: each distinct value is checked once (a dataset
    has few distinct days). None and NaN/NaT (undated) are fine.
    """
    out: dict[Any, str] = {}
    for value in set(values):
        if value is None or value != value:  # noqa: PLR0124 - NaN/NaT: undated
            continue
        try:
            check_day(value, field=field, latest=latest)
        except DayError as exc:
            out[value] = str(exc)
    return out


def empty_dates() -> pd.DataFrame:
    """A dates frame with no rows."""
    return as_dates_frame(pd.DataFrame({c: [] for c in DATE_COLUMNS}))


def as_dates_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` normalised to the columns above (a copy unless it already is).

    A single ``rating`` column is accepted in place of ``rating_a``/``rating_b``
    and becomes ``rating_a``. ``done_on`` may be missing (all NaT).

    Raises
    ------
    ValueError
        If ``couple_id`` or ``idea_id`` is missing, naming the columns present.
    """
    if _is_normalised(frame):
        return frame
    missing = [c for c in ("couple_id", "idea_id") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"a dates frame needs columns couple_id and idea_id; missing {missing}, "
            f"found {list(frame.columns)}"
        )
    out = frame.copy()
    if "rating_a" not in out.columns and "rating" in out.columns:
        out = out.rename(columns={"rating": "rating_a"})
    for col in ("rating_a", "rating_b"):
        if col not in out.columns:
            out[col] = np.nan
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    if "done_on" not in out.columns:
        out["done_on"] = pd.NaT
    out["done_on"] = pd.to_datetime(out["done_on"], errors="coerce").astype("datetime64[ns]")
    out["couple_id"] = out["couple_id"].astype(str)
    out["idea_id"] = out["idea_id"].astype(str)
    extra = [c for c in out.columns if c.startswith("ctx_")]
    return out[list(DATE_COLUMNS) + extra].reset_index(drop=True)


def _is_normalised(frame: pd.DataFrame) -> bool:
    """True when ``frame`` already has exactly the normalised columns and dtypes (no copy needed)."""
    cols = list(frame.columns)
    if cols[:len(DATE_COLUMNS)] != list(DATE_COLUMNS) or any(not c.startswith("ctx_") for c in cols[5:]):
        return False
    dtypes = frame.dtypes
    return (dtypes["rating_a"] == np.float64 and dtypes["rating_b"] == np.float64
            and str(dtypes["done_on"]) == "datetime64[ns]")


def mean_rating(frame: pd.DataFrame) -> np.ndarray:
    """Mean of the partners' ratings per row, NaN where neither rated; shape (n_rows,)."""
    ratings = frame[["rating_a", "rating_b"]].to_numpy(dtype=float)
    counts = np.sum(~np.isnan(ratings), axis=1)
    sums = np.nansum(ratings, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class CoupleDates:
    """One couple's dates as plain rows, oldest first (insertion order).

    The per-request shape of a history: cheap to read, hashable and exactly
    comparable (missing values are None, never NaN), so a cache can tell
    whether a couple's history changed by comparing two reads.

    Attributes
    ----------
    couple_id : str
    rows : tuple of (idea_id, day, rating_a, rating_b)
        ``day`` is the day number (days since 1970-01-01) or None when
        undated; ratings are floats or None (not rated).
    profile : Profile
        The couple's stated profile (:mod:`engine.domain.profiles`), scored with the
        dates.
    """

    couple_id: str
    rows: tuple[tuple[str, int | None, float | None, float | None], ...] = ()
    profile: Profile = NO_PROFILE

    def __len__(self) -> int:
        return len(self.rows)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(idea_ids object, day int64, rating_a float, rating_b float)``: ``day`` is the day number,
        :data:`UNDATED` for a date without one; NaN = not rated."""
        if not self.rows:
            return (np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
        ideas, days, a, b = zip(*self.rows)
        day = np.array([UNDATED if d is None else d for d in days], dtype=np.int64)
        return np.array(ideas, dtype=object), day, np.array(a, dtype=float), np.array(b, dtype=float)

    def frame(self) -> pd.DataFrame:
        """The same dates as a dates frame."""
        ideas, day, a, b = self.arrays()
        done_on = day.astype("datetime64[D]").astype("datetime64[ns]")
        done_on[day == UNDATED] = np.datetime64("NaT")
        return pd.DataFrame({"couple_id": np.full(len(ideas), self.couple_id, dtype=object), "idea_id": ideas,
                             "done_on": done_on, "rating_a": a, "rating_b": b})


def stated_profiles(couple_ids, profiles, history) -> list:
    """Each couple's stated profile: from ``profiles`` (a mapping, None: not given), else a
    :class:`CoupleDates` history's own for its couple; None where unknown."""
    if profiles is not None:
        return [profiles.get(c) for c in couple_ids]
    if isinstance(history, CoupleDates):
        return [history.profile if c == history.couple_id else None for c in couple_ids]
    return [None] * len(couple_ids)
