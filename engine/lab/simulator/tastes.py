"""The catalog as the simulator sees it (encoded ideas) and the couples' latent state.

:func:`_encode` turns a catalog into the arrays of :class:`_Ideas` (the
"Ideas" paragraph of :mod:`engine.lab.simulator`); :class:`_Couples` holds
every couple's tastes, partner offsets, novelty response and history counts.
Both are internal to the simulator package.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...domain.catalog import Catalog
from ...domain.constraints import allowed_rows, intimacy_index
from ...domain.context import SEASONS
from .parameters import CATEGORY_SD, OTHER_SD, TASTE_ATTRIBUTES

__all__: list[str] = []


@dataclass
class _Ideas:
    """The catalog as arrays the simulator works with."""

    X: np.ndarray            # (n_ideas, n_features) float32
    scales: np.ndarray       # (n_features,) taste sd
    feature_names: list[str]
    categories: list[str]
    cat_idx: np.ndarray      # (n_ideas,) int
    novelty: np.ndarray      # (n_ideas,) float32, n_i
    cost: np.ndarray         # (n_ideas,) int (0 when the catalog has no cost)
    kid_ok: np.ndarray       # (n_ideas,) bool
    weather_dep: np.ndarray  # (n_ideas,) bool
    season_ok: np.ndarray    # (n_ideas, 4) bool, SEASONS order
    level_ok: np.ndarray     # (n_ideas,) bool: at the default intimacy level, the only one simulated couples have


def _levels(spec, column: pd.Series) -> list[str]:
    if spec.kind == "multi":
        if spec.values:
            return list(spec.values)
        counts = Counter(v for vals in column for v in vals)
        return [v for v, _ in counts.most_common(30)]
    if spec.values:
        return list(spec.values)
    return sorted({str(v) for v in column if pd.notna(v) and v != ""})  # an empty cell is no level


def _scaled_levels(order: list[str], column: pd.Series) -> np.ndarray:
    """Each value's position in ``order`` scaled to [0, 1]; an empty cell (an optional attribute) is
    the middle, as the engine's encoder has it."""
    top = max(len(order) - 1, 1)
    return np.array([order.index(str(v)) / top if str(v) in order else 0.5 for v in column])


