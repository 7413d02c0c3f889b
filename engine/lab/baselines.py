"""Baseline rankers that always run beside the engine in offline evaluation.

All four follow the ranker interface of :class:`engine.learning.model.EnjoymentModel`::

    model.fit(dates, catalog)                      # -> self
    model.recommend(couples, k, context=None, exclude=None, history=None)
    # -> for each couple, up to k (idea_id, score) pairs, best first

and the scikit-learn estimator contract (``__init__`` only stores
parameters, ``fit`` validates them, learned attributes end in ``_``).

* :class:`RandomRecommender` - a random order (the floor).
* :class:`MostPopular` - ideas by how many couples did them.
* :class:`ItemKNN` - cosine item-item similarity on the couple x idea
  implicit matrix (who did what), with shrinkage and top-k neighbours.
* :class:`MatrixFactorization` - implicit ALS with confidence weighting
  (Hu, Koren & Volinsky 2008), written with numpy; couples are folded in
  from the history passed to ``recommend``, so unseen couples work too.

The implicit matrix counts every date (rated or not, whatever the rating):
the baselines model *what couples do*, the engine models *what they enjoy*.
Ties, and couples with no usable history (cold start), fall back to
popularity order (documented fallback, not a silent zero).

Defaults were chosen on the UCI restaurant data and on 2,000 simulated
couples with :mod:`engine.lab.evaluation` (see ``docs/evaluation.md``).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..domain.catalog import Catalog
from ..domain.dates import mean_rating
from ..learning.factors import als_sweeps, solve_factors

__all__ = ["InteractionRanker", "ItemKNN", "MatrixFactorization", "MostPopular", "RandomRecommender",
           "check_number", "interaction_matrix"]

logger = logging.getLogger(__name__)

#: weight of the popularity tie-breaker added to personal scores
_TIE = 1e-6


def interaction_matrix(dates: pd.DataFrame, couple_ids: Sequence[str],
                       idea_ids: Sequence[str]) -> sp.csr_matrix:
    """Times each couple did each idea.

    Parameters
    ----------
    dates : DataFrame
        A dates frame (see :mod:`engine.domain.dates`).
    couple_ids : sequence of str, length n_couples
        Row order; couples absent from ``dates`` get an empty row.
    idea_ids : sequence of str, length n_ideas
        Column order; dates of other ideas are ignored.

    Returns
    -------
    csr_matrix of shape (n_couples, n_ideas)
    """
    rows = pd.Index(list(couple_ids)).get_indexer(dates["couple_id"].astype(str))
    cols = pd.Index(list(idea_ids)).get_indexer(dates["idea_id"].astype(str))
    ok = (rows >= 0) & (cols >= 0)
    m = sp.csr_matrix((np.ones(int(ok.sum())), (rows[ok], cols[ok])),
                      shape=(len(couple_ids), len(idea_ids)))
    m.sum_duplicates()
    return m


def check_number(name: str, value: Any, *, low: float, integer: bool = False,
                 strict: bool = False, hint: str) -> None:
    """Raise ``ValueError`` naming ``name``, the allowed range and ``hint`` unless ``value`` fits.

    ``value`` must be a number (an integer with ``integer``; never a bool)
    ``>= low`` (``> low`` with ``strict``).
    """
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        ok = value > low if strict else value >= low
    if not ok:
        what = "an integer" if integer else "a number"
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be {what} {bound}, got {value!r}; {hint}")


class InteractionRanker(BaseEstimator):
    """Base of rankers on the couple x idea interaction matrix (the baselines, the bench's peers).

    ``fit`` builds the matrix and the popularity order, ``recommend`` ranks
    with exclusions and a popularity tie-break. A subclass implements
    ``_fit(X, dates)`` (learn from the (n_couples, n_ideas) matrix ``X``),
    ``_scores(couples, H)`` (an (n, n_ideas) array from the couples' rows
    ``H``) and optionally ``_validate_params_()`` (raise ``ValueError``,
    e.g. with :func:`check_number`).
    """

    def fit(self, dates: pd.DataFrame, catalog: Catalog, profiles: Any = None):
        """Learn from ``dates`` (a dates frame) over the ideas of ``catalog``.

        ``profiles`` (couples' stated profiles) is accepted for the common
        ranker protocol and ignored: these rankers learn from interactions only.

        Returns
        -------
        self
        """
        self._validate_params_()
        self.idea_ids_ = np.asarray(catalog.ids, dtype=object)
        self.history_ = dates
        self.couple_ids_ = np.array(sorted(pd.unique(dates["couple_id"].astype(str))), dtype=object)
        X = interaction_matrix(dates, self.couple_ids_, self.idea_ids_)
        self.popularity_ = np.asarray((X > 0).sum(axis=0), dtype=float).ravel()
        self._fit(X, dates)
        return self

    def _validate_params_(self) -> None:
        """Check parameters; raise ``ValueError`` naming the bad one."""

    def _fit(self, X: sp.csr_matrix, dates: pd.DataFrame) -> None:
        """Learn from the implicit matrix ``X`` (n_couples, n_ideas)."""

    def _scores(self, couples: Sequence[str], H: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def score(self, couples: Sequence[str], history: pd.DataFrame | None = None) -> np.ndarray:
        """Scores of every catalog idea for each couple.

        Parameters
        ----------
        couples : sequence of str, length n
        history : DataFrame, optional
            The couples' known dates; default the dates seen in ``fit``.

        Returns
        -------
        ndarray of shape (n, n_ideas), columns in catalog order
        """
        check_is_fitted(self, "idea_ids_")
        couples = [str(c) for c in couples]
        history = self.history_ if history is None else history
        H = interaction_matrix(history, couples, self.idea_ids_)
        return self._scores(couples, H)

    def recommend(self, couples: Sequence[str], k: int, context: Any = None,
                  exclude: dict[str, set[str]] | None = None,
                  history: pd.DataFrame | None = None, profiles: Any = None) -> list[list[tuple[str, float]]]:
        """Top ``k`` ideas for each couple.

        Parameters
        ----------
        couples : sequence of str
        k : int
            List length (>= 1).
        context : ignored
            Baselines know nothing of tonight's context.
        exclude : dict of couple id to set of idea ids, optional
            Ideas never returned for that couple.
        history : DataFrame, optional
            The couples' known dates; default the dates seen in ``fit``.
        profiles : ignored
            Interactions only (see :meth:`fit`).

        Returns
        -------
        list of lists of (idea_id, score), best first
        """
        check_is_fitted(self, "idea_ids_")
        if not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        couples = [str(c) for c in couples]
        scores = self.score(couples, history)
        return _top_k(scores, self.idea_ids_, couples, k, exclude, self.popularity_)


def _top_k(scores: np.ndarray, idea_ids: np.ndarray, couples: list[str], k: int,
           exclude: dict[str, set[str]] | None, popularity: np.ndarray) -> list[list[tuple[str, float]]]:
    index = pd.Index(idea_ids)
    out = []
    # popularity breaks ties (and orders a cold couple's all-zero row)
    tie = popularity / max(popularity.max(initial=0.0), 1.0) * _TIE
    for r, couple in enumerate(couples):
        s = scores[r].astype(float) + tie
        if exclude and exclude.get(couple):
            pos = index.get_indexer(list(exclude[couple]))
            s[pos[pos >= 0]] = -np.inf
        n = min(k, int(np.isfinite(s).sum()))
        if n == 0:
            out.append([])
            continue
        top = np.argpartition(-s, n - 1)[:n] if n < len(s) else np.arange(len(s))
        top = top[np.lexsort((top, -s[top]))][:n]
        out.append([(str(idea_ids[j]), float(scores[r, j])) for j in top])
    return out


class RandomRecommender(InteractionRanker):
    """Ideas in a random order: the floor every model must clear.

    Parameters
    ----------
    random_state : int or None, default=0
        Seed; the same seed gives the same lists for the same couples.
    """

    def __init__(self, random_state: int | None = 0):
        self.random_state = random_state

    def _validate_params_(self) -> None:
        if self.random_state is not None and not isinstance(self.random_state, numbers.Integral):
            raise ValueError(f"random_state must be an integer or None, got {self.random_state!r}")

    def _scores(self, couples, H):
        rng = np.random.default_rng(self.random_state)
        return rng.random((len(couples), len(self.idea_ids_)))


class MostPopular(InteractionRanker):
    """Ideas by how many training couples did them (the same list for everyone).

    Parameters
    ----------
    min_rating : float or None, default=None
        None counts every couple who did the idea; a number counts only the
        couples whose mean rating of it is at least this ("liked" popularity).
        Counting every couple evaluated better on both data sets (see
        ``docs/evaluation.md``), hence the default.
    """

    def __init__(self, min_rating: float | None = None):
        self.min_rating = min_rating

    def _validate_params_(self) -> None:
        if self.min_rating is not None and (
                not isinstance(self.min_rating, numbers.Real) or isinstance(self.min_rating, bool)
                or not np.isfinite(self.min_rating)):
            raise ValueError(f"min_rating must be a number or None, got {self.min_rating!r}; "
                             "use None to count every couple who did the idea")

    def _fit(self, X, dates):
        if self.min_rating is None:
            self.counts_ = self.popularity_.copy()
            return
        frame = dates.assign(_r=mean_rating(dates)).dropna(subset=["_r"])
        per_pair = frame.groupby(["couple_id", "idea_id"])["_r"].mean()
        liked = per_pair[per_pair >= self.min_rating].reset_index()
        counts = liked.groupby("idea_id").size()
        self.counts_ = counts.reindex(self.idea_ids_).fillna(0.0).to_numpy(float)

    def _scores(self, couples, H):
        return np.tile(self.counts_, (len(couples), 1))


class ItemKNN(InteractionRanker):
    """Cosine item-item neighbourhood on the couple x idea implicit matrix.

    ``sim(i, j) = |U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink)`` where ``U_i`` is
    the set of couples who did idea ``i``; each idea keeps its
    ``k_neighbours`` most similar ideas. A couple's score for idea ``j`` is the
    sum of ``sim(i, j)`` over the ideas ``i`` in its history.

    Parameters
    ----------
    k_neighbours : int, default=100
        Neighbours kept per idea (>= 1).
    shrink : float, default=0.0
        Shrinkage of the similarity toward 0 for rarely done ideas (>= 0).

    Defaults from the grid k_neighbours in {10, 20, 50, 100, 200} x shrink in
    {0, 10}: 100/0 is within 0.003 NDCG@10 of the best on both UCI (0.353)
    and 2,000 simulated couples (0.304), with higher coverage than 200.
    """

    def __init__(self, k_neighbours: int = 100, shrink: float = 0.0):
        self.k_neighbours = k_neighbours
        self.shrink = shrink

    def _validate_params_(self) -> None:
        check_number("k_neighbours", self.k_neighbours, low=1, integer=True, hint="try 100")
        check_number("shrink", self.shrink, low=0, hint="try 0 or 10")

    def _fit(self, X, dates):
        B = (X > 0).astype(float).tocsc()
        counts = np.asarray(B.sum(axis=0)).ravel()
        co = (B.T @ B).toarray()
        sim = co / (np.sqrt(np.outer(counts, counts)) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        n = sim.shape[0]
        k = min(self.k_neighbours, max(n - 1, 1))
        if k < n - 1:
            # keep, for each target idea j (column), its k most similar ideas
            cut = np.partition(sim, n - k, axis=0)[n - k]
            sim = np.where(sim >= cut[None, :], sim, 0.0)
        self.similarity_ = sp.csr_matrix(sim)

    def _scores(self, couples, H):
        return np.asarray(((H > 0).astype(float) @ self.similarity_).todense())


class MatrixFactorization(InteractionRanker):
    """Implicit-feedback matrix factorisation by alternating least squares.

    Minimises ``sum c_ui (p_ui - x_u . y_i)^2 + regularization (|x|^2 + |y|^2)``
    with preference ``p_ui = 1`` if couple ``u`` did idea ``i`` and confidence
    ``c_ui = 1 + alpha * times_done`` (Hu, Koren & Volinsky 2008). Couple
    factors at ranking time are solved ("folded in") from the history given
    to :meth:`recommend`, so couples unseen in ``fit`` are ranked too.

    Parameters
    ----------
    n_factors : int, default=32
        Latent dimensions (>= 1).
    regularization : float, default=10.0
        L2 penalty (> 0).
    iterations : int, default=15
        ALS sweeps (>= 1).
    alpha : float, default=5.0
        Confidence per date (>= 0).
    random_state : int or None, default=0
        Seed of the initial factors.

    Defaults from the grid n_factors in {16, 32, 64} x regularization in
    {0.1, 1, 10, 30} x alpha in {1, 2, 5, 10, 40}: UCI prefers strong
    confidence (alpha 10-40), the simulator weak (alpha 1-2) and more
    regularization; 32/10/5 is within ~0.01 of the best on UCI (0.339) and
    ~0.03 on synthetic (0.309).
    """

    def __init__(self, n_factors: int = 32, regularization: float = 10.0, iterations: int = 15,
                 alpha: float = 5.0, random_state: int | None = 0):
        self.n_factors = n_factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.random_state = random_state

    def _validate_params_(self) -> None:
        check_number("n_factors", self.n_factors, low=1, integer=True, hint="try 32")
        check_number("regularization", self.regularization, low=0, strict=True, hint="try 10")
        check_number("iterations", self.iterations, low=1, integer=True, hint="try 15")
        check_number("alpha", self.alpha, low=0, hint="try 5")

    def _fit(self, X, dates):
        rng = np.random.default_rng(self.random_state)
        n_u, n_i = X.shape
        f = self.n_factors
        rng.normal(0, 0.01, (n_u, f))  # the couple side's start: never used, drawn so V's start stays the same
        V = rng.normal(0, 0.01, (n_i, f))
        U, V = als_sweeps(X, V, self.regularization, self.alpha, self.iterations)
        if not (np.all(np.isfinite(U)) and np.all(np.isfinite(V))):
            raise FloatingPointError("matrix factorisation diverged (non-finite factors); "
                                     "try a larger regularization or a smaller alpha")
        self.user_factors_ = U
        self.item_factors_ = V

    def _scores(self, couples, H):
        U = solve_factors(H, self.item_factors_, self.regularization, self.alpha)
        return U @ self.item_factors_.T
