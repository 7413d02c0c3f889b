"""The engine side by side with peer libraries: implicit, LightFM and Surprise.

Usage::

    python -m bench peers [--data synthetic|DIR] [--couples 2000] [--seeds 3] [--json]
    python -m bench peers --training-time [--sizes 10000,100000,1000000]

Quality: every peer is wrapped as a ranker with the interface of
:mod:`engine.lab.evaluation` (``fit(dates, catalog)``, ``recommend(couples, k,
context=None, exclude=None, history=None)``) and evaluated by
:func:`engine.lab.evaluation.evaluate` in one call beside the engine
(``EnjoymentModel()``), ``engine_loo`` (``EnjoymentModel(training_history=
"others")``), ``engine_accuracy`` (``EnjoymentModel(routine_weight=0,
diversity=0)``: ranking by predicted enjoyment alone, a diagnostic) and the
in-house baselines, so every model sees the same seeded
splits and the same protocol as ``dateideas evaluate``.

Each peer has a small grid (:data:`PEERS`); every grid point is evaluated
and the best one by NDCG@k is reported. The best is chosen on the test
splits themselves, which flatters the peers (the engine runs with its
defaults, no grid).

Fit time is wall and CPU seconds of ``fit`` (mean over seeds). Peak memory
is the growth of the process's peak resident set during ``fit``: the peak
counter (``VmHWM``) is reset through ``/proc/self/clear_refs`` before the fit
and read after it, minus the resident set before (max over seeds). Where
that reset is not possible, ``tracemalloc``'s peak is used instead; the
result's ``memory_method`` says which.

Training time (``--training-time``): the engine and implicit ALS are each
fitted, in a fresh subprocess with ``OMP_NUM_THREADS=1`` and
``OPENBLAS_NUM_THREADS=1``, on the first 10k, 100k and 1M dates of a
simulated world; the child reports wall/CPU time of ``fit`` and its
``ru_maxrss``.

Results are written to ``bench/results/peers_<data>.json`` and
``bench/results/peers_training_time.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from engine.domain.catalog import Catalog
from engine.domain.dates import mean_rating
from engine.lab.baselines import InteractionRanker, check_number

__all__ = [
    "PEERS",
    "ImplicitALS",
    "ImplicitBPR",
    "ImplicitItemKNN",
    "LightFMWarp",
    "Peer",
    "SurpriseSVD",
    "available_peers",
    "grid_models",
    "main",
    "run",
    "training_time",
]

_ROOT = Path(__file__).resolve().parents[1]
_RESULTS = Path(__file__).resolve().parent / "results"
_SYNTHETIC_COUPLES = 2000
_SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --------------------------------------------------------------------------- adapters

class _Peer(InteractionRanker):
    """A peer model with one learned row per training couple.

    Couples unseen in ``fit`` score zero everywhere, so they fall back to
    popularity order (the baselines' documented cold-start path).
    """

    def _rows(self, couples: Sequence[str]) -> np.ndarray:
        return pd.Index(self.couple_ids_).get_indexer(list(couples))


def _scatter(n_rows: int, n_ideas: int, rows: np.ndarray, ids: np.ndarray,
             scores: np.ndarray) -> np.ndarray:
    """Dense (n_rows, n_ideas) scores from per-row (ids, scores) top lists; missing = 0."""
    out = np.zeros((n_rows, n_ideas))
    ids = np.asarray(ids)
    scores = np.asarray(scores, dtype=float)
    ok = (ids >= 0) & np.isfinite(scores)
    r = np.broadcast_to(np.asarray(rows)[:, None], ids.shape)
    out[r[ok], ids[ok]] = scores[ok]
    return out


class ImplicitALS(_Peer):
    """implicit's ``AlternatingLeastSquares`` on the couple x idea count matrix.

    Parameters
    ----------
    factors : int, default=64
    regularization : float, default=1.0
    alpha : float, default=10.0
        Confidence per date (implicit: ``1 + alpha * count``).
    iterations : int, default=15
    num_threads : int, default=1
        implicit's own threads (0 = all cores); 1 keeps timings comparable.
    random_state : int, default=0
    """

    def __init__(self, factors: int = 64, regularization: float = 1.0, alpha: float = 10.0,
                 iterations: int = 15, num_threads: int = 1, random_state: int | None = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params_(self) -> None:
        check_number("factors", self.factors, low=1, integer=True, hint="try 64")
        check_number("regularization", self.regularization, low=0, hint="try 1")
        check_number("alpha", self.alpha, low=0, hint="try 10")
        check_number("iterations", self.iterations, low=1, integer=True, hint="try 15")
        check_number("num_threads", self.num_threads, low=0, integer=True, hint="try 1")

    def _fit(self, X, dates):
        from implicit.als import AlternatingLeastSquares

        with threadpool_limits(1, user_api="blas"):  # implicit's advice: single-threaded BLAS
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, num_threads=self.num_threads, random_state=self.random_state)
            model.fit(X.astype(np.float32).tocsr(), show_progress=False)
        self.model_ = model

    def _scores(self, couples, H):
        rows = self._rows(couples)
        known = np.flatnonzero(rows >= 0)
        n_i = len(self.idea_ids_)
        if not len(known):
            return np.zeros((len(couples), n_i))
        ids, scores = self.model_.recommend(rows[known], H[known].astype(np.float32).tocsr(), N=n_i,
                                            filter_already_liked_items=False)
        dense = _scatter(len(known), n_i, np.arange(len(known)), ids, scores)
        out = np.zeros((len(couples), n_i))
        out[known] = dense
        return out


class ImplicitBPR(ImplicitALS):
    """implicit's ``BayesianPersonalizedRanking`` on the couple x idea count matrix.

    Parameters
    ----------
    factors : int, default=64
    learning_rate : float, default=0.05
    regularization : float, default=0.01
    iterations : int, default=100
    num_threads : int, default=1
    random_state : int, default=0
    """

    def __init__(self, factors: int = 64, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, num_threads: int = 1, random_state: int | None = 0):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params_(self) -> None:
        check_number("factors", self.factors, low=1, integer=True, hint="try 64")
        check_number("learning_rate", self.learning_rate, low=0, strict=True, hint="try 0.05")
        check_number("regularization", self.regularization, low=0, hint="try 0.01")
        check_number("iterations", self.iterations, low=1, integer=True, hint="try 100")
        check_number("num_threads", self.num_threads, low=0, integer=True, hint="try 1")

    def _fit(self, X, dates):
        from implicit.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, user_api="blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
                iterations=self.iterations, num_threads=self.num_threads, random_state=self.random_state)
            model.fit(X.astype(np.float32).tocsr(), show_progress=False)
        self.model_ = model


class ImplicitItemKNN(_Peer):
    """implicit's item-item recommenders (``CosineRecommender``, ``BM25Recommender``).

    Parameters
    ----------
    similarity : {"cosine", "bm25"}, default="cosine"
    K : int, default=50
        Neighbours kept per idea.
    K1, B : float, default=1.2, 0.75
        BM25 weighting (ignored for cosine).
    num_threads : int, default=1
    """

    def __init__(self, similarity: str = "cosine", K: int = 50, K1: float = 1.2, B: float = 0.75,
                 num_threads: int = 1):
        self.similarity = similarity
        self.K = K
        self.K1 = K1
        self.B = B
        self.num_threads = num_threads

    def _validate_params_(self) -> None:
        if self.similarity not in ("cosine", "bm25"):
            raise ValueError(f"similarity must be 'cosine' or 'bm25', got {self.similarity!r}")
        check_number("K", self.K, low=1, integer=True, hint="try 50")
        check_number("K1", self.K1, low=0, hint="try 1.2")
        check_number("B", self.B, low=0, hint="try 0.75")
        check_number("num_threads", self.num_threads, low=0, integer=True, hint="try 1")

    def _fit(self, X, dates):
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
        from implicit.utils import ParameterWarning

        if self.similarity == "cosine":
            model = CosineRecommender(K=self.K, num_threads=self.num_threads)
        else:
            model = BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=self.num_threads)
        with warnings.catch_warnings():
            # implicit 0.7's cosine normalises to a COO matrix itself, then warns about converting it
            warnings.filterwarnings("ignore", message="Method expects CSR input", category=ParameterWarning)
            model.fit(X.astype(np.float32).tocsr(), show_progress=False)
        self.model_ = model

    def _scores(self, couples, H):
        n_i = len(self.idea_ids_)
        rows = np.arange(len(couples))
        ids, scores = self.model_.recommend(rows, H.astype(np.float32).tocsr(), N=n_i,
                                            filter_already_liked_items=False)
        return _scatter(len(couples), n_i, rows, ids, scores)


class LightFMWarp(_Peer):
    """LightFM with the WARP loss on the binary couple x idea matrix.

    Parameters
    ----------
    no_components : int, default=32
    epochs : int, default=30
    learning_rate : float, default=0.05
    item_features : bool, default=False
        True: each idea is its identity plus its :class:`engine.learning.features.IdeaEncoder`
        vector, rows normalised to sum 1 (as ``lightfm.data.Dataset`` does).
    num_threads : int, default=1
    random_state : int, default=0
    """

    def __init__(self, no_components: int = 32, epochs: int = 30, learning_rate: float = 0.05,
                 item_features: bool = False, num_threads: int = 1, random_state: int | None = 0):
        self.no_components = no_components
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.item_features = item_features
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params_(self) -> None:
        check_number("no_components", self.no_components, low=1, integer=True, hint="try 32")
        check_number("epochs", self.epochs, low=1, integer=True, hint="try 30")
        check_number("learning_rate", self.learning_rate, low=0, strict=True, hint="try 0.05")
        check_number("num_threads", self.num_threads, low=1, integer=True, hint="try 1")
        if not isinstance(self.item_features, bool):
            raise ValueError(f"item_features must be True or False, got {self.item_features!r}")

    def fit(self, dates: pd.DataFrame, catalog: Catalog, profiles: Any = None) -> LightFMWarp:
        """Learn from ``dates`` over the ideas of ``catalog``; returns self (``profiles`` ignored)."""
        self._validate_params_()
        self.features_ = None
        if self.item_features:
            from engine.learning.features import IdeaEncoder

            attrs = sp.csr_matrix(IdeaEncoder().fit(catalog).transform(catalog))
            F = sp.hstack([sp.identity(len(catalog), format="csr"), attrs], format="csr")
            sums = np.asarray(F.sum(axis=1)).ravel()
            self.features_ = sp.diags(1.0 / np.maximum(sums, 1e-12)) @ F
            self.features_ = self.features_.astype(np.float32).tocsr()
        return super().fit(dates, catalog)

    def _fit(self, X, dates):
        from lightfm import LightFM

        model = LightFM(no_components=self.no_components, loss="warp", learning_rate=self.learning_rate,
                        random_state=self.random_state)
        interactions = (X > 0).astype(np.float32).tocoo()
        model.fit(interactions, item_features=self.features_, epochs=self.epochs,
                  num_threads=self.num_threads)
        self.model_ = model

    def _scores(self, couples, H):
        rows = self._rows(couples)
        known = np.flatnonzero(rows >= 0)
        n_i = len(self.idea_ids_)
        out = np.zeros((len(couples), n_i))
        if len(known):
            users = np.repeat(rows[known], n_i).astype(np.int32)
            items = np.tile(np.arange(n_i, dtype=np.int32), len(known))
            pred = self.model_.predict(users, items, item_features=self.features_,
                                       num_threads=self.num_threads)
            out[known] = pred.reshape(len(known), n_i)
        return out


class SurpriseSVD(_Peer):
    """Surprise's ``SVD`` (biased matrix factorisation of explicit ratings).

    Fitted on each couple's mean rating per idea; an idea is ranked by its
    predicted rating ``mu + b_u + b_i + p_u . q_i``. As in Surprise, an
    unknown couple gets ``mu + b_i`` and an unknown idea ``mu + b_u``.

    Parameters
    ----------
    n_factors : int, default=100
    n_epochs : int, default=20
    lr_all : float, default=0.005
    reg_all : float, default=0.02
    random_state : int, default=0
    """

    def __init__(self, n_factors: int = 100, n_epochs: int = 20, lr_all: float = 0.005,
                 reg_all: float = 0.02, random_state: int | None = 0):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.random_state = random_state

    def _validate_params_(self) -> None:
        check_number("n_factors", self.n_factors, low=1, integer=True, hint="try 100")
        check_number("n_epochs", self.n_epochs, low=1, integer=True, hint="try 20")
        check_number("lr_all", self.lr_all, low=0, strict=True, hint="try 0.005")
        check_number("reg_all", self.reg_all, low=0, hint="try 0.02")

    def _fit(self, X, dates):
        from surprise import SVD, Dataset, Reader

        frame = dates.assign(couple_id=dates["couple_id"].astype(str), idea_id=dates["idea_id"].astype(str),
                             _r=mean_rating(dates)).dropna(subset=["_r"])
        pairs = frame.groupby(["couple_id", "idea_id"], sort=True)["_r"].mean().reset_index()
        pairs = pairs[pairs["idea_id"].isin(set(self.idea_ids_))]
        if pairs.empty:
            raise ValueError("SurpriseSVD needs rated dates of catalog ideas; none were given")
        scale = (float(pairs["_r"].min()), float(pairs["_r"].max()))
        data = Dataset.load_from_df(pairs[["couple_id", "idea_id", "_r"]], Reader(rating_scale=scale))
        trainset = data.build_full_trainset()
        algo = SVD(n_factors=self.n_factors, n_epochs=self.n_epochs, lr_all=self.lr_all,
                   reg_all=self.reg_all, random_state=self.random_state)
        algo.fit(trainset)
        self.model_ = algo
        n_u, n_i = len(self.couple_ids_), len(self.idea_ids_)
        u_rows = pd.Index(self.couple_ids_).get_indexer(
            [trainset.to_raw_uid(u) for u in range(trainset.n_users)])
        i_cols = pd.Index(self.idea_ids_).get_indexer(
            [trainset.to_raw_iid(i) for i in range(trainset.n_items)])
        self.mean_ = float(trainset.global_mean)
        self.user_bias_, self.user_factors_ = np.zeros(n_u), np.zeros((n_u, self.n_factors))
        self.item_bias_, self.item_factors_ = np.zeros(n_i), np.zeros((n_i, self.n_factors))
        self.user_bias_[u_rows], self.user_factors_[u_rows] = algo.bu, algo.pu
        self.item_bias_[i_cols], self.item_factors_[i_cols] = algo.bi, algo.qi

    def _scores(self, couples, H):
        rows = self._rows(couples)
        bu = np.where(rows >= 0, self.user_bias_[np.maximum(rows, 0)], 0.0)
        P = np.where((rows >= 0)[:, None], self.user_factors_[np.maximum(rows, 0)], 0.0)
        return self.mean_ + bu[:, None] + self.item_bias_[None, :] + P @ self.item_factors_.T


# --------------------------------------------------------------------------- peers and grids

@dataclass(frozen=True)
class Peer:
    """One peer model family and its hyper-parameter grid.

    Attributes
    ----------
    name : str
        Family name in the results (``implicit_als``, ...).
    library : str
        The module that must be importable (``implicit``, ``lightfm``, ``surprise``).
    factory : callable
        Returns a fresh unfitted ranker for keyword parameters.
    grid : dict of str to list
        Every combination is evaluated.
    fixed : dict
        Parameters shared by every grid point (documented beside the grid).
    """

    name: str
    library: str
    factory: Callable[..., Any]
    grid: Mapping[str, Sequence[Any]]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def points(self) -> list[dict[str, Any]]:
        """Every grid point, in grid order."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in product(*(self.grid[k] for k in keys))]


PEERS: tuple[Peer, ...] = (
    Peer("implicit_als", "implicit", ImplicitALS,
         {"factors": [32, 64], "regularization": [0.1, 1.0, 10.0], "alpha": [1.0, 10.0]},
         {"iterations": 15}),
    Peer("implicit_bpr", "implicit", ImplicitBPR,
         {"factors": [32, 64], "learning_rate": [0.01, 0.05]},
         {"regularization": 0.01, "iterations": 100}),
    Peer("implicit_cosine", "implicit", partial(ImplicitItemKNN, similarity="cosine"),
         {"K": [20, 50, 100, 200]}),
    Peer("implicit_bm25", "implicit", partial(ImplicitItemKNN, similarity="bm25"),
         {"K": [50, 200], "K1": [1.2, 3.0]}, {"B": 0.75}),
    Peer("lightfm_warp", "lightfm", partial(LightFMWarp, item_features=False),
         {"no_components": [32, 64], "epochs": [20, 50]}, {"learning_rate": 0.05}),
    Peer("lightfm_warp_features", "lightfm", partial(LightFMWarp, item_features=True),
         {"no_components": [32, 64], "epochs": [20, 50]}, {"learning_rate": 0.05}),
    Peer("surprise_svd", "surprise", SurpriseSVD,
         {"n_factors": [20, 100], "reg_all": [0.02, 0.1]}, {"n_epochs": 20, "lr_all": 0.005}),
)


def available_peers(peers: Sequence[Peer] = PEERS) -> tuple[list[Peer], dict[str, str]]:
    """Split ``peers`` into the ones whose library imports and the skipped ones.

    Returns
    -------
    available : list of Peer
    skipped : dict of peer name to the reason (library not installed or broken)
    """
    ok, skipped = [], {}
    for peer in peers:
        try:
            importlib.import_module(peer.library)
        except ImportError as exc:
            skipped[peer.name] = (f"{peer.library} is not installed ({exc}); "
                                  "install the extra: pip install -e '.[bench]' (see docs/peers.md)")
            continue
        ok.append(peer)
    return ok, skipped


def _label(name: str, params: Mapping[str, Any]) -> str:
    return name + "[" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in params.items()) + "]" if params else name


