"""Hard constraints: which ideas tonight's context allows.

Each rule applies only when the catalog has the attribute it needs, so a
catalog without, say, ``kid_friendly`` is simply not filtered on kids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .catalog import Catalog, per_catalog
from .context import BAD_WEATHER, SEASONS, TIMES_OF_DAY, Context
from .profiles import DEFAULT_INTIMACY, INTIMACY_LEVELS, intimacy_level

__all__ = ["BARRIERS", "CONSTRAINT_ATTRIBUTES", "allowed_for_couples", "allowed_mask", "allowed_rows",
           "intimacy_index", "violations", "with_profile"]

#: catalog attributes that are hard constraints and never tastes: the model does not encode them
#: (:class:`engine.learning.encoding.IdeaEncoder`), so an idea's intimacy level decides only whether a
#: couple may be offered it, never how much the model thinks they would enjoy it
CONSTRAINT_ATTRIBUTES = ("intimacy",)

#: words in an idea's ``accessibility`` note that name a barrier: a couple that stated
#: accessibility needs is never offered such an idea
BARRIERS = ("not suited", "not suitable", "stairs", "steps", "steep", "climb", "ladder", "uneven", "cellar")


def allowed_mask(catalog: Catalog, context: Context | None) -> np.ndarray:
    """Boolean mask of shape (n_ideas,): True where the idea fits ``context``.

    Rules: ``cost`` <= budget; ``duration_min`` <= minutes; setting ``home``
    allows home ideas only and ``out`` allows out and away ideas; rain, snow
    or storm excludes ``weather_dependent`` ideas; kids along requires
    ``kid_friendly``; the season must be in ``seasons``; the idea's
    ``time_of_day`` must name one of the context's times (an idea with no
    time of day fits any).
    """
    if context is None:
        return np.ones(len(catalog), dtype=bool)
    ctx = context.resolved()
    times = None
    if ctx.time_of_day is not None:
        times = np.array([[t in ctx.time_of_day for t in TIMES_OF_DAY]])
    return allowed_rows(
        catalog,
        budget=None if ctx.budget is None else np.array([ctx.budget]),
        minutes=None if ctx.minutes is None else np.array([ctx.minutes]),
        home=None if ctx.setting is None else np.array([ctx.setting == "home"]),
        bad_weather=np.array([ctx.weather in BAD_WEATHER]),
        kids=np.array([bool(ctx.kids)]),
        season=None if not ctx.season else np.array([SEASONS.index(ctx.season)]),
        times=times,
        accessible=np.array([ctx.accessible]),
        intimacy=np.array([intimacy_index(ctx.intimacy)]),
    )[0]


def intimacy_index(level: str | None) -> int:
    """Position of an intimacy level in :data:`engine.domain.profiles.INTIMACY_LEVELS` (None: the default).

    Raises ``ValueError`` (listing the levels) for anything else.
    """
    return INTIMACY_LEVELS.index(intimacy_level(level))


def allowed_for_couples(catalog: Catalog, context: Context | None, profiles: Sequence) -> np.ndarray:
    """:func:`allowed_mask` for several couples: the one place a couple's intimacy level is enforced.

    Each row is the context's rules (none when ``context`` is None), with the
    intimacy level the context names (:func:`with_profile` sets tonight's from
    the couple's profile) or, when it names none, that couple's own stated
    level (``profile.intimacy``; a missing profile: ``affection``). So no
    path that ranks for a couple (tonight, ``suggest``, the newsletter, the
    research harness) can return an idea above the couple's level.

    Parameters
    ----------
    catalog : Catalog
    context : Context or None
    profiles : sequence of Profile or None, length n_couples

    Returns
    -------
    ndarray of shape (n_couples, n_ideas), bool
    """
    n = len(profiles)
    if context is None:
        base = np.ones(len(catalog), dtype=bool)
    else:
        base = allowed_mask(catalog, replace(context, intimacy=INTIMACY_LEVELS[-1]))
    if context is not None and context.intimacy is not None:
        levels = np.full(n, intimacy_index(context.intimacy))
    else:
        levels = np.array([intimacy_index(getattr(p, "intimacy", None)) for p in profiles], dtype=int)
    return base[None, :] & allowed_rows(catalog, intimacy=levels).reshape(n, len(catalog))


def with_profile(context: Context, profile) -> Context:
    """``context`` with the hard constraints a couple's stated profile adds.

    A couple whose profile says it has kids gets kid-friendly ideas unless the
    request said ``kids`` (true or false); a couple that stated accessibility
    needs gets no idea whose accessibility note names a barrier
    (:data:`BARRIERS`); the context's ``intimacy`` becomes the couple's level
    (``affection`` unless the couple opted into more). ``profile`` is an
    :class:`engine.domain.profiles.Profile` (or None: the default level).
    """
    if profile is None:
        return context if context.intimacy is not None else replace(context, intimacy=DEFAULT_INTIMACY)
    changes = {}
    if context.intimacy is None:
        changes["intimacy"] = getattr(profile, "intimacy", None) or DEFAULT_INTIMACY
    if context.kids is None and getattr(profile, "kids", None):
        changes["kids"] = True
    if getattr(profile, "accessibility_needs", None) and not context.accessible:
        changes["accessible"] = True
    return replace(context, **changes) if changes else context


def allowed_rows(catalog: Catalog, *, budget: np.ndarray | None = None, minutes: np.ndarray | None = None,
                 home: np.ndarray | None = None, bad_weather: np.ndarray | None = None,
                 kids: np.ndarray | None = None, season: np.ndarray | None = None,
                 times: np.ndarray | None = None, accessible: np.ndarray | None = None,
                 intimacy: np.ndarray | None = None) -> np.ndarray:
    """The rules of :func:`allowed_mask` for many contexts at once, one row each.

    Every argument is an array with one entry per context (length n), or
    None for "no such constraint" in any of them: ``budget`` (highest cost
    tier; NaN = any), ``minutes`` (NaN = any), ``home`` (float: 1 home only,
    0 out only, NaN either), ``bad_weather`` (bool), ``kids`` (bool, along),
    ``season`` (index into :data:`SEASONS`; -1 = any) and ``times`` (n, 4)
    bool over :data:`TIMES_OF_DAY` (a row of all True = any), ``accessible``
    (bool: no idea whose accessibility note names a barrier), ``intimacy``
    (int: the highest level allowed, an index into
    :data:`engine.domain.profiles.INTIMACY_LEVELS`; a catalog without an
    ``intimacy`` column is all ``affection``, so is never filtered).

    Returns
    -------
    ndarray of shape (n, n_ideas), bool
    """
    arrays = _arrays(catalog)
    given = [a for a in (budget, minutes, home, bad_weather, kids, season, times, accessible, intimacy)
             if a is not None]
    n = len(given[0]) if given else 1
    mask = np.ones((n, len(catalog)), dtype=bool)
    if budget is not None and "cost" in arrays:
        b = np.asarray(budget, dtype=float)[:, None]
        mask &= np.isnan(b) | (arrays["cost"][None, :] <= b)
    if minutes is not None and "duration_min" in arrays:
        m = np.asarray(minutes, dtype=float)[:, None]
        mask &= np.isnan(m) | (arrays["duration_min"][None, :] <= m)
    if home is not None and "setting" in arrays:
        h = np.asarray(home, dtype=float)[:, None]
        mask &= np.isnan(h) | ((h == 1) == arrays["home"][None, :])
    if bad_weather is not None and "weather_dependent" in arrays:
        mask &= ~(np.asarray(bad_weather, dtype=bool)[:, None] & arrays["weather_dependent"][None, :])
    if kids is not None and "kid_friendly" in arrays:
        mask &= ~np.asarray(kids, dtype=bool)[:, None] | arrays["kid_friendly"][None, :]
    if season is not None and "seasons" in arrays:
        s = np.asarray(season, dtype=int)
        mask &= (s[:, None] < 0) | arrays["seasons"][:, np.maximum(s, 0)].T
    if times is not None and "time_of_day" in arrays:
        mask &= (np.asarray(times, dtype=bool).astype(np.int8) @ arrays["time_of_day"].T.astype(np.int8)) > 0
    if accessible is not None and "barrier" in arrays:
        mask &= ~(np.asarray(accessible, dtype=bool)[:, None] & arrays["barrier"][None, :])
    if intimacy is not None and "intimacy" in arrays:
        mask &= arrays["intimacy"][None, :] <= np.asarray(intimacy, dtype=int)[:, None]
    return mask


@per_catalog
def _arrays(catalog: Catalog) -> dict:
    """The catalog's constraint columns as numpy arrays, computed once per catalog."""
    frame = catalog.frame
    out: dict = {}
    if "cost" in frame:
        out["cost"] = frame["cost"].astype(float).to_numpy()
    if "duration_min" in frame:
        out["duration_min"] = frame["duration_min"].astype(float).to_numpy()
    if "setting" in frame:
        out["setting"] = True
        out["home"] = frame["setting"].to_numpy() == "home"
    for col in ("weather_dependent", "kid_friendly"):
        if col in frame:
            out[col] = frame[col].astype(bool).to_numpy()
    if "seasons" in frame:
        out["seasons"] = np.array([[season in s for season in SEASONS] for s in frame["seasons"]],
                                  dtype=bool).reshape(len(frame), len(SEASONS))
    if "accessibility" in frame:
        notes = frame["accessibility"].fillna("").astype(str).str.lower()
        out["barrier"] = np.array([any(word in note for word in BARRIERS) for note in notes], dtype=bool)
    if "intimacy" in frame:  # an empty cell is the default level
        out["intimacy"] = np.array([INTIMACY_LEVELS.index(intimacy_level(v)) for v in frame["intimacy"]], dtype=int)
    if "time_of_day" in frame:
        # an idea without a time of day works at any time
        out["time_of_day"] = np.array([[t in s for t in TIMES_OF_DAY] if len(s) else [True] * len(TIMES_OF_DAY)
                                       for s in frame["time_of_day"]],
                                      dtype=bool).reshape(len(frame), len(TIMES_OF_DAY))
    return out


def violations(idea: dict, context: Context) -> list[str]:
    """Names of the constraints ``idea`` (a catalog row as a dict) breaks; for tests and checks."""
    ctx = context.resolved()
    out = []
    if ctx.budget is not None and "cost" in idea and float(idea["cost"]) > ctx.budget:
        out.append("budget")
    if ctx.minutes is not None and "duration_min" in idea and float(idea["duration_min"]) > ctx.minutes:
        out.append("minutes")
    if ctx.setting is not None and "setting" in idea:
        if (ctx.setting == "home") != (idea["setting"] == "home"):
            out.append("setting")
    if ctx.weather in BAD_WEATHER and idea.get("weather_dependent"):
        out.append("weather")
    if ctx.kids and "kid_friendly" in idea and not idea["kid_friendly"]:
        out.append("kids")
    if ctx.season and "seasons" in idea and ctx.season not in idea["seasons"]:
        out.append("season")
    if ctx.accessible and any(word in str(idea.get("accessibility") or "").lower() for word in BARRIERS):
        out.append("accessibility")
    if ctx.time_of_day is not None and idea.get("time_of_day") and \
            not set(ctx.time_of_day).intersection(idea["time_of_day"]):
        out.append("time_of_day")
    if "intimacy" in idea and intimacy_index(idea["intimacy"]) > intimacy_index(ctx.intimacy):
        out.append("intimacy")
    return out
