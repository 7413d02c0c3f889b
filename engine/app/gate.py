"""The promotion gate: may a freshly trained candidate replace the live model?

The candidate is judged against the live model's ARTIFACT as it is (loaded
from the registry, never refitted), on four checks; it is promoted only if it
passes every one that applies, and the card of the saved version records every
figure and the verdict (:meth:`Verdict.to_dict`).

``holdout_ndcg@10``
    NDCG@10 on the time-based hold-out (the last 20% of dates by day; see
    :func:`engine.app.training.time_split`), every couple ranked from its dates
    before the cut: the candidate artifact (fitted on all dates, the one that
    would go live) against the live artifact as it is. Both have seen (part
    of) the hold-out when trained, so this compares what each artifact does,
    like for like; the candidate fitted on the dates before the cut is
    recorded beside it (``holdout_ndcg@10_before_cut``) as the honest
    generalisation figure. (Judging that before-cut fit against the live
    artifact refused an honest retrain on 80 simulated couples, 0.154 < 0.271,
    because the artifact had trained on the hold-out.) The bound is relative:
    candidate >= (1 - ``ndcg_tolerance``) x live (default 0.10); a candidate
    that learned nothing (shuffled targets) does not reach it (0.000 against
    0.139 on 80 simulated couples).
``cold_start_interest_share``
    New couples who stated interests and have no dates yet (synthetic: two
    interests each, drawn from the interests the training couples stated)
    ask for three ideas; the share of those picks that carry one of their
    interests must be >= ``interest_floor`` (2 of 3) and >= the live
    model's share - ``interest_tolerance`` (0.10). Not applicable when no
    training couple stated an interest (e.g. public ratings data).
``constraint_violations``
    Every pick of the checks above and below, re-checked against the
    context's hard constraints by :func:`engine.domain.constraints.violations`
    (budget, minutes, setting, weather, kids, season): must be 0.
``loop_enjoyment``
    A short simulated-weeks run (:func:`short_loop`): simulated couples with
    a known truth (:mod:`engine.lab.simulator`) ask for three ideas each week for
    ``loop_weeks`` weeks, choose one by the simulator's choice model, and
    their dates feed the next week's history. Mean true enjoyment per date
    (1-5) must be >= live - ``loop_tolerance`` (0.10). Same couples, contexts
    and seeds for both models. This is the gate's own small loop; a full
    ``evaluate --loop`` is a separate tool.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..domain.catalog import Catalog
from ..domain.constraints import violations
from ..domain.context import Context
from ..domain.profiles import Profile, Profiles

__all__ = ["Check", "GateSettings", "Verdict", "cold_start_interest_share", "guard_metrics", "judge",
           "short_loop"]

logger = logging.getLogger(__name__)

_EPOCH = _dt.date(1970, 1, 1)
#: the choice model's temperature among the three offered (the simulator's exploratory dates use 0.5)
_CHOICE_TAU = 0.5
#: the loop's weekly contexts, in turn: together they exercise every hard constraint
_LOOP_CONTEXTS = (
    {"budget": 1, "setting": "home", "weather": "rain"},
    {"budget": 2, "setting": "out", "minutes": 180, "kids": True},
    {"budget": 0, "weather": "snow"},
    {"setting": "out", "weather": "clear", "minutes": 120},
    {"budget": 3, "setting": "home", "kids": True},
    {},
)


@dataclass(frozen=True)
class GateSettings:
    """The gate's bounds and the size of its synthetic checks (defaults as documented above)."""

    ndcg_tolerance: float = 0.10
    interest_floor: float = 2 / 3
    interest_tolerance: float = 0.10
    loop_tolerance: float = 0.10
    cold_couples: int = 12
    loop_couples: int = 40
    loop_weeks: int = 6
    seed: int = 0