def grid_models(peers: Sequence[Peer]) -> dict[str, tuple[str, dict[str, Any], Callable[[], Any]]]:
    """Every grid point of every peer: ``label -> (peer name, params, factory)``."""
    out = {}
    for peer in peers:
        for params in peer.points():
            out[_label(peer.name, params)] = (peer.name, params, partial(peer.factory, **params))
    return out


# --------------------------------------------------------------------------- measurement

def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so a fit's growth shows in RSS."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


class _Measured:
    """Wraps a ranker; records fit wall/CPU time and peak memory into ``sink``."""

    def __init__(self, inner: Any, sink: list[dict[str, float]], method: str):
        self.inner, self.sink, self.method = inner, sink, method

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return self.inner.get_params(deep=deep) if hasattr(self.inner, "get_params") else {}

    def set_params(self, **params: Any) -> _Measured:
        self.inner.set_params(**params)
        return self

    def fit(self, dates: pd.DataFrame, catalog: Catalog, profiles: Any = None) -> _Measured:
        if self.method == "rss":
            _trim()
            _can_reset_peak()
            before = _status_kib("VmRSS") or 0
        else:
            tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        self.inner.fit(dates, catalog, profiles)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if self.method == "rss":
            peak_mib = max((_status_kib("VmHWM") or 0) - before, 0) / 1024
        else:
            peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        self.sink.append({"fit_seconds": wall, "fit_cpu_seconds": cpu, "peak_mib": peak_mib})
        return self

    def recommend(self, *args: Any, **kwargs: Any):
        return self.inner.recommend(*args, **kwargs)


