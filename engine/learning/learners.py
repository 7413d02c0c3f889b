"""The learners behind :class:`~engine.learning.model.EnjoymentModel` (``learner=``).

``linear`` (standardised logistic regression), ``pairwise``
(:class:`PairwiseLogistic`: a linear ranker trained on feature differences
within each training target's group, calibrated to a probability) and ``hgb``
(gradient-boosted trees). :func:`make_learner` builds one; :func:`folded_linear`
turns a fitted linear one into the single weighted sum the model scores with;
:func:`resolve_learner` says which one ``auto`` is for the data at hand.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["LEARNERS", "LONG_TAIL", "PairwiseLogistic", "folded_linear", "long_tailed", "make_learner",
           "resolve_breadth", "resolve_learner", "resolve_negatives", "resolve_popular_negatives",
           "resolve_training"]

LEARNERS = ("linear", "pairwise", "hgb")

#: a catalog is long-tailed when its 10% most done ideas hold more than this share of the
#: (couple, idea) pairs (:func:`~engine.learning.sampling.popular_pair_share`): 0.83 on the sparse
#: simulated setting (``--popularity-skew 1``), 0.34 on the dense synthetic couples, 0.26 on UCI
LONG_TAIL = 0.5


#: unseen ideas sampled per training target on a long-tailed catalog (``negatives="auto"``), else
#: :data:`NEGATIVES`: among 2,000 ideas 6 uniform negatives rarely meet the ideas a target competes
#: with; 20 gave +0.004 / +0.023 / +0.008 NDCG@10 and more coverage on the sparse simulated worlds
#: with attributes / counts / none (3,000 couples, seeds 0-1, docs/results/breadth-tradeoff.md)
LONG_TAIL_NEGATIVES = 20
NEGATIVES = 6


def long_tailed(popular_share: float) -> bool:
    """True when the 10% most done ideas hold more than :data:`LONG_TAIL` of the couple-idea pairs."""
    return popular_share > LONG_TAIL


def resolve_negatives(negatives: int | str, popular_share: float) -> int:
    """Negatives per training target: ``auto`` is :data:`LONG_TAIL_NEGATIVES` on a long-tailed catalog."""
    if negatives != "auto":
        return int(negatives)
    return LONG_TAIL_NEGATIVES if long_tailed(popular_share) else NEGATIVES


#: ``breadth`` (``breadth="auto"``) on a long-tailed catalog without / with idea attributes, chosen on
#: the trade-off curve (docs/results/breadth-tradeoff.md): without attributes a tail idea is known only
#: from the few couples who did it, and breadth buys little coverage for much accuracy. A catalog
#: without attributes gets the 0.25 however its dates spread (:data:`AUTO_POPULAR_NEGATIVES`)
AUTO_BREADTH = {False: 0.25, True: 0.5}


def resolve_breadth(breadth: float | str, popular_share: float, content_features: bool) -> float:
    """The ranking's breadth: ``auto`` is :data:`AUTO_BREADTH` on a long-tailed catalog or one
    without content features, else 0."""
    if breadth != "auto":
        return float(breadth)
    return AUTO_BREADTH[bool(content_features)] if long_tailed(popular_share) or not content_features else 0.0


#: share of training negatives drawn by popularity (``popular_negatives="auto"``) on a catalog without
#: content features that is not long-tailed. With nothing but the collaborative signals, uniform
#: negatives are mostly ideas few couples did, so the pointwise learner learns "popular" for
#: "relevant": on the dense attribute-less world (2,000 couples, 336 ideas, relevant = 5, 2 seeds) it
#: filled 73% of its top 10s from the 10% most done ideas, NDCG@10 0.2304 at coverage 0.43; with 0.2
#: (and breadth 0.25) 0.2405 at 0.58. 0.5 reached 0.2419 at 0.58 there but lost 0.011 on UCI without
#: its attributes (3 seeds: 0.3450 -> 0.3366; 0.2 with breadth 0.25: 0.3440). The pairwise learner of a
#: long-tailed catalog already learns each target against its own negatives, and popularity-drawn
#: ones cost it accuracy there (0.220 -> 0.178, sparse world, 2 seeds), so it keeps uniform ones
#: (docs/evaluation-results.md, "Without attributes")
AUTO_POPULAR_NEGATIVES = 0.2


def resolve_popular_negatives(popular_negatives: float | str, popular_share: float,
                              content_features: bool) -> float:
    """Training negatives drawn by popularity: ``auto`` is :data:`AUTO_POPULAR_NEGATIVES` on a catalog
    without content features that is not long-tailed, else 0."""
    if popular_negatives != "auto":
        return float(popular_negatives)
    return AUTO_POPULAR_NEGATIVES if not content_features and not long_tailed(popular_share) else 0.0


def resolve_learner(name: str, popular_share: float) -> str:
    """The learner ``name`` stands for: ``auto`` is ``pairwise`` on a long-tailed catalog, else ``linear``.

    On a long-tailed catalog with short histories (the sparse simulated setting,
    1,500 couples x 2,000 ideas, 1 seed) the pointwise ``linear`` learner leans
    on popularity (uniform negatives are mostly ideas nobody did), while the
    pairwise one learns each target against its own negatives: NDCG@10 0.267 ->
    0.332 with attributes, 0.190 -> 0.228 without, 0.417 -> 0.435 on usage
    counts. On the dense synthetic couples and UCI ``linear`` stays (see
    :class:`~engine.learning.model.EnjoymentModel`).
    """
    if name != "auto":
        return name
    return "pairwise" if long_tailed(popular_share) else "linear"


def resolve_training(learner: str, negatives: int | str, popular_negatives: float | str,
                     popular_share: float, content_features: bool) -> tuple[str, int, float]:
    """What the ``auto`` training settings stand for on this data: ``(learner, negatives,
    popular_negatives)`` (:func:`resolve_learner`, :func:`resolve_negatives`,
    :func:`resolve_popular_negatives`)."""
    return (resolve_learner(learner, popular_share), resolve_negatives(negatives, popular_share),
            resolve_popular_negatives(popular_negatives, popular_share, content_features))


def make_learner(name: str, *, random_state: int = 0, max_iter: int = 150, learning_rate: float = 0.08,
                 max_leaf_nodes: int = 31):
    """An unfitted learner of :data:`LEARNERS`; the last three parameters are the trees' (``hgb``)."""
    if name == "pairwise":
        return PairwiseLogistic(random_state=random_state)
    if name == "hgb":
        return HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate,
                                              max_leaf_nodes=max_leaf_nodes, l2_regularization=1.0,
                                              random_state=random_state)
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def folded_linear(name: str, learner) -> tuple[np.ndarray, float] | None:
    """A fitted ``linear`` or ``pairwise`` learner's scaler and regression folded into one weighted sum.

    Returns ``(weights, bias)`` with ``P(relevant) = expit(x . weights + bias)`` on
    unscaled pair features, or None for a learner that is not linear (``hgb``).
    """
    if name == "pairwise":
        scaler, logit = learner.scaler_, learner
    elif name == "linear":
        scaler, logit = learner[0], learner[-1]
    else:
        return None
    weights = logit.coef_.ravel() / scaler.scale_
    return weights.astype(np.float32), float(logit.intercept_[0] - np.dot(scaler.mean_, weights))



