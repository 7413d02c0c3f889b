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
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, Normalizer, OneHotEncoder
from sklearn.utils.validation import check_is_fitted

from ..lab.baselines import als_sweeps, solve_factors
from ..domain.catalog import Catalog
from ..domain.dates import CoupleDates, mean_rating
from ..domain.geo import distances_km, parse_location
from ..domain.profiles import NO_PROFILE, Profiles

logger = logging.getLogger(__name__)

__all__ = ["FEATURE_NAMES", "HistoryFeaturizer", "IdeaEncoder", "MultiHotEncoder", "OrdinalScaler", "Histories"]


class MultiHotEncoder(BaseEstimator, TransformerMixin):
    """Encode a column of tuples of labels as a multi-hot matrix.

    Parameters
    ----------
    min_count : int, default=2
        Labels seen fewer times than this in ``fit`` are dropped (keeps open
        vocabularies such as free tags small).
    max_labels : int, default=50
        Keep at most this many of the most frequent labels.
    """

    def __init__(self, min_count: int = 2, max_labels: int = 50):
        self.min_count = min_count
        self.max_labels = max_labels

    def fit(self, X, y=None):
        if self.min_count < 1 or self.max_labels < 1:
            raise ValueError(
                f"min_count and max_labels must be >= 1, got {self.min_count} and {self.max_labels}"
            )
        counts = pd.Series([lab for row in _column(X) for lab in row], dtype=object).value_counts()
        counts = counts[counts >= self.min_count].head(self.max_labels)
        self.labels_ = np.array(sorted(counts.index), dtype=object)
        self._index = {lab: i for i, lab in enumerate(self.labels_)}
        return self

    def transform(self, X):
        check_is_fitted(self, "labels_")
        rows = _column(X)
        out = np.zeros((len(rows), len(self.labels_)), dtype=float)
        for r, labels in enumerate(rows):
            for lab in labels:
                j = self._index.get(lab)
                if j is not None:
                    out[r, j] = 1.0
        norms = np.sqrt(out.sum(axis=1, keepdims=True))
        return out / np.maximum(norms, 1.0)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "labels_")
        return np.array([f"{lab}" for lab in self.labels_], dtype=object)


def _column(X) -> list[tuple]:
    if isinstance(X, pd.DataFrame):
        X = X.iloc[:, 0]
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = X[:, 0]
    return [tuple(v) if isinstance(v, (tuple, list)) else () for v in X]


class OrdinalScaler(BaseEstimator, TransformerMixin):
    """Map ordinal levels to their position in ``order``, scaled to [0, 1] (unknown -> 0.5).

    Parameters
    ----------
    order : sequence of str
        The levels, lowest first.
    """

    def __init__(self, order: Sequence[str] = ()):
        self.order = order

    def fit(self, X, y=None):
        if len(self.order) < 1:
            raise ValueError("order must list at least one level, lowest first")
        self.levels_ = {str(v): i for i, v in enumerate(self.order)}
        return self

    def transform(self, X):
        check_is_fitted(self, "levels_")
        top = max(len(self.levels_) - 1, 1)
        frame = pd.DataFrame(X)
        return frame.apply(lambda col: col.map(lambda v: self.levels_.get(str(v), np.nan) / top)) \
            .fillna(0.5).to_numpy(float)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else ["x0"], dtype=object)


def _bool_to_float(X):
    return pd.DataFrame(X).astype(float).to_numpy()


class IdeaEncoder(BaseEstimator, TransformerMixin):
    """One vector per idea, built from the catalog schema's attribute kinds.

    categorical -> one-hot, ordinal -> position in ``order`` scaled to [0, 1],
    numeric -> log1p then min-max scaled, boolean -> 0/1, multi -> multi-hot
    (each row's block normalised), text and location -> ignored (a place is not
    a taste; the ``distance`` features use it). Rows are L2-normalised,
    so a dot product of two rows is their cosine similarity.

    A catalog with no encodable attribute (ids and titles only, as in most
    public ratings data) is encoded as zero-width vectors, shape
    (n_ideas, 0): every content similarity is then 0, the content features
    are constant, and the model ranks from the collaborative signals alone.
    ``content_features_`` is False then (the model card reports it).

    Parameters
    ----------
    weights : dict of str to float, optional
        Per-attribute weight (default 1.0 each); 0 drops an attribute.
    """

    def __init__(self, weights: dict[str, float] | None = None):
        self.weights = weights

    def fit(self, X: Catalog, y=None):
        if not isinstance(X, Catalog):
            raise TypeError(f"IdeaEncoder.fit expects a Catalog, got {type(X).__name__}")
        weights = dict(self.weights or {})
        bad = [k for k, v in weights.items() if not (isinstance(v, (int, float)) and v >= 0)]
        if bad:
            raise ValueError(f"weights must be numbers >= 0; bad entries: {bad}")
        parts = []
        for name, spec in X.schema.attributes.items():
            w = float(weights.get(name, 1.0))
            if w == 0 or spec.kind in ("text", "location"):
                continue
            if spec.kind == "categorical":
                cats = [list(spec.values)] if spec.values else "auto"
                step = OneHotEncoder(categories=cats, handle_unknown="ignore", sparse_output=False)
            elif spec.kind == "ordinal":
                step = OrdinalScaler(order=spec.order)
            elif spec.kind == "numeric":
                step = Pipeline([
                    ("log", FunctionTransformer(_log1p_nonneg, feature_names_out="one-to-one")),
                    ("scale", MinMaxScaler()),
                ])
            elif spec.kind == "boolean":
                step = FunctionTransformer(_bool_to_float, feature_names_out="one-to-one")
            else:  # multi
                step = MultiHotEncoder()
            parts.append((name, step, [name]))
        self.attribute_weights_ = {name: float(weights.get(name, 1.0)) for name, _, _ in parts}
        if not parts:
            # ids and titles only (a purely collaborative dataset): every idea is the zero-width
            # vector, so every content similarity is 0 and the collaborative signals rank alone
            logger.info("the catalog has no encodable attributes (all text, location or weight 0): "
                        "no content features; ranking from the collaborative signals alone")
            self.content_features_ = False
            self.pipeline_ = None
            self.feature_names_ = []
            return self
        self.content_features_ = True
        self.pipeline_ = Pipeline([
            ("columns", ColumnTransformer(parts, transformer_weights=self.attribute_weights_,
                                          sparse_threshold=0.0)),
            ("l2", Normalizer()),
        ])
        self.pipeline_.fit(X.frame)
        self.feature_names_ = list(self.pipeline_.named_steps["columns"].get_feature_names_out())
        return self

    def transform(self, X: Catalog | pd.DataFrame) -> np.ndarray:
        """Vectors of shape (n_ideas, n_features)."""
        check_is_fitted(self, "feature_names_")
        frame = X.frame if isinstance(X, Catalog) else X
        if self.pipeline_ is None:
            return np.zeros((len(frame), 0))
        return np.asarray(self.pipeline_.transform(frame), dtype=float)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_")
        return np.array(self.feature_names_, dtype=object)


