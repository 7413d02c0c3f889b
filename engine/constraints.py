"""Hard constraints: which ideas tonight's context allows.

Each rule applies only when the catalog has the attribute it needs, so a
catalog without, say, ``kid_friendly`` is simply not filtered on kids.
"""

from __future__ import annotations

import weakref

import numpy as np

from .catalog import Catalog
from .context import BAD_WEATHER, SEASONS, Context

__all__ = ["allowed_mask", "violations"]


def allowed_mask(catalog: Catalog, context: Context | None) -> np.ndarray:
    """Boolean mask of shape (n_ideas,): True where the idea fits ``context``.

    Rules: ``cost`` <= budget; ``duration_min`` <= minutes; setting ``home``
    allows home ideas only and ``out`` allows out and away ideas; rain, snow
    or storm excludes ``weather_dependent`` ideas; kids along requires
    ``kid_friendly``; the season must be in ``seasons``.
    """
    arrays = _arrays(catalog)
    mask = np.ones(len(catalog), dtype=bool)
    if context is None:
        return mask
    ctx = context.resolved()
    if ctx.budget is not None and "cost" in arrays:
        mask &= arrays["cost"] <= ctx.budget
    if ctx.minutes is not None and "duration_min" in arrays:
        mask &= arrays["duration_min"] <= ctx.minutes
    if ctx.setting is not None and "setting" in arrays:
        mask &= arrays["home"] if ctx.setting == "home" else ~arrays["home"]
    if ctx.weather in BAD_WEATHER and "weather_dependent" in arrays:
        mask &= ~arrays["weather_dependent"]
    if ctx.kids and "kid_friendly" in arrays:
        mask &= arrays["kid_friendly"]
    if ctx.season and ("season", ctx.season) in arrays:
        mask &= arrays[("season", ctx.season)]
    return mask


_CACHE: "weakref.WeakKeyDictionary[Catalog, dict]" = weakref.WeakKeyDictionary()


def _arrays(catalog: Catalog) -> dict:
    """The catalog's constraint columns as numpy arrays, computed once per catalog."""
    cached = _CACHE.get(catalog)
    if cached is not None:
        return cached
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
        for season in SEASONS:
            out[("season", season)] = np.fromiter((season in s for s in frame["seasons"]), dtype=bool,
                                                  count=len(frame))
    _CACHE[catalog] = out
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
    return out
