"""Train a new model version, judge it against the live artifact, save it, promote it if it passes.

The candidate configuration is fitted on the dates before the time-based cut
(its hold-out NDCG@10 is the honest generalisation figure on the card) and on
all dates (the version saved and judged). The live model is the ARTIFACT in
the registry, loaded as it is and never refitted: comparing a refit of the
live model's settings scores the same as the candidate whenever the settings
are the same, so such a gate could never fail. :mod:`engine.app.gate` has the
checks (hold-out NDCG@10, new couples' picks on their stated interests, hard
constraints, a short simulated-weeks run) and their bounds; the saved card
records every figure and the verdict under ``"gate"``.

A pinned version (``dateideas models rollback`` pins the version it restores)
stays live: the candidate is judged and saved, never promoted, until
``dateideas models promote VERSION`` or ``dateideas models unpin``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..domain.catalog import Catalog
from ..domain.dates import as_dates_frame, mean_rating, skipped_report
from ..domain.profiles import Profiles
from ..lab.evaluation import ndcg_at_k
from ..learning.model import EnjoymentModel
from ..learning.registry import ArtifactError, NoModelError, Registry
from .gate import GateSettings, Verdict, guard_metrics, judge

__all__ = ["TrainResult", "holdout_ndcg", "target_params", "time_split", "train_and_maybe_promote"]

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
    #: stored dates left out of training (``Store.read_dates().skipped``: an implausible day)
    skipped_dates: list[dict[str, Any]] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    pruned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "promoted": self.promoted, "reason": self.reason,
            "metrics": _jsonable(self.metrics), "live_metrics": _jsonable(self.live_metrics),
            "gate": self.gate, "pruned": list(self.pruned), "seconds": round(self.seconds, 2),
            "skipped_dates": skipped_report(self.skipped_dates),
        }


def _jsonable(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """NaN figures as None (JSON has no NaN)."""
    if metrics is None:
        return None
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()}


def target_params(catalog: Catalog, relevant: float | None = None) -> dict[str, Any]:
    """The model's training target as the user set it: ``relevant`` (``train --relevant``), else the
    ``"relevant"`` of ``schema.json``'s ``"ratings"``, on that scale when the schema states one.

    Returns the :class:`~engine.learning.model.EnjoymentModel` parameters ``rating_scale`` and
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


