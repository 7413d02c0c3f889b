"""Weeks of dates, simulated: does the product help a couple over time? (``evaluate --loop``)

One-shot evaluation (:mod:`engine.lab.evaluation`) asks "did the model rank the
held-out idea high", which rewards more of the same. The closed loop asks
what the product is for: every simulated week each couple asks for tonight,
chooses among the three ideas it is given, does it, and both partners rate
it from their own true enjoyment (:mod:`engine.lab.weekly`); the engine learns
from those ratings and retrains every ``retrain_every`` weeks through the
same train-and-gate function the product uses
(:func:`engine.app.training.train_and_maybe_promote`).

Policies, on the same couples, contexts and random numbers:

``engine``
    The product's ranking with its defaults.
``engine_routine_weight_0``
    The same model ranking by enjoyment alone (``routine_weight=0`` and
    ``routine_push=0``): what the routine-breaking buys.
``popular``, ``item_knn``, ``mf``, ``random``
    The offline baselines (:mod:`engine.lab.baselines`), refitted on the same
    schedule; they never suggest what the couple did in the last 90 days.
``oracle``
    The three ideas of highest true mean enjoyment now.

Every policy gets tonight's hard constraints (budget, time, setting,
weather, kids, season, evening or night). Measured per policy (mean over
couples and weeks, then seeds):

``enjoyment``
    True enjoyment of the date done, mean of the two partners (1-5).
``enjoyment_less_happy``
    The less happy partner's true enjoyment.
``outside_routine``
    Share of dates whose category is not among the three the couple did
    most before week 0.
``pillar_coverage``
    Share of couples whose loop dates served all four intimacy pillars.
``satisfaction_up_share``
    Share of couples whose relationship satisfaction ended above where it
    started (:mod:`engine.lab.weekly`).

Usage::

    from engine.lab.loop import run_loop
    result = run_loop(weeks=26, couples=2000, seeds=3, retrain_every=4)
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..app.training import train_and_maybe_promote
from ..domain.catalog import Catalog, load_catalog
from ..domain.profiles import from_couples
from ..learning.registry import Registry
from .baselines import ItemKNN, MatrixFactorization, MostPopular
from .simulator import simulate
from .weekly import Weeks

__all__ = ["METRICS", "POLICIES", "run_loop"]

logger = logging.getLogger(__name__)

METRICS = ("enjoyment", "enjoyment_less_happy", "outside_routine", "pillar_coverage", "satisfaction_up_share")
POLICIES = ("engine", "engine_routine_weight_0", "popular", "item_knn", "mf", "random", "oracle")
#: tonight's answer: the suggestion and two alternatives
_K = 3
#: the baselines never suggest an idea done this recently (the engine's own repeat window)
_REPEAT_DAYS = 90
_CHUNK = 1000
_EPOCH = np.datetime64("1970-01-01", "D")
_PILLARS = ("vulnerability", "appreciation", "physical-intimacy", "novelty")


def _top(scores: np.ndarray, mask: np.ndarray, tie: np.ndarray | None = None) -> np.ndarray:
    """(n, 3) best allowed columns per row, -1 when fewer are allowed."""
    s = np.where(mask, scores + (0.0 if tie is None else tie[None, :]), -np.inf)
    top = np.argpartition(-s, _K - 1, axis=1)[:, :_K]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(s, top, axis=1)), top, -1)


class _Engine:
    """The product's model, retrained through the product's train-and-gate function."""

    def __init__(self, folder: Path, catalog: Catalog, profiles, params: dict[str, Any]):
        self.folder, self.catalog, self.profiles, self.params = folder, catalog, profiles, params
        self.model = None
        self.trained = self.promoted = 0

    def train(self, dates: pd.DataFrame) -> None:
        registry = Registry(self.folder)
        result = train_and_maybe_promote(dates, self.catalog, registry, params=self.params,
                                         profiles=self.profiles)
        self.trained += 1
        self.promoted += bool(result.promoted)
        logger.info("loop retrain in %s: %s", self.folder.name, result.reason)
        if registry.live_version() is None:  # week 0's first model refused: the loop still needs one to serve
            logger.warning("loop: the first model was refused by the gate (%s); serving it anyway", result.reason)
            registry.promote(result.version, catalog=self.catalog)
        self.model = registry.load(catalog=self.catalog)[0].set_params(**self.params)

    def clone_from(self, other: _Engine) -> None:
        """Start from ``other``'s registry (same data at week 0: one fit serves both)."""
        shutil.copytree(other.folder, self.folder, dirs_exist_ok=True)
        self.model = Registry(self.folder).load(catalog=self.catalog)[0].set_params(**self.params)
        self.trained, self.promoted = other.trained, other.promoted

    def suggest(self, dates: pd.DataFrame, state: Weeks, allowed: np.ndarray, u, seed: int, week: int) -> np.ndarray:
        ids = state.world.couple_ids
        days = (state.day - _EPOCH).astype(np.int64)
        out = np.full((len(ids), _K), -1, dtype=np.int64)
        by_couple = dates["couple_id"].astype(str).to_numpy()
        for lo in range(0, len(ids), _CHUNK):
            chunk = ids[lo:lo + _CHUNK]
            sub = dates[np.isin(by_couple, chunk)]
            seeds = (seed * 1_000_003 + week * 10_007 + lo + np.arange(len(chunk))) % (2 ** 31)
            ranked = self.model.rank(sub, list(chunk), _K, allowed=allowed[lo:lo + _CHUNK], seed=seeds,
                                     as_of_day=days[lo:lo + _CHUNK], profiles=self.profiles)
            out[lo:lo + _CHUNK] = ranked.positions
        return out


