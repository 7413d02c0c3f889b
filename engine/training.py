"""Train a new model version, evaluate it on a time-based hold-out, promote it if not worse.

The gate: the candidate and the live model's configuration are both fitted
on the dates before the hold-out cut and scored on the hold-out (the last
20% of dates by day) — the live artifact itself has seen those dates, so
scoring it as-is would favour it unfairly. The candidate is promoted only if
its NDCG@10 is not below the live one's by more than ``tolerance``. The
artifact that is saved is then refitted on all dates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.base import clone

from .catalog import Catalog
from .dates import as_dates_frame, mean_rating
from .profiles import Profiles
from .evaluation import ndcg_at_k
from .model import EnjoymentModel
from .registry import ArtifactError, NoModelError, Registry

__all__ = ["TrainResult", "gate", "holdout_ndcg", "target_params", "time_split", "train_and_maybe_promote"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run did."""

    version: str
    promoted: bool
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    live_metrics: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "promoted": self.promoted, "reason": self.reason,
            "metrics": self.metrics, "live_metrics": self.live_metrics, "seconds": round(self.seconds, 2),
        }


def target_params(catalog: Catalog, relevant: float | None = None) -> dict[str, Any]:
    """The model's training target as the user set it: ``relevant`` (``train --relevant``), else the
    ``"relevant"`` of ``schema.json``'s ``"ratings"``, on that scale when the schema states one.

    Returns the :class:`~engine.model.EnjoymentModel` parameters ``rating_scale`` and
    ``relevant_rating`` that apply (none: the model's defaults, rated 4 or more of 5).

    Raises
    ------
    ValueError
        If ``relevant`` is outside the rating scale, saying the scale.
    """
    spec = catalog.schema.ratings()
    params: dict[str, Any] = {}
    if "ratings" in catalog.schema.extra:
        params["rating_scale"] = spec.scale
    rel = spec.relevant if relevant is None else float(relevant)
    if rel is not None:
        lo, hi = spec.scale
        if not lo <= rel <= hi:
            raise ValueError(f"relevant must be a rating from {lo:g} to {hi:g} (the catalog's rating scale), "
                             f"got {rel:g}")
        params["relevant_rating"] = rel
    return params