class PairwiseLogistic(BaseEstimator):
    """Linear pairwise ranker (RankSVM-style, logistic loss), calibrated to a probability.

    ``fit(X, y, groups)``: the features are standardised; within each group
    every relevant row is paired with the group's non-relevant rows (at most
    ``max_pairs`` of them, drawn at random in a larger group), and a logistic
    regression without intercept learns ``w`` from the differences, in both
    orders so the classes balance. The score ``x . w`` is then mapped to a
    probability by a one-feature logistic regression fitted on the pointwise
    rows (Platt scaling). ``coef_`` and ``intercept_`` hold the result in the
    standardised space, ``P(relevant) = expit(scaled(x) . coef_ + intercept_)``,
    so the model keeps the linear scoring path.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength of the pairwise regression.
    max_pairs : int, default=20
        Pairs per relevant row at most.
    random_state : int, default=0
    """

    def __init__(self, C: float = 1.0, max_pairs: int = 20, random_state: int = 0):
        self.C = C
        self.max_pairs = max_pairs
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> PairwiseLogistic:
        """Learn from rows ``X`` (n, d), binary labels ``y`` (n,) and int ``groups`` (n,)."""
        y = np.asarray(y)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        pos, neg = _pairs(y, np.asarray(groups), int(self.max_pairs), np.random.default_rng(self.random_state))
        if len(pos) == 0:
            raise ValueError("pairwise training found no target with both a relevant and a "
                             "non-relevant example; add more rated dates or use learner='linear'")
        D = Z[pos] - Z[neg]
        pair = LogisticRegression(C=self.C, fit_intercept=False, max_iter=1000).fit(
            np.concatenate([D, -D]), np.r_[np.ones(len(D), int), np.zeros(len(D), int)])
        w = pair.coef_.ravel()
        platt = LogisticRegression(C=1e4, max_iter=1000).fit((Z @ w)[:, None], y)
        self.coef_ = (float(platt.coef_[0, 0]) * w)[None, :]
        self.intercept_ = platt.intercept_.astype(float)
        self.n_pairs_ = int(len(D))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, 2): probability of a non-relevant and of a relevant rating."""
        check_is_fitted(self, "coef_")
        p = expit(self.scaler_.transform(X) @ self.coef_.ravel() + self.intercept_[0])
        return np.column_stack([1 - p, p])


def _pairs(y: np.ndarray, groups: np.ndarray, max_pairs: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (relevant, non-relevant) of the pairs within groups.

    Each relevant row is paired with every non-relevant row of its group, or
    with ``max_pairs`` of them drawn with replacement when the group has more.
    """
    if len(y) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    order = np.lexsort((y, groups))  # within a group: non-relevant rows first
    g, lab = groups[order], y[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    n_neg = np.add.reduceat((lab == 0).astype(int), starts)
    pos_rows = np.flatnonzero(lab == 1)
    pg = np.repeat(np.arange(len(starts)), sizes)[pos_rows]
    take = np.minimum(n_neg[pg], max_pairs)
    pos = np.repeat(pos_rows, take)
    k = np.repeat(n_neg[pg], take)
    offset = np.arange(len(pos)) - np.repeat(np.cumsum(take) - take, take)
    draw = np.where(k <= max_pairs, offset, (rng.random(len(pos)) * k).astype(int))
    neg = starts[np.repeat(pg, take)] + draw
    return order[pos], order[neg]
