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
  requests made today for that key; ``n`` is the offset into the ranked list
  (wrapping round when the ideas that fit run out).
* Suggestions served in the last :data:`RECENT_DAYS` days (before today) are
  penalised with a weight falling linearly from 1 (yesterday) to 0.

Cost
----
A request reads once (``Store.tonight_reads``: the couple's dates as rows,
from the store's history cache while the couple has no new date, the ideas
served before today, today's request keys and the list logged last under the
newest of them), ranks, and writes the served rows in one multi-row insert —
unless the same request already served that very list today (same ideas,
ranks and model), which the log then already says. When the couple's rows,
the context and the weights equal those of a request this model already
ranked, the ranked list comes from the recommender's cache (see
:mod:`engine.recommender`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .context import Context, season_of
from .pillars import TONIGHT_EXTRA, balance_tonight
from .prompts import attach_prompts
from .recommender import Recommender, Suggestion

__all__ = [
    "NOTE_MAX",
    "RECENT_DAYS",
    "DateInputError",
    "Tonight",
    "check_date_input",
    "recent_weights",
    "request_key",
    "serve_tonight",
]

#: suggestions served this many days back (before today) are penalised
RECENT_DAYS = 14
#: longest note accepted with a date, in characters
NOTE_MAX = 2000
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DateInputError(ValueError):
    """A field of a date to record is not allowed; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


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


def serve_tonight(store, recommender: Recommender, couple_id: str, context: Context, k: int = 3, *,
                  another: bool = False, today: _dt.date | None = None, log: bool = True) -> Tonight:
    """Rank tonight's ideas for a couple from their stored history, and log what was served.

    Parameters
    ----------
    store : engine.store.Store
    recommender : Recommender
        The model to rank with (the caller keeps this reference for the
        whole request, so a hot swap does not change it mid-request).
    couple_id : str
    context : Context
        From :func:`engine.context.parse_context`.
    k : int, default=3
        The suggestion plus ``k - 1`` alternatives.
    another : bool, default=False
        Move on to the next ideas for the same request today.
    today : date, optional
        The serving day (default: today); repeats are counted within it.
    log : bool, default=True
        Record what was served with ``store.log_suggestions``: once per
        request key and day for the same list, so the same request repeated
        in a day, answered with the list already logged for it today, writes
        nothing (the log says what each request served, not how often; see
        docs/service.md).

    Returns
    -------
    Tonight
    """
    today = today or _dt.date.today()
    ctx = context.resolved()
    key = request_key(couple_id, ctx, k)
    prefix = key + ":"
    reads = store.tonight_reads(couple_id, today, today - _dt.timedelta(days=RECENT_DAYS), prefix)
    history, before, keys = reads.history, reads.served_before, reads.keys_today
    used = [int(rkey[len(prefix):]) for rkey in keys]
    n = (max(used) + int(another)) if used else 0
    weights = recent_weights([{"idea_id": idea, "served_on": day} for idea, day in before], today)
    # the same rows, context and weights as a request already ranked by this model: its list, from the cache
    ranked, cached = recommender.tonight_cached(couple_id, history, ctx, k=k + n + TONIGHT_EXTRA,
                                                recently_suggested=weights)
    offset = n % len(ranked) if ranked else 0  # ran out of ideas that fit: wrap round
    # the recommender's own copies, numbered in place; pillars the last month lacked are favoured
    picks = balance_tonight(ranked[offset:offset + k + TONIGHT_EXTRA], k, recommender.catalog, history, today)
    for i, s in enumerate(picks):
        s.rank = i + 1
    attach_prompts(store, couple_id, picks, today, recommender.catalog, record=log)  # something to talk about
    served_key = f"{key}:{n}"
    # the same request again today, answered with the same list: the log already holds it
    repeat = bool(used) and not another and reads.latest_served == [
        (s.idea_id, s.rank, recommender.version) for s in picks]
    if log and picks and not repeat:
        logged_ctx = dict(ctx.to_dict(), k=int(k), offset=offset)
        store.log_suggestions([{
            "couple_id": couple_id, "idea_id": s.idea_id, "rank": s.rank, "score": s.score,
            "model_version": recommender.version, "context": logged_ctx,
            "request_key": served_key, "served_on": today,
        } for s in picks])
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
        Not in the future; default ``today``.
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
    elif isinstance(done_on, _dt.date) and not isinstance(done_on, _dt.datetime):
        day = done_on
    elif isinstance(done_on, str) and _DAY_RE.match(done_on):
        try:
            day = _dt.date.fromisoformat(done_on)
        except ValueError:
            raise DateInputError("done_on", f"done_on must be a real date as YYYY-MM-DD, got {done_on!r}") from None
    else:
        raise DateInputError("done_on", f"done_on must be a date as YYYY-MM-DD, got {done_on!r}")
    if day > today:
        raise DateInputError("done_on", f"done_on must not be in the future (today is {today}), got {day}")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise DateInputError("note", f"note must be a string of at most {NOTE_MAX} characters, got {note!r}")
    if len(note) > NOTE_MAX:
        raise DateInputError("note", f"note must be at most {NOTE_MAX} characters, got {len(note)}")
    return {"idea_id": idea_id, "done_on": day, "rating_a": rating_a, "rating_b": rating_b, "note": note,
            "context": {"weekday": _WEEKDAYS[day.weekday()], "season": season_of(day)}}