class _Interactions:
    """A baseline of engine.lab.baselines, refitted on the same schedule."""

    def __init__(self, factory: Callable[[], Any], catalog: Catalog):
        self.factory, self.catalog = factory, catalog
        self.model = None

    def train(self, dates: pd.DataFrame) -> None:
        self.model = self.factory().fit(dates, self.catalog)

    def suggest(self, dates, state: Weeks, allowed, u, seed, week) -> np.ndarray:
        scores = self.model.score(list(state.world.couple_ids), history=dates)
        pop = self.model.popularity_
        tie = pop / max(pop.max(initial=0.0), 1.0) * 1e-6
        return _top(np.asarray(scores, dtype=float), allowed & _not_recent(state), tie)


class _Random:
    def train(self, dates) -> None:
        pass

    def suggest(self, dates, state: Weeks, allowed, u, seed, week) -> np.ndarray:
        scores = np.random.default_rng([seed, 23, week]).random(allowed.shape)
        return _top(scores, allowed & _not_recent(state))


class _Oracle:
    def train(self, dates) -> None:
        pass

    def suggest(self, dates, state: Weeks, allowed, u, seed, week) -> np.ndarray:
        return _top(Weeks.enjoyment(*u), allowed)


def _not_recent(state: Weeks) -> np.ndarray:
    return (state.day[:, None] - state.last_done) >= np.timedelta64(_REPEAT_DAYS, "D")


