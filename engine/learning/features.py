"""The feature pipeline: ideas to vectors, couples' histories to pair features.

Two scikit-learn style transformers:

* :class:`IdeaEncoder` turns a catalog into one L2-normalised vector per idea,
  driven only by the schema's attribute kinds (a ``ColumnTransformer`` of
  one-hot, scaled-ordinal, log-scaled numeric, boolean and multi-hot parts),
  so it runs unchanged on any catalog in the import format.
* :class:`HistoryFeaturizer` learns the idea side from training dates (idea
  vectors, an item-item co-occurrence similarity, shrunk popularity and
  quality priors) and then turns *any* couple's history into pair features
  for every (couple, idea): taste, collaborative signal, routine distance,
  repeats, priors, distance from home (when ideas have a ``location``) and
  the couple's stated profile (interests, budget ceiling, home). Because the
  couple side is computed from the history passed in, a new rating changes
  the next suggestion without retraining, and a couple with no history gets
  the prior-only (cold-start) features (plus its profile, when it stated one).

Point-in-time correctness is the caller's job and easy: pass only the
history before the moment being predicted (``as_of``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from ..domain.catalog import Catalog
from ..domain.dates import mean_rating
from ..domain.geo import parse_location

# the encoders are pickled inside artifacts under this module's name: re-exported so those load
from .encoding import IdeaEncoder, MultiHotEncoder, OrdinalScaler, _bool_to_float, _log1p_nonneg  # noqa: F401
from .factors import als_sweeps, choose_alpha
from .histories import Histories, HistoryMixin  # noqa: F401 (Histories: importers of this module)
from .pair_features import _RELATIVE, FACTORS, FEATURE_NAMES, PairFeaturesMixin
from .similarity import bm25_similarity, cooccurrence_similarity, top_k_rows, weighted_rows  # noqa: F401

logger = logging.getLogger(__name__)

__all__ = ["FEATURE_NAMES", "HistoryFeaturizer", "IdeaEncoder", "MultiHotEncoder", "OrdinalScaler", "Histories"]


# --------------------------------------------------------------------------- histories

#: lazily built from the fitted state (id index, dense and transposed similarities, ...):
#: dropped on a new fit and never pickled
_DERIVED = ("_idea_pos", "_idea_index", "_matrix_cache", "_group_onehot", "_column_cache",
            "_match_layout_cache")

#: ALS sweeps per confidence weight tried by ``choose_alpha``: the weights' order is settled by then
#: (on a MovieLens-1M-sized world and the simulator's default one, as after 15)
_CHOICE_SWEEPS = 5

#: batches of at least this many rows, over catalogs of at most this many ideas, multiply
#: by dense copies of the similarity matrices (see ``HistoryFeaturizer._times``)
_DENSE_ROWS, _DENSE_IDEAS = 64, 2048

class HistoryFeaturizer(HistoryMixin, PairFeaturesMixin, BaseEstimator):
    """Learn the idea side from dates; turn histories into pair features.

    Parameters
    ----------
    rating_scale : tuple (min, max), optional
        Rating scale; default: the min and max rating seen in ``fit``.
    relevant_rating : float, optional
        A rating at or above this is "liked"; default: the top quarter of
        the scale (4 on 1-5, 1.5 on 0-2).
    neighbours : int, default=100
        Item-item similarities kept per idea.
    shrink : float, default=10.0
        Shrinkage of co-occurrence similarity and of the priors toward the
        global mean.
    recency_half_life : float, default=8.0
        Half-life, in dates, of the recency weights that define a couple's routine.
    user_neighbours : int, default=30
        Most similar reference couples used for the user-user signal.
    reference_couples : int, default=4000
        Training couples kept (a seeded sample) as references for that signal.
    choice_shrink : float, default=0.3
        Prior strength of the per-couple choice taste (``choice_taste``):
        one Newton step of a conditional logit of the couple's choices on
        the idea vectors, starting from the population's choice model. Larger
        shrinks the couple toward the population.
    group_attribute : str, optional
        Categorical attribute for familiarity features; default ``category``
        if the schema has it, else its first categorical attribute.
    factor_alpha : float or "auto", default="auto"
        Confidence weight of the implicit ALS behind ``cf_factors``; ``auto``: the one
        of :data:`~engine.learning.factors.ALPHAS` that ranks held-out liked ideas of the
        reference couples best (:func:`~engine.learning.factors.choose_alpha`; the one
        used is ``factor_alpha_``, each weight's validation NDCG ``factor_alpha_scores_``).
    random_state : int, default=0
        Seeds the sample of reference couples and the factors' starting point.
    """

    def __init__(self, rating_scale: tuple[float, float] | None = None,
                 relevant_rating: float | None = None, neighbours: int = 100,
                 shrink: float = 10.0, recency_half_life: float = 8.0,
                 group_attribute: str | None = None, user_neighbours: int = 30,
                 reference_couples: int = 4_000, choice_shrink: float = 0.3,
                 factor_alpha: float | str = "auto", random_state: int = 0):
        self.rating_scale = rating_scale
        self.relevant_rating = relevant_rating
        self.neighbours = neighbours
        self.shrink = shrink
        self.recency_half_life = recency_half_life
        self.group_attribute = group_attribute
        self.user_neighbours = user_neighbours
        self.reference_couples = reference_couples
        self.choice_shrink = choice_shrink
        self.factor_alpha = factor_alpha
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------
    def fit(self, dates: pd.DataFrame, catalog: Catalog):
        """Learn idea vectors, item-item similarity and priors from ``dates``."""
        for name in _DERIVED:  # computed from the fitted state on first use; stale after a new fit
            self.__dict__.pop(name, None)
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}; try 50")
        if self.shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {self.shrink}; try 10")
        if self.recency_half_life <= 0:
            raise ValueError(f"recency_half_life must be > 0, got {self.recency_half_life}; try 8")
        if not self.choice_shrink > 0:
            raise ValueError(f"choice_shrink must be > 0, got {self.choice_shrink}; try 0.3")
        if self.factor_alpha != "auto" and not (isinstance(self.factor_alpha, (int, float)) and self.factor_alpha > 0):
            raise ValueError(f"factor_alpha must be a number > 0 or 'auto', got {self.factor_alpha!r}; try 'auto'")
        self.catalog_ids_ = catalog.ids.astype(object)
        self.encoder_ = IdeaEncoder().fit(catalog)
        self.idea_vectors_ = self.encoder_.transform(catalog)
        ratings = mean_rating(dates)
        seen = ratings[~np.isnan(ratings)]
        if self.rating_scale is not None:
            lo, hi = map(float, self.rating_scale)
        elif len(seen):
            lo, hi = float(np.min(seen)), float(np.max(seen))
        else:
            lo, hi = 1.0, 5.0
        if hi <= lo:
            hi = lo + 1.0
        self.scale_ = (lo, hi)
        rel = self.relevant_rating
        if rel is None:
            rel = hi - (hi - lo) / 4.0
        self.relevant_rating_ = float(rel)
        self._fit_groups(catalog)
        self._fit_blocks(catalog)
        self._fit_labels(catalog)
        self.cost_ = _cost_tiers(catalog)
        self.locations_ = _locations(catalog)
        pairs = self._pairs(dates)
        n_ideas = len(self.catalog_ids_)
        shape = (len(pairs["couple_ids"]), n_ideas)
        times = sp.csr_matrix((np.ones(len(pairs["rows"])), (pairs["rows"], pairs["cols"])), shape=shape)
        done_bin = times.copy()
        done_bin.data[:] = 1.0
        counts = np.asarray(done_bin.sum(axis=0)).ravel()
        self.similarity_ = cooccurrence_similarity(done_bin, self.shrink, self.neighbours)
        # priors
        n_couples = max(shape[0], 1)
        self.popularity_ = np.log1p(counts) / np.log1p(max(counts.max(initial=0), 1))
        z = self.scale_ratings(ratings)
        pos = self.positions(dates["idea_id"].to_numpy())
        ok = (pos >= 0) & ~np.isnan(z)
        zsum = np.bincount(pos[ok], weights=z[ok], minlength=n_ideas)
        zcnt = np.bincount(pos[ok], minlength=n_ideas).astype(float)
        relsum = np.bincount(pos[ok], weights=(z[ok] >= self.relevant_z()).astype(float), minlength=n_ideas)
        self.global_z_ = float(np.mean(z[ok])) if ok.any() else 0.5
        self.global_rel_ = float(np.mean(z[ok] >= self.relevant_z())) if ok.any() else 0.5
        # shrunk toward the global mean; an idea nobody rated gets the global mean (also when shrink is 0)
        denom = zcnt + self.shrink
        rated = denom > 0
        self.quality_ = np.where(rated, (zsum + self.shrink * self.global_z_) / np.where(rated, denom, 1.0),
                                 self.global_z_)
        self.relevant_rate_ = np.where(rated, (relsum + self.shrink * self.global_rel_) / np.where(rated, denom, 1.0),
                                       self.global_rel_)
        self.idea_counts_ = counts
        self.bm25_similarity_ = bm25_similarity(done_bin, self.neighbours)
        # reference couples for the user-user signal (a seeded sample when there are many)
        pz = pairs["z"]
        rated = ~np.isnan(pz)
        liked_rows = sp.csr_matrix(((pz[rated] >= self.relevant_z()).astype(float),
                                    (pairs["rows"][rated], pairs["cols"][rated])), shape=shape)
        liked_rows.data[:] = np.minimum(liked_rows.data, 1.0)
        keep = np.flatnonzero(np.asarray(done_bin.sum(axis=1)).ravel() > 0)
        if len(keep) > self.reference_couples:
            rng = np.random.default_rng(self.random_state)
            keep = np.sort(rng.choice(keep, self.reference_couples, replace=False))
        ref = done_bin[keep]
        norms = np.sqrt(np.asarray(ref.multiply(ref).sum(axis=1)).ravel())
        self.reference_ = sp.csr_matrix(ref.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]), dtype=np.float32)
        self.reference_liked_ = sp.csr_matrix(liked_rows[keep] + 0.5 * ref)
        self.n_training_couples_ = n_couples
        self._fit_choice(counts)
        self._fit_factors(times, keep, pairs)
        return self

    def _fit_factors(self, times: sp.csr_matrix, rows: np.ndarray, pairs: dict) -> None:
        """Idea factors of implicit ALS (:data:`~engine.learning.pair_features.FACTORS`) on the reference
        couples' times done, its confidence weight chosen on them when ``factor_alpha`` is auto."""
        X = times[rows]
        alpha, self.factor_alpha_scores_ = self.factor_alpha, {}
        if alpha == "auto":
            alpha, self.factor_alpha_scores_ = choose_alpha(
                X, self._liked_pairs(pairs, times.shape)[rows], n_factors=FACTORS["n_factors"],
                regularization=FACTORS["regularization"], iterations=_CHOICE_SWEEPS, seed=self.random_state,
                cg_steps=FACTORS["cg_steps"])
        self.factor_alpha_ = float(alpha)
        Y = np.random.default_rng(self.random_state).normal(0.0, 0.01, (X.shape[1], FACTORS["n_factors"]))
        _, Y = als_sweeps(X, Y, FACTORS["regularization"], self.factor_alpha_, FACTORS["iterations"],
                          cg_steps=FACTORS["cg_steps"])
        self.item_factors_ = Y
        self.factor_gram_ = Y.T @ Y + FACTORS["regularization"] * np.eye(Y.shape[1])

    def _liked_pairs(self, pairs: dict, shape: tuple[int, int]) -> sp.csr_matrix:
        """1 where the couple's mean rating of the idea is relevant (as the training targets and the
        offline protocol define liked), else 0 or absent."""
        z, rated = pairs["z"], ~np.isnan(pairs["z"])
        at = (pairs["rows"][rated], pairs["cols"][rated])
        total = sp.csr_matrix((z[rated] + 1.0, at), shape=shape)  # duplicates summed; +1: no stored zeros
        count = sp.csr_matrix((np.ones(int(rated.sum())), at), shape=shape)
        total.data = (total.data / count.data - 1.0 >= self.relevant_z()).astype(float)
        return total

    def _fit_choice(self, counts: np.ndarray) -> None:
        """The population's choice model: how often each idea is done (add-one), and the
        covariance of idea vectors under it, kept as its eigen-decomposition."""
        V = self.idea_vectors_
        p = (counts + 1.0) / (counts + 1.0).sum()
        self.choice_mean_ = p @ V
        Vc = V - self.choice_mean_
        evals, evecs = np.linalg.eigh((Vc * p[:, None]).T @ Vc)
        self.choice_evals_, self.choice_evecs_ = np.maximum(evals, 0.0), evecs

    def _fit_blocks(self, catalog: Catalog) -> None:
        """Column blocks of the idea vectors, one per attribute, for the match features."""
        names = self.encoder_.get_feature_names_out()
        blocks: list[tuple[str, np.ndarray, bool]] = []
        for attr, spec in catalog.schema.attributes.items():
            cols = np.flatnonzero([n.startswith(attr + "__") for n in names])
            if len(cols):
                blocks.append((attr, cols, spec.kind in ("ordinal", "numeric", "boolean")))
        self.blocks_ = blocks
        self.feature_names_ = list(FEATURE_NAMES) + [f"match:{a}" for a, _, _ in blocks] + \
            [f"above:{a}" for a, _, scalar in blocks if scalar] + [f"rel:{n}" for n in _RELATIVE]

    def _fit_labels(self, catalog: Catalog) -> None:
        """Which ideas carry each value of a categorical or multi-valued attribute (lower-cased),
        for matching stated interests."""
        by_label: dict[str, set[int]] = {}
        for attr in catalog.schema.names("categorical") + catalog.schema.names("multi"):
            for pos, value in enumerate(catalog.frame[attr].to_numpy()):
                values = value if isinstance(value, (tuple, list)) else (value,)
                for v in values:
                    if isinstance(v, str) and v.strip():
                        by_label.setdefault(v.strip().lower(), set()).add(pos)
        self.label_ideas_ = {label: np.array(sorted(p), dtype=np.int64) for label, p in by_label.items()}

    def similarity_to(self, position: int) -> np.ndarray:
        """Dense column of the item-item similarity: how much each idea contributes to ``position``."""
        by_target = self._transposed("similarity_")  # (the products' copy: one per process)
        out = np.zeros(by_target.shape[1])
        lo, hi = by_target.indptr[position], by_target.indptr[position + 1]
        out[by_target.indices[lo:hi]] = by_target.data[lo:hi]
        return out

    def _group_matrix(self) -> np.ndarray | sp.csr_matrix:
        """One-hot (n_ideas, n_groups) of each idea's group (built once per process; read only):
        ``rows @ it`` sums each row's values per group, to the same bits either way. Dense up to
        :data:`_DENSE_IDEAS` ideas (a small product is cheaper than a sparse one's set-up), sparse
        above (dense it would be 5.7 MB at 50,000 ideas)."""
        out = self.__dict__.get("_group_onehot")
        if out is None:
            n = len(self.group_of_)
            out = sp.csr_matrix((np.ones(n), (np.arange(n), self.group_of_)), shape=(n, len(self.group_labels_)))
            if n <= _DENSE_IDEAS:
                out = out.toarray()
                out.flags.writeable = False
            self._group_onehot = out
        return out

    def _fit_groups(self, catalog: Catalog) -> None:
        group = self.group_attribute
        cats = catalog.schema.names("categorical")
        if group is None:
            group = "category" if "category" in cats else (cats[0] if cats else None)
        elif group not in cats:
            raise ValueError(f"group_attribute {group!r} is not a categorical attribute; choose one of {cats}")
        self.group_attribute_ = group
        if group is None:
            self.group_of_ = np.zeros(len(catalog), dtype=int)
            self.group_labels_ = np.array(["all"], dtype=object)
        else:
            codes, labels = pd.factorize(catalog.frame[group].fillna("?"))
            self.group_of_ = codes.astype(int)
            self.group_labels_ = np.asarray(labels, dtype=object)

    def share_ids(self, ids: np.ndarray) -> None:
        """Read the idea ids from ``ids`` (a loaded catalog's, the same ids in the same order) instead
        of the artifact's copy of them: one set of 50,000 strings in a worker, not two (3.6 MB).
        Ids that differ are refused (``ValueError``)."""
        ids = np.asarray(ids, dtype=object)
        if not np.array_equal(ids, self.catalog_ids_):
            raise ValueError("the catalog's idea ids differ from the ones this featurizer was fitted on")
        self.catalog_ids_ = ids
        for name in ("_idea_pos", "_idea_index"):  # keyed by the old strings: rebuilt on first use
            self.__dict__.pop(name, None)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}

    def __setstate__(self, state):
        state.setdefault("random_state", 0)  # artifacts from before the parameter were seeded with 0
        state.pop("_block_vectors", None)  # artifacts from before 2026-12-07 kept the blocks a second time
        self.__dict__.update(state)

    def _times(self, name: str, rows: np.ndarray, cols=slice(None)) -> np.ndarray:
        """``(rows @ S)[:, cols]`` for a fitted idea x idea similarity ``S`` (sparse, top-k per idea).

        A few rows (one request's couple; fewer than 64) are multiplied sparsely
        (:func:`_few_rows_times`). Top-k neighbours of a few hundred or thousand ideas fill
        10-30% of the matrix, where for a batch a dense product is 2-3x faster than the sparse
        one (measured on 6,000 rows with 336 and 1,000 ideas). Above 2,048 ideas the top-k fill
        a few percent of the matrix and a dense copy would cost 32-128 MB each (issue 23), so a
        batch is multiplied by a CSR copy of ``S'``. The dense and transposed copies are cached
        per process and never pickled.
        """
        matrix = getattr(self, name)
        if len(rows) < _DENSE_ROWS:
            return _few_rows_times(matrix, lambda: self._transposed(name), rows)[:, cols]
        if matrix.shape[0] > _DENSE_IDEAS:
            return np.asarray(self._transposed(name) @ rows.T).T[:, cols]
        cache = self.__dict__.setdefault("_matrix_cache", {})
        dense = cache.get(("dense", name))
        if dense is None:
            dense = cache[("dense", name)] = matrix.toarray()
        return rows @ dense[:, cols]

    def _transposed(self, name: str) -> sp.csr_matrix:
        """CSR copy of the fitted similarity ``name``'s transpose (cached per process): its products
        run without building a view."""
        cache = self.__dict__.setdefault("_matrix_cache", {})
        transposed = cache.get(("T", name))
        if transposed is None:
            transposed = cache[("T", name)] = getattr(self, name).T.tocsr()
        return transposed


