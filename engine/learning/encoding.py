"""Ideas to vectors: the catalog encoder and its two custom column transformers.

:class:`IdeaEncoder` turns a catalog into one L2-normalised vector per idea,
driven only by the schema's attribute kinds (a ``ColumnTransformer`` of
one-hot, scaled-ordinal, log-scaled numeric, boolean and multi-hot parts),
so it runs unchanged on any catalog in the import format.
:class:`MultiHotEncoder` and :class:`OrdinalScaler` are the two parts
scikit-learn does not ship.

Fitted encoders are pickled inside model artifacts; :mod:`engine.learning.features`
re-exports these names (and the two private column functions) so artifacts
saved before this module existed still load.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, Normalizer, OneHotEncoder
from sklearn.utils.validation import check_is_fitted

from ..domain.catalog import Catalog
from ..domain.constraints import CONSTRAINT_ATTRIBUTES

logger = logging.getLogger(__name__)

__all__ = ["IdeaEncoder", "MultiHotEncoder", "OrdinalScaler", "encodable_attributes"]


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
    # an unknown value (an optional attribute) is halfway
    return pd.DataFrame(X).astype(float).fillna(0.5).to_numpy()


def encodable_attributes(schema, weights: dict[str, float] | None = None) -> list[str]:
    """The schema's attributes :class:`IdeaEncoder` turns into content features, in schema order.

    Every attribute but text and location ones, the hard-constraint attributes
    (:data:`engine.domain.constraints.CONSTRAINT_ATTRIBUTES`) and those weighted 0.
    Empty for a catalog of ids and titles only: its model ranks from the
    collaborative signals alone (``content_features_`` False).
    """
    weights = weights or {}
    return [name for name, spec in schema.attributes.items()
            if float(weights.get(name, 1.0)) != 0 and spec.kind not in ("text", "location")
            and name not in CONSTRAINT_ATTRIBUTES]


class IdeaEncoder(BaseEstimator, TransformerMixin):
    """One vector per idea, built from the catalog schema's attribute kinds.

    categorical -> one-hot, ordinal -> position in ``order`` scaled to [0, 1],
    numeric -> log1p then min-max scaled, boolean -> 0/1, multi -> multi-hot
    (each row's block normalised), text and location -> ignored (a place is not
    a taste; the ``distance`` features use it), and so are the hard-constraint
    attributes (:data:`engine.domain.constraints.CONSTRAINT_ATTRIBUTES`: an idea's
    ``intimacy`` level only decides who may be offered it). Rows are L2-normalised,
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
        for name in encodable_attributes(X.schema, weights):
            spec = X.schema.attributes[name]
            if spec.kind == "categorical":
                # the labels seen (not "auto", which would make an empty cell a label of its own):
                # an unknown value is no label
                seen = sorted({v for v in X.frame[name] if isinstance(v, str) and v})
                if not (spec.values or seen):
                    continue  # an optional attribute no idea has a value of: nothing to encode
                cats = [list(spec.values) if spec.values else seen]
                step = OneHotEncoder(categories=cats, handle_unknown="ignore", sparse_output=False)
            elif spec.kind == "ordinal":
                step = OrdinalScaler(order=spec.order)
            elif spec.kind == "numeric":
                step = Pipeline([  # an unknown value (an optional attribute) is the catalog's median
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
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