def _check(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def run_loop(weeks: int = 26, couples: int = 2000, seeds: int = 3, retrain_every: int = 4,
             policies: tuple[str, ...] = POLICIES, catalog: Catalog | None = None, first_seed: int = 0,
             engine_params: dict[str, Any] | None = None, progress: bool = True,
             workdir: str | Path | None = None) -> dict[str, Any]:
    """Simulate ``weeks`` weeks of dates for ``couples`` couples under each policy.

    Parameters
    ----------
    weeks : int, default=26
    couples : int, default=2000
        Simulated couples per seed (``simulate(couples, seed=s)``).
    seeds : int, default=3
        Worlds ``first_seed`` ... ``first_seed + seeds - 1``; every policy sees the same couples,
        contexts and random numbers.
    retrain_every : int, default=4
        The engine (through :func:`engine.app.training.train_and_maybe_promote`) and the baselines
        are refitted on everything seen so far every this many weeks.
    policies : tuple of str
        Any of :data:`POLICIES`.
    catalog : Catalog, optional
        Default the shipped catalog.
    first_seed : int, default=0
        The first world's seed (runs of one seed each can go side by side and be pooled).
    engine_params : dict, optional
        Parameters of the ``engine`` policy's model (default: its defaults).
    progress : bool, default=True
        A tqdm bar over seeds and weeks (stderr).
    workdir : path, optional
        Where the engines' model registries go (default a temporary folder, removed after).

    Returns
    -------
    dict
        ``{"weeks", "couples", "seeds", "retrain_every", "policies": {name: {metric: mean,
        "per_seed": {metric: [...]}, "interval95": {metric: [lo, hi]}, "weekly": {...}}}}``;
        see the module notes for the metrics.
    """
    weeks, couples = _check("weeks", weeks, 1), _check("couples", couples, 1)
    seeds, retrain_every = _check("seeds", seeds, 1), _check("retrain_every", retrain_every, 1)
    first_seed = _check("first_seed", first_seed, 0)
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        raise ValueError(f"unknown policy {unknown[0] if unknown else None!r}; choose from {', '.join(POLICIES)}")
    catalog = catalog if catalog is not None else load_catalog()
    pillars = _pillar_matrix(catalog)
    own_tmp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="dateideas-loop-")) if own_tmp else Path(workdir)
    per_seed: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    retrains: dict[str, list[int]] = {}
    try:
        with tqdm(total=seeds * weeks, desc="loop", unit="week", disable=not progress) as bar:
            for seed in range(first_seed, first_seed + seeds):
                result = _one_seed(seed, weeks, couples, retrain_every, policies, catalog, pillars,
                                   dict(engine_params or {}), root / f"seed{seed}", bar)
                for p in policies:
                    per_seed[p].append(result[p])
                    if "retrains" in result[p]:
                        retrains.setdefault(p, [0, 0])
                        retrains[p][0] += result[p]["retrains"][0]
                        retrains[p][1] += result[p]["retrains"][1]
    finally:
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)
    out: dict[str, Any] = {"weeks": weeks, "couples": couples, "seeds": seeds, "first_seed": first_seed,
                           "retrain_every": retrain_every, "policies": {}}
    for p in policies:
        rows = per_seed[p]
        summary: dict[str, Any] = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
        summary["per_seed"] = {m: [round(float(r[m]), 4) for r in rows] for m in METRICS}
        summary["interval95"] = {m: _interval([r["per_couple"][m] for r in rows]) for m in METRICS}
        summary["weekly"] = {m: np.mean([r["weekly"][m] for r in rows], axis=0).round(4).tolist()
                             for m in rows[0]["weekly"]}
        if p in retrains:
            summary["retrains"] = {"trained": retrains[p][0], "promoted": retrains[p][1]}
        out["policies"][p] = summary
    return out


def _interval(per_couple: list[np.ndarray]) -> list[float]:
    """95% normal interval of the mean over every couple of every seed."""
    values = np.concatenate([np.asarray(v, dtype=float) for v in per_couple])
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return [round(float(values.mean() - half), 4), round(float(values.mean() + half), 4)]


def _pillar_matrix(catalog: Catalog) -> np.ndarray | None:
    if "pillars" not in catalog.frame.columns:
        return None
    return np.array([[p in set(v) for p in _PILLARS] for v in catalog.frame["pillars"]], dtype=bool)


