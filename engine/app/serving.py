"""Serving tonight's suggestion and recording a date: one path for the HTTP service and the CLI.

The service's ``GET /v1/couples/{id}/tonight`` and ``dateideas suggest`` both
call :func:`serve_tonight`; ``POST /v1/couples/{id}/dates`` and ``dateideas
rate`` both validate with :func:`check_date_input`. Neither knows about HTTP.

Repeats
-------
* The same request (couple, context, ``k``) twice in a day gives the same
  ideas: the exploration seed is stable per couple and day, and only
  suggestions served *before today* are penalised, so today's own serving
  does not move the ranking.
* ``another=True`` moves on: each request is logged with the request key
  ``<hash of couple+context+k>:<n>`` where ``n`` counts the ``another``
  requests made today for that hash (``Store.count_another``: a row per
  couple, day and request, so the count is one primary-key seek however many
  there were); ``n`` is the offset into the ranked list (wrapping round when
  the ideas that fit run out). A couple may make at most ``another_limit``
  ``another`` requests a day (:class:`AnotherLimitError` beyond; the service's
  ``ANOTHER_PER_DAY``, default :data:`ANOTHER_PER_DAY`).
* Suggestions served in the last :data:`RECENT_DAYS` days (before today) are
  penalised with a weight falling linearly from 1 (yesterday) to 0.
* Ideas the couple marked "not for us" (``Store.mark_idea``) are never
  suggested: they are the ranking's ``exclude``.

Cost
----
A request reads once (``Store.tonight_reads``: the couple's dates as rows,
from the store's history cache while the couple has no new date, the ideas
served before today, the request's ``another`` count today and the list
logged last under it), ranks, and writes the served rows in one multi-row insert —
unless the same request already served that very list today (same ideas,
ranks and model), which the log then already says. When the couple's rows,
the context and the weights equal those of a request this model already
ranked, the ranked list comes from the recommender's cache (see
:mod:`engine.app.recommender`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.constraints import with_profile
from ..domain.context import WEEKDAYS as _WEEKDAYS
from ..domain.context import Context, season_of
from ..domain.dates import DayError, check_day
from ..practice.pillars import TONIGHT_EXTRA, balance_tonight
from ..practice.prompts import attach_prompts
from .ports import StorePort
from .recommender import Recommender, Suggestion

__all__ = [
    "ANOTHER_PER_DAY",
    "NOTE_MAX",
    "RECENT_DAYS",
    "AnotherLimitError",
    "DateInputError",
    "Tonight",
    "check_date_input",
    "recent_weights",
    "request_key",
    "seconds_until_tomorrow",
    "serve_tonight",
]

#: suggestions served this many days back (before today) are penalised
RECENT_DAYS = 14
#: longest note accepted with a date, in characters
NOTE_MAX = 2000
#: ``another`` requests a couple may make per day by default (the service's ``ANOTHER_PER_DAY``): a couple
#: browsing tonight's ideas three at a time reaches the end of a 200-idea catalog in ~70
ANOTHER_PER_DAY = 100


class DateInputError(ValueError):
    """A field of a date to record is not allowed; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class AnotherLimitError(Exception):
    """The couple already made today's allowed number of ``another`` requests; ``limit`` says how many."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(
            f"another is limited to {limit} requests per couple per day and this couple has used them all "
            "today; tonight's ideas without another=true still work, and another works again tomorrow")


def _list_depth(n: int, window: int, n_ideas: int) -> int:
    """How long a list tonight ranks to show ``window`` ideas from place ``n`` (the ``another`` count).

    ``window`` for a first request; once moved on, the next power of two that holds places up to
    ``n + window`` (8, 16, 32, ...; the whole catalog when it is smaller), so the n-th ``another`` costs about
    what the first does and a list is ranked afresh only log2(n) times a day. Ranking the whole
    catalog for the first ``another`` (until 2026-12-07) was quadratic in the catalog: 1.25 s of CPU
    at 5,000 ideas. A list shorter than its depth holds every idea that fits: ``n`` wraps round it.
    """
    if n <= 0:
        return window
    return min(n_ideas, max(window, 1 << (n + window - 1).bit_length()))


def seconds_until_tomorrow(now: _dt.datetime | None = None) -> int:
    """Whole seconds from ``now`` (default: local time now) to the next local midnight, at least 1:
    when the serving day (``date.today()``) changes and the ``another`` counts start again."""
    now = now or _dt.datetime.now()
    midnight = _dt.datetime.combine(now.date() + _dt.timedelta(days=1), _dt.time())
    return max(1, int((midnight - now).total_seconds() + 0.999))


@dataclass
class Tonight:
    """What :func:`serve_tonight` served.

    Attributes
    ----------
    suggestions : list of Suggestion
        Best first; empty when no idea fits tonight's constraints.
    context : Context
        The resolved context (day and season filled in).
    model_version : str
    request_key : str
        ``<hash>:<n>`` as logged with every served row.
    offset : int
        Position in the ranked list the suggestions start at.
    cached : bool
        The ranked list came from the recommender's cache (same history,
        context and weights as an earlier request on this model).
    """

    suggestions: list[Suggestion]
    context: Context
    model_version: str
    request_key: str
    offset: int = 0
    cached: bool = False

    @property
    def cold_start(self) -> bool:
        """True when the couple has no usable history (priors only)."""
        return any(s.cold_start for s in self.suggestions)

    def to_dict(self) -> dict[str, Any]:
        """``{"suggestion", "alternatives", "context", "model_version", "cold_start"}``."""
        picks = [s.to_dict() for s in self.suggestions]
        return {
            "suggestion": picks[0] if picks else None,
            "alternatives": picks[1:],
            "context": self.context.to_dict(),
            "model_version": self.model_version,
            "cold_start": self.cold_start,
        }


def request_key(couple_id: str, context: Context, k: int) -> str:
    """Stable hash of a tonight request (couple, resolved context, ``k``); 32 hex characters."""
    payload = json.dumps({"couple": couple_id, "context": context.resolved().to_dict(), "k": int(k)},
                         sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def recent_weights(rows: list[dict[str, Any]], today: _dt.date, days: int = RECENT_DAYS) -> dict[str, float]:
    """Penalty weight per idea from suggestions served before ``today``.

    Parameters
    ----------
    rows : list of dict
        As returned by ``Store.recent_suggestions`` (``idea_id``, ``served_on``).
    today : date
    days : int, default RECENT_DAYS
        Served ``d`` days ago weighs ``1 - (d - 1) / days``; today's rows and
        rows older than ``days`` are ignored.

    Returns
    -------
    dict idea id -> weight in (0, 1]
    """
    out: dict[str, float] = {}
    for row in rows:
        served = _dt.date.fromisoformat(row["served_on"])
        age = (today - served).days
        if 1 <= age <= days:
            weight = 1.0 - (age - 1) / days
            out[row["idea_id"]] = max(out.get(row["idea_id"], 0.0), weight)
    return out


def serve_tonight(store: StorePort, recommender: Recommender, couple_id: str, context: Context, k: int = 3, *,
                  another: bool = False, today: _dt.date | None = None, log: bool = True,
                  another_limit: int | None = None) -> Tonight:
    """Rank tonight's ideas for a couple from their stored history, and log what was served.

    Parameters
    ----------
    store : engine.store.Store
    recommender : Recommender
        The model to rank with (the caller keeps this reference for the
        whole request, so a hot swap does not change it mid-request).
    couple_id : str
    context : Context
        From :func:`engine.domain.context.parse_context`.
    k : int, default=3
        The suggestion plus ``k - 1`` alternatives.
    another : bool, default=False
        Move on to the next ideas for the same request today.
    today : date, optional
        The serving day (default: today); repeats are counted within it.
    log : bool, default=True
        Record what was served, with any new prompts, in one write
        transaction (``store.record_served``): once per request key and day
        for the same list, so the same request repeated in a day, answered
        with the list already logged for it today, writes nothing (the log
        says what each request served, not how often; see docs/service.md).
    another_limit : int, optional
        ``another`` requests the couple may make per day (counted in the
        database, across workers); None = no limit (the CLI).

    Returns
    -------
    Tonight

    Raises
    ------
    AnotherLimitError
        ``another`` beyond ``another_limit`` today (nothing is served or counted).
    """
    today = today or _dt.date.today()
    ctx = context.resolved()
    key = request_key(couple_id, ctx, k)
    moved = store.count_another(couple_id, today, key, another_limit) if another else None
    if another and moved is None:
        raise AnotherLimitError(another_limit)
    reads = store.tonight_reads(couple_id, today, today - _dt.timedelta(days=RECENT_DAYS), key)
    history, before = reads.history, reads.served_before
    ctx = with_profile(ctx, getattr(history, "profile", None))  # kids, accessibility needs: hard constraints
    n = moved if another else reads.another_today
    weights = recent_weights([{"idea_id": idea, "served_on": day} for idea, day in before], today)
    # the same rows, context and weights as a request already ranked by this model: its list, from the cache.
    # Once moved on (n > 0) a deeper list is ranked and cached: every later `another` (and the plain request
    # after it) slices it until its depth runs out (the greedy ranking is prefix-stable: its first k + n
    # ideas are the top-(k + n) list)
    window = k + TONIGHT_EXTRA  # a few more than k: pillars the last month lacked are favoured among them
    depth = _list_depth(n, window, len(recommender.catalog))
    # offset = n, wrapping round when the ideas that fit run out; only the window is copied out
    # the ideas the couple marked "not for us" are never suggested (Store.tonight_reads reads them)
    ranked, offset, cached = recommender.tonight_window(couple_id, history, ctx, depth, n, window,
                                                        exclude=reads.not_for_us,
                                                        recently_suggested=weights)
    picks = balance_tonight(ranked, k, recommender.catalog, history, today)
    for i, s in enumerate(picks):  # our own copies: numbered in place
        s.rank = i + 1
    served_key = f"{key}:{n}"
    # the same request again today, answered with the same list: the log already holds it
    repeat = not another and reads.latest_served == [
        (s.idea_id, s.rank, recommender.version) for s in picks]
    rows = []
    if log and picks and not repeat:
        logged_ctx = dict(ctx.to_dict(), k=int(k), offset=offset)
        rows = [{
            "couple_id": couple_id, "idea_id": s.idea_id, "rank": s.rank, "score": s.score,
            "model_version": recommender.version, "context": logged_ctx,
            "request_key": served_key, "served_on": today,
        } for s in picks]
    # something to talk about; its new prompts and the log rows are one write transaction (or none)
    attach_prompts(store, couple_id, picks, today, recommender.catalog, record=log, log_rows=rows)
    return Tonight(picks, ctx, recommender.version, served_key, offset, cached)


def _rating(field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DateInputError(field, f"{field} must be an integer from 1 to 5 or null, got {value!r}")
    if not 1 <= value <= 5:
        raise DateInputError(field, f"{field} must be an integer from 1 to 5, got {value}")
    return float(value)


def check_date_input(catalog, idea_id: Any, ratings: Any, done_on: Any = None, note: Any = None, *,
                     today: _dt.date | None = None) -> dict[str, Any]:
    """Validate a completed date before it is stored.

    Parameters
    ----------
    catalog : Catalog
        ``idea_id`` must be one of its ideas.
    idea_id : str
    ratings : mapping
        ``{"a": int 1-5 or None, "b": int 1-5 or None}``, at least one rating;
        no other keys.
    done_on : "YYYY-MM-DD" or date, optional
        From 1900-01-01 to tomorrow (:func:`engine.domain.dates.check_day`);
        default ``today``.
    note : str, optional
        At most :data:`NOTE_MAX` characters.
    today : date, optional
        Default: today (local time).

    Returns
    -------
    dict
        ``idea_id``, ``done_on`` (date), ``rating_a``, ``rating_b`` (float or
        None), ``note`` (str), ``context`` (``{"weekday", "season"}`` of the day).

    Raises
    ------
    DateInputError
        Naming the field and what is allowed.
    """
    today = today or _dt.date.today()
    if not isinstance(idea_id, str) or not idea_id.strip():
        raise DateInputError("idea_id", f"idea_id must be the id of an idea in the catalog, got {idea_id!r}")
    if idea_id not in catalog:
        raise DateInputError("idea_id", f"idea_id {idea_id!r} is not an idea in the catalog")
    if not isinstance(ratings, Mapping):
        raise DateInputError("ratings", f"ratings must be an object like {{\"a\": 4, \"b\": 5}}, got {ratings!r}")
    unknown = sorted(set(ratings) - {"a", "b"})
    if unknown:
        raise DateInputError(f"ratings.{unknown[0]}",
                             f"ratings may only have the partners a and b, got {unknown[0]!r}")
    rating_a = _rating("ratings.a", ratings.get("a"))
    rating_b = _rating("ratings.b", ratings.get("b"))
    if rating_a is None and rating_b is None:
        raise DateInputError("ratings", "at least one rating (a or b, an integer from 1 to 5) is required")
    if done_on is None:
        day = today
    else:
        try:  # the one rule for a date's day (engine.domain.dates.check_day): 1900-01-01 to tomorrow
            day = check_day(done_on, latest=today + _dt.timedelta(days=1))
        except DayError as exc:
            raise DateInputError("done_on", str(exc)) from None
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise DateInputError("note", f"note must be a string of at most {NOTE_MAX} characters, got {note!r}")
    if len(note) > NOTE_MAX:
        raise DateInputError("note", f"note must be at most {NOTE_MAX} characters, got {len(note)}")
    return {"idea_id": idea_id, "done_on": day, "rating_a": rating_a, "rating_b": rating_b, "note": note,
            "context": {"weekday": _WEEKDAYS[day.weekday()], "season": season_of(day)}}
