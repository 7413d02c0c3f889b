"""Planning: which k ideas each couple gets in a week's newsletter.

This is the part that runs on Dask workers. It only prepares the exclusions
and calls :meth:`engine.app.recommender.Recommender.batch` - the one scoring path
the service uses too - and turns its suggestions into rows.
"""

from __future__ import annotations

import datetime as _dt
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..domain.catalog import per_catalog
from ..domain.context import Context
from ..domain.profiles import Profiles
from ..practice.pillars import balance_picks, candidates_for, dated_pillars, idea_pillars
from ..practice.prompts import week_prompts

__all__ = [
    "PICK_COLUMNS",
    "RECENT_DATE_DAYS",
    "RECENT_NEWSLETTERS",
    "pick_records",
    "plan_picks",
    "recently_done",
    "week_context",
    "week_start",
]

#: Ideas done this many days before the week's Saturday (or later) are not picked.
RECENT_DATE_DAYS = 90
#: Ideas sent in this many of the couple's latest newsletters are not picked.
RECENT_NEWSLETTERS = 4

#: Columns of the picks frame, ``picks.csv`` and ``picks.jsonl`` (in that order).
PICK_COLUMNS = ("couple_id", "rank", "idea_id", "title", "reason", "score", "category",
                "pillars", "model_version", "run_id")


def pick_records(picks: pd.DataFrame, columns: Sequence[str] | None = None) -> list[dict]:
    """The rows of a picks frame (``columns`` of them, default all) as dicts of plain values, as
    ``picks.to_dict(orient="records")`` gives them (a missing ``run_id`` is None), read a column at
    a time: to_dict reads a text column cell by cell (4x slower on a 6,000-pick chunk)."""
    columns = list(picks.columns if columns is None else columns)
    values = []
    for name in columns:
        col = picks[name]
        cells = col.tolist()
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) and col.hasnans:
            cells = [None if v is pd.NA else v for v in cells]
        values.append(cells)
    return [dict(zip(columns, row)) for row in zip(*values)]


def week_start(week: _dt.date | str) -> _dt.date:
    """The Monday of the (ISO) week containing ``week``.

    Parameters
    ----------
    week : datetime.date or str "YYYY-MM-DD"
        Any day of the week.

    Raises
    ------
    ValueError
        If ``week`` is not a date; the message names the value.
    """
    if isinstance(week, _dt.datetime):
        week = week.date()
    if isinstance(week, str):
        try:
            week = _dt.date.fromisoformat(week.strip())
        except ValueError:
            raise ValueError(f"week must be a date as YYYY-MM-DD, got {week!r}") from None
    if not isinstance(week, _dt.date):
        raise ValueError(f"week must be a date as YYYY-MM-DD, got {week!r}")
    return week - _dt.timedelta(days=week.weekday())


def week_context(week: _dt.date | str) -> Context:
    """The context the newsletter ranks for: that week's Saturday evening, its season.

    No budget, time, setting, weather or kids constraint: the newsletter
    suggests, the couple decides.
    """
    saturday = week_start(week) + _dt.timedelta(days=5)
    return Context(day=saturday).resolved()


def recently_done(dates: pd.DataFrame, day: _dt.date, days: int = RECENT_DATE_DAYS) -> dict[str, set[str]]:
    """Ideas each couple did in the ``days`` days before ``day`` (or after it).

    Parameters
    ----------
    dates : DataFrame
        A dates frame; undated dates never count as recent.
    day : datetime.date
        The reference day (the newsletter's Saturday).
    days : int, default=90

    Returns
    -------
    dict couple id -> set of idea ids (only couples with recent dates).
    """
    if not len(dates):
        return {}
    cutoff = pd.Timestamp(day - _dt.timedelta(days=days))
    recent = (dates["done_on"] > cutoff).to_numpy()
    out: dict[str, set[str]] = {}
    for couple, idea in zip(dates["couple_id"].to_numpy()[recent], dates["idea_id"].to_numpy()[recent]):
        out.setdefault(str(couple), set()).add(str(idea))
    return out


def _seeds(seed: int, couple_ids: Sequence[str], week: _dt.date) -> list[int]:
    """One exploration seed per couple, stable for (seed, couple, week) wherever it runs."""
    return [zlib.crc32(f"{seed}|{c}|{week.isoformat()}".encode()) for c in couple_ids]