def _one_seed(seed: int, weeks: int, couples: int, retrain_every: int, policies, catalog: Catalog,
              pillars, engine_params: dict[str, Any], folder: Path, bar) -> dict[str, dict[str, Any]]:
    world = simulate(couples, seed=seed, catalog=catalog)
    profiles = from_couples(world.couples)
    base = Weeks(world)
    runners: dict[str, Any] = {}
    for p in policies:
        if p == "engine":
            runners[p] = _Engine(folder / p, catalog, profiles, engine_params)
        elif p == "engine_routine_weight_0":
            runners[p] = _Engine(folder / p, catalog, profiles,
                                 {**engine_params, "routine_weight": 0.0, "routine_push": 0.0})
        elif p == "popular":
            runners[p] = _Interactions(MostPopular, catalog)
        elif p == "item_knn":
            runners[p] = _Interactions(ItemKNN, catalog)
        elif p == "mf":
            runners[p] = _Interactions(MatrixFactorization, catalog)
        elif p == "random":
            runners[p] = _Random()
        else:
            runners[p] = _Oracle()
    first_engine = None
    for p, runner in runners.items():
        bar.set_postfix_str(f"seed {seed} training {p}")
        if isinstance(runner, _Engine) and first_engine is not None and not (folder / p).exists():
            runner.clone_from(first_engine)  # the same week-0 data: one fit, different ranking
            continue
        runner.train(world.dates)
        if isinstance(runner, _Engine) and first_engine is None:
            first_engine = runner
    states = {p: base.copy() for p in policies}
    history = {p: [world.dates] for p in policies}
    frames = {p: world.dates for p in policies}
    n = world.n_couples
    log = {p: {k: np.zeros((weeks, n)) for k in ("ea", "eb", "outside", "satisfaction")} for p in policies}
    covered = {p: np.zeros((n, len(_PILLARS)), dtype=bool) for p in policies}
    for week in range(weeks):
        ctx_rng = np.random.default_rng([seed, 101, week])
        any_state = states[policies[0]]
        ctx = any_state.draw_context(ctx_rng)
        allowed = ctx.allowed(catalog)
        for p in policies:
            bar.set_postfix_str(f"seed {seed} week {week + 1} {p}")
            state = states[p]
            u = state.utilities(ctx)
            picks = runners[p].suggest(frames[p], state, allowed, u, seed, week)
            rng = np.random.default_rng([seed, 202, week])  # common random numbers across policies
            chosen = state.choose(picks, *u, rng, allowed)
            record = state.step(chosen, *u, rng)
            history[p].append(state.dates_frame(chosen, record, ctx))
            frames[p] = pd.concat(history[p], ignore_index=True) if len(history[p]) > 1 else history[p][0]
            history[p] = [frames[p]]
            log[p]["ea"][week], log[p]["eb"][week] = record["enjoyment_a"], record["enjoyment_b"]
            log[p]["outside"][week] = record["outside"]
            log[p]["satisfaction"][week] = record["satisfaction"]
            if pillars is not None:
                covered[p] |= pillars[chosen]
            if (week + 1) % retrain_every == 0 and week + 1 < weeks and not isinstance(runners[p], (_Random, _Oracle)):
                bar.set_postfix_str(f"seed {seed} week {week + 1} retraining {p}")
                runners[p].train(frames[p])
        bar.update()
    out = {}
    for p in policies:
        L = log[p]
        mean = (L["ea"] + L["eb"]) / 2.0
        low = np.minimum(L["ea"], L["eb"])
        per_couple = {
            "enjoyment": mean.mean(axis=0),
            "enjoyment_less_happy": low.mean(axis=0),
            "outside_routine": L["outside"].mean(axis=0),
            "pillar_coverage": covered[p].all(axis=1).astype(float),
            "satisfaction_up_share": (L["satisfaction"][-1] > 0).astype(float),
        }
        row: dict[str, Any] = {m: float(v.mean()) for m, v in per_couple.items()}
        row["per_couple"] = per_couple
        row["weekly"] = {"enjoyment": mean.mean(axis=1), "enjoyment_less_happy": low.mean(axis=1),
                         "outside_routine": L["outside"].mean(axis=1),
                         "satisfaction": L["satisfaction"].mean(axis=1),
                         "satisfaction_up_share": (L["satisfaction"] > 0).mean(axis=1)}
        if isinstance(runners[p], _Engine):
            row["retrains"] = (runners[p].trained, runners[p].promoted)
        out[p] = row
    return out