def _machine() -> dict[str, Any]:
    versions = {}
    for lib in ("numpy", "scipy", "pandas", "sklearn", "implicit", "lightfm", "surprise"):
        try:
            versions[lib] = getattr(importlib.import_module(lib), "__version__", "?")
        except ImportError:
            versions[lib] = None
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "versions": versions,
            "threads": {k: os.environ.get(k) for k in _SINGLE_THREAD}}


# --------------------------------------------------------------------------- quality run

def _engine_models() -> dict[str, Callable[[], Any]]:
    from engine.lab.evaluation import default_models
    from engine.learning.model import EnjoymentModel

    models = {"engine": EnjoymentModel, "engine_loo": partial(EnjoymentModel, training_history="others"),
              # diagnostic: the enjoyment model alone, without the routine/diversity trade-off
              "engine_accuracy": partial(EnjoymentModel, routine_weight=0.0, diversity=0.0)}
    models.update({name: f for name, f in default_models(engine=False).items()})
    return models


def run(data: Any, *, name: str, relevant: float, k: int = 10, seeds: int = 3,
        peers: Sequence[Peer] = PEERS, engine: bool = True, progress: bool = True) -> dict[str, Any]:
    """Evaluate the engine, the baselines and every peer grid point on the same splits.

    Parameters
    ----------
    data : Dataset or SimulatedWorld
        Anything :func:`engine.lab.evaluation.evaluate` accepts.
    name : str
        Dataset name in the result.
    relevant : float
        A held-out rating at or above this is relevant.
    k, seeds : int, default=10, 3
        As in :func:`engine.lab.evaluation.evaluate`.
    peers : sequence of Peer, default=PEERS
        Peers whose library is missing are skipped (listed under ``skipped``).
    engine : bool, default=True
        Also run ``engine``, ``engine_loo`` and the in-house baselines.
    progress : bool, default=True

    Returns
    -------
    dict
        ``dataset``, ``k``, ``seeds``, ``relevant``, ``memory_method``
        (``rss`` or ``tracemalloc``), ``models`` (name -> metrics + ``kind``,
        ``fit_seconds``, ``fit_cpu_seconds``, ``peak_mib``, and for peers
        ``peer``/``params``), ``best`` (peer name -> best grid label by
        NDCG), ``grids``, ``skipped`` (peer name -> reason), ``summary``,
        ``machine``, ``load_average_1min``, ``measured_at``.
    """
    from engine.lab.evaluation import evaluate

    method = "rss" if _can_reset_peak() else "tracemalloc"
    ready, skipped = available_peers(peers)
    factories: dict[str, Callable[[], Any]] = {}
    kinds: dict[str, dict[str, Any]] = {}
    if engine:
        for label, factory in _engine_models().items():
            factories[label] = factory
            kinds[label] = {"kind": "engine" if label.startswith("engine") else "baseline"}
    for label, (peer, params, factory) in grid_models(ready).items():
        factories[label] = factory
        kinds[label] = {"kind": "peer", "peer": peer, "params": params}
    if not factories:
        raise ValueError("nothing to run: no engine and no installed peer")
    sinks: dict[str, list[dict[str, float]]] = {label: [] for label in factories}

    def measured(label: str) -> Callable[[], _Measured]:
        return lambda: _Measured(factories[label](), sinks[label], method)

    load_before = os.getloadavg()[0]
    with threadpool_limits(1):
        result = evaluate(data, {label: measured(label) for label in factories}, k=k, seeds=seeds,
                          relevant=relevant, progress=progress, name=name)
    models: dict[str, dict[str, Any]] = {}
    for label, metrics in result["models"].items():
        fits = sinks[label]
        models[label] = {**kinds[label], **metrics,
                         "fit_seconds": round(float(np.mean([f["fit_seconds"] for f in fits])), 3),
                         "fit_cpu_seconds": round(float(np.mean([f["fit_cpu_seconds"] for f in fits])), 3),
                         "peak_mib": round(float(max(f["peak_mib"] for f in fits)), 1)}
    best = {}
    for peer in ready:
        labels = [lab for lab, v in models.items() if v.get("peer") == peer.name]
        best[peer.name] = max(labels, key=lambda lab: (models[lab]["ndcg"], -labels.index(lab)))
    grids = {p.name: {"library": p.library, "grid": {k_: list(v) for k_, v in p.grid.items()},
                      "fixed": dict(p.fixed)} for p in peers}
    return {
        "dataset": result["dataset"], "k": int(k), "seeds": int(seeds), "relevant": float(relevant),
        "memory_method": method,
        "models": models, "best": best, "grids": grids, "skipped": skipped,
        "summary": _summary(models, best),
        "machine": _machine(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _summary(models: Mapping[str, Mapping[str, Any]], best: Mapping[str, str]) -> dict[str, Any]:
    if not best:
        return {}
    top = max(best.values(), key=lambda lab: models[lab]["ndcg"])
    out: dict[str, Any] = {"best_peer": top, "best_peer_ndcg": models[top]["ndcg"]}
    for eng in ("engine", "engine_loo"):
        if eng in models and models[top]["ndcg"] > 0:
            out[f"{eng}_ndcg_over_best_peer"] = round(models[eng]["ndcg"] / models[top]["ndcg"], 3)
            out[f"{eng}_coverage"] = models[eng]["coverage"]
    return out


def _rows_for_table(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    models = result["models"]
    rows = [(lab, models[lab]) for lab in models if models[lab]["kind"] != "peer"]
    rows += [(lab, models[lab]) for lab in result["best"].values()]
    return rows


def table(result: Mapping[str, Any], markdown: bool = False) -> str:
    """The engine, the baselines and each peer's best grid point as a text (or markdown) table."""
    k = result["k"]
    head = ["model", "kind", f"ndcg@{k}", f"recall@{k}", "novelty", "coverage", "fit s", "fit cpu s",
            "peak MiB"]
    lines = []
    body = []
    for label, v in _rows_for_table(result):
        body.append([label, v["kind"], f"{v['ndcg']:.4f}", f"{v['recall']:.4f}", f"{v['novelty']:.3f}",
                     f"{v['coverage']:.3f}", f"{v['fit_seconds']:.2f}", f"{v['fit_cpu_seconds']:.2f}",
                     f"{v['peak_mib']:.1f}"])
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

        def fmt(row: list[str]) -> str:
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

        lines.append(f"dataset {result['dataset']}, metrics @{k}, mean over {result['seeds']} seed(s), "
                     f"relevant >= {result['relevant']:g}; peers: best grid point by ndcg@{k}")
        lines += [fmt(head), "-" * len(fmt(head))] + [fmt(row) for row in body]
    for peer, reason in result["skipped"].items():
        lines.append(f"skipped {peer}: {reason}")
    summary = result.get("summary") or {}
    if "engine_ndcg_over_best_peer" in summary:
        lines.append(f"engine ndcg / best peer ({summary['best_peer']}) = "
                     f"{summary['engine_ndcg_over_best_peer']:.3f} (goal >= 1.05); "
                     f"engine coverage {summary['engine_coverage']:.3f} (goal >= 0.5)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- training time

_TIMED = {"engine": "engine.learning.model:EnjoymentModel", "implicit_als": "bench.peers:ImplicitALS"}


def _fit_one(model: str, dates_path: str) -> None:
    """Child process: fit ``model`` on the pickled dates; print figures as JSON on stdout."""
    from engine.domain.catalog import load_catalog

    module, attr = _TIMED[model].split(":")
    cls = getattr(importlib.import_module(module), attr)
    dates = pd.read_pickle(dates_path)
    catalog = load_catalog()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    cls().fit(dates, catalog)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sys.stdout.write(json.dumps({
        "fit_seconds": round(wall, 2), "fit_cpu_seconds": round(cpu, 2),
        "max_rss_before_fit_mib": round(rss_before / 1024, 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }) + "\n")


def _simulated_dates(n_dates: int, seed: int) -> pd.DataFrame:
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate

    catalog = load_catalog()
    n_couples = max(1, math.ceil(n_dates / 25))
    while True:
        world = simulate(n_couples, seed=seed, catalog=catalog)
        if len(world.dates) >= n_dates:
            return world.dates.iloc[:n_dates].reset_index(drop=True)
        n_couples = math.ceil(n_couples * 1.2 * n_dates / max(len(world.dates), 1))


def training_time(sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
                  models: Sequence[str] = ("engine", "implicit_als"), seed: int = 0) -> dict[str, Any]:
    """Fit time and peak memory of the engine and implicit ALS on ``sizes`` simulated dates.

    Each fit runs in its own subprocess (single-threaded BLAS and OpenMP);
    the child reports ``ru_maxrss`` (its peak resident memory, including the
    loaded data; ``max_rss_before_fit_mib`` is the peak before ``fit``).

    Returns
    -------
    dict
        ``{"runs": [{"dates", "couples", "model", "fit_seconds",
        "fit_cpu_seconds", "max_rss_mib", ...}], "machine", ...}``
    """
    unknown = [m for m in models if m not in _TIMED]
    if unknown:
        raise ValueError(f"models must be among {sorted(_TIMED)}, got {unknown}")
    env = {**os.environ, **_SINGLE_THREAD,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        for size in sizes:
            dates = _simulated_dates(int(size), seed)
            path = str(Path(tmp) / f"dates_{size}.pkl")
            dates.to_pickle(path)
            n_couples = int(dates["couple_id"].nunique())
            del dates
            for model in models:
                load = os.getloadavg()[0]
                done = subprocess.run(
                    [sys.executable, "-c", f"from bench.peers import _fit_one; _fit_one({model!r}, {path!r})"],
                    capture_output=True, text=True, check=False, env=env, cwd=str(_ROOT))
                if done.returncode != 0:
                    raise RuntimeError(f"fitting {model} on {size} dates failed:\n{done.stderr}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                runs.append({"dates": int(size), "couples": n_couples, "model": model, **figures,
                             "load_average_1min": round(load, 2)})
    by_size = {}
    for size in sizes:
        times = {r["model"]: r["fit_seconds"] for r in runs if r["dates"] == size}
        if "engine" in times and times.get("implicit_als"):
            by_size[str(size)] = round(times["engine"] / times["implicit_als"], 1)
    return {"runs": runs, "engine_over_implicit_als": by_size, "seed": seed,
            "implicit_als_params": ImplicitALS().get_params(), "machine": _machine(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def training_table(result: Mapping[str, Any]) -> str:
    """The training-time runs as a markdown table."""
    lines = ["| dates | couples | model | fit s | fit cpu s | max RSS MiB | RSS before fit MiB |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for r in result["runs"]:
        lines.append(f"| {r['dates']:,} | {r['couples']:,} | {r['model']} | {r['fit_seconds']:.2f} | "
                     f"{r['fit_cpu_seconds']:.2f} | {r['max_rss_mib']:.0f} | {r['max_rss_before_fit_mib']:.0f} |")
    ratios = ", ".join(f"{int(s):,}: {v}x" for s, v in result["engine_over_implicit_als"].items())
    if ratios:
        lines.append(f"\nengine fit time / implicit ALS fit time: {ratios} (goal <= 3x at 1M)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI

def _load(data: str, n_couples: int | None, relevant: float | None, progress: bool):
    from engine.domain.catalog import load_catalog

    if data == "synthetic":
        from engine.lab.simulator import simulate

        world = simulate(n_couples or _SYNTHETIC_COUPLES, seed=0, catalog=load_catalog(), progress=progress)
        return world, "synthetic", 4.0 if relevant is None else relevant
    from engine.domain.dataset import DatasetError, read_dataset

    if n_couples is not None:
        raise SystemExit("--couples only applies to --data synthetic")
    folder = Path(data)
    if not folder.is_dir():
        raise SystemExit(f"--data must be 'synthetic' or a dataset folder in the import format, got {data!r}")
    try:
        source = read_dataset(folder)
    except DatasetError as exc:
        raise SystemExit(str(exc)) from exc
    scale_top = float(source.rating_scale[1])
    return source, folder.name or str(folder), scale_top if relevant is None else relevant


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m bench peers``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' (simulated couples) or a dataset folder in the import format")
    parser.add_argument("--couples", type=_positive_int, default=None,
                        help=f"simulated couples for --data synthetic (default {_SYNTHETIC_COUPLES})")
    parser.add_argument("--seeds", type=_positive_int, default=3)
    parser.add_argument("--k", type=_positive_int, default=10)
    parser.add_argument("--relevant", type=float, default=None,
                        help="relevant rating (default 4 for synthetic, the top of the dataset's scale)")
    parser.add_argument("--peers", default=None,
                        help="comma-separated peer names to run (default all: "
                             + ",".join(p.name for p in PEERS) + ")")
    parser.add_argument("--no-engine", action="store_true", help="run the peers only")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--out", type=Path, default=None,
                        help="result file (default bench/results/peers_<data>.json; '-' for none)")
    parser.add_argument("--training-time", action="store_true",
                        help="time engine vs implicit ALS training on --sizes simulated dates instead")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    if args.training_time:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        result = training_time(sizes)
        out = args.out or _RESULTS / "peers_training_time.json"
        text = training_table(result)
    else:
        peers = PEERS
        if args.peers:
            wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
            known = {p.name: p for p in PEERS}
            bad = [w for w in wanted if w not in known]
            if bad:
                parser.error(f"--peers: unknown {bad}; choose from {sorted(known)}")
            peers = tuple(known[w] for w in wanted)
        source, name, relevant = _load(args.data, args.couples, args.relevant, not args.no_progress)
        result = run(source, name=name, relevant=relevant, k=args.k, seeds=args.seeds, peers=peers,
                     engine=not args.no_engine, progress=not args.no_progress)
        out = args.out or _RESULTS / f"peers_{name}.json"
        text = table(result)
    if str(out) != "-":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write((json.dumps(result, indent=2) if args.json else text) + "\n")
    return result


if __name__ == "__main__":
    main()
