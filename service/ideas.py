"""``/v1/ideas``: the catalog, paged and filtered, and one idea."""

from __future__ import annotations

import numpy as np
from flask import Blueprint, request

from engine.domain.constraints import allowed_rows, intimacy_index
from engine.domain.profiles import INTIMACY_LEVELS

from .errors import ApiError
from .models import get_catalog

__all__ = ["bp"]

bp = Blueprint("ideas", __name__, url_prefix="/v1/ideas")

_PARAMS = ("category", "setting", "budget", "kids", "intimacy", "limit", "offset")


def _int_param(name: str, lo: int, hi: int | None, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    allowed = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be {allowed}, got {raw!r}", field=name) from None
    if value < lo or (hi is not None and value > hi):
        raise ApiError(400, f"{name} must be {allowed}, got {value}", field=name)
    return value


@bp.get("")
def index():
    """Ideas in catalog order; filters ``category``, ``setting``, ``budget`` (max cost 0-3),
    ``kids`` (true = kid-friendly only), ``intimacy`` (highest level listed: affection, romantic or
    sensual; default every level); paging ``limit`` (1-100, default 20) and ``offset``."""
    unknown = sorted(set(request.args) - set(_PARAMS))
    if unknown:
        raise ApiError(400, f"unknown parameter {unknown[0]!r}; allowed: {', '.join(_PARAMS)}", field=unknown[0])
    catalog = get_catalog()
    frame = catalog.frame
    limit = _int_param("limit", 1, 100, 20)
    offset = _int_param("offset", 0, None, 0)
    budget = _int_param("budget", 0, 3, 3)
    mask = frame["cost"].astype(float) <= budget if "cost" in frame else True
    for name in ("category", "setting"):
        value = request.args.get(name)
        if value is not None and name in frame:
            allowed = sorted(set(frame[name]))
            if value not in allowed:
                raise ApiError(400, f"{name} must be one of {', '.join(allowed)}, got {value!r}", field=name)
            mask = mask & (frame[name] == value)
    kids = request.args.get("kids")
    if kids is not None:
        if kids.lower() not in ("true", "false", "1", "0"):
            raise ApiError(400, f"kids must be true or false, got {kids!r}", field="kids")
        if kids.lower() in ("true", "1") and "kid_friendly" in frame:
            mask = mask & frame["kid_friendly"].astype(bool)
    level = request.args.get("intimacy")
    if level is not None:
        try:  # the same rule as every suggestion (engine.domain.constraints)
            mask = mask & allowed_rows(catalog, intimacy=np.array([intimacy_index(level)]))[0]
        except ValueError:
            raise ApiError(400, f"intimacy must be one of {', '.join(INTIMACY_LEVELS)}, got {level!r}",
                           field="intimacy") from None
    ids = frame.index[mask] if mask is not True else frame.index
    page = [catalog.idea(i) for i in ids[offset:offset + limit]]
    return {"ideas": page, "total": int(len(ids)), "limit": limit, "offset": offset}


@bp.get("/<idea_id>")
def show(idea_id: str):
    """One idea, or 404."""
    catalog = get_catalog()
    if idea_id not in catalog:
        raise ApiError(404, f"no idea with id {idea_id!r}; list them with GET /v1/ideas")
    return catalog.idea(idea_id)