@dataclass
class Check:
    """One gate check: the figures, the bound and whether the candidate met it."""

    metric: str
    candidate: float | None
    live: float | None
    bound: float | None
    passed: bool
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "candidate": _finite(self.candidate), "live": _finite(self.live),
                "bound": _finite(self.bound), "passed": self.passed, "rule": self.rule}


@dataclass
class Verdict:
    """The gate's decision: ``passed`` and a one-line ``reason`` naming the failed metric(s)."""

    passed: bool
    reason: str
    checks: list[Check] = field(default_factory=list)
    live_version: str | None = None

    def failed(self) -> list[str]:
        return [c.metric for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reason": self.reason, "live_version": self.live_version,
                "checks": [c.to_dict() for c in self.checks]}


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), 6)


# --------------------------------------------------------------------------- the checks' figures

def _catalog_rows(catalog: Catalog) -> list[dict]:
    return catalog.frame.to_dict("records")


def cold_start_interest_share(model, catalog: Catalog, interests: list[tuple[str, ...]], context: Context,
                              rows: list[dict] | None = None) -> tuple[float, int, int]:
    """Share of new couples' top-3 picks that carry one of their stated interests.

    Parameters
    ----------
    model : EnjoymentModel
        Fitted.
    catalog : Catalog
    interests : list of tuple of str
        One entry per synthetic new couple (no dates).
    context : Context
        Tonight's constraints for every couple.
    rows : list of dict, optional
        The catalog's rows (for the constraint re-check).

    Returns
    -------
    share : float
        On-interest picks / picks (NaN without picks).
    picks : int
    violations : int
        Picks that break the context's hard constraints.
    """
    rows = _catalog_rows(catalog) if rows is None else rows
    ids = [f"__gate_new_{i}" for i in range(len(interests))]
    profiles = {c: Profile(tuple(labels)) for c, labels in zip(ids, interests)}
    empty = pd.DataFrame({"couple_id": pd.Series([], dtype=object), "idea_id": pd.Series([], dtype=object)})
    ranked = model.rank(empty, ids, 3, context=context, profiles=profiles,
                        as_of_day=(context.resolved().day - _EPOCH).days)
    on, picks, broken = 0, 0, 0
    for r, labels in enumerate(interests):
        for p in ranked.positions[r]:
            if p < 0:
                continue
            picks += 1
            on += bool(model.featurizer_.interest_matches(labels, int(p)))
            broken += bool(violations(rows[int(p)], context))
    return (on / picks if picks else float("nan")), picks, broken


def _draw_interests(profiles: Profiles | None, model, catalog: Catalog, context: Context,
                    n: int, seed: int) -> list[tuple[str, ...]]:
    """``n`` pairs of interests drawn from those the training couples stated (by frequency), among
    labels that at least 6 ideas allowed tonight carry; [] when nobody stated one."""
    from ..domain.constraints import allowed_mask

    counts: dict[str, int] = {}
    for profile in (profiles or {}).values():
        for label in profile.interests:
            counts[label] = counts.get(label, 0) + 1
    allowed = allowed_mask(catalog, context)
    usable = {label: c for label, c in counts.items()
              if allowed[model.featurizer_.label_ideas_.get(label, np.zeros(0, np.int64))].sum() >= 6}
    if len(usable) < 2:
        return []
    labels = sorted(usable)
    weights = np.array([usable[label] for label in labels], dtype=float)
    rng = np.random.default_rng(seed)
    return [tuple(rng.choice(labels, size=2, replace=False, p=weights / weights.sum())) for _ in range(n)]