def _log1p_nonneg(X):
    return np.log1p(np.clip(np.asarray(X, dtype=float), 0, None))


# --------------------------------------------------------------------------- histories

@dataclass
class Histories:
    """Dense per-couple summaries of history, rows = couples, columns = ideas.

    Attributes
    ----------
    couple_ids : ndarray of shape (n_couples,)
    done : ndarray (n_couples, n_ideas)
        Times each idea was done.
    liked, disliked : ndarray (n_couples, n_ideas)
        1 where the couple's mean rating of the idea is relevant / low.
    centered : ndarray (n_couples, n_ideas)
        Rating minus the couple's shrunk mean, scaled to [-1, 1] (0 = not rated).
    recent : ndarray (n_couples, n_ideas)
        Recency weights (exponential decay over the couple's own date order).
    last_day : ndarray (n_couples, n_ideas)
        Day number (days since 1970) + 1 of the latest time done; 0 = never or undated.
    rated : ndarray (n_couples, n_ideas)
        The couple's own mean rating of the idea on the [0, 1] scale; NaN = never rated.
    n_dates : ndarray (n_couples,)
    mean_z : ndarray (n_couples,)
        Shrunk mean of the couple's ratings on the [0, 1] scale.
    interest : ndarray (n_couples, n_ideas)
        1 where the idea has an attribute value among the couple's stated interests.
    over_budget : ndarray (n_couples, n_ideas)
        1 where the idea's ``cost`` is above the couple's stated budget ceiling.
    interests : list of tuple of str, length n_couples
        Each couple's stated interests (:func:`engine.domain.profiles.labels`).
    homes : ndarray (n_couples, 2)
        Latitude and longitude of each couple's home: the stated one, else the
        median of the places of the ideas they did; NaN when neither is known.
    partner : {None, "a", "b"}
        Whose ratings the rating summaries are (None: the couple's, the mean
        of the partners who rated; see :meth:`HistoryFeaturizer.histories`).
    liked_by : ndarray (2, n_couples, n_ideas) or None
        1 where partner a (row 0) / b (row 1) themselves rated the idea
        relevant on average (the couple's histories only; None for a partner's).
    """

    couple_ids: np.ndarray
    done: np.ndarray
    liked: np.ndarray
    disliked: np.ndarray
    centered: np.ndarray
    recent: np.ndarray
    last_day: np.ndarray
    rated: np.ndarray
    n_dates: np.ndarray
    mean_z: np.ndarray
    interest: np.ndarray
    over_budget: np.ndarray
    interests: list[tuple[str, ...]]
    homes: np.ndarray
    partner: str | None = None
    liked_by: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> "Histories":
        """The same summaries for the couples at ``rows`` only (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        picked = {name: (value[rows] if isinstance(value, np.ndarray) else value)
                  for name, value in vars(self).items() if name not in ("interests", "liked_by")}
        liked_by = None if self.liked_by is None else self.liked_by[:, rows]
        return Histories(**picked, interests=[self.interests[r] for r in rows], liked_by=liked_by)


#: implicit ALS behind ``cf_factors``: implicit's ALS at its best point of the peers grid
#: on synthetic couples (docs/peers.md); 5 sweeps, as 10 / 15 add only 0.002 / 0.003 NDCG@10
#: (3 seeds) for ~1.3 / 2.7 s more training at 1M dates (README, "How the defaults were chosen")
_FACTORS = {"n_factors": 32, "regularization": 10.0, "alpha": 1.0, "iterations": 5}

#: lazily built from the fitted state (similarity by target, id index, dense similarities):
#: dropped on a new fit and never pickled
_DERIVED = ("_by_target", "_idea_index", "_matrix_cache")

#: batches of at least this many rows, over catalogs of at most this many ideas, multiply
#: by dense copies of the similarity matrices (see ``HistoryFeaturizer._times``)
_DENSE_ROWS, _DENSE_IDEAS = 64, 2048

#: couples per step of the scalar match features: temporaries of (scalars x rows x ideas) stay ~10 MB
_MATCH_ROWS = 256

#: the features computed from the couple's ratings (the rest come from what was done, when, and the profile)
_TASTE = ("cf_liked", "cf_disliked", "taste", "sim_liked", "sim_disliked", "attr_taste", "couple_mean")

#: features also given relative to the couple's own range (0 = their lowest idea, 1 = their highest)
_RELATIVE = ("cf_done", "cf_liked", "taste", "sim_liked", "routine_distance", "attr_share", "nearby")

FEATURE_NAMES = (
    "cf_done",
    "cf_liked",
    "cf_disliked",
    "taste",
    "sim_liked",
    "sim_disliked",
    "routine_distance",
    "attr_share",
    "attr_taste",
    "times_done",
    "days_since",
    "popularity",
    "quality",
    "relevant_rate",
    "history_size",
    "couple_mean",
    "cf_user",
    "cf_bm25",
    "choice_taste",
    "cf_factors",
    "group_rank1",
    "group_rank2",
    "group_rank3",
    "group_rank4",
    "interest",
    "interest_novel",
    "over_budget",
    "interest_cold",
    "distance",
    "nearby",
)

#: ``nearby`` = exp(-km / this): an idea this far from home counts 0.37 as near as one next door
_NEARBY_KM = 5.0
#: ``distance`` = min(km, this) / this: beyond it, farther makes no difference (another town).
#: Linear rather than log1p(km): UCI NDCG@10 0.378 vs 0.373 (3 seeds, README)
_FAR_KM = 30.0


class HistoryFeaturizer(BaseEstimator):
    """Learn the idea side from dates; turn histories into pair features.

    Parameters
    ----------
    rating_scale : tuple (min, max), optional
        Rating scale; default: the min and max rating seen in ``fit``.
    relevant_rating : float, optional
        A rating at or above this is "liked"; default: the top quarter of
        the scale (4 on 1-5, 2 on 0-2).
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
    """

    def __init__(self, rating_scale: tuple[float, float] | None = None,
                 relevant_rating: float | None = None, neighbours: int = 100,
                 shrink: float = 10.0, recency_half_life: float = 8.0,
                 group_attribute: str | None = None, user_neighbours: int = 30,
                 reference_couples: int = 4_000, choice_shrink: float = 0.3):
        self.rating_scale = rating_scale
        self.relevant_rating = relevant_rating
        self.neighbours = neighbours
        self.shrink = shrink
        self.recency_half_life = recency_half_life
        self.group_attribute = group_attribute
        self.user_neighbours = user_neighbours
        self.reference_couples = reference_couples
        self.choice_shrink = choice_shrink

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
        self.catalog_ids_ = catalog.ids.astype(object)
        self._idea_pos = {idea: i for i, idea in enumerate(self.catalog_ids_)}
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
        # item-item cosine similarity on who did what, shrunk, top-k per idea; kept sparse
        # throughout (a dense ideas x ideas matrix is 128 MB at 4,000 ideas, several at once)
        co = sp.coo_matrix(done_bin.T @ done_bin)
        counts = np.asarray(done_bin.sum(axis=0)).ravel()
        denom = np.sqrt(counts[co.row] * counts[co.col]) + self.shrink
        values = np.divide(co.data, denom, out=np.zeros(len(co.data)), where=denom > 0)
        # column i: the neighbours contributing to idea i; sparse (top-k per idea)
        self.similarity_ = _top_k_rows(co.row, co.col, values, n_ideas, self.neighbours).T.tocsr()
        # priors
        n_couples = max(shape[0], 1)
        self.popularity_ = np.log1p(counts) / np.log1p(max(counts.max(initial=0), 1))
        z = self._z(ratings)
        pos = self._positions(dates["idea_id"].to_numpy())
        ok = (pos >= 0) & ~np.isnan(z)
        zsum = np.bincount(pos[ok], weights=z[ok], minlength=n_ideas)
        zcnt = np.bincount(pos[ok], minlength=n_ideas).astype(float)
        relsum = np.bincount(pos[ok], weights=(z[ok] >= self._rel_z()).astype(float), minlength=n_ideas)
        self.global_z_ = float(np.mean(z[ok])) if ok.any() else 0.5
        self.global_rel_ = float(np.mean(z[ok] >= self._rel_z())) if ok.any() else 0.5
        # shrunk toward the global mean; an idea nobody rated gets the global mean (also when shrink is 0)
        denom = zcnt + self.shrink
        rated = denom > 0
        self.quality_ = np.where(rated, (zsum + self.shrink * self.global_z_) / np.where(rated, denom, 1.0),
                                 self.global_z_)
        self.relevant_rate_ = np.where(rated, (relsum + self.shrink * self.global_rel_) / np.where(rated, denom, 1.0),
                                       self.global_rel_)
        self.idea_counts_ = counts
        self.bm25_similarity_ = _bm25_similarity(done_bin, self.neighbours)
        # reference couples for the user-user signal (a seeded sample when there are many)
        pz = pairs["z"]
        rated = ~np.isnan(pz)
        liked_rows = sp.csr_matrix(((pz[rated] >= self._rel_z()).astype(float),
                                    (pairs["rows"][rated], pairs["cols"][rated])), shape=shape)
        liked_rows.data[:] = np.minimum(liked_rows.data, 1.0)
        keep = np.flatnonzero(np.asarray(done_bin.sum(axis=1)).ravel() > 0)
        if len(keep) > self.reference_couples:
            keep = np.sort(np.random.default_rng(0).choice(keep, self.reference_couples, replace=False))
        ref = done_bin[keep]
        norms = np.sqrt(np.asarray(ref.multiply(ref).sum(axis=1)).ravel())
        self.reference_ = sp.csr_matrix(ref.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]), dtype=np.float32)
        self.reference_liked_ = sp.csr_matrix(liked_rows[keep] + 0.5 * ref)
        self.n_training_couples_ = n_couples
        self._fit_choice(counts)
        self._fit_factors(times, keep)
        return self

    def _fit_factors(self, times: sp.csr_matrix, rows: np.ndarray) -> None:
        """Idea factors of implicit ALS (:data:`_FACTORS`) on the reference couples' times done."""
        X = times[rows]
        Y = np.random.default_rng(0).normal(0.0, 0.01, (X.shape[1], _FACTORS["n_factors"]))
        _, Y = als_sweeps(X, Y, _FACTORS["regularization"], _FACTORS["alpha"], _FACTORS["iterations"])
        self.item_factors_ = Y
        self.factor_gram_ = Y.T @ Y + _FACTORS["regularization"] * np.eye(Y.shape[1])

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
        self._block_vectors = {a: np.ascontiguousarray(self.idea_vectors_[:, cols].T)
                               for a, cols, scalar in blocks if not scalar}
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

    def _stated(self, couple_ids: np.ndarray, profiles: Profiles | None, dates: pd.DataFrame | CoupleDates
                ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]], np.ndarray]:
        """From the couples' stated profiles: (n_couples, n_ideas) planes, 1 where the idea matches
        one of the couple's interests and 1 where its cost is above the couple's budget ceiling;
        each couple's interests; and (n_couples, 2) stated homes (NaN = not stated)."""
        interest = np.zeros((len(couple_ids), len(self.catalog_ids_)))
        over_budget = np.zeros_like(interest)
        homes = np.full((len(couple_ids), 2), np.nan)
        if profiles is None and isinstance(dates, CoupleDates):
            profiles = {dates.couple_id: dates.profile}
        if not profiles:
            return interest, over_budget, [()] * len(couple_ids), homes
        stated = [profiles.get(c, NO_PROFILE) for c in couple_ids]
        for r, profile in enumerate(stated):
            for label in profile.interests:
                interest[r, self.label_ideas_.get(label, [])] = 1.0
            if profile.budget_ceiling is not None and self.cost_ is not None:
                over_budget[r] = self.cost_ > profile.budget_ceiling
            if profile.home is not None:
                homes[r] = profile.home
        return interest, over_budget, [p.interests for p in stated], homes

    def interest_matches(self, stated: Sequence[str], position: int) -> list[str]:
        """The labels among ``stated`` (a couple's interests) that idea ``position`` carries."""
        return [label for label in stated if position in self.label_ideas_.get(label, ())]

    def similarity_to(self, position: int) -> np.ndarray:
        """Dense column of the item-item similarity: how much each idea contributes to ``position``."""
        by_target = getattr(self, "_by_target", None)
        if by_target is None:
            by_target = self._by_target = sp.csr_matrix(self.similarity_.T)
        out = np.zeros(by_target.shape[1])
        lo, hi = by_target.indptr[position], by_target.indptr[position + 1]
        out[by_target.indices[lo:hi]] = by_target.data[lo:hi]
        return out

    def _group_matrix(self) -> np.ndarray:
        """One-hot (n_ideas, n_groups) of each idea's group."""
        out = np.zeros((len(self.group_of_), len(self.group_labels_)))
        out[np.arange(len(self.group_of_)), self.group_of_] = 1.0
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

    # -- helpers ----------------------------------------------------------------
    def _z(self, ratings: np.ndarray) -> np.ndarray:
        lo, hi = self.scale_
        return (ratings - lo) / (hi - lo)

    def _rel_z(self) -> float:
        lo, hi = self.scale_
        return (self.relevant_rating_ - lo) / (hi - lo) - 1e-9

    def _positions(self, idea_ids: np.ndarray) -> np.ndarray:
        """Catalog position of each idea id (-1 when unknown)."""
        if len(idea_ids) < 4096:  # measured: a dict lookup each is faster below a few thousand ids
            get = self._idea_pos.get
            return np.fromiter((get(i, -1) for i in idea_ids), dtype=np.int64, count=len(idea_ids))
        index = self.__dict__.get("_idea_index")
        if index is None:
            index = self._idea_index = pd.Index(self.catalog_ids_, dtype=object)
        return index.get_indexer(np.asarray(idea_ids, dtype=object)).astype(np.int64)

    def _pairs(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None = None) -> dict:
        """Row (couple), column (idea), day and ratings on [0, 1] of each usable date.

        ``z`` is the mean of the partners who rated (NaN: neither), ``z_by``
        each partner's own (NaN: not rated).
        """
        if couple_ids is None and isinstance(dates, CoupleDates):
            couple_ids = np.array([dates.couple_id], dtype=object)
        elif couple_ids is None:
            couple_ids = np.array(sorted(pd.unique(dates["couple_id"].astype(str))), dtype=object)
        else:
            couple_ids = np.asarray(list(couple_ids), dtype=object)
        if len(dates) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return {"couple_ids": couple_ids, "rows": empty, "cols": empty, "z": np.zeros(0),
                    "day": empty, "z_by": (np.zeros(0), np.zeros(0))}
        if isinstance(dates, CoupleDates):  # one couple's rows, read for one request: no DataFrame
            ideas, day, a, b = dates.arrays()
            row = next((i for i, c in enumerate(couple_ids) if c == dates.couple_id), -1)
            rows = np.full(len(ideas), row, dtype=np.int64)
            cols = self._positions(ideas)
        else:
            if len(couple_ids) == 1:
                rows = np.where(dates["couple_id"].to_numpy() == couple_ids[0], 0, -1)
            else:
                rows = pd.Index(couple_ids).get_indexer(dates["couple_id"].to_numpy())
            cols = self._positions(dates["idea_id"].to_numpy())
            a = dates["rating_a"].to_numpy(dtype=float)
            b = dates["rating_b"].to_numpy(dtype=float)
            days = dates["done_on"].to_numpy().astype("datetime64[D]")
            day = np.where(np.isnat(days), -1, days.astype("int64"))
        keep = (rows >= 0) & (cols >= 0)
        a, b, day = a[keep], b[keep], day[keep]
        counts = (~np.isnan(a)).astype(float) + (~np.isnan(b))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, (np.nan_to_num(a) + np.nan_to_num(b)) / np.maximum(counts, 1), np.nan)
        return {"couple_ids": couple_ids, "rows": rows[keep].astype(np.int64), "cols": cols[keep],
                "z": self._z(mean), "day": day, "z_by": (self._z(a), self._z(b))}

    def histories(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None = None,
                  profiles: Profiles | None = None, partner: str | None = None) -> Histories:
        """Summarise ``dates`` per couple (rows in ``couple_ids`` order; default: sorted ids present).

        Ideas not in the fitted catalog are ignored. ``profiles`` maps couple
        ids to their stated :class:`~engine.domain.profiles.Profile` (default: none,
        or a :class:`~engine.domain.dates.CoupleDates`' own ``profile``).

        ``partner`` says whose ratings summarise taste (liked, disliked,
        centered, rated, mean): None (default) the couple's, the mean of the
        partners who rated each date; ``"a"`` or ``"b"`` that partner's own,
        and on a date only the other partner rated, the other's (so a
        partner who never rates inherits the couple's taste). What was done,
        when, and the profile are the same for both partners.
        """
        if partner not in (None, "a", "b"):
            raise ValueError(f"partner must be None, 'a' or 'b', got {partner!r}")
        return self._summaries(dates, couple_ids, profiles, (partner,))[0]

    def partner_histories(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None = None,
                          profiles: Profiles | None = None) -> tuple[Histories, Histories, Histories]:
        """The couple's, partner a's and partner b's :meth:`histories`, from one pass over ``dates``.

        The three share the arrays that do not depend on ratings (what was
        done, when, the profile): read them, do not change them.
        """
        return tuple(self._summaries(dates, couple_ids, profiles, (None, "a", "b")))

    def _summaries(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None,
                   profiles: Profiles | None, whose: Sequence[str | None]) -> list[Histories]:
        """:meth:`histories` for each partner in ``whose`` (None: the couple)."""
        pairs = self._pairs(dates, couple_ids)
        couple_ids = pairs["couple_ids"]
        rows, cols, day = pairs["rows"], pairs["cols"], pairs["day"]
        n_c, n_i = len(couple_ids), len(self.catalog_ids_)
        flat = rows * n_i + cols
        size = n_c * n_i

        def _sum(weights) -> np.ndarray:
            return np.bincount(flat, weights=weights, minlength=size).astype(float).reshape(n_c, n_i)

        # recency rank within couple: by day, then input order
        order = np.lexsort((np.arange(len(rows)), day, rows))
        n_dates = np.bincount(rows, minlength=n_c).astype(float)
        starts = np.concatenate([[0], np.cumsum(n_dates)[:-1]]).astype(np.int64)
        rank_from_end = np.empty(len(rows), dtype=float)
        if len(rows):
            rows_o = rows[order]
            rank_from_end[order] = n_dates[rows_o] - 1 - (np.arange(len(rows)) - starts[rows_o])
        done = _sum(None)
        recent = _sum(0.5 ** (rank_from_end / self.recency_half_life))
        last_day = np.zeros(size)
        np.maximum.at(last_day, flat, (day + 1).astype(float))
        last_day = last_day.reshape(n_c, n_i)
        interest, over_budget, stated, homes = self._stated(couple_ids, profiles, dates)
        self._homes_from_history(homes, done)
        prior = getattr(self, "global_z_", 0.5)
        out = []
        for partner in whose:
            if partner is None:
                z = pairs["z"]
            else:  # that partner's rating, the other's where they did not rate
                own, other = pairs["z_by"] if partner == "a" else pairs["z_by"][::-1]
                z = np.where(np.isnan(own), other, own)
            rated = ~np.isnan(z)
            zr = np.where(rated, z, 0.0)
            c_zsum = np.bincount(rows, weights=zr, minlength=n_c).astype(float)
            c_zcnt = np.bincount(rows, weights=rated.astype(float), minlength=n_c).astype(float)
            mean_z = (c_zsum + 3.0 * prior) / (c_zcnt + 3.0)
            zsum, zcnt = _sum(zr), _sum(rated.astype(float))
            has = zcnt > 0
            zmean = np.divide(zsum, zcnt, out=np.zeros_like(zsum), where=has)
            liked = (has & (zmean >= self._rel_z())).astype(float)
            liked_by = None
            if partner is None:  # each partner's own ratings (no fallback), for "you both loved"
                liked_by = np.zeros((2, n_c, n_i))
                for j, zp in enumerate(pairs["z_by"]):
                    mine = ~np.isnan(zp)
                    total, n = _sum(np.where(mine, zp, 0.0)), _sum(mine.astype(float))
                    liked_by[j] = (n > 0) & (total >= self._rel_z() * np.maximum(n, 1))
            disliked = (has & (zmean < 0.5)).astype(float)
            centered = np.where(has, np.clip(2 * (zmean - mean_z[:, None]), -1, 1), 0.0)
            out.append(Histories(couple_ids=couple_ids, done=done, liked=liked, disliked=disliked,
                                 centered=centered, recent=recent, last_day=last_day,
                                 rated=np.where(has, zmean, np.nan), n_dates=n_dates, mean_z=mean_z,
                                 interest=interest, over_budget=over_budget, interests=stated, homes=homes,
                                 partner=partner, liked_by=liked_by))
        return out

    def _homes_from_history(self, homes: np.ndarray, done: np.ndarray) -> None:
        """Fill, in place, the unknown homes of couples who did located ideas: the median
        latitude and longitude of those ideas' places."""
        locations = getattr(self, "locations_", None)
        if locations is None:
            return
        located = ~np.isnan(locations[:, 0])
        missing = np.flatnonzero(np.isnan(homes[:, 0]) & ((done[:, located] > 0).sum(axis=1) > 0))
        if len(missing):
            went = (done[missing] > 0) & located[None, :]
            for axis in (0, 1):
                homes[missing, axis] = np.nanmedian(np.where(went, locations[None, :, axis], np.nan), axis=1)

    # -- features ---------------------------------------------------------------
    def transform(self, hist: Histories, as_of_day: np.ndarray | int | None = None) -> np.ndarray:
        """Pair features for every (couple, idea).

        Parameters
        ----------
        hist : Histories
            From :meth:`histories`, with only the history before the moment predicted.
        as_of_day : int or ndarray of shape (n_couples,), optional
            Day number (days since 1970) of the moment predicted, for
            ``days_since``; default: each couple's latest date.

        Returns
        -------
        ndarray of shape (n_couples, n_ideas, n_features)
            Features in :data:`FEATURE_NAMES` order.
        """
        check_is_fitted(self, "similarity_")
        n_c = len(hist.couple_ids)
        n_i = len(self.catalog_ids_)
        V = self.idea_vectors_
        # stored as one contiguous plane per feature; F is a (couple, idea, feature) view of it
        planes = np.empty((len(self.feature_names_), n_c, n_i), dtype=np.float32)
        F = planes.transpose(1, 2, 0)
        done_bin = (hist.done > 0).astype(float)
        n_done = np.maximum(done_bin.sum(axis=1), 1.0)[:, None]
        F[..., 0] = self._times("similarity_", done_bin) / np.sqrt(n_done)
        self._taste_planes(F, hist)
        routine = hist.recent @ V
        has_hist = hist.n_dates > 0
        groups = self._group_matrix()
        # routine distance: half "how unlike the recent dates in every attribute", half
        # "how rarely the recent dates were of this kind" (the group, e.g. category)
        recent_groups = hist.recent @ groups
        recent_share = recent_groups / np.maximum(recent_groups.sum(axis=1, keepdims=True), 1e-12)
        dist = 0.5 * (1.0 - _cos_rows(routine, V)) + 0.5 * (1.0 - recent_share[:, self.group_of_])
        dist[~has_hist] = 0.5
        F[..., 6] = dist
        gshare = (done_bin @ groups) / n_done
        F[..., 7] = gshare[:, self.group_of_]
        F[..., 9] = np.log1p(hist.done)
        last = hist.last_day
        if as_of_day is None:
            ref = last.max(axis=1) if n_i else np.zeros(n_c)
        else:
            ref = np.broadcast_to(np.asarray(as_of_day, dtype=float) + 1, (n_c,))
        since = np.where(last > 0, np.clip(ref[:, None] - last, 0, 365), 365.0) / 365.0
        F[..., 10] = since
        F[..., 11] = self.popularity_[None, :]
        F[..., 12] = self.quality_[None, :]
        F[..., 13] = self.relevant_rate_[None, :]
        F[..., 14] = np.log1p(hist.n_dates)[:, None]
        F[..., 16] = self._user_neighbours(done_bin)
        F[..., 17] = self._times("bm25_similarity_", done_bin)
        F[..., 18] = self._choice_taste(hist)
        F[..., 19] = self._factor_scores(hist)
        F[..., 20:24] = self._group_ranks(hist.done @ groups)[:, self.group_of_]
        F[..., 24] = hist.interest
        F[..., 25] = hist.interest * dist  # an interest far from the routine: the novelty the product is for
        F[..., 26] = hist.over_budget
        # stated interests weigh most while little else is known: the first suggestions after sign-up
        F[..., 27] = hist.interest / (1.0 + hist.n_dates)[:, None]
        F[..., 28], F[..., 29] = self._distances(hist.homes)
        self._attribute_matches(F, done_bin, n_done)
        self._relative(F, _RELATIVE)
        return F

    def retaste(self, F: np.ndarray, hist: Histories) -> np.ndarray:
        """Recompute, in place, the features that depend on ratings (:data:`_TASTE`) for ``hist``'s.

        ``F`` holds the pair features of the same couples with the same dates
        (what was done and when), rated by someone else: one partner's
        features from the other's (:meth:`engine.learning.model.EnjoymentModel.enjoyment`)
        without recomputing the rest, which is the same for both. Returns ``F``.
        """
        check_is_fitted(self, "similarity_")
        self._taste_planes(F, hist)
        self._relative(F, [name for name in _RELATIVE if name in _TASTE])
        return F

    def _taste_planes(self, F: np.ndarray, hist: Histories) -> None:
        """The features of :data:`_TASTE`, from ``hist``'s ratings (written into ``F``)."""
        V = self.idea_vectors_
        n_c = len(hist.couple_ids)
        cf = self._times("similarity_", np.vstack([hist.liked, hist.disliked]))
        F[..., 1] = cf[:n_c]
        F[..., 2] = cf[n_c:]
        n_rated = (hist.centered != 0).sum(axis=1)[:, None]
        taste_vec = (hist.centered @ V) / (n_rated + 2.0)
        F[..., 3] = taste_vec @ V.T
        F[..., 4] = _cos_rows(hist.liked @ V, V)
        F[..., 5] = _cos_rows(hist.disliked @ V, V)
        groups = self._group_matrix()
        gtaste = (hist.centered @ groups) / np.maximum((hist.centered != 0) @ groups, 1)
        F[..., 8] = gtaste[:, self.group_of_]
        F[..., 15] = hist.mean_z[:, None]

    def _relative(self, F: np.ndarray, names) -> None:
        """``rel:<name>``: each feature in ``names`` scaled to the couple's own range (0 lowest, 1 highest)."""
        first = len(self.feature_names_) - len(_RELATIVE)
        for name in names:
            col = F[..., FEATURE_NAMES.index(name)]
            lo = col.min(axis=1, keepdims=True)
            hi = col.max(axis=1, keepdims=True)
            F[..., first + _RELATIVE.index(name)] = (col - lo) / np.maximum(hi - lo, 1e-9)

    def _distances(self, homes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
        """``distance`` (km from home, capped at 30, over 30) and ``nearby`` (exp(-km / 5)) of every idea.

        An idea with no place of its own is at home (distance 0, nearby 1); a couple whose home
        is unknown, or a catalog without locations, gets 0 for both on every idea (no effect on
        the couple's ranking).
        """
        locations = getattr(self, "locations_", None)
        if locations is None or np.isnan(homes).all():
            return 0.0, 0.0
        km = distances_km(homes, locations)
        known = ~np.isnan(homes[:, :1])
        km = np.where(np.isnan(km) & known, 0.0, km)
        return np.nan_to_num(np.minimum(km, _FAR_KM) / _FAR_KM), np.nan_to_num(np.exp(-km / _NEARBY_KM))

    def _times(self, name: str, rows: np.ndarray) -> np.ndarray:
        """``rows @ S`` for a fitted idea x idea similarity ``S`` (sparse, top-k per idea).

        Top-k neighbours of a few hundred or thousand ideas fill 10-30% of the matrix, where
        for a batch a dense product is 2-3x faster than the sparse one (measured on 6,000 rows
        with 336 and 1,000 ideas); for a single couple's few rows reading a dense matrix of
        that size costs more than it saves, so those stay sparse (multiplied by a cached CSR
        copy of ``S'``). Above 2,048 ideas the top-k fill a few percent of the matrix and a
        dense copy would cost 32-128 MB each (issue 23), so those stay sparse too. The dense
        and transposed copies are cached per process and never pickled.
        """
        matrix = getattr(self, name)
        cache = self.__dict__.setdefault("_matrix_cache", {})
        if len(rows) < _DENSE_ROWS or matrix.shape[0] > _DENSE_IDEAS:
            transposed = cache.get(("T", name))  # CSR of S': the product runs without building a view
            if transposed is None:
                transposed = cache[("T", name)] = matrix.T.tocsr()
            return np.asarray(transposed @ rows.T).T
        dense = cache.get(("dense", name))
        if dense is None:
            dense = cache[("dense", name)] = matrix.toarray()
        return rows @ dense

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}

    @staticmethod
    def _group_ranks(times: np.ndarray, ranks: int = 4) -> np.ndarray:
        """One-hot of each group's place among the couple's most done groups (first ``ranks``).

        ``times`` is (n_couples, n_groups) times done; ties keep the group order; a group
        never done has no place. Returns (n_couples, n_groups, ranks) float32.
        """
        order = np.argsort(-times, axis=1, kind="stable")
        place = np.empty_like(order)
        np.put_along_axis(place, order, np.arange(times.shape[1])[None, :], axis=1)
        place = np.where(times > 0, place, ranks)
        return (place[..., None] == np.arange(ranks)).astype(np.float32)

    def _choice_taste(self, hist: Histories) -> np.ndarray:
        """Each couple's taste as revealed by what it chose to do, scored on every idea.

        A conditional logit "the couple picks idea i with probability
        proportional to exp(a_i + w . v_i)" with the population's a_i and a
        Gaussian prior on w: one Newton step from w = 0 gives
        ``w = (lambda I + n C)^-1 (sum of the chosen vectors - n * mean)``,
        the couple's choices beyond the population's, de-correlated by the
        covariance C of the idea vectors (so correlated attributes are not
        counted twice). n = the couple's dates, repeats included.
        """
        V = self.idea_vectors_
        n = hist.done.sum(axis=1)
        S = (hist.done @ V - n[:, None] * self.choice_mean_[None, :]) @ self.choice_evecs_
        W = (S / (self.choice_shrink + n[:, None] * self.choice_evals_[None, :])) @ self.choice_evecs_.T
        return W @ V.T

    def _factor_scores(self, hist: Histories) -> np.ndarray:
        """Implicit-ALS score of every idea: the couple's factors folded in from its history."""
        Y = self.item_factors_
        U = solve_factors(hist.done, Y, _FACTORS["regularization"], _FACTORS["alpha"], gram=self.factor_gram_)
        return U @ Y.T

    def _user_neighbours(self, done_bin: np.ndarray) -> np.ndarray:
        """Score of each idea among the couple's most similar reference couples (user-kNN)."""
        n_c = done_bin.shape[0]
        norms = np.sqrt(done_bin.sum(axis=1)).astype(np.float32)
        sims = np.asarray(self.reference_ @ done_bin.T.astype(np.float32)).T / np.maximum(norms, 1e-12)[:, None]
        k = min(self.user_neighbours, sims.shape[1])
        if k == 0 or n_c == 0:
            return np.zeros((n_c, len(self.catalog_ids_)))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.take_along_axis(sims, top, axis=1)
        total = np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        neighbours = sp.csr_matrix((weights.ravel(), top.ravel(), np.arange(0, n_c * k + 1, k)),
                                   shape=sims.shape)
        return (neighbours @ self.reference_liked_).toarray() / total

    def _attribute_matches(self, F: np.ndarray, done_bin: np.ndarray, n_done: np.ndarray) -> int:
        """Per attribute: how well the idea matches what the couple usually does (and goes beyond it).

        ``match:<attr>``: for a scalar attribute (ordinal, numeric, boolean) minus the distance
        between the idea's value and the couple's mean value (0 without history); for the others
        the product of the couple's mean block with the idea's block. ``above:<attr>`` (scalars):
        the idea's value minus the highest value among the ideas the couple did (0 without history).
        The scalar attributes are computed all at once; returns the next free feature index.
        """
        V = self.idea_vectors_
        planes = F.transpose(2, 0, 1)  # (feature, couple, idea), contiguous per feature
        profile = (done_bin @ V) / n_done
        has = (done_bin.sum(axis=1) > 0)[:, None]
        first = len(FEATURE_NAMES)
        slots = first + np.arange(len(self.blocks_))
        scalar = np.array([is_scalar for _, _, is_scalar in self.blocks_], dtype=bool)
        for j, (attr, cols, is_scalar) in zip(slots, self.blocks_):
            if not is_scalar:
                planes[j] = profile[:, cols] @ self._block_vectors[attr]
        above = first + len(self.blocks_) + np.arange(int(scalar.sum()))
        if scalar.any():
            cols = np.array([cols[0] for _, cols, is_scalar in self.blocks_ if is_scalar], dtype=np.int64)
            values = V[:, cols].T  # (n_scalars, n_ideas)
            means = profile[:, cols].T  # (n_scalars, n_couples)
            done = done_bin > 0
            for lo in range(0, len(has), _MATCH_ROWS):  # bounded temporaries for a large batch
                hi = lo + _MATCH_ROWS
                rows_have = has[None, lo:hi]
                gap = np.abs(means[:, lo:hi, None] - values[:, None, :])
                planes[slots[scalar], lo:hi] = np.where(rows_have, -gap, 0.0)
                top = np.max(np.where(done[None, lo:hi], values[:, None, :], -np.inf), axis=2, keepdims=True)
                planes[above, lo:hi] = np.where(rows_have, values[:, None, :] - np.where(np.isfinite(top), top, 0.0),
                                                0.0)
        return first + len(self.blocks_) + len(above)


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