#: a few rows read only the similarity rows of the ideas they hold while those are under this share of
#: the catalog (measured on 1,000 ideas: gathering costs ~10x a CSR product per non-zero read)
_GATHER_SHARE = 0.08


def _few_rows_times(matrix: sp.csr_matrix, transposed: Callable[[], sp.csr_matrix], rows: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` for a few dense rows (n_rows, n): ``matrix`` (n, m) is canonical CSR and
    ``transposed()`` gives its transpose as canonical CSR (asked for only when used: a large
    catalog's couples always take the gathered path, and its copies would be 10 MB at 50,000 ideas).

    Rows that hold few ideas (what a couple did or liked, against a large catalog) read only
    the matrix rows of those ideas (:func:`_gathered_times`); otherwise each row runs through
    ``transposed`` once (one sparse matrix-vector product per row is twice as fast as one
    product with several vectors). Both add each output's terms in the same order: the values
    are the same to the last bit.
    """
    if np.count_nonzero(rows) < _GATHER_SHARE * rows.size:
        return _gathered_times(matrix, rows)
    if not len(rows):
        return np.zeros((0, matrix.shape[1]))
    transposed = transposed()
    return np.vstack([transposed @ row for row in rows])


def _gathered_times(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` from the matrix rows ``j`` where some ``rows[r, j]`` is non-zero: each output
    adds its non-zero terms in ascending ``j``, as the CSR product ``matrix.T.tocsr() @ rows.T``
    does (its zero terms add nothing)."""
    r, j = np.nonzero(rows)
    return weighted_rows(matrix, r, j, rows[r, j], len(rows))


def _cost_tiers(catalog: Catalog) -> np.ndarray | None:
    """Each idea's ``cost`` tier as a number (what a budget ceiling is compared with), or None when
    the catalog has no ``cost`` attribute or one that is not a number for every idea."""
    if "cost" not in catalog.frame.columns:
        return None
    tiers = pd.to_numeric(catalog.frame["cost"], errors="coerce").to_numpy(dtype=float)
    return None if np.isnan(tiers).any() else tiers


def _locations(catalog: Catalog) -> np.ndarray | None:
    """(n_ideas, 2) latitude and longitude of each idea's place from the catalog's first
    ``location`` attribute (NaN rows: no place); None when the catalog has none."""
    names = catalog.schema.names("location")
    if not names:
        return None
    out = np.full((len(catalog), 2), np.nan)
    for i, value in enumerate(catalog.frame[names[0]].to_numpy()):
        place = parse_location(value if isinstance(value, str) else None)
        if place is not None:
            out[i] = place
    return out


