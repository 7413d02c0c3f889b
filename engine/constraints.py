"""Hard constraints: which ideas tonight's context allows.

Each rule applies only when the catalog has the attribute it needs, so a
catalog without, say, ``kid_friendly`` is simply not filtered on kids.
"""

from __future__ import annotations

import numpy as np

from .catalog import Catalog
from .context import BAD_WEATHER, Context

__all__ = ["allowed_mask", "violations"]


def allowed_mask(catalog: Catalog, context: Context | None) -> np.ndarray:
    """Boolean mask of shape (n_ideas,): True where the idea fits ``context``.

    Rules: ``cost`` <= budget; ``duration_min`` <= minutes; setting ``home``
    allows home ideas only and ``out`` allows out and away ideas; rain, snow
    or storm excludes ``weather_dependent`` ideas; kids along requires
    ``kid_friendly``; the season must be in ``seasons``.
    """
    frame = catalog.frame
    mask = np.ones(len(frame), dtype=bool)
    if context is None:
        return mask
    ctx = context.resolved()
    if ctx.budget is not None and "cost" in frame:
        mask &= frame["cost"].astype(float).to_numpy() <= ctx.budget
    if ctx.minutes is not None and "duration_min" in frame:
        mask &= frame["duration_min"].astype(float).to_numpy() <= ctx.minutes
    if ctx.setting is not None and "setting" in frame:
        setting = frame["setting"].to_numpy()
        mask &= (setting == "home") if ctx.setting == "home" else (setting != "home")
    if ctx.weather in BAD_WEATHER and "weather_dependent" in frame:
        mask &= ~frame["weather_dependent"].astype(bool).to_numpy()
    if ctx.kids and "kid_friendly" in frame:
        mask &= frame["kid_friendly"].astype(bool).to_numpy()
    if ctx.season and "seasons" in frame:
        mask &= np.fromiter((ctx.season in s for s in frame["seasons"]), dtype=bool, count=len(frame))
    return mask


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
