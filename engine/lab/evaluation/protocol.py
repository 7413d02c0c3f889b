"""The evaluation protocol: rankers fitted and scored on the same seeded splits.

:func:`evaluate` puts rankers side by side (:func:`default_models`: the
engine and the baselines); :func:`tradeoff_curve` sweeps a ranking-time
parameter of one. The steps are described in :mod:`engine.lab.evaluation`.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ...domain.catalog import Catalog
from ...domain.profiles import Profile, from_couples
from ..baselines import ItemKNN, MatrixFactorization, MostPopular, RandomRecommender, interaction_matrix
from .metrics import (
    coverage,
    exposure_gini,
    interval,
    intra_list_diversity,
    ndcg_at_k,
    noise_note,
    novelty,
    popular_share,
    precision_at_k,
    recall_at_k,
)
from .splits import Split, split_dates

__all__ = ["TOP", "Ranker", "RankerFactory", "default_models", "evaluate", "tradeoff_curve"]

logger = logging.getLogger(__package__)

#: the size of tonight's answer, used by enjoyment_ratio and outside_routine
TOP = 3

Ranker = Any  # fit(dates, catalog, profiles) -> self; recommend(couples, k, context, exclude, history, profiles)
RankerFactory = Callable[[], Ranker]


# --------------------------------------------------------------------------- scoring

@dataclass
class _Data:
    name: str
    catalog: Catalog
    dates: pd.DataFrame
    vectors: np.ndarray
    world: Any | None
    category: np.ndarray | None
    profiles: dict[str, Profile]
    rating_scale: tuple[float, float] | None = None

    @property
    def dated(self) -> bool:
        """True when some date has a day (``done_on``); point-in-time training needs one."""
        return bool(self.dates["done_on"].notna().any())


def _prepare(data: Any, name: str | None) -> _Data:
    from ...learning.features import IdeaEncoder

    for attr in ("catalog", "dates"):
        if not hasattr(data, attr):
            raise TypeError(f"evaluate needs a dataset or simulated world with .catalog and .dates; "
                            f"{type(data).__name__} has no .{attr}")
    catalog = data.catalog
    world = data if hasattr(data, "expected_enjoyment") else None
    if name is None:
        name = "synthetic" if world is not None else "dataset"
    vectors = IdeaEncoder().fit(catalog).transform(catalog)
    category = None
    if "category" in catalog.frame.columns:
        category = catalog.frame["category"].astype(str).to_numpy()
    scale = getattr(data, "rating_scale", None)
    return _Data(name, catalog, data.dates, vectors, world, category,
                 from_couples(getattr(data, "couples", None)),
                 None if scale is None else tuple(float(v) for v in scale))


class _Scorer:
    """Everything about one split that does not depend on the model."""

    def __init__(self, data: _Data, split: Split, relevant: float, k: int):
        self.data, self.split, self.k = data, split, k
        self.profiles = data.profiles or None
        catalog = data.catalog
        self.couples = split.couples
        self.n_ideas = len(catalog)
        self.relevant = {c: {i for i, r in split.test[c].items() if r >= relevant} for c in self.couples}
        train_couples = pd.unique(split.train["couple_id"].astype(str))
        done = interaction_matrix(split.train, train_couples, catalog.ids)
        counts = np.asarray((done > 0).sum(axis=0)).ravel()
        self.popularity = np.maximum(counts, 1.0) / max(len(train_couples), 1)
        #: training interactions (dates) per idea, for popular_share_top10
        self.interactions = np.asarray(done.sum(axis=0)).ravel()
        H = interaction_matrix(split.train, self.couples, catalog.ids)
        n_dates = np.asarray(H.sum(axis=1)).ravel()
        mean = np.asarray(H @ data.vectors) / np.maximum(n_dates, 1.0)[:, None]
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        self.routine = mean / np.maximum(norms, 1e-12)
        self.candidates = np.ones((len(self.couples), self.n_ideas), dtype=bool)
        for r, c in enumerate(self.couples):
            pos = catalog.position(list(split.history[c]))
            self.candidates[r, pos[pos >= 0]] = False
        self.top_categories = None
        if data.category is not None:
            self.top_categories = []
            Hc = H.tocoo()
            cats = pd.DataFrame({"row": Hc.row, "cat": data.category[Hc.col], "n": Hc.data})
            per = cats.groupby(["row", "cat"])["n"].sum().reset_index()
            per = per.sort_values(["row", "n", "cat"], ascending=[True, False, True])
            top = per.groupby("row").head(TOP).groupby("row")["cat"].agg(set)
            self.top_categories = [top.get(r, set()) for r in range(len(self.couples))]
        self.enjoyment = None
        self.oracle = None
        if data.world is not None:
            E = np.asarray(data.world.expected_enjoyment(self.couples), dtype=float)
            if E.shape != (len(self.couples), self.n_ideas):
                raise ValueError(f"expected_enjoyment returned shape {E.shape}, "
                                 f"expected {(len(self.couples), self.n_ideas)}")
            self.enjoyment = E
            masked = np.where(self.candidates, E, -np.inf)
            top = np.argsort(-masked, axis=1, kind="stable")[:, :TOP]
            self.oracle = np.take_along_axis(E, top, axis=1).sum(axis=1)

    def exclude(self) -> dict[str, set[str]]:
        return {c: set(self.split.history[c]) for c in self.couples}

    def score(self, lists: list[list[tuple[str, float]]]) -> dict[str, float]:
        """Metrics of one model's lists (one per test couple, in :attr:`couples` order)."""
        catalog, k = self.data.catalog, self.k
        ids = [[str(i) for i, _ in lst] for lst in lists]
        pos = [catalog.position(lst) if lst else np.array([], dtype=int) for lst in ids]
        for r, (c, p) in enumerate(zip(self.couples, pos)):
            if np.any(p < 0):
                raise ValueError(f"a model recommended an idea not in the catalog to couple {c!r}")
            if not self.candidates[r][p].all():
                raise ValueError(f"a model recommended an excluded (already done) idea to couple {c!r}")
        out: dict[str, float] = {}
        rel_rows = [r for r, c in enumerate(self.couples) if self.relevant[c]]
        for metric, fn in (("ndcg", ndcg_at_k), ("recall", recall_at_k), ("precision", precision_at_k)):
            vals = [fn(ids[r], self.relevant[self.couples[r]], k) for r in rel_rows]
            out[metric] = float(np.mean(vals)) if vals else 0.0
        topk = [p[:k] for p in pos]
        out["novelty"] = novelty(topk, self.popularity)
        if self.data.vectors.shape[1]:  # a catalog without attributes has no content distances
            dist = [float(np.mean(1.0 - self.data.vectors[p] @ self.routine[r]))
                    for r, p in enumerate(topk) if len(p)]
            out["routine_distance"] = float(np.mean(dist)) if dist else 0.0
            out["diversity"] = float(np.mean([intra_list_diversity(self.data.vectors[p]) for p in topk]))
        out["coverage"] = coverage(topk, self.n_ideas)
        out["exposure_gini"] = exposure_gini(topk, self.n_ideas)
        out["popular_share_top10"] = popular_share(topk, self.interactions, top=0.10)
        if self.enjoyment is not None:
            ratios = []
            for r, p in enumerate(pos):
                if self.oracle[r] != 0:
                    ratios.append(float(self.enjoyment[r, p[:TOP]].sum() / self.oracle[r]))
            out["enjoyment_ratio"] = float(np.mean(ratios)) if ratios else 0.0
        if self.top_categories is not None:
            shares = [float(np.mean([self.data.category[j] not in self.top_categories[r] for j in p[:TOP]]))
                      for r, p in enumerate(pos) if len(p)]
            out["outside_routine"] = float(np.mean(shares)) if shares else 0.0
        return out