def time_split(dates: pd.DataFrame, holdout_share: float = 0.2,
               seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split dates at the ``1 - holdout_share`` quantile of ``done_on``.

    Undated rows are split at random with the same share (seeded).
    """
    dates = as_dates_frame(dates)
    dated = dates["done_on"].notna().to_numpy()
    test = np.zeros(len(dates), dtype=bool)
    if dated.any():
        cut = dates.loc[dated, "done_on"].quantile(1 - holdout_share)
        test[dated] = (dates.loc[dated, "done_on"] > cut).to_numpy()
    if (~dated).any():
        rng = np.random.default_rng(seed)
        test[~dated] = rng.random(int((~dated).sum())) < holdout_share
    return dates.loc[~test].reset_index(drop=True), dates.loc[test].reset_index(drop=True)


def holdout_ndcg(model, train: pd.DataFrame, test: pd.DataFrame, k: int = 10,
                 max_couples: int = 3000, seed: int = 0, relevant: float | None = None,
                 profiles: Profiles | None = None) -> dict[str, float]:
    """NDCG@k of ``model`` on the hold-out: relevant = ideas rated relevant after the cut, new to the couple.

    ``relevant`` defaults to the model's own threshold (``featurizer_.relevant_rating_``);
    ``profiles`` are the couples' stated profiles.
    """
    rel = model.featurizer_.relevant_rating_ if relevant is None else relevant
    test = test.assign(_r=mean_rating(test))
    test = test[test["_r"] >= rel]
    seen = train.groupby("couple_id")["idea_id"].agg(set)
    relevant = test.groupby("couple_id")["idea_id"].agg(set)
    relevant = {c: ideas - seen.get(c, set()) for c, ideas in relevant.items()}
    couples = sorted(c for c, ideas in relevant.items() if ideas and c in seen.index)
    if len(couples) > max_couples:
        couples = sorted(np.random.default_rng(seed).choice(couples, max_couples, replace=False))
    if not couples:
        return {"ndcg": float("nan"), "couples": 0}
    recs = model.recommend(couples, k, exclude={c: seen[c] for c in couples},
                           history=train[train["couple_id"].isin(couples)], profiles=profiles)
    scores = [ndcg_at_k([i for i, _ in r], relevant[c], k) for c, r in zip(couples, recs)]
    return {"ndcg": float(np.mean(scores)), "couples": len(couples)}


def gate(candidate: float, live: float | None, *, promote: bool = True,
         tolerance: float = 0.01) -> tuple[bool, str]:
    """Decide promotion from hold-out NDCG@10 of the candidate and the live model.

    Returns ``(promoted, reason)``: promoted when asked to and the candidate
    is not worse than the live model by more than ``tolerance`` (or there is
    no comparable live model).
    """
    if not promote:
        return False, "saved without promotion (--no-promote)"
    if live is None or not np.isfinite(live):
        return True, "no comparable live model"
    if not np.isfinite(candidate):
        return False, "the hold-out has no relevant dates to judge the candidate on"
    if candidate >= live - tolerance:
        return True, f"NDCG@10 {candidate:.4f} >= live {live:.4f} - {tolerance}"
    return False, f"NDCG@10 {candidate:.4f} < live {live:.4f} - {tolerance}"


def train_and_maybe_promote(dates: pd.DataFrame, catalog: Catalog, registry: Registry, *,
                            promote: bool = True, tolerance: float = 0.01,
                            params: dict[str, Any] | None = None,
                            factory: Callable[..., EnjoymentModel] = EnjoymentModel,
                            profiles: Profiles | None = None) -> TrainResult:
    """Train, evaluate against the live model on a time-based hold-out, save, and promote if not worse.

    Parameters
    ----------
    dates : DataFrame
        All dates (dates frame).
    catalog : Catalog
    registry : Registry
    promote : bool, default=True
        False saves the version without promoting it.
    tolerance : float, default=0.01
        Promote when candidate NDCG@10 >= live NDCG@10 - tolerance.
    params : dict, optional
        Model parameters.
    factory : callable, default=EnjoymentModel
        Builds the unfitted model from ``params``.
    profiles : mapping couple id -> Profile, optional
        The couples' stated profiles (``Store.profiles()``).
    """
    start = time.perf_counter()
    dates = as_dates_frame(dates)
    train, test = time_split(dates)
    candidate = factory(**(params or {})).fit(train, catalog, profiles)
    metrics = holdout_ndcg(candidate, train, test, profiles=profiles)
    live_metrics = None
    live_version = registry.live_version()
    if live_version is not None:
        try:
            live_model, _ = registry.load(live_version, catalog=catalog)
            # judge the live model's configuration on the same split as the candidate: the
            # live artifact itself has seen the hold-out dates, which would favour it unfairly
            live_metrics = holdout_ndcg(clone(live_model).fit(train, catalog, profiles), train, test,
                                        profiles=profiles)
            live_metrics["version"] = live_version
        except (ArtifactError, NoModelError) as exc:
            logger.warning("live model %s cannot be evaluated (%s); the candidate will replace it",
                           live_version, exc)
    final = factory(**(params or {})).fit(dates, catalog, profiles)
    data = {"dates": int(len(dates)), "couples": int(dates["couple_id"].nunique()),
            "holdout_dates": int(len(test))}
    version = registry.save(final, metrics={"holdout_ndcg@10": metrics["ndcg"],
                                             "holdout_couples": metrics["couples"],
                                             "live_holdout_ndcg@10": None if live_metrics is None
                                             else live_metrics["ndcg"]}, data=data)
    promoted, reason = gate(metrics["ndcg"], None if live_metrics is None else live_metrics["ndcg"],
                            promote=promote, tolerance=tolerance)
    if promoted:
        registry.promote(version, catalog=catalog)
    logger.info("trained %s: %s", version, reason)
    return TrainResult(version=version, promoted=promoted, reason=reason, metrics=metrics,
                       live_metrics=live_metrics, seconds=time.perf_counter() - start)