@per_catalog
def _labels(catalog) -> dict[str, tuple[str, str]]:
    """idea id -> its (category, pillars) column text as the picks write them (``"a|b"`` for several;
    empty when absent), once per catalog."""
    frame = catalog.frame
    blank = [""] * len(frame)
    category = frame["category"] if "category" in frame else blank
    pillars = frame["pillars"] if "pillars" in frame else blank
    return {str(i): (_multi(c), _multi(p)) for i, c, p in zip(frame.index, category, pillars)}


def _multi(value) -> str:
    if isinstance(value, (tuple, list, set, frozenset)):
        return "|".join(str(v) for v in value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def plan_picks(recommender, dates: pd.DataFrame, couple_ids: Sequence[str], week: _dt.date | str,
               k: int = 3, *, sent_before: Mapping[str, set[str]] | None = None, seed: int = 0,
               run_id: int | None = None, profiles: Profiles | None = None,
               prompt_history: Mapping[str, Sequence[Mapping]] | None = None,
               sent_window: Mapping[str, set[str]] | None = None) -> pd.DataFrame:
    """Pick ``k`` ideas of distinct categories for each couple for one week.

    Excludes ideas the couple did in the last :data:`RECENT_DATE_DAYS` days
    and ideas in ``sent_before`` (their last newsletters), then calls
    ``recommender.batch`` with the week's Saturday evening as context.

    Parameters
    ----------
    recommender : Recommender
    dates : DataFrame
        The dates of (at least) these couples (dates frame); others are ignored.
    couple_ids : sequence of str, length n_couples
    week : date or "YYYY-MM-DD"
        Any day of the week.
    k : int, default=3
        Picks per couple; fewer when the constraints leave fewer ideas.
    sent_before : mapping couple id -> set of idea ids, optional
        Ideas sent in the couple's recent newsletters.
    seed : int, default=0
        Exploration seed; per-couple seeds derive from (seed, couple, week),
        so the picks do not depend on chunking or on where they run.
    run_id : int, optional
        Written into the ``run_id`` column.
    profiles : mapping couple id -> Profile, optional
        The couples' stated profiles (``Store.profiles``).
    prompt_history : mapping couple id -> list of prompt rows, optional
        ``Store.prompt_history`` of these couples: each pick's prompt is
        chosen by :func:`engine.practice.prompts.choose_prompts` for the Saturday.
    sent_window : mapping couple id -> set of idea ids, optional
        Ideas sent in the three weeks before: the week's picks favour the
        pillars those lacked (:func:`engine.practice.pillars.balance_picks`).

    Returns
    -------
    DataFrame
        One row per pick, columns :data:`PICK_COLUMNS` plus ``reasons``
        (list of str) and ``prompt`` (``{"id", "text", "depth", "pillar"}``
        or None), couples in input order, ranks ascending.
    """
    monday = week_start(week)
    context = week_context(monday)
    couple_ids = [str(c) for c in couple_ids]
    exclude = recently_done(dates, context.day)
    for couple, ideas in (sent_before or {}).items():
        if ideas:
            exclude[str(couple)] = exclude.get(str(couple), set()) | set(ideas)
    pillar_of = idea_pillars(recommender.catalog)
    sent = {c: set().union(*(pillar_of.get(i, ()) for i in ideas)) for c, ideas in (sent_window or {}).items()}
    dated = dated_pillars(dates, pillar_of, context.day)
    # k of candidates_for(k) ranked ideas, chosen for the pillars before they are explained: only the
    # picks sent get reasons (a pick chosen for a pillar says so first)
    suggestions = recommender.batch(dates, couple_ids, context, k=candidates_for(k), exclude=exclude,
                                    distinct_categories=True, seeds=_seeds(seed, couple_ids, monday),
                                    profiles=profiles,
                                    keep=lambda ranked: balance_picks(ranked, k, pillar_of, sent, dated))
    labels = _labels(recommender.catalog)
    prompts = week_prompts(recommender.catalog, suggestions, context.day, prompt_history or {})
    version = str(recommender.version)
    rows = []
    for couple in couple_ids:
        for s in suggestions.get(couple, []):
            rows.append((couple, s.rank, s.idea_id, s.title, "; ".join(s.reasons), round(s.score, 6),
                         *labels.get(s.idea_id, ("", "")), version, run_id, list(s.reasons),
                         prompts.get((couple, s.idea_id))))
    out = pd.DataFrame.from_records(rows, columns=[*PICK_COLUMNS, "reasons", "prompt"])
    out["rank"] = out["rank"].astype("int64")
    out["score"] = out["score"].astype(float)
    out["run_id"] = out["run_id"].astype("Int64")
    return out