def _recommend(model: Ranker, scorer: _Scorer) -> list[list[tuple[str, float]]]:
    lists = model.recommend(scorer.couples, max(scorer.k, TOP), exclude=scorer.exclude(),
                            history=scorer.split.train, profiles=scorer.profiles)
    if len(lists) != len(scorer.couples):
        raise ValueError(f"{type(model).__name__}.recommend returned {len(lists)} lists "
                         f"for {len(scorer.couples)} couples")
    return lists


def _fit(factory: RankerFactory, seed: int, train: pd.DataFrame, catalog: Catalog,
         profiles: dict[str, Profile], relevant: float | None = None,
         rating_scale: tuple[float, float] | None = None) -> Ranker:
    """Fit a fresh ranker on one split. A ranker with ``random_state`` gets the split's seed;
    one with ``relevant_rating`` / ``rating_scale`` left at None is trained for the relevance
    being scored (``relevant``) on the dataset's scale, so its target is what it is judged on."""
    model = factory()
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    if "random_state" in params:
        model.set_params(random_state=seed)
    if relevant is not None and params.get("relevant_rating", False) is None:
        model.set_params(relevant_rating=float(relevant))
    if rating_scale is not None and params.get("rating_scale", False) is None:
        model.set_params(rating_scale=tuple(rating_scale))
    return model.fit(train, catalog, profiles)


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = list(rows[0]) if rows else []
    return {key: round(float(np.mean([r[key] for r in rows])), 4) for key in keys}



