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
  repeats and priors. Because the couple side is computed from the history
  passed in, a new rating changes the next suggestion without retraining,
  and a couple with no history gets the prior-only (cold-start) features.

Point-in-time correctness is the caller's job and easy: pass only the
history before the moment being predicted (``as_of``).
"""

from __future__ import annotations

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

from .catalog import Catalog
from .dates import mean_rating

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
    (each row's block normalised), text -> ignored. Rows are L2-normalised,
    so a dot product of two rows is their cosine similarity.

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
            if w == 0 or spec.kind == "text":
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
        if not parts:
            raise ValueError("the catalog schema has no encodable attributes (all text or weight 0)")
        self.attribute_weights_ = {name: float(weights.get(name, 1.0)) for name, _, _ in parts}
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
        check_is_fitted(self, "pipeline_")
        frame = X.frame if isinstance(X, Catalog) else X
        return np.asarray(self.pipeline_.transform(frame), dtype=float)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "pipeline_")
        return np.array(self.feature_names_, dtype=object)


def _log1p_nonneg(X):
    return np.log1p(np.clip(np.asarray(X, dtype=float), 0, None))


# --------------------------------------------------------------------------- histories

@dataclass
class Histories:
    """Sparse per-couple summaries of history, rows = couples, columns = ideas.

    Attributes
    ----------
    couple_ids : ndarray of shape (n_couples,)
    done : csr_matrix (n_couples, n_ideas)
        Times each idea was done.
    liked, disliked : csr_matrix (n_couples, n_ideas)
        1 where the couple's mean rating of the idea is relevant / low.
    centered : csr_matrix (n_couples, n_ideas)
        Rating minus the couple's shrunk mean, scaled to [-1, 1] (rated ideas only).
    recent : csr_matrix (n_couples, n_ideas)
        Recency weights (exponential decay over the couple's own date order).
    last_day : csr_matrix (n_couples, n_ideas)
        Day number (days since 1970) + 1 of the latest time done; 0 = never or undated.
    n_dates : ndarray (n_couples,)
    mean_z : ndarray (n_couples,)
        Shrunk mean of the couple's ratings on the [0, 1] scale.
    """

    couple_ids: np.ndarray
    done: sp.csr_matrix
    liked: sp.csr_matrix
    disliked: sp.csr_matrix
    centered: sp.csr_matrix
    recent: sp.csr_matrix
    last_day: sp.csr_matrix
    n_dates: np.ndarray
    mean_z: np.ndarray


#: features also given relative to the couple's own range (0 = their lowest idea, 1 = their highest)
_RELATIVE = ("cf_done", "cf_liked", "taste", "sim_liked", "routine_distance", "attr_share")

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
)


class HistoryFeaturizer(BaseEstimator):
    """Learn the idea side from dates; turn histories into pair features.

    Parameters
    ----------
    rating_scale : tuple (min, max), optional
        Rating scale; default: the min and max rating seen in ``fit``.
    relevant_rating : float, optional
        A rating at or above this is "liked"; default: the top quarter of
        the scale (4 on 1-5, 2 on 0-2).
    neighbours : int, default=50
        Item-item similarities kept per idea.
    shrink : float, default=10.0
        Shrinkage of co-occurrence similarity and of the priors toward the
        global mean.
    recency_half_life : float, default=8.0
        Half-life, in dates, of the recency weights that define a couple's routine.
    user_neighbours : int, default=30
        Most similar reference couples used for the user-user signal.
    reference_couples : int, default=20000
        Training couples kept (a seeded sample) as references for that signal.
    group_attribute : str, optional
        Categorical attribute for familiarity features; default ``category``
        if the schema has it, else its first categorical attribute.
    """

    def __init__(self, rating_scale: tuple[float, float] | None = None,
                 relevant_rating: float | None = None, neighbours: int = 50,
                 shrink: float = 10.0, recency_half_life: float = 8.0,
                 group_attribute: str | None = None, user_neighbours: int = 30,
                 reference_couples: int = 20_000):
        self.rating_scale = rating_scale
        self.relevant_rating = relevant_rating
        self.neighbours = neighbours
        self.shrink = shrink
        self.recency_half_life = recency_half_life
        self.group_attribute = group_attribute
        self.user_neighbours = user_neighbours
        self.reference_couples = reference_couples

    # -- fitting ----------------------------------------------------------------
    def fit(self, dates: pd.DataFrame, catalog: Catalog):
        """Learn idea vectors, item-item similarity and priors from ``dates``."""
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}; try 50")
        if self.shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {self.shrink}; try 10")
        if self.recency_half_life <= 0:
            raise ValueError(f"recency_half_life must be > 0, got {self.recency_half_life}; try 8")
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
        hist = self.histories(dates)
        n_ideas = len(self.catalog_ids_)
        done_bin = (hist.done > 0).astype(float)
        # item-item cosine similarity on who did what, shrunk, top-k per idea
        co = (done_bin.T @ done_bin).toarray()
        counts = np.asarray(done_bin.sum(axis=0)).ravel()
        denom = np.sqrt(np.outer(counts, counts)) + self.shrink
        sim = co / denom
        np.fill_diagonal(sim, 0.0)
        k = min(self.neighbours, max(n_ideas - 1, 1))
        if k < n_ideas - 1:
            cut = np.partition(sim, -k, axis=1)[:, -k][:, None]
            sim = np.where(sim >= cut, sim, 0.0)
        self.similarity_ = sim.T.copy()  # column i: neighbours contributing to idea i
        # priors
        n_couples = max(len(hist.couple_ids), 1)
        self.popularity_ = np.log1p(counts) / np.log1p(max(counts.max(initial=0), 1))
        z = self._z(ratings)
        pos = self._positions(dates["idea_id"].to_numpy())
        ok = (pos >= 0) & ~np.isnan(z)
        zsum = np.bincount(pos[ok], weights=z[ok], minlength=n_ideas)
        zcnt = np.bincount(pos[ok], minlength=n_ideas).astype(float)
        relsum = np.bincount(pos[ok], weights=(z[ok] >= self._rel_z()).astype(float), minlength=n_ideas)
        self.global_z_ = float(np.mean(z[ok])) if ok.any() else 0.5
        self.global_rel_ = float(np.mean(z[ok] >= self._rel_z())) if ok.any() else 0.5
        self.quality_ = (zsum + self.shrink * self.global_z_) / (zcnt + self.shrink)
        self.relevant_rate_ = (relsum + self.shrink * self.global_rel_) / (zcnt + self.shrink)
        self.idea_counts_ = counts
        # reference couples for the user-user signal (a seeded sample when there are many)
        liked_rows = hist.liked
        keep = np.flatnonzero(np.asarray(done_bin.sum(axis=1)).ravel() > 0)
        if len(keep) > self.reference_couples:
            keep = np.sort(np.random.default_rng(0).choice(keep, self.reference_couples, replace=False))
        ref = done_bin[keep]
        norms = np.sqrt(np.asarray(ref.multiply(ref).sum(axis=1)).ravel())
        self.reference_ = sp.csr_matrix(ref.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]))
        self.reference_liked_ = sp.csr_matrix(liked_rows[keep] + 0.5 * ref)
        self.n_training_couples_ = n_couples
        return self

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
        get = self._idea_pos.get
        return np.fromiter((get(i, -1) for i in idea_ids), dtype=np.int64, count=len(idea_ids))

    def histories(self, dates: pd.DataFrame, couple_ids: Sequence[str] | None = None) -> Histories:
        """Summarise ``dates`` per couple (rows in ``couple_ids`` order; default: sorted ids present).

        Ideas not in the fitted catalog are ignored.
        """
        n_ideas = len(self.catalog_ids_)
        if couple_ids is None:
            couple_ids = np.array(sorted(pd.unique(dates["couple_id"].astype(str))), dtype=object)
        else:
            couple_ids = np.asarray(list(couple_ids), dtype=object)
        n_c = len(couple_ids)
        cindex = pd.Index(couple_ids)
        rows = cindex.get_indexer(dates["couple_id"].astype(str).to_numpy()) if len(dates) else np.array([], int)
        cols = self._positions(dates["idea_id"].to_numpy()) if len(dates) else np.array([], int)
        keep = (rows >= 0) & (cols >= 0)
        d = dates.loc[keep]
        rows, cols = rows[keep], cols[keep]
        z = self._z(mean_rating(d)) if len(d) else np.array([])
        day = d["done_on"].to_numpy("datetime64[D]").astype("int64") if len(d) else np.array([], "int64")
        undated = np.isnat(d["done_on"].to_numpy("datetime64[D]")) if len(d) else np.array([], bool)
        day = np.where(undated, -1, day)
        # order within couple: by day then input order -> recency rank
        order = np.lexsort((np.arange(len(rows)), day, rows))
        rows_o = rows[order]
        n_dates = np.bincount(rows, minlength=n_c).astype(float)
        starts = np.concatenate([[0], np.cumsum(n_dates)[:-1]]).astype(int)
        rank_from_end = np.empty(len(rows), dtype=float)
        if len(rows):
            pos_in_couple = np.arange(len(rows)) - starts[rows_o]
            rank_from_end[order] = n_dates[rows_o] - 1 - pos_in_couple
        recency = 0.5 ** (rank_from_end / self.recency_half_life)
        shape = (n_c, n_ideas)

        def _m(values):
            return sp.csr_matrix((values, (rows, cols)), shape=shape)

        done = _m(np.ones(len(rows)))
        rated = ~np.isnan(z)
        zr = np.where(rated, z, 0.0)
        # couple shrunk mean
        c_zsum = np.bincount(rows, weights=zr, minlength=n_c).astype(float)
        c_zcnt = np.bincount(rows, weights=rated.astype(float), minlength=n_c).astype(float)
        prior = getattr(self, "global_z_", 0.5)
        mean_z = (c_zsum + 3.0 * prior) / (c_zcnt + 3.0)
        # per (couple, idea) mean rating, rated pairs only
        key = rows[rated].astype(np.int64) * n_ideas + cols[rated]
        ukey, inv = np.unique(key, return_inverse=True)
        zmean = np.bincount(inv, weights=zr[rated], minlength=len(ukey)) / np.maximum(
            np.bincount(inv, minlength=len(ukey)), 1)
        zr_rows, zr_cols = ukey // max(n_ideas, 1), ukey % max(n_ideas, 1)
        liked = sp.csr_matrix(((zmean >= self._rel_z()).astype(float), (zr_rows, zr_cols)), shape=shape)
        disliked = sp.csr_matrix(((zmean < 0.5).astype(float), (zr_rows, zr_cols)), shape=shape)
        centered = sp.csr_matrix((np.clip(2 * (zmean - mean_z[zr_rows]), -1, 1), (zr_rows, zr_cols)), shape=shape)
        recent = _m(recency)
        last_day = _max_dup(rows, cols, (day + 1).astype(float), shape)
        for m in (liked, disliked, centered):
            m.eliminate_zeros()
        return Histories(couple_ids=couple_ids, done=done, liked=liked, disliked=disliked,
                         centered=centered, recent=recent, last_day=last_day,
                         n_dates=n_dates, mean_z=mean_z)

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
        S = self.similarity_
        F = np.empty((n_c, n_i, len(self.feature_names_)), dtype=np.float32)
        done_bin = hist.done.copy()
        done_bin.data[:] = 1.0
        n_done = np.maximum(np.asarray(done_bin.sum(axis=1)).ravel(), 1.0)[:, None]
        F[..., 0] = (done_bin @ S) / np.sqrt(n_done)
        F[..., 1] = hist.liked @ S
        F[..., 2] = hist.disliked @ S
        taste_vec = (hist.centered @ V) / (np.asarray((hist.centered != 0).sum(axis=1)).ravel()[:, None] + 2.0)
        F[..., 3] = taste_vec @ V.T
        F[..., 4] = _cos_rows(hist.liked @ V, V)
        F[..., 5] = _cos_rows(hist.disliked @ V, V)
        routine = hist.recent @ V
        has_hist = hist.n_dates > 0
        dist = 1.0 - _cos_rows(routine, V)
        dist[~has_hist] = 0.5
        F[..., 6] = dist
        groups = sp.csr_matrix((np.ones(n_i), (np.arange(n_i), self.group_of_)),
                               shape=(n_i, len(self.group_labels_)))
        gshare = (done_bin @ groups).toarray() / n_done
        F[..., 7] = gshare[:, self.group_of_]
        gtaste = (hist.centered @ groups).toarray() / ((hist.centered != 0).astype(float) @ groups).toarray().clip(1) \
            if hist.centered.nnz else np.zeros((n_c, groups.shape[1]))
        F[..., 8] = gtaste[:, self.group_of_]
        F[..., 9] = np.log1p(hist.done.toarray())
        last = hist.last_day.toarray()
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
        F[..., 15] = hist.mean_z[:, None]
        F[..., 16] = self._user_neighbours(done_bin)
        j = self._attribute_matches(F, done_bin, n_done)
        for name in _RELATIVE:
            col = F[..., FEATURE_NAMES.index(name)]
            lo = col.min(axis=1, keepdims=True)
            hi = col.max(axis=1, keepdims=True)
            F[..., j] = (col - lo) / np.maximum(hi - lo, 1e-9)
            j += 1
        return F

    def _user_neighbours(self, done_bin: sp.csr_matrix) -> np.ndarray:
        """Score of each idea among the couple's most similar reference couples (user-kNN)."""
        n_c = done_bin.shape[0]
        norms = np.sqrt(np.asarray(done_bin.sum(axis=1)).ravel())
        sims = (done_bin @ self.reference_.T).toarray() / np.maximum(norms, 1e-12)[:, None]
        k = min(self.user_neighbours, sims.shape[1])
        if k == 0 or n_c == 0:
            return np.zeros((n_c, len(self.catalog_ids_)))
        if k < sims.shape[1]:
            cut = np.partition(sims, -k, axis=1)[:, -k][:, None]
            sims = np.where(sims >= cut, sims, 0.0)
        total = np.maximum(sims.sum(axis=1, keepdims=True), 1e-12)
        return (sp.csr_matrix(sims) @ self.reference_liked_).toarray() / total

    def _attribute_matches(self, F: np.ndarray, done_bin: sp.csr_matrix, n_done: np.ndarray) -> None:
        """Per attribute: how well the idea matches what the couple usually does (and goes beyond it)."""
        V = self.idea_vectors_
        profile = (done_bin @ V) / n_done
        has = (np.asarray(done_bin.sum(axis=1)).ravel() > 0)[:, None]
        j = len(FEATURE_NAMES)
        scalars = []
        for attr, cols, scalar in self.blocks_:
            if scalar:
                c = cols[0]
                F[..., j] = np.where(has, -np.abs(profile[:, [c]] - V[None, :, c][0]), 0.0)
                scalars.append(c)
            else:
                F[..., j] = profile[:, cols] @ V[:, cols].T
            j += 1
        for c in scalars:
            top = done_bin.multiply(V[:, c][None, :]).tocsr().max(axis=1).toarray()
            F[..., j] = np.where(has, V[None, :, c][0] - top, 0.0)
            j += 1
        return j


def _cos_rows(A, V: np.ndarray) -> np.ndarray:
    """Cosine between each row of A (n, d) and each row of V (m, d; rows unit norm)."""
    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=float)
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return (A / np.maximum(norms, 1e-12)) @ V.T


def _max_dup(rows, cols, values, shape) -> sp.csr_matrix:
    """CSR matrix holding, per (row, col), the max of ``values`` (duplicates collapsed)."""
    if len(rows) == 0:
        return sp.csr_matrix(shape)
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.lexsort((values, key))
    key_s = key[order]
    last = np.r_[key_s[1:] != key_s[:-1], True]
    k = key_s[last]
    return sp.csr_matrix((values[order][last], (k // shape[1], k % shape[1])), shape=shape)