def short_loop(model, catalog: Catalog, *, couples: int = 40, weeks: int = 6, seed: int = 0,
               rows: list[dict] | None = None) -> dict[str, float]:
    """A few simulated weeks with ``model`` choosing tonight's three ideas.

    Simulated couples (:func:`engine.lab.simulator.simulate` with ``couples`` and
    ``seed``) start from their simulated history and stated profiles. Each
    week every couple gets three ideas for the week's context (the contexts
    of ``_LOOP_CONTEXTS`` in turn, on the week's day), picks one with
    probability softmax(true enjoyment / 0.5) among them, and each partner
    rates it round(truth + N(0, 0.5)); the date joins the history (and the
    simulator's repeat and familiarity state) before the next week.

    Returns
    -------
    dict
        ``enjoyment`` (mean true enjoyment of the dates done, 1-5), ``dates``,
        ``picks`` and ``violations`` (picks breaking the week's hard constraints).
    """
    from ..domain.profiles import from_couples
    from ..lab.simulator import simulate

    rows = _catalog_rows(catalog) if rows is None else rows
    world = simulate(couples, seed=seed, catalog=catalog)
    ids = [str(c) for c in world.couple_ids]
    profiles = from_couples(world.couples)
    history = world.dates.copy()
    recent = world.recent_categories()
    day0 = (history["done_on"].max() + pd.Timedelta(days=7)).date()
    rng = np.random.default_rng([seed, 7])
    enjoyed, picks, broken = [], 0, 0
    for week in range(weeks):
        day = day0 + _dt.timedelta(days=7 * week)
        context = Context(day=day, **_LOOP_CONTEXTS[week % len(_LOOP_CONTEXTS)]).resolved()
        ranked = model.rank(history, ids, 3, context=context, profiles=profiles, as_of_day=(day - _EPOCH).days)
        truth = world.expected_enjoyment(ids, context=context)
        new_rows = []
        for r, c in enumerate(ids):
            offered = [int(p) for p in ranked.positions[r] if p >= 0]
            picks += len(offered)
            broken += sum(bool(violations(rows[p], context)) for p in offered)
            if not offered:
                continue
            value = truth[r, offered]
            weight = np.exp((value - value.max()) / _CHOICE_TAU)
            chosen = offered[int(rng.choice(len(offered), p=weight / weight.sum()))]
            enjoyed.append(float(truth[r, chosen]))
            ratings = np.clip(np.round(truth[r, chosen] + rng.normal(0.0, 0.5, size=2)), 1, 5)
            new_rows.append({"couple_id": c, "idea_id": str(catalog.ids[chosen]), "done_on": pd.Timestamp(day),
                             "rating_a": float(ratings[0]), "rating_b": float(ratings[1])})
            world.record_date(r, chosen, recent[r])
        if new_rows:
            history = pd.concat([history, pd.DataFrame(new_rows)], ignore_index=True)
    return {"enjoyment": float(np.mean(enjoyed)) if enjoyed else float("nan"), "dates": len(enjoyed),
            "picks": picks, "violations": broken}