def _summary(rows: list[dict[str, float]], per_seed: bool = True) -> dict[str, Any]:
    """Per metric: the mean over seeds, ``<metric>_ci`` (95% interval) and, with ``per_seed``,
    ``"per_seed": {metric: [value of seed 0, 1, ...]}``."""
    out: dict[str, Any] = dict(_mean(rows))
    for key in list(out):
        out[f"{key}_ci"] = interval([r[key] for r in rows])
    if per_seed:
        out["per_seed"] = {key: [round(float(r[key]), 4) for r in rows] for key in (rows[0] if rows else ())}
    return out



def _check(k: int, seeds: int, relevant: float) -> None:
    if not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if not isinstance(seeds, numbers.Integral) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    if not isinstance(relevant, numbers.Real):
        raise ValueError(f"relevant must be a rating (number), got {relevant!r}")


def _splits(data: _Data, seeds: int, relevant: float, k: int) -> Iterable[_Scorer]:
    for seed in range(seeds):
        split = split_dates(data.dates, seed)
        if not split.test:
            raise ValueError("no couple has 3 or more rated ideas; nothing to evaluate")
        scorer = _Scorer(data, split, relevant, k)
        if not any(scorer.relevant.values()):  # every model would score 0: say so before fitting any
            top = max(max(ratings.values()) for ratings in split.test.values())
            raise ValueError(f"no held-out rating reaches the relevant rating {relevant:g} (the highest is "
                             f"{top:g}, a date's mean over its partners): every model would score 0; "
                             f"set a lower --relevant (or \"relevant\" in schema.json)")
        yield scorer


# --------------------------------------------------------------------------- public

def default_models(engine: bool = True) -> dict[str, RankerFactory]:
    """The engine (if ``engine``) and the four baselines, with their documented defaults.

    ``engine`` is :class:`~engine.learning.model.EnjoymentModel` as shipped (point-in-time
    training); ``engine_loo`` is the same model trained leave-ideas-out
    (``training_history="others"``), the shape of this protocol's random
    hold-out, reported beside it so the cost of point-in-time training is visible.
    """
    models: dict[str, RankerFactory] = {}
    if engine:
        from ...learning.model import EnjoymentModel

        models["engine"] = EnjoymentModel
        models["engine_loo"] = partial(EnjoymentModel, training_history="others")
    models.update({
        "random": RandomRecommender,
        "popular": MostPopular,
        "item_knn": ItemKNN,
        "mf": MatrixFactorization,
    })
    return models