def train_and_maybe_promote(dates: pd.DataFrame, catalog: Catalog, registry: Registry, *,
                            promote: bool = True, params: dict[str, Any] | None = None,
                            factory: Callable[..., EnjoymentModel] = EnjoymentModel,
                            profiles: Profiles | None = None,
                            gate_settings: GateSettings = GateSettings(),
                            keep: int | None = None, dismissals: pd.DataFrame | None = None) -> TrainResult:
    """Train, judge against the live artifact (:mod:`engine.app.gate`), save, and promote if it passes.

    Parameters
    ----------
    dates : DataFrame
        All dates (dates frame).
    catalog : Catalog
    registry : Registry
    promote : bool, default=True
        False saves the version (with the gate's verdict) without promoting it.
    params : dict, optional
        Model parameters.
    factory : callable, default=EnjoymentModel
        Builds the unfitted model from ``params``.
    profiles : mapping couple id -> Profile, optional
        The couples' stated profiles (``Store.profiles()``).
    gate_settings : GateSettings
        The gate's bounds (defaults documented in :mod:`engine.app.gate`).
    dismissals : DataFrame, optional
        The couples' "not for us" marks (``Store.dismissals_frame()``), learned
        from as known negatives (:mod:`engine.learning.dismissals`); the
        candidate judged on the hold-out sees only those made before its cut.
    keep : int, optional
        After saving, prune the registry to the live, pinned and rollback
        versions plus the newest ``keep`` (:meth:`Registry.prune`); None keeps all.

    Returns
    -------
    TrainResult
        ``reason`` is the gate's sentence (naming every failed metric) or
        why a passing candidate was not promoted (``--no-promote``, a pin).
    """
    start = time.perf_counter()
    dates = as_dates_frame(dates)
    train, test = time_split(dates)
    candidate = factory(**(params or {})).fit(train, catalog, profiles, dismissals=_marks_before(dismissals, train))
    metrics = holdout_ndcg(candidate, train, test, profiles=profiles)
    final = factory(**(params or {})).fit(dates, catalog, profiles, dismissals=dismissals)
    # like for like: the artifact that would go live and the live artifact, both ranking from the
    # histories before the cut; the before-cut fit's figure is the honest generalisation record
    judged = holdout_ndcg(final, train, test, profiles=profiles)
    figures = {"holdout_ndcg@10": judged["ndcg"], "holdout_couples": judged["couples"],
               "holdout_ndcg@10_before_cut": metrics["ndcg"]}
    figures |= guard_metrics(final, catalog, profiles, gate_settings)
    live_figures = None
    live_version = registry.live_version()
    if live_version is not None:
        try:
            live_model, _ = registry.load(live_version, catalog=catalog)
        except (ArtifactError, NoModelError) as exc:
            logger.warning("live model %s cannot be evaluated (%s); the candidate will replace it",
                           live_version, exc)
        else:  # the artifact as it is, on the same hold-out, couples, contexts and seeds
            live_ndcg = holdout_ndcg(live_model, train, test, profiles=profiles)
            live_figures = {"holdout_ndcg@10": live_ndcg["ndcg"], "holdout_couples": live_ndcg["couples"],
                            "version": live_version}
            live_figures |= guard_metrics(live_model, catalog, profiles, gate_settings)
    verdict = judge(figures, live_figures, settings=gate_settings, live_version=live_version)
    promoted, reason = _decide(verdict, promote, registry.pinned_version())
    data = {"dates": int(len(dates)), "couples": int(dates["couple_id"].nunique()),
            "holdout_dates": int(len(test))}
    card_metrics = {"holdout_ndcg@10": metrics["ndcg"], "holdout_couples": metrics["couples"],
                    "live_holdout_ndcg@10": None if live_figures is None else live_figures["holdout_ndcg@10"]}
    gate_record = verdict.to_dict() | {"promoted": promoted, "decision": reason,
                                       "figures": _jsonable(figures), "live_figures": _jsonable(live_figures)}
    version = registry.save(final, metrics=_jsonable(card_metrics), data=data, gate=gate_record)
    if promoted:
        pinned = registry.pinned_version()  # read again: a rollback may have pinned meanwhile
        if pinned is None:
            registry.promote(version, catalog=catalog)
        else:
            promoted, reason = _decide(verdict, promote, pinned)
    pruned = registry.prune(keep) if keep is not None else []
    logger.info("trained %s: %s", version, reason)
    return TrainResult(version=version, promoted=promoted, reason=reason, metrics=figures,
                       live_metrics=live_figures, seconds=time.perf_counter() - start,
                       gate=gate_record, pruned=pruned)


def _marks_before(dismissals: pd.DataFrame | None, train: pd.DataFrame) -> pd.DataFrame | None:
    """The "not for us" marks made no later than ``train``'s last date (all of them on undated data)."""
    if dismissals is None or not train["done_on"].notna().any():
        return dismissals
    made = pd.to_datetime(dismissals["created_at"], utc=True).dt.tz_localize(None)
    return dismissals.loc[(made < pd.Timestamp(train["done_on"].max()) + pd.Timedelta(days=1)).to_numpy()]


def _decide(verdict: Verdict, promote: bool, pinned: str | None) -> tuple[bool, str]:
    """Whether to promote, and the sentence that says why (or why not)."""
    if not promote:
        return False, "saved without promotion (--no-promote); the gate " + verdict.reason
    if pinned is not None:  # said first: whatever the gate found, a pinned version stays live
        return False, (f"{pinned} is pinned (a rollback pins the version it restores); "
                       "`dateideas models promote VERSION` or `dateideas models unpin`; the gate "
                       + verdict.reason)
    if not verdict.passed:
        return False, verdict.reason
    return True, verdict.reason