def guard_metrics(model, catalog: Catalog, profiles: Profiles | None,
                  settings: GateSettings = GateSettings(),
                  interests: list[tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The guard figures of one model: cold-start interest share, constraint violations, loop enjoyment.

    ``interests`` (the synthetic new couples' stated interests) default to
    draws from ``profiles``; pass the same list for the candidate and the
    live model.
    """
    rows = _catalog_rows(catalog)
    context = Context(day=_dt.date(2025, 10, 3))  # a Friday evening, no other constraint
    if interests is None:
        interests = _draw_interests(profiles, model, catalog, context, settings.cold_couples, settings.seed)
    out: dict[str, Any] = {"cold_start_interest_share": float("nan"), "cold_start_picks": 0}
    broken = 0
    if interests:
        share, picks, broken = cold_start_interest_share(model, catalog, interests, context, rows)
        out.update(cold_start_interest_share=share, cold_start_picks=picks)
    loop = short_loop(model, catalog, couples=settings.loop_couples, weeks=settings.loop_weeks,
                      seed=settings.seed, rows=rows)
    out.update(loop_enjoyment=loop["enjoyment"], loop_dates=loop["dates"],
               constraint_violations=broken + loop["violations"],
               checked_picks=out["cold_start_picks"] + loop["picks"])
    return out


# --------------------------------------------------------------------------- the verdict

def judge(candidate: Mapping[str, Any], live: Mapping[str, Any] | None, *,
          settings: GateSettings = GateSettings(), live_version: str | None = None) -> Verdict:
    """Decide promotion from the candidate's and the live model's figures.

    Parameters
    ----------
    candidate, live : mapping
        ``holdout_ndcg@10`` plus what :func:`guard_metrics` returns; ``live``
        is None when there is no live model to compare with (the absolute
        bounds still apply: the interest floor and zero violations).
    settings : GateSettings
    live_version : str, optional
        Recorded in the verdict.

    Returns
    -------
    Verdict
        ``reason`` names every failed metric with its figures, e.g.
        ``"refused: cold_start_interest_share 0.08 < 0.67 (...)"``.
    """
    s = settings
    checks: list[Check] = []

    def live_of(key: str) -> float | None:
        value = None if live is None else live.get(key)
        return None if value is None or not math.isfinite(float(value)) else float(value)

    ndcg, live_ndcg = float(candidate.get("holdout_ndcg@10", float("nan"))), live_of("holdout_ndcg@10")
    if live_ndcg is None:
        checks.append(Check("holdout_ndcg@10", ndcg, None, None, True, "no comparable live model"))
    elif not math.isfinite(ndcg):
        checks.append(Check("holdout_ndcg@10", ndcg, live_ndcg, None, False,
                            "the hold-out has no relevant dates to judge the candidate on"))
    else:
        bound = (1 - s.ndcg_tolerance) * live_ndcg
        ok = ndcg >= bound
        checks.append(Check("holdout_ndcg@10", ndcg, live_ndcg, bound, ok,
                            f"NDCG@10 {ndcg:.4f} {'>=' if ok else '<'} {1 - s.ndcg_tolerance:.2f} x live "
                            f"{live_ndcg:.4f} = {bound:.4f}"))

    share = float(candidate.get("cold_start_interest_share", float("nan")))
    if not math.isfinite(share):
        checks.append(Check("cold_start_interest_share", None, live_of("cold_start_interest_share"), None, True,
                            "not applicable: no training couple stated an interest"))
    else:
        live_share = live_of("cold_start_interest_share")
        bound = s.interest_floor if live_share is None else max(s.interest_floor, live_share - s.interest_tolerance)
        ok = share >= bound - 1e-9
        against = ("" if live_share is None else
                   f", live {live_share:.2f} - {s.interest_tolerance:.2f}")
        checks.append(Check("cold_start_interest_share", share, live_share, bound, ok,
                            f"new couples' picks on their stated interests {share:.2f} {'>=' if ok else '<'} "
                            f"{bound:.2f} (at least {s.interest_floor:.2f}{against})"))

    broken = int(candidate.get("constraint_violations", 0))
    checks.append(Check("constraint_violations", broken, live_of("constraint_violations"), 0, broken == 0,
                        f"{broken} of {int(candidate.get('checked_picks', 0))} picks break the context's hard "
                        "constraints (must be 0)"))

    loop, live_loop = float(candidate.get("loop_enjoyment", float("nan"))), live_of("loop_enjoyment")
    if live_loop is None:
        checks.append(Check("loop_enjoyment", loop, None, None, True, "no comparable live model"))
    else:
        bound = live_loop - s.loop_tolerance
        ok = math.isfinite(loop) and loop >= bound
        checks.append(Check("loop_enjoyment", loop, live_loop, bound, ok,
                            f"simulated weeks' mean true enjoyment {loop:.3f} {'>=' if ok else '<'} live "
                            f"{live_loop:.3f} - {s.loop_tolerance:.2f}"))

    failed = [c for c in checks if not c.passed]
    if failed:
        reason = "refused: " + "; ".join(f"{c.metric} {c.rule}" for c in failed)
    else:
        reason = "passed: " + "; ".join(f"{c.metric} {c.rule}" for c in checks)
    return Verdict(passed=not failed, reason=reason, checks=checks, live_version=live_version)