def evaluate(data: Any, models: Mapping[str, RankerFactory], k: int = 10, seeds: int = 3,
             relevant: float = 4, progress: bool = True, name: str | None = None) -> dict[str, Any]:
    """Evaluate rankers on the same seeded splits.

    Parameters
    ----------
    data : Dataset or SimulatedWorld
        Anything with ``.catalog`` and ``.dates``; with
        ``.expected_enjoyment`` (a simulated world) ``enjoyment_ratio`` is
        reported too.
    models : dict of name to factory
        Each factory returns a fresh, unfitted ranker (a class works). If the
        ranker has a ``random_state`` parameter it is set to the split's seed.
    k : int, default=10
        List length for the metrics.
    seeds : int, default=3
        Splits 0 .. seeds-1; metrics are averaged over them.
    relevant : float, default=4
        A held-out rating at or above this is relevant. A ranker with a
        ``relevant_rating`` parameter left at None is trained with this
        threshold (and with ``rating_scale`` = the dataset's scale), so the
        engine learns the relevance it is scored on.
    progress : bool, default=True
        Show a tqdm progress bar.
    name : str, optional
        Dataset name in the result (default ``synthetic`` for a world, else ``dataset``).

    Returns
    -------
    dict
        ``{"dataset": name, "k": k, "seeds": seeds, "models": {model: {"ndcg", "recall",
        "precision", "novelty", "routine_distance", "diversity",
        "coverage", "exposure_gini", "popular_share_top10", "enjoyment_ratio"?,
        "outside_routine"?}}, "note"?}``, each value
        the mean over seeds, rounded to 4 digits; beside each, ``"<metric>_ci"``
        (its 95% interval ``[lo, hi]`` over seeds, None for one seed, see
        :func:`interval`) and, per model, ``"per_seed": {metric: [values]}``.
        ``note`` (see :func:`noise_note`) says in one line when the intervals
        are wider than the gaps between models.
        ``routine_distance`` and ``diversity`` only when the catalog has
        encodable attributes. On data without dates ``engine_loo`` (the same
        model there) is not fitted and ``notes`` (a list) says why.
    """
    _check(k, seeds, relevant)
    if not models:
        raise ValueError("models is empty; pass at least one name -> ranker factory")
    prepared = _prepare(data, name)
    notes: list[str] = []
    if not prepared.dated and "engine" in models and "engine_loo" in models:
        # point-in-time training falls back to leave-ideas-out without days: the same model twice
        note = ("engine_loo skipped: the data has no dates (done_on), so point-in-time training is "
                "leave-ideas-out and engine_loo would be the engine fitted again; the engine is fitted "
                "once per seed")
        logger.info(note)
        notes.append(note)
        models = {m: f for m, f in models.items() if m != "engine_loo"}
    per_model: dict[str, list[dict[str, float]]] = {m: [] for m in models}
    with tqdm(total=seeds * len(models), desc="evaluate", disable=not progress) as bar:
        for scorer in _splits(prepared, seeds, relevant, k):
            for model_name, factory in models.items():
                bar.set_postfix_str(f"seed {scorer.split.seed} {model_name}")
                model = _fit(factory, scorer.split.seed, scorer.split.train, prepared.catalog,
                             prepared.profiles, relevant, prepared.rating_scale)
                metrics = scorer.score(_recommend(model, scorer))
                per_model[model_name].append(metrics)
                logger.info("seed %d %s: ndcg@%d %.4f", scorer.split.seed, model_name, k, metrics["ndcg"])
                bar.update()
    summaries = {m: _summary(rows) for m, rows in per_model.items()}
    result: dict[str, Any] = {"dataset": prepared.name, "k": int(k), "seeds": int(seeds), "models": summaries}
    note = noise_note(summaries, int(seeds))
    if note is not None:
        result["note"] = note
    if notes:
        result["notes"] = notes
    return result


def tradeoff_curve(data: Any, factory: RankerFactory, weights: Sequence[float], k: int = 10,
                   seeds: int = 3, relevant: float = 4, param: str = "routine_weight",
                   progress: bool = True) -> list[dict[str, float]]:
    """Accuracy against novelty/routine distance/enjoyment over a ranking-time parameter.

    The model is fitted once per seed; for each weight it is re-ranked after
    ``set_params(**{param: weight})`` (no refit), on the same splits as
    :func:`evaluate`.

    Parameters
    ----------
    data : Dataset or SimulatedWorld
    factory : callable
        Returns a fresh unfitted ranker with the parameter ``param``.
    weights : sequence of float
        Values of ``param`` to try.
    k, seeds, relevant, progress
        As in :func:`evaluate`.
    param : str, default="routine_weight"

    Returns
    -------
    list of dict
        One per weight, in the given order: ``{param: weight, <metric>: mean over seeds,
        <metric>_ci: 95% interval or None}``.
    """
    _check(k, seeds, relevant)
    if len(weights) == 0:
        raise ValueError("weights is empty; pass the values of the ranking parameter to try")
    prepared = _prepare(data, None)
    rows: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(weights))}
    with tqdm(total=seeds * len(weights), desc="trade-off", disable=not progress) as bar:
        for scorer in _splits(prepared, seeds, relevant, k):
            model = _fit(factory, scorer.split.seed, scorer.split.train, prepared.catalog,
                         prepared.profiles, relevant, prepared.rating_scale)
            if param not in model.get_params(deep=False):
                raise ValueError(f"{type(model).__name__} has no parameter {param!r}; "
                                 f"it has {sorted(model.get_params(deep=False))}")
            original = model.get_params(deep=False)[param]
            for i, w in enumerate(weights):
                model.set_params(**{param: w})
                rows[i].append(scorer.score(_recommend(model, scorer)))
                bar.update()
            model.set_params(**{param: original})
    return [{param: float(w), **_summary(rows[i], per_seed=False)} for i, w in enumerate(weights)]