def _cos_rows(A, V: np.ndarray) -> np.ndarray:
    """Cosine between each row of A (n, d) and each row of V (m, d; rows unit norm)."""
    A = np.asarray(A, dtype=float)
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return (A / np.maximum(norms, 1e-12)) @ V.T


def _bm25_similarity(done: sp.csr_matrix, neighbours: int, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Item-item similarity on BM25-weighted co-occurrence (as implicit's BM25Recommender).

    ``done`` is the binary (n_couples, n_ideas) matrix. Couples who did many
    ideas count less (idf over couples), popular ideas are length-normalised;
    each idea keeps its ``neighbours`` most similar ideas. Returns (n_ideas,
    n_ideas), column i = the contributions to idea i.
    """
    X = sp.coo_matrix(done.T)  # ideas x couples
    n_ideas = X.shape[0]
    if X.nnz == 0:
        return sp.csr_matrix((n_ideas, n_ideas))
    idf = np.log(max(n_ideas, 1)) - np.log1p(np.bincount(X.col, minlength=X.shape[1]))
    lengths = np.asarray(X.sum(axis=1)).ravel()
    norm = (1.0 - b) + b * lengths / max(lengths.mean(), 1e-12)
    data = X.data * (k1 + 1.0) / (k1 * norm[X.row] + X.data) * idf[X.col]
    W = sp.csr_matrix((data, (X.row, X.col)), shape=X.shape)
    sim = sp.coo_matrix(W @ W.T)
    return _top_k_rows(sim.row, sim.col, sim.data, n_ideas, neighbours).T.tocsr()


def _top_k_rows(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int,
                neighbours: int) -> sp.csr_matrix:
    """An (n, n) sparse similarity without its diagonal, each row keeping its ``neighbours``
    largest entries (ties with the last one kept, zeros dropped).

    The sparse form of "fill the diagonal with 0, cut each dense row at its k-th largest
    value": the same entries survive, without ever building the dense n x n matrix.
    """
    off = (rows != cols) & (values != 0)
    rows, cols, values = rows[off], cols[off], values[off]
    k = min(neighbours, max(n - 1, 1))
    if k < n - 1 and len(values):
        # each row's k-th largest value (0 when it has fewer than k entries: keep them all)
        order = np.lexsort((-values, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        starts = np.searchsorted(rows, np.arange(n))
        ends = np.searchsorted(rows, np.arange(n), side="right")
        kth = starts + k - 1
        cut = np.where(kth < ends, values[np.minimum(kth, len(values) - 1)], 0.0)
        keep = values >= cut[rows]
        rows, cols, values = rows[keep], cols[keep], values[keep]
    out = sp.csr_matrix((values, (rows, cols)), shape=(n, n))
    out.sort_indices()
    return out

