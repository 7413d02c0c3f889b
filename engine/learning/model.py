"""The enjoyment model: what each partner would enjoy, learned from rated dates.

:class:`EnjoymentModel` learns, from couples' rated dates, the probability
that a couple would do an idea *and rate it relevant* (at or above
``relevant_rating``), from pair features built by
:class:`~engine.learning.features.HistoryFeaturizer`. Training examples are
point-in-time correct: a share of each couple's distinct ideas are targets,
each target's features see only the couple's dates before that idea was
first done, and the idea-side statistics (similarity, priors) are learned
without the target pairs. Negatives are ideas the couple never did.

Ranking (:meth:`EnjoymentModel.rank`, the one scoring path) hands each
partner's predicted enjoyment and the facts the policy needs to
:class:`~engine.ranking.policy.RankingPolicy` (routine, repeats, diversity,
exploration, the partners' gap), configured by the model's parameters of the
same names. Where ratings are per partner, each partner's enjoyment is
predicted from their own ratings, and training targets are each one partner's.

Cold start is an explicit path: a couple with no history is scored from the
idea priors alone and flagged ``cold_start``; an idea absent from the
training data gets the global prior and its content features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..domain.catalog import Catalog
from ..domain.constraints import allowed_for_couples
from ..domain.context import Context
from ..domain.dates import CoupleDates, as_dates_frame, stated_profiles
from ..domain.profiles import Profile, Profiles
from ..ranking.policy import Candidates, Ranked, RankingPolicy, together
from ..ranking.routine import routine_push
from .artifact_state import saved_state, upgraded_state
from .batch import BatchRecommendMixin
from .dismissals import mark_days
from .encoding import encodable_attributes
from .features import FEATURE_NAMES, Histories, HistoryFeaturizer
from .histories import same_ratings
from .learners import (
    LEARNERS,
    PairwiseLogistic,
    folded_linear,
    make_learner,
    resolve_breadth,
    resolve_training,
)
from .parameters import PARAMETER_CONSTRAINTS
from .sampling import point_in_time, popular_pair_share, too_few_examples, training_examples
from .similarity import RowSimilarity, idea_similarity

__all__ = ["EnjoymentModel", "Ranked", "TrainingCheckError", "LEARNERS", "together"]

logger = logging.getLogger(__name__)

#: the parameters that configure :class:`~engine.ranking.policy.RankingPolicy` (not used by ``fit``)
_POLICY_PARAMETERS = tuple(f.name for f in fields(RankingPolicy))


class TrainingCheckError(RuntimeError):
    """The fitted model failed its post-training check."""



class EnjoymentModel(BatchRecommendMixin, BaseEstimator):
    """Predict enjoyment of ideas per couple and rank routine-breaking suggestions.

    Parameters
    ----------
    learner : {"auto", "linear", "pairwise", "hgb"}, default="auto"
        ``auto``: ``pairwise`` on a long-tailed catalog (the 10% most done
        ideas hold more than half of the couple-idea pairs at fit), else
        ``linear`` (:func:`~engine.learning.learners.resolve_learner`; the one
        fitted is ``learner_name_``).
        ``linear``: logistic regression on the standardised pair features.
        ``pairwise``: a linear ranker learned from each training target
        against its own negatives (logistic loss on feature differences,
        RankSVM-style), then calibrated to a probability (Platt) on the
        same examples; scores through the same weighted sum as ``linear``.
        ``hgb``: gradient-boosted trees. Chosen by evaluation (README, "How
        the defaults were chosen"): ``linear`` ties ``hgb`` on synthetic couples,
        beats it on UCI and scores ~10x faster.
    routine_weight, routine_push, diversity, repeat_penalty, repeat_days, exploration, gap_penalty :
        The ranking policy (:class:`~engine.ranking.policy.RankingPolicy`, where
        each is documented with how it was chosen); defaults 0.24, 0.6, 0.05,
        0.5, 90, 0.0 and 0.4. :meth:`rank` applies them; ``fit`` does not use them.
    breadth : float >= 0 or "auto", default="auto"
        The policy's popularity penalty from the sixth idea of a list on
        (:class:`~engine.ranking.policy.RankingPolicy`); ``auto``: 0.5 on a
        long-tailed catalog (as for ``learner``), 0.25 on any catalog without
        attributes, 0 otherwise.
    scale : {"catalog", "allowed"}, default="catalog"
        What the policy scales a couple's enjoyment by: their best idea in the
        catalog or their best allowed idea (:class:`~engine.ranking.policy.RankingPolicy`).
    partner_targets : bool, default=True
        Each training target is one partner's rating (a partner drawn among
        those who rated it), its features built from that partner's ratings
        before it, as :meth:`enjoyment` predicts each partner; False: the
        couple's mean rating and history, one example per target.
    negatives : int or "auto", default="auto"
        Unseen ideas sampled per training target; ``auto``: 20 on a long-tailed
        catalog (as for ``learner``), else 6 (the one used: ``negatives_``).
    training_history : {"before", "others"}, default="before"
        What a training target's features may see. ``before``: only the
        couple's dates before the target idea was first done (point-in-time
        correct; what production training uses). ``others``: all the
        couple's dates of other ideas (leave-ideas-out), the shape of the
        offline protocol's random hold-out; undated data always uses this.
    rounds : int, optional
        Independent draws of training targets (each with its own idea-side
        statistics); default: more for small data (40,000 / n_dates, 1-8).
    shrink : float, default=1.0
        Shrinkage of item-item similarity and of the priors.
    popular_negatives : float in [0, 1] or "auto", default="auto"
        Share of training negatives drawn by popularity, not uniformly; ``auto``: 0.2
        on a catalog without attributes that is not long-tailed, else 0 (the one used:
        ``popular_negatives_``; :func:`~engine.learning.learners.resolve_popular_negatives`).
    factor_alpha : float > 0 or "auto", default="auto"
        Confidence weight of the ALS factors behind the ``cf_factors`` feature; ``auto``: chosen
        on the training data (:class:`~engine.learning.features.HistoryFeaturizer`; the one used:
        ``factor_alpha_``).
    target_share : float, default=0.25
        Share of each couple's distinct ideas used as training targets (see
        :meth:`_point_in_time`).
    target_couples : int or None, default=5000
        At most this many couples (a seeded random sample) contribute
        training targets; the idea-side statistics still use every date.
        Bounds training time on large data at no measured cost in NDCG@10
        (README, "Speed"). None = every couple.
    max_iter, learning_rate, max_leaf_nodes :
        Passed to the gradient-boosted learner.
    rating_scale : tuple, optional
        (min, max) of ratings; default from the data.
    relevant_rating : float, optional
        Default: top quarter of the scale.
    random_state : int, default=0
    """

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS  # engine.learning.parameters

    def __init__(self, learner: str = "auto", routine_weight: float = 0.24, routine_push: float = 0.6,
                 diversity: float = 0.05,
                 repeat_penalty: float = 0.5, repeat_days: int = 90, exploration: float = 0.0,
                 gap_penalty: float = 0.4, breadth: float | str = "auto", scale: str = "catalog",
                 partner_targets: bool = True,
                 negatives: int | str = "auto", target_share: float = 0.25, target_couples: int | None = 5_000,
                 training_history: str = "before",
                 rounds: int | None = None, shrink: float = 1.0, popular_negatives: float | str = "auto",
                 factor_alpha: float | str = "auto",
                 max_iter: int = 150, learning_rate: float = 0.08,
                 max_leaf_nodes: int = 31, rating_scale: tuple[float, float] | None = None,
                 relevant_rating: float | None = None, random_state: int = 0):
        self.learner = learner
        self.routine_weight = routine_weight
        self.routine_push = routine_push
        self.diversity = diversity
        self.repeat_penalty = repeat_penalty
        self.repeat_days = repeat_days
        self.exploration = exploration
        self.gap_penalty = gap_penalty
        self.breadth = breadth
        self.scale = scale
        self.partner_targets = partner_targets
        self.negatives = negatives
        self.target_share = target_share
        self.target_couples = target_couples
        self.training_history = training_history
        self.rounds = rounds
        self.shrink = shrink
        self.popular_negatives = popular_negatives
        self.factor_alpha = factor_alpha
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.rating_scale = rating_scale
        self.relevant_rating = relevant_rating
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, dates: pd.DataFrame, catalog: Catalog, profiles: Profiles | None = None,
            dismissals: pd.DataFrame | None = None) -> EnjoymentModel:
        """Learn from rated dates (and from the ideas couples turned down).

        Parameters
        ----------
        dates : DataFrame
            A dates frame (see :mod:`engine.domain.dates`).
        catalog : Catalog
            The ideas; dates of ideas not in it are ignored.
        profiles : mapping couple id -> Profile, optional
            The couples' stated profiles (:mod:`engine.domain.profiles`); also the
            default for :meth:`recommend` without a history.
        dismissals : DataFrame, optional
            ``couple_id``, ``idea_id``, ``created_at``: the couples' "not for us"
            marks (``Store.dismissals_frame``); each stands in for a random training
            negative of its couple's later targets (:mod:`engine.learning.dismissals`).
        """
        self._validate_params()  # sklearn: checks _parameter_constraints
        dates = as_dates_frame(dates)
        profiles = {str(c): p for c, p in (profiles or {}).items()}
        wrong = next((p for p in profiles.values() if not isinstance(p, Profile)), None)
        if wrong is not None:
            raise TypeError(f"profiles must map couple ids to engine.domain.profiles.Profile (build them with "
                            f"profiles.from_record or from_couples), got {type(wrong).__name__}")
        rng = np.random.default_rng(self.random_state)
        self.popular_share_ = popular_pair_share(dates, len(catalog))  # long-tailed above LONG_TAIL
        self.content_features_ = bool(encodable_attributes(catalog.schema))  # False: collaborative alone (card)
        self.learner_name_, self.negatives_, self.popular_negatives_ = resolve_training(
            self.learner, self.negatives, self.popular_negatives, self.popular_share_, self.content_features_)
        marks = mark_days(dismissals, dates) if dismissals is not None else None
        rounds = self.rounds if self.rounds is not None else int(np.clip(40_000 // max(len(dates), 1), 1, 8))
        Xs, ys, keys = [], [], []
        self.factor_alpha_ = self.factor_alpha  # "auto": chosen on all the dates, used in every round
        self.featurizer_ = self._make_featurizer().fit(dates, catalog)
        self.factor_alpha_ = self.featurizer_.factor_alpha_
        for round_ in range(rounds):
            item_dates, context, targets = self._point_in_time(dates, rng)
            feat = self._make_featurizer().fit(item_dates, catalog)
            X, y, key = self._examples(feat, context, targets, dates, rng, profiles, marks)
            Xs.append(X)
            ys.append(y)
            keys.append(np.char.add(f"{round_}:", key.astype(str)))
        X, y = np.concatenate(Xs), np.concatenate(ys)
        if len(np.unique(y)) < 2:
            raise ValueError(too_few_examples(y, feat, dates))
        if self.learner_name_ == "pairwise":
            # one ranking group per training target: the target and its own negatives
            self.learner_ = self._make_learner().fit(X, y, groups=pd.factorize(np.concatenate(keys))[0])
        else:
            self.learner_ = self._make_learner().fit(X, y)
        self._fold_linear()
        self.catalog_ = catalog
        self.feature_names_ = list(self.featurizer_.feature_names_)
        self.n_examples_ = int(len(y))
        self.n_dates_ = int(len(dates))
        self._history = dates
        self._profiles = profiles
        self.idea_similarity_ = idea_similarity(self.featurizer_.idea_vectors_)
        self._check_fitted_model()
        return self

    def _make_featurizer(self) -> HistoryFeaturizer:
        return HistoryFeaturizer(rating_scale=self.rating_scale, relevant_rating=self.relevant_rating,
                                 shrink=self.shrink, factor_alpha=self.factor_alpha_)

    def _make_learner(self):
        return make_learner(self.learner_name_, random_state=self.random_state, max_iter=self.max_iter,
                            learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes)

    def _point_in_time(self, dates: pd.DataFrame, rng: np.random.Generator):
        """Training targets and their histories (:func:`~engine.learning.sampling.point_in_time`)."""
        return point_in_time(dates, rng, training_history=self.training_history, target_share=self.target_share,
                             target_couples=self.target_couples, partner_targets=self.partner_targets)

    def _examples(self, feat: HistoryFeaturizer, context: pd.DataFrame, targets: pd.DataFrame,
                  dates: pd.DataFrame, rng: np.random.Generator, profiles: dict[str, Profile],
                  marks: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pair features, labels and ranking groups (:func:`~engine.learning.sampling.training_examples`)."""
        return training_examples(feat, context, targets, dates, rng, profiles, negatives=self.negatives_,
                                 popular_negatives=self.popular_negatives_, marks=marks)

    def _check_fitted_model(self) -> None:
        """Score a cold-start couple and a sample of training couples; all must be finite."""
        sample = pd.unique(self._history["couple_id"])[:50]
        p, F, _ = self.enjoyment(self._history[self._history["couple_id"].isin(sample)],
                                 ["__cold_start_probe__", *sample])
        if not (np.all(np.isfinite(F)) and np.all(np.isfinite(p))):
            raise TrainingCheckError(
                "the fitted model produces non-finite scores; check the ratings for "
                "NaN or infinite values and try learner='linear' or a lower learning_rate"
            )

    # -------------------------------------------------------------- scoring
    def _predict_features(self, X: np.ndarray) -> np.ndarray:
        """Probability for feature rows of shape (..., n_features); the one prediction path."""
        if self.learner_name_ in ("linear", "pairwise"):
            # the fitted scaler and logistic regression folded into one weighted sum over the
            # feature axis (contiguous planes for the (couple, idea, feature) view: no copy)
            # (np.tensordot's own steps for these shapes: one (1, f) @ (f, n) product, without its dispatch)
            planes = np.moveaxis(X, -1, 0)
            z = np.dot(self.linear_weights_.reshape(1, -1), planes.reshape(len(planes), -1)).reshape(
                planes.shape[1:]) + self.linear_bias_
            return expit(z)
        flat = X.reshape(-1, X.shape[-1])
        return self.learner_.predict_proba(flat)[:, 1].reshape(X.shape[:-1])

    def _fold_linear(self) -> None:
        folded = folded_linear(self.learner_name_, self.learner_)
        if folded is not None:
            self.linear_weights_, self.linear_bias_ = folded

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probability of a relevant rating for pair-feature rows.

        Parameters
        ----------
        X : ndarray of shape (n_pairs, n_features)
            Pair features in ``feature_names_`` order.
        """
        check_is_fitted(self, "learner_")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names_):
            raise ValueError(f"X must have shape (n_pairs, {len(self.feature_names_)}), got {X.shape}")
        return self._predict_features(X)

    def enjoyment(self, history: pd.DataFrame | CoupleDates, couple_ids: Sequence[str],
                  as_of_day: int | None = None, profiles: Profiles | None = None,
                  ideas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, Histories]:
        """Predicted enjoyment of every idea (or of the ideas at ``ideas``) for each couple, one
        prediction per partner.

        Each partner's enjoyment is the model's prediction from the pair
        features of that partner's own ratings (:meth:`HistoryFeaturizer.histories`
        with ``partner``); a couple whose partners never rated differently
        gets one prediction, the same for both. ``profiles`` maps couple ids
        to their stated profiles (default: none, or a
        :class:`~engine.domain.dates.CoupleDates`' own). ``ideas``: catalog
        positions of the ideas to score (the candidates), in that order;
        each column equals that idea's column over the whole catalog
        (:meth:`HistoryFeaturizer.transform`). Default: every idea.

        Returns
        -------
        enjoyment : ndarray (n_couples, n_ideas, 2)
            Partner a's (``[..., 0]``) and partner b's (``[..., 1]``)
            probability of a relevant rating. An idea a partner rated is
            scaled by their own rating of it (1 of 5 -> 0).
        features : ndarray (n_couples, n_ideas, n_features)
            The pair features (n_ideas: ``len(ideas)`` when given), the mean
            of the two partners' (what was done and when is the same for both).
        histories : Histories
            The couple's history (ratings: the mean of the partners who
            rated; ``liked_by``: each partner's own).
        """
        if not hasattr(self, "learner_"):  # (check_is_fitted reads the estimator's tags: ~8 us a call)
            check_is_fitted(self, "learner_")
        feat = self.featurizer_
        hist, *by = feat.partner_histories(history, couple_ids, profiles)
        # partners with the same ratings everywhere have the same features: score them once
        differ = np.flatnonzero(~same_ratings(by[0].rated, by[1].rated).all(axis=1))
        every = len(differ) == len(by[0].couple_ids)  # (one couple's request): no row selection to copy
        b = None if not len(differ) else by[1] if every else by[1].take(differ)
        # b's taste rows go back onto the ideas in the pass a's take
        F, b_back = feat._transform(by[0], as_of_day=as_of_day, ideas=ideas, partner=b)
        P = np.empty(F.shape[:2] + (2,))
        P[..., 0] = self._predict_features(F)
        P[..., 1] = P[..., 0]
        if len(differ):  # b's features: a's, with the ones computed from ratings computed from b's
            # b's rows in F's layout, a plane per feature, so the product reads them without a copy
            # (F[differ], or fancy indexing the planes' middle axis, lays them out couple-major)
            Fb = F.copy(order="K") if every else np.moveaxis(np.take(np.moveaxis(F, -1, 0), differ, axis=1), 0, -1)
            Fb = feat.retaste(Fb, b, ideas=ideas, back=b_back)
            P[differ, :, 1] = self._predict_features(Fb)
            # the mean of the two: only the columns retaste rewrote differ; elsewhere (x + x) / 2 is x
            # to the bit (float32 features are far below overflow), so those are left as they are
            rows = slice(None) if every else differ
            for k in feat._retasted_columns():
                F[rows, :, k] = (F[rows, :, k] + Fb[:, :, k]) / 2
        # what a partner told us beats what the model guesses: an idea they rated is scaled by their own
        # rating of it (1 of 5 -> 0; training never sees repeats); only the rated entries are touched
        cols = slice(None) if ideas is None else np.asarray(ideas, dtype=np.int64)
        for j, h in enumerate(by):
            rated = h.rated[:, cols]
            at_r, at_c = np.nonzero(~np.isnan(rated))
            P[at_r, at_c, j] = P[at_r, at_c, j] * np.nan_to_num(rated[at_r, at_c])
        return P, F, hist

    # -------------------------------------------------------------- ranking
    def rank(self, history: pd.DataFrame | CoupleDates, couple_ids: Sequence[str], k: int = 3, *,
             context: Context | None = None, exclude: dict[str, set[str]] | None = None,
             recently_suggested: dict[str, dict[str, float]] | None = None,
             distinct_groups: bool = False, seed: int | np.ndarray | None = None,
             as_of_day: int | np.ndarray | None = None, scored: tuple | None = None,
             profiles: Profiles | None = None, allowed: np.ndarray | None = None) -> Ranked:
        """Rank ideas for couples: the one scoring path behind every caller.

        Parameters
        ----------
        history : DataFrame or CoupleDates
            Dates of (at least) these couples (CoupleDates: one couple's rows).
        couple_ids : sequence of str
        k : int
            List length.
        context : Context, optional
            Hard constraints; ideas that break them are never returned. Each
            couple's intimacy level (the context's, else the couple's stated
            profile's, default ``affection``) is always one of them
            (:func:`engine.domain.constraints.allowed_for_couples`).
        exclude : dict couple -> set of idea ids, optional
            Never returned for that couple.
        recently_suggested : dict couple -> {idea id: weight in [0, 1]}, optional
            Penalised like recent repeats.
        distinct_groups : bool
            At most one idea per category (the featurizer's group attribute).
        seed : int or array of int (n_couples,), optional
            Exploration seed(s); ignored when ``exploration`` is 0.
        as_of_day : int or ndarray of int (n_couples,), optional
            Day number of the moment ranked (for "days since"), or one per couple.
        scored : tuple, optional
            What ``enjoyment(history, couple_ids, as_of_day, profiles)`` returned
            for exactly these arguments (a caller's cache); read, never modified.
        profiles : mapping couple id -> Profile, optional
            Stated profiles (default: none, or a CoupleDates' own).
        allowed : ndarray of bool (n_couples, n_ideas), optional
            Per couple, the ideas its own constraints allow (each couple's
            context, as :func:`engine.domain.constraints.allowed_rows` gives them);
            combined with ``context``'s.
        """
        check_is_fitted(self, "learner_")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        couple_ids = [str(c) for c in couple_ids]
        feat = self.featurizer_
        n_c, n_i = len(couple_ids), len(feat.group_of_)
        own = allowed
        allowed = allowed_for_couples(self.catalog_, context, stated_profiles(couple_ids, profiles, history))
        if own is not None:
            if np.shape(own) != (n_c, n_i):
                raise ValueError(f"allowed must have shape (n_couples, n_ideas) = {(n_c, n_i)}, "
                                 f"got {np.shape(own)}")
            allowed &= np.asarray(own, dtype=bool)
        allowed &= self.catalog_.couple_planes(couple_ids, exclude) == 0
        policy = self.ranking_policy()
        # constraint-first: scaled by the best allowed idea, only the ideas some couple may be offered are
        # scored; scaled by the best idea in the catalog, every idea is (its best may be ruled out tonight)
        some = np.flatnonzero(allowed.any(axis=0)) if scored is None and policy.scale == "allowed" else None
        cols = some if some is not None and 0 < len(some) < n_i else None
        P, F, hist = scored if scored is not None else self.enjoyment(history, couple_ids, as_of_day=as_of_day,
                                                                      profiles=profiles, ideas=cols)
        at = slice(None) if cols is None else cols

        def plane(name: str) -> np.ndarray:
            return F[..., FEATURE_NAMES.index(name)]

        stuck = routine_push(feat.group_of_, len(feat.group_labels_), hist.done, hist.recent, hist.rated,
                             hist.n_dates)
        candidates = Candidates(
            enjoyment=P, outside_routine=1.0 - sum(plane(f"group_rank{i}") for i in (1, 2, 3)),
            days_since=plane("days_since") * 365.0, times_done=plane("times_done"), rated=hist.rated[:, at],
            n_dates=hist.n_dates, allowed=allowed[:, at],
            suggested=self.catalog_.couple_planes(couple_ids, recently_suggested)[:, at],
            push=stuck.push, popularity=feat.popularity_[at], columns=cols)
        positions, final, favourite = policy.rank(
            candidates, k, relevant_z=feat.relevant_z(), similarity=self.idea_similarity_,
            groups=feat.group_of_ if distinct_groups else None, seed=seed)
        rows = np.arange(n_c)
        safe = np.clip(positions, 0, None) if cols is None else np.searchsorted(cols, np.clip(positions, 0, None))
        routine = plane("routine_distance")
        return Ranked(
            couple_ids=np.asarray(couple_ids, dtype=object),
            positions=positions,
            scores=np.where(positions >= 0, final, np.nan),
            enjoyment=np.where(positions >= 0, P[rows[:, None], safe].mean(axis=-1), np.nan),
            partners=np.where((positions >= 0)[..., None], P[rows[:, None], safe], np.nan),
            favourite=favourite,
            routine_distance=np.where(positions >= 0, routine[rows[:, None], safe], np.nan),
            cold_start=hist.n_dates == 0,
            features=F[rows[:, None], safe],
            histories=hist,
            routine=stuck,
        )

    def ranking_policy(self) -> RankingPolicy:
        """The :class:`~engine.ranking.policy.RankingPolicy` this model's ranking parameters configure."""
        params = {name: getattr(self, name) for name in _POLICY_PARAMETERS}
        params["breadth"] = resolve_breadth(self.breadth, self.popular_share_, self.content_features_)
        return RankingPolicy(**params)

    def idea_titles(self) -> np.ndarray:
        """Idea titles in catalog order (cached)."""
        titles = self.__dict__.get("_title_cache")
        if titles is None:
            titles = self._title_cache = self.catalog_.frame["title"].to_numpy()
        return titles

    def __getstate__(self):
        return saved_state(self.__dict__.copy())  # without the training data; shared arrays once

    def __setstate__(self, state):
        self.__dict__.update(upgraded_state(state))  # artifacts saved by earlier versions load too
        if "featurizer_" in state:
            from ..domain.dates import empty_dates
            self._history = empty_dates()
            self._profiles = {}


# artifacts saved before issue 17 name these classes in this module
_PairwiseLogistic = PairwiseLogistic
_RowSimilarity = RowSimilarity