def _encode(catalog: Catalog) -> _Ideas:
    frame, schema = catalog.frame, catalog.schema
    n = len(frame)
    if n == 0:
        raise ValueError("the catalog has no ideas; the simulator needs at least one")
    present = [a for a in TASTE_ATTRIBUTES if a in schema]
    if len(present) >= 2:
        names = present
    else:
        names = [a for a in schema.names() if schema[a].kind != "text"]
    blocks: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    feature_names: list[str] = []

    if "category" in schema and schema["category"].kind == "categorical":
        cat_attr = "category"
    else:
        cat_attr = next((a for a in schema.names("categorical")
                         if 2 <= len(_levels(schema[a], frame[a])) <= 50), None)

    for name in names:
        spec, col = schema[name], frame[name]
        sd = CATEGORY_SD if name == cat_attr else OTHER_SD
        if spec.kind in ("categorical", "multi"):
            levels = _levels(spec, col)
            if not levels:
                continue
            pos = {v: j for j, v in enumerate(levels)}
            block = np.zeros((n, len(levels)), dtype=np.float32)
            for i, value in enumerate(col):
                values = value if spec.kind == "multi" else (value,)
                for v in values:
                    j = pos.get(str(v))
                    if j is not None:
                        block[i, j] = 1.0
            feature_names += [f"{name}={v}" for v in levels]
        elif spec.kind == "ordinal":
            order = list(spec.order)
            # an empty cell (an optional attribute) is the middle level, as the engine's encoder has it
            block = _scaled_levels(order, col).astype(np.float32).reshape(-1, 1)
            feature_names.append(name)
        elif spec.kind == "boolean":
            block = col.astype(float).fillna(0.5).to_numpy(dtype=np.float32).reshape(-1, 1)
            feature_names.append(name)
        elif spec.kind == "numeric":
            vals = col.astype(float).to_numpy()
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            vals = np.where(np.isnan(vals), np.nanmedian(vals), vals)  # an empty cell: the median
            block = ((vals - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32).reshape(-1, 1)
            feature_names.append(name)
        else:
            continue
        blocks.append(block)
        scales.append(np.full(block.shape[1], sd, dtype=np.float32))
    X = np.hstack(blocks) if blocks else np.zeros((n, 0), dtype=np.float32)
    scale = np.concatenate(scales) if scales else np.zeros(0, dtype=np.float32)

    if cat_attr is not None:
        categories = _levels(schema[cat_attr], frame[cat_attr])
        pos = {v: j for j, v in enumerate(categories)}
        if any(str(v) not in pos for v in frame[cat_attr]):  # empty cells (optional): one kind "?"
            categories = [*categories, "?"]
        cat_idx = np.array([pos.get(str(v), len(pos)) for v in frame[cat_attr]], dtype=np.int64)
    else:
        categories, cat_idx = ["all"], np.zeros(n, dtype=np.int64)

    parts = []
    if "novelty" in schema and schema["novelty"].kind == "ordinal":
        order = list(schema["novelty"].order)
        parts.append(0.5 * _scaled_levels(order, frame["novelty"]))
    if "interactivity" in schema:
        parts.append(0.25 * (frame["interactivity"].astype(str) == "interactive").to_numpy(dtype=float))
    if "energy" in schema and schema["energy"].kind == "ordinal":
        order = list(schema["energy"].order)
        parts.append(0.25 * _scaled_levels(order, frame["energy"]))
    novelty = (np.sum(parts, axis=0) if parts else np.full(n, 0.5)).astype(np.float32)

    if "cost" in schema and schema["cost"].kind in ("ordinal", "numeric"):
        if schema["cost"].kind == "ordinal":
            cost = np.array([schema["cost"].order.index(str(v)) for v in frame["cost"]], dtype=np.int64)
        else:
            cost = frame["cost"].astype(float).round().to_numpy(dtype=np.int64)
    else:
        cost = np.zeros(n, dtype=np.int64)
    kid_ok = (frame["kid_friendly"].astype(bool).to_numpy() if "kid_friendly" in schema
              and schema["kid_friendly"].kind == "boolean" else np.ones(n, dtype=bool))
    weather_dep = (frame["weather_dependent"].astype(bool).to_numpy() if "weather_dependent" in schema
                   and schema["weather_dependent"].kind == "boolean" else np.zeros(n, dtype=bool))
    season_ok = np.ones((n, len(SEASONS)), dtype=bool)
    if "seasons" in schema and schema["seasons"].kind == "multi":
        for i, vals in enumerate(frame["seasons"]):
            if vals:
                season_ok[i] = [s in vals for s in SEASONS]
    # simulated couples keep the default intimacy level (affection), as their profiles say: they never
    # do an idea above it, as the engine never suggests one to them
    level_ok = allowed_rows(catalog, intimacy=np.array([intimacy_index(None)]))[0]
    return _Ideas(X=X, scales=scale, feature_names=feature_names, categories=categories,
                  cat_idx=cat_idx, novelty=novelty, cost=cost, kid_ok=kid_ok,
                  weather_dep=weather_dep, season_ok=season_ok, level_ok=level_ok)


@dataclass
class _Couples:
    """Latent variables and final state of the simulated couples (all arrays, one row per couple)."""

    b: np.ndarray          # (n,)
    w: np.ndarray          # (n, n_features)
    delta: np.ndarray      # (n, n_features) mean partner offset (delta_a + delta_b) / 2
    delta_a: np.ndarray    # (n, n_features) partner a's own offset
    delta_b: np.ndarray    # (n, n_features) partner b's own offset
    nu: np.ndarray         # (n,)
    rho: np.ndarray        # (n,)
    counts: np.ndarray     # (n, n_ideas) int16, times each idea was done
    recent: np.ndarray     # (n, n_categories) int16, category counts over the last 20 dates
    recent_len: np.ndarray  # (n,) int

    @property
    def half_gap(self) -> np.ndarray:
        """(n, n_features) (delta_a - delta_b) / 2: partner a = delta + half_gap, b = delta - half_gap."""
        return (self.delta_a - self.delta_b) / 2.0

