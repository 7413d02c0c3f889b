"""The enjoyment model and the ranking it drives.

:class:`EnjoymentModel` learns, from couples' rated dates, the probability
that a couple would do an idea *and rate it relevant* (at or above
``relevant_rating``), from pair features built by
:class:`~engine.learning.features.HistoryFeaturizer`. Training examples are
point-in-time correct: a share of each couple's distinct ideas are targets,
each target's features see only the couple's dates before that idea was
first done, and the idea-side statistics (similarity, priors) are learned
without the target pairs. Negatives are ideas the couple never did.

Ranking (:meth:`EnjoymentModel.rank`) then puts first the idea the couple
would enjoy most, trades enjoyment against breaking the couple's routine for
the two alternatives that complete tonight's answer (``routine_weight``) and,
for a couple stuck in a routine it does not love, on all three
(``routine_push``, :mod:`engine.ranking.routine`),
obeys the context's hard constraints, penalises repeats, keeps the list
diverse (MMR, and optionally one idea per category) and can explore with a
seed.

Partners: where ratings are per partner, each partner's enjoyment is
predicted from their own ratings (:meth:`EnjoymentModel.enjoyment` returns
both, and training targets are each one partner's rating), and ranking goes
by :func:`together` (the mean less ``gap_penalty`` times the partners' gap),
a separate step at the top of :meth:`EnjoymentModel.rank`, so an idea one
partner would love and the other would not loses to one both enjoy.

Cold start is an explicit path: a couple with no history is scored from the
idea priors alone and flagged ``cold_start``; an idea absent from the
training data gets the global prior and its content features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..domain.catalog import Catalog
from ..domain.constraints import allowed_mask
from ..domain.context import Context
from ..domain.dates import CoupleDates, as_dates_frame, mean_rating
from ..domain.profiles import Profile, Profiles
from ..ranking.routine import routine_push
from .features import FEATURE_NAMES, Histories, HistoryFeaturizer

__all__ = ["EnjoymentModel", "Ranked", "TrainingCheckError", "LEARNERS", "together"]

logger = logging.getLogger(__name__)

#: list positions (0-based) where ``routine_weight`` trades enjoyment for breaking the routine:
#: the two alternatives that complete tonight's default answer of three
_ROUTINE_SLOTS = range(1, 3)
#: list positions the couple's own push out of the routine (``routine_push``) reaches: tonight's three
_PUSH_SLOTS = range(0, 3)

LEARNERS = ("linear", "pairwise", "hgb")
#: point-in-time targets are drawn first among ideas first done after this share of a couple's ideas
_LATE_TARGETS = 0.7
#: float32 cells of one batch's (couple, idea, feature) planes at most: 48M = 192 MB. Training
#: targets go 2,000 and ranked couples 1,000 at a time, fewer over a catalog so large that those
#: would be more (4,000 ideas x ~60 features: 200 rows; was 1-2 GB a batch, issue 23)
_BATCH_CELLS = 48_000_000


#: catalogs larger than this compute idea x idea similarity rows on demand (:class:`_RowSimilarity`)
_DENSE_SIM_IDEAS = 2048


class _RowSimilarity:
    """``V @ V.T`` indexed like the dense matrix (``[rows]``, ``[row, cols]``), rows computed on demand."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        return (self.vectors[rows] @ self.vectors.T)[..., cols]


def _batch_rows(most: int, n_ideas: int, n_features: int) -> int:
    """Rows per feature batch: ``most``, fewer when their planes would exceed :data:`_BATCH_CELLS`."""
    return max(1, min(most, _BATCH_CELLS // max(n_ideas * n_features, 1)))


def together(enjoyment: np.ndarray, gap_penalty: float) -> np.ndarray:
    """What a couple's list is ranked by: both partners' enjoyment, protecting the less keen one.

    ``mean(a, b) - gap_penalty * |a - b|``: 0 ranks by the mean, 0.5 by the
    less keen partner's enjoyment alone (least misery); in between, an idea
    one partner would love and the other would not loses to one both
    would enjoy a little less on average.

    Parameters
    ----------
    enjoyment : ndarray (..., 2)
        Partner a's and partner b's enjoyment (:meth:`EnjoymentModel.enjoyment`).
    gap_penalty : float in [0, 0.5]

    Returns
    -------
    ndarray (...)
    """
    a, b = enjoyment[..., 0], enjoyment[..., 1]
    return (a + b) / 2.0 - gap_penalty * np.abs(a - b)


class TrainingCheckError(RuntimeError):
    """The fitted model failed its post-training check."""


@dataclass
class Ranked:
    """Ranked ideas for a batch of couples.

    Attributes
    ----------
    couple_ids : ndarray (n_couples,)
    positions : ndarray (n_couples, k) of int
        Catalog row positions, best first; -1 pads when fewer ideas qualify.
    scores : ndarray (n_couples, k)
        Final ranking score of each pick.
    enjoyment : ndarray (n_couples, k)
        Predicted probability that the couple rates it relevant (the mean
        of the partners').
    partners : ndarray (n_couples, k, 2)
        Each partner's predicted probability (a, b).
    favourite : ndarray (n_couples, 2)
        The partners' predicted probability of the allowed idea not done yet
        with the highest mean (NaN when none): what a ranking by the mean
        would lead with (for the reason "picked so neither of you is left out").
    routine_distance : ndarray (n_couples, k)
        Cosine distance of the pick from the couple's recent routine (0-1).
    cold_start : ndarray (n_couples,) of bool
        True where the couple had no usable history.
    features : ndarray (n_couples, k, n_features)
        The pair features of each pick (for reasons).
    histories : Histories
        The couples' histories the ranking was computed from.
    """

    couple_ids: np.ndarray
    positions: np.ndarray
    scores: np.ndarray
    enjoyment: np.ndarray
    partners: np.ndarray
    favourite: np.ndarray
    routine_distance: np.ndarray
    cold_start: np.ndarray
    features: np.ndarray = field(repr=False)
    histories: Histories | None = field(default=None, repr=False)


class EnjoymentModel(BaseEstimator):
    """Predict enjoyment of ideas per couple and rank routine-breaking suggestions.

    Parameters
    ----------
    learner : {"linear", "pairwise", "hgb"}, default="linear"
        ``linear``: logistic regression on the standardised pair features.
        ``pairwise``: a linear ranker learned from each training target
        against its own negatives (logistic loss on feature differences,
        RankSVM-style), then calibrated to a probability (Platt) on the
        same examples; scores through the same weighted sum as ``linear``.
        ``hgb``: gradient-boosted trees. Chosen by evaluation (README):
        ``linear`` over ``hgb``: equal NDCG on synthetic couples, better on
        the real UCI ratings (trees overfit 1,161 ratings and tie many
        scores), and ~10x faster to score; ``pairwise`` is +0.004 / +0.006
        NDCG@10 on synthetic / UCI but lowers the enjoyment ratio (0.893 vs
        0.898) and the top-3 outside the routine (0.10 vs 0.14).
    routine_weight : float in [0, 1], default=0.24
        How much tonight's alternatives break the routine. The first idea
        (tonight's suggestion) is the one the couple would enjoy most; the
        next two (the alternatives that complete the default answer of
        three) are chosen by (1 - w) * enjoyment (scaled to the couple's
        best) + w * [the idea's kind is not one of the three the couple does
        most]; every later idea goes by enjoyment again. 0 ranks by
        enjoyment alone. Chosen from the evaluation's trade-off curve
        (README).
    routine_push : float in [0, 1], default=0.6
        The most that a stuck couple is pushed out of its routine, on all
        three of tonight's ideas including the first: at each of those steps
        the weight above is raised to ``routine_push * P_c``, where ``P_c`` in
        [0, 1] grows with how concentrated the couple's recent dates are and
        how flat or low they rated those kinds (:mod:`engine.ranking.routine`). A
        varied history, or a routine rated 4 of 5 or better, has ``P_c`` near
        0 and is barely pushed. 0 switches the adaptive push off. Chosen on
        the loop and the one-shot evaluation (README, "Weeks of dates").
    diversity : float >= 0, default=0.05
        MMR penalty on similarity to ideas already in the list.
    repeat_penalty : float >= 0, default=0.5
        Subtracted from ideas done in the last ``repeat_days`` or suggested
        recently (scaled by recency). An idea the couple rated below
        ``relevant_rating`` also loses 1, which puts it below every idea
        they have not disliked.
    repeat_days : int, default=90
    exploration : float >= 0, default=0.0
        Thompson-style noise scale on the enjoyment, larger for couples with
        little history. Seeded per call; 0 switches it off.
    gap_penalty : float in [0, 0.5], default=0.4
        How much the ranking protects the less keen partner: ideas are ranked
        by ``mean(a, b) - gap_penalty * |a - b|`` of the two partners'
        predicted enjoyment (:func:`together`); 0 = the mean, 0.5 = least
        misery. Chosen on the one-shot synthetic evaluation scored with the
        simulator's per-partner truth (``python -m bench partners``, 2,000
        couples, 3 seeds; the weekly loop evaluation was not there yet):
        from 0 to 0.4 the top 3's true enjoyment rises for the less happy
        partner (4.071 -> 4.080) and for the couple (4.286 -> 4.289), the
        partners' gap falls (0.430 -> 0.417), for 0.004 of NDCG@10; 0.5 is
        worse on both (4.080 / 4.287). README, "Partners".
    partner_targets : bool, default=True
        Each training target is one partner's rating (a partner drawn among
        those who rated it), its features built from that partner's ratings
        before it, as :meth:`enjoyment` predicts each partner; False: the
        couple's mean rating and history, one example per target.
    negatives : int, default=6
        Unseen ideas sampled per training target.
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
    popular_negatives : float in [0, 1], default=0.0
        Share of training negatives drawn by popularity instead of uniformly.
    target_share : float, default=0.25
        Share of each couple's distinct ideas used as training targets (see
        :meth:`_point_in_time`).
    target_couples : int or None, default=5000
        At most this many couples (a seeded random sample) contribute
        training targets; the idea-side statistics still use every date.
        Bounds training time on large data: on 800k simulated dates
        (28,800 couples) hold-out NDCG@10 is 0.235 with every couple, 0.237
        with 10,000, 5,000 or 2,500, and the fit takes 11.3 / 3.5 / 2.6 /
        1.8 s (README, "Speed"). None = every couple.
    max_iter, learning_rate, max_leaf_nodes :
        Passed to the gradient-boosted learner.
    rating_scale : tuple, optional
        (min, max) of ratings; default from the data.
    relevant_rating : float, optional
        Default: top quarter of the scale.
    random_state : int, default=0
    """

    def __init__(self, learner: str = "linear", routine_weight: float = 0.24, routine_push: float = 0.6,
                 diversity: float = 0.05,
                 repeat_penalty: float = 0.5, repeat_days: int = 90, exploration: float = 0.0,
                 gap_penalty: float = 0.4, partner_targets: bool = True,
                 negatives: int = 6, target_share: float = 0.25, target_couples: int | None = 5_000,
                 training_history: str = "before",
                 rounds: int | None = None, shrink: float = 1.0, popular_negatives: float = 0.0,
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
        self.partner_targets = partner_targets
        self.negatives = negatives
        self.target_share = target_share
        self.target_couples = target_couples
        self.training_history = training_history
        self.rounds = rounds
        self.shrink = shrink
        self.popular_negatives = popular_negatives
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.rating_scale = rating_scale
        self.relevant_rating = relevant_rating
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _validate_params(self) -> None:
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {self.learner!r}")
        if not 0.0 <= float(self.routine_weight) <= 1.0:
            raise ValueError(f"routine_weight must be in [0, 1], got {self.routine_weight}; 0.24 is the default")
        if not 0.0 <= float(self.routine_push) <= 1.0:
            raise ValueError(f"routine_push must be in [0, 1], got {self.routine_push}; 0.6 is the default")
        for name in ("diversity", "repeat_penalty", "exploration"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= float(self.gap_penalty) <= 0.5:
            raise ValueError(f"gap_penalty must be in [0, 0.5] (0: the partners' mean, 0.5: the less keen "
                             f"partner's enjoyment), got {self.gap_penalty}")
        if not isinstance(self.partner_targets, (bool, np.bool_)):
            raise ValueError(f"partner_targets must be True or False, got {self.partner_targets!r}")
        if self.training_history not in ("before", "others"):
            raise ValueError(f"training_history must be 'before' or 'others', got {self.training_history!r}")
        if self.rounds is not None and int(self.rounds) < 1:
            raise ValueError(f"rounds must be >= 1 or None, got {self.rounds}")
        if int(self.negatives) < 1:
            raise ValueError(f"negatives must be >= 1, got {self.negatives}; try 6")
        if not 0 < float(self.target_share) < 1:
            raise ValueError(f"target_share must be in (0, 1), got {self.target_share}; try 0.25")
        if self.target_couples is not None and (isinstance(self.target_couples, bool)
                                                or int(self.target_couples) != self.target_couples
                                                or int(self.target_couples) < 1):
            raise ValueError(f"target_couples must be a positive integer or None, got {self.target_couples!r}")

    def fit(self, dates: pd.DataFrame, catalog: Catalog, profiles: Profiles | None = None) -> EnjoymentModel:
        """Learn from rated dates.

        Parameters
        ----------
        dates : DataFrame
            A dates frame (see :mod:`engine.domain.dates`).
        catalog : Catalog
            The ideas; dates of ideas not in it are ignored.
        profiles : mapping couple id -> Profile, optional
            The couples' stated profiles (:mod:`engine.domain.profiles`); also the
            default for :meth:`recommend` without a history.
        """
        self._validate_params()
        dates = as_dates_frame(dates)
        profiles = {str(c): p for c, p in (profiles or {}).items()}
        wrong = next((p for p in profiles.values() if not isinstance(p, Profile)), None)
        if wrong is not None:
            raise TypeError(f"profiles must map couple ids to engine.domain.profiles.Profile (build them with "
                            f"profiles.from_record or from_couples), got {type(wrong).__name__}")
        rng = np.random.default_rng(self.random_state)
        rounds = self.rounds if self.rounds is not None else int(np.clip(40_000 // max(len(dates), 1), 1, 8))
        Xs, ys, keys = [], [], []
        for round_ in range(rounds):
            item_dates, context, targets = self._point_in_time(dates, rng)
            feat = self._make_featurizer().fit(item_dates, catalog)
            X, y, key = self._examples(feat, context, targets, dates, rng, profiles)
            Xs.append(X)
            ys.append(y)
            keys.append(np.char.add(f"{round_}:", key.astype(str)))
        X, y = np.concatenate(Xs), np.concatenate(ys)
        if len(np.unique(y)) < 2:
            raise ValueError(
                "training needs both relevant and non-relevant examples; got "
                f"{len(y)} examples with labels {np.unique(y).tolist()} - add more rated dates"
            )
        if self.learner == "pairwise":
            # one ranking group per training target: the target and its own negatives
            self.learner_ = self._make_learner().fit(X, y, groups=pd.factorize(np.concatenate(keys))[0])
        else:
            self.learner_ = self._make_learner().fit(X, y)
        self._fold_linear()
        self.featurizer_ = self._make_featurizer().fit(dates, catalog)
        # False for a catalog without encodable attributes: collaborative signals alone (the card says so)
        self.content_features_ = bool(self.featurizer_.encoder_.content_features_)
        self.catalog_ = catalog
        self.feature_names_ = list(self.featurizer_.feature_names_)
        self.n_examples_ = int(len(y))
        self.n_dates_ = int(len(dates))
        self._history = dates
        self._profiles = profiles
        V = self.featurizer_.idea_vectors_
        # idea x idea cosine for the diversity penalty and the reasons: a dense matrix up to
        # 2,048 ideas (32 MB), rows computed when asked above (128 MB at 4,000 ideas, issue 23)
        self._idea_sim = V @ V.T if len(V) <= _DENSE_SIM_IDEAS else _RowSimilarity(V)
        self._check_fitted_model()
        return self

    def _make_featurizer(self) -> HistoryFeaturizer:
        return HistoryFeaturizer(rating_scale=self.rating_scale, relevant_rating=self.relevant_rating,
                                 shrink=self.shrink)

    def _make_learner(self):
        if self.learner == "pairwise":
            return _PairwiseLogistic(random_state=self.random_state)
        if self.learner == "hgb":
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes, l2_regularization=1.0,
                random_state=self.random_state,
            )
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))

    def _point_in_time(self, dates: pd.DataFrame, rng: np.random.Generator):
        """Choose training targets and their point-in-time histories.

        Per couple with >= 3 distinct ideas, ``target_share`` of its distinct
        ideas (at least one) are targets. A target's history is the couple's
        dates strictly before the target idea was first done (all the
        couple's other ideas when the data has no dates). The idea side
        (similarity, priors) is learned from the dates of non-target pairs only.

        Returns
        -------
        item_dates : DataFrame
            Dates for the idea-side statistics.
        context : DataFrame
            Histories, one pseudo-couple per target (``couple_id`` = target key).
        targets : DataFrame
            ``key``, ``couple_id``, ``idea_id``, ``rating`` (mean over its
            dates; with ``partner_targets`` one partner's, named in ``partner``).
        """
        work = dates.assign(_r=mean_rating(dates), _day=dates["done_on"])
        pairs = work.groupby(["couple_id", "idea_id"], sort=False).agg(
            first=("_day", "min"), rating=("_r", "mean"), rating_a=("rating_a", "mean"),
            rating_b=("rating_b", "mean")).reset_index()
        n_distinct = pairs.groupby("couple_id")["idea_id"].transform("size").to_numpy()
        draw = rng.random(len(pairs))
        if self.training_history == "before" and pairs["first"].notna().any():
            # prefer targets late in the couple's history: their features then see a
            # history about as long as the ones served (measured: README, "Model")
            late = pairs.groupby("couple_id")["first"].rank(pct=True).to_numpy() > _LATE_TARGETS
            draw = draw + np.where(late, 0.0, 1.0)
        order = pd.Series(draw).groupby(pairs["couple_id"].to_numpy()).rank(method="first")
        want = np.maximum(np.round(self.target_share * n_distinct), 1)
        is_target = (order.to_numpy() <= want) & (n_distinct >= 3) & pairs["rating"].notna().to_numpy()
        if self.target_couples is not None:
            chosen = pd.unique(pairs["couple_id"].to_numpy()[is_target])
            if len(chosen) > int(self.target_couples):
                keep = rng.choice(chosen, size=int(self.target_couples), replace=False)
                is_target &= pairs["couple_id"].isin(keep).to_numpy()
        targets = pairs.loc[is_target].reset_index(drop=True)
        targets["key"] = targets["couple_id"] + "@" + targets["idea_id"]
        if self.partner_targets:
            # each target is one partner's: their rating of it, seen from their own ratings before
            has_a, has_b = targets["rating_a"].notna().to_numpy(), targets["rating_b"].notna().to_numpy()
            # a coin only where both rated: one-rating data (rating_a only) trains exactly as before
            coin = rng.random(len(targets)) < 0.5 if (has_a & has_b).any() else np.zeros(len(targets), bool)
            pick_b = has_b & (~has_a | coin)
            targets["partner"] = np.where(pick_b, "b", "a")
            targets["rating"] = np.where(pick_b, targets["rating_b"], targets["rating_a"])
        target_pairs = pd.MultiIndex.from_frame(targets[["couple_id", "idea_id"]])
        in_target = pd.MultiIndex.from_frame(dates[["couple_id", "idea_id"]]).isin(target_pairs)
        item_dates = dates.loc[~in_target]
        joined = targets[["key", "couple_id", "idea_id", "first"]].rename(
            columns={"idea_id": "_target"}).merge(dates, on="couple_id", how="inner")
        dated = joined["first"].notna() & (self.training_history == "before")
        before = joined["done_on"] < joined["first"]
        undated_other = ~dated & (joined["idea_id"] != joined["_target"])
        # undated data: hide the couple's other target ideas too (they are being predicted)
        if (~dated).any():
            other_target = pd.MultiIndex.from_frame(joined[["couple_id", "idea_id"]]).isin(target_pairs)
            undated_other &= ~other_target
        context = joined.loc[(dated & before) | undated_other]
        context = context.drop(columns=["couple_id", "first", "_target"]).rename(columns={"key": "couple_id"})
        if self.partner_targets:
            # the target's partner's view of the history (:meth:`HistoryFeaturizer.histories` with partner)
            is_b = context["couple_id"].map(dict(zip(targets["key"], targets["partner"] == "b"))).to_numpy(bool)
            a, b = context["rating_a"].to_numpy(float), context["rating_b"].to_numpy(float)
            own, other = np.where(is_b, b, a), np.where(is_b, a, b)
            context = context.assign(rating_a=np.where(np.isnan(own), other, own), rating_b=np.nan)
        return item_dates, context, targets

    def _examples(self, feat: HistoryFeaturizer, context: pd.DataFrame, targets: pd.DataFrame,
                  dates: pd.DataFrame, rng: np.random.Generator, profiles: dict[str, Profile]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pair features, labels and each example's target key (its ranking group)."""
        n_i = len(feat.catalog_ids_)
        z = feat.scale_ratings(targets["rating"].to_numpy(dtype=float))
        label = (z >= feat.relevant_z()).astype(int)
        tcol = feat.positions(targets["idea_id"].to_numpy())
        keys = targets["key"].to_numpy()
        owners = targets["couple_id"].to_numpy()
        # a target's pseudo-couple states its couple's profile
        key_profiles = {k: profiles[o] for k, o in zip(keys, owners) if o in profiles}
        # which ideas each target's couple ever did (negatives are drawn among the others)
        owner_row, owner_ids = pd.factorize(owners)
        drow = pd.Index(owner_ids).get_indexer(dates["couple_id"].to_numpy())
        dcol = feat.positions(dates["idea_id"].to_numpy())
        seen = (drow >= 0) & (dcol >= 0)
        done_by = sp.csr_matrix((np.ones(int(seen.sum()), dtype=np.int8), (drow[seen], dcol[seen])),
                                shape=(len(owner_ids), n_i))
        days = np.where(targets["first"].notna(),
                        targets["first"].to_numpy("datetime64[D]").astype("int64"), 0)
        ctx_groups = context.groupby("couple_id", sort=False).indices
        Xs, ys, gs = [], [], []
        chunk = _batch_rows(2000, n_i, len(feat.feature_names_))
        for start in range(0, len(keys), chunk):
            sl = slice(start, start + chunk)
            ks = keys[sl]
            idx = [ctx_groups[k] for k in ks if k in ctx_groups]
            sub = context.iloc[np.concatenate(idx)] if idx else context.iloc[:0]
            hist = feat.histories(sub, ks, key_profiles)
            as_of = np.where(days[sl] > 0, days[sl], hist.last_day.max(axis=1) - 1)
            F = feat.transform(hist, as_of_day=as_of)
            rows = np.arange(len(ks))
            ok = tcol[sl] >= 0
            Xs.append(F[rows[ok], tcol[sl][ok]])
            ys.append(label[sl][ok])
            gs.append(ks[ok])
            # negatives: ideas this couple never did
            neg_rows = np.repeat(rows, int(self.negatives))
            neg_cols = rng.integers(0, n_i, size=len(neg_rows))
            if self.popular_negatives > 0:
                # some negatives drawn by popularity: popular ideas the couple skipped teach taste
                popular = rng.random(len(neg_rows)) < self.popular_negatives
                weights = feat.idea_counts_ + 1.0
                neg_cols[popular] = rng.choice(n_i, size=int(popular.sum()), p=weights / weights.sum())
            done = done_by[owner_row[sl]].toarray() > 0
            keep = ~done[neg_rows, neg_cols]
            Xs.append(F[neg_rows[keep], neg_cols[keep]])
            ys.append(np.zeros(int(keep.sum()), dtype=int))
            gs.append(ks[neg_rows[keep]])
        X = np.concatenate(Xs) if Xs else np.zeros((0, len(feat.feature_names_)), np.float32)
        y = np.concatenate(ys) if ys else np.zeros(0, int)
        key = np.concatenate(gs) if gs else np.zeros(0, object)
        logger.info("training examples: %d (%d relevant)", len(y), int(y.sum()))
        return X, y, key

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
        if self.learner in ("linear", "pairwise"):
            # the fitted scaler and logistic regression folded into one weighted sum over the
            # feature axis (contiguous planes for the (couple, idea, feature) view: no copy)
            z = np.tensordot(self._linear_weights, np.moveaxis(X, -1, 0), axes=1) + self._linear_bias
            return expit(z)
        flat = X.reshape(-1, X.shape[-1])
        return self.learner_.predict_proba(flat)[:, 1].reshape(X.shape[:-1])

    def _fold_linear(self) -> None:
        if self.learner == "pairwise":
            scaler, logit = self.learner_.scaler_, self.learner_
        elif self.learner == "linear":
            scaler, logit = self.learner_[0], self.learner_[-1]
        else:
            return
        weights = logit.coef_.ravel() / scaler.scale_
        self._linear_weights = weights.astype(np.float32)
        self._linear_bias = float(logit.intercept_[0] - np.dot(scaler.mean_, weights))

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
                  as_of_day: int | None = None,
                  profiles: Profiles | None = None) -> tuple[np.ndarray, np.ndarray, Histories]:
        """Predicted enjoyment of every idea for each couple, one prediction per partner.

        Each partner's enjoyment is the model's prediction from the pair
        features of that partner's own ratings (:meth:`HistoryFeaturizer.histories`
        with ``partner``); a couple whose partners never rated differently
        gets one prediction, the same for both. ``profiles`` maps couple ids
        to their stated profiles (default: none, or a
        :class:`~engine.domain.dates.CoupleDates`' own).

        Returns
        -------
        enjoyment : ndarray (n_couples, n_ideas, 2)
            Partner a's (``[..., 0]``) and partner b's (``[..., 1]``)
            probability of a relevant rating. An idea a partner rated is
            scaled by their own rating of it (1 of 5 -> 0).
        features : ndarray (n_couples, n_ideas, n_features)
            The pair features, the mean of the two partners' (what was done
            and when is the same for both).
        histories : Histories
            The couple's history (ratings: the mean of the partners who
            rated; ``liked_by``: each partner's own).
        """
        check_is_fitted(self, "learner_")
        feat = self.featurizer_
        hist, *by = feat.partner_histories(history, couple_ids, profiles)
        F = feat.transform(by[0], as_of_day=as_of_day)
        P = np.empty(F.shape[:2] + (2,))
        P[..., 0] = self._predict_features(F)
        # partners with the same ratings everywhere have the same features: score them once
        differ = np.flatnonzero(~np.all(np.isclose(by[0].rated, by[1].rated, equal_nan=True), axis=1))
        P[..., 1] = P[..., 0]
        if len(differ):  # b's features: a's, with the ones computed from ratings computed from b's
            Fb = feat.retaste(F[differ], by[1].take(differ))
            P[differ, :, 1] = self._predict_features(Fb)
            F[differ] = (F[differ] + Fb) / 2
        # what a partner told us beats what the model guesses: an idea they rated is
        # scaled by their own rating of it (1 of 5 -> 0; training never sees repeats)
        for j, h in enumerate(by):
            P[..., j] = np.where(np.isnan(h.rated), P[..., j], P[..., j] * np.nan_to_num(h.rated))
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
            Hard constraints; ideas that break them are never returned.
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
        P, F, hist = scored if scored is not None else self.enjoyment(history, couple_ids, as_of_day=as_of_day,
                                                                      profiles=profiles)
        p = together(P, self.gap_penalty)
        n_c, n_i = p.shape
        feat = self.featurizer_
        cold = hist.n_dates == 0
        enj = p.copy()
        if self.exploration > 0:
            seeds = np.broadcast_to(np.asarray(0 if seed is None else seed), (n_c,))
            for r in range(n_c):
                noise = np.random.default_rng(int(seeds[r])).standard_normal(n_i)
                enj[r] += self.exploration * noise / np.sqrt(1.0 + hist.n_dates[r])
        top = np.maximum(enj.max(axis=1, keepdims=True), 1e-9)
        routine = F[..., FEATURE_NAMES.index("routine_distance")]
        score = enj / top
        # tonight's ideas: (1 - w) * enjoyment + w * [a kind of date the couple does not do most], as a
        # shift added to the enjoyment at those steps; w is routine_weight on the two alternatives,
        # raised on all three to the couple's own push (routine_push * how stuck they are)
        base = float(self.routine_weight)
        pushed = float(self.routine_push) * routine_push(
            feat.group_of_, len(feat.group_labels_), hist.done, hist.recent, hist.rated, hist.n_dates).push
        routine_shift = None
        if base or pushed.any():
            outside = 1.0 - sum(F[..., FEATURE_NAMES.index(f"group_rank{i}")] for i in (1, 2, 3))
            routine_shift = outside - score
        # repeats: done recently (by days_since) and suggested recently
        since = F[..., FEATURE_NAMES.index("days_since")] * 365.0
        times = F[..., FEATURE_NAMES.index("times_done")]
        recent = (times > 0) & (since < self.repeat_days)
        score -= self.repeat_penalty * recent * (1.0 - since / max(self.repeat_days, 1))
        score -= 0.3 * self.repeat_penalty * (times > 0) + 0.1 * self.repeat_penalty * times
        # an idea the couple rated below "relevant" drops below every idea they have not disliked
        score -= np.nan_to_num(hist.rated, nan=1.0) < self.featurizer_.relevant_z()
        cindex = {c: r for r, c in enumerate(couple_ids)}
        if recently_suggested:
            for c, ideas in recently_suggested.items():
                r = cindex.get(c)
                if r is None or not ideas:
                    continue
                pos = self.catalog_.position(list(ideas))
                wts = np.fromiter(ideas.values(), dtype=float, count=len(ideas))
                ok = pos >= 0
                score[r, pos[ok]] -= self.repeat_penalty * wts[ok]
        own = allowed
        allowed = np.broadcast_to(allowed_mask(self.catalog_, context), (n_c, n_i)).copy()
        if own is not None:
            if np.shape(own) != (n_c, n_i):
                raise ValueError(f"allowed must have shape (n_couples, n_ideas) = {(n_c, n_i)}, "
                                 f"got {np.shape(own)}")
            allowed &= np.asarray(own, dtype=bool)
        if exclude:
            for c, ideas in exclude.items():
                r = cindex.get(c)
                if r is None or not ideas:
                    continue
                pos = self.catalog_.position(list(ideas))
                allowed[r, pos[pos >= 0]] = False
        score = np.where(allowed, score, -np.inf)
        positions = np.full((n_c, k), -1, dtype=np.int64)
        final = np.full((n_c, k), -np.inf)
        max_sim = np.zeros((n_c, n_i))
        groups = feat.group_of_
        rows = np.arange(n_c)
        for step in range(k):
            adjusted = score - self.diversity * max_sim
            if routine_shift is not None and step in _PUSH_SLOTS:
                w = np.maximum(base if step in _ROUTINE_SLOTS else 0.0, pushed)
                adjusted = adjusted + w[:, None] * routine_shift
            best = np.argmax(adjusted, axis=1)
            val = adjusted[rows, best]
            ok = np.isfinite(val)
            positions[ok, step] = best[ok]
            final[ok, step] = val[ok]
            score[rows[ok], best[ok]] = -np.inf
            max_sim[ok] = np.maximum(max_sim[ok], self._idea_sim[best[ok]])
            if distinct_groups:
                same = groups[None, :] == groups[best][:, None]
                score[ok] = np.where(same[ok], -np.inf, score[ok])
        safe = np.clip(positions, 0, None)
        # the idea the couple would enjoy most on average among the allowed ones not done yet (for reasons)
        fav_scores = np.where(allowed & (times == 0), P.mean(axis=-1), -np.inf)
        fav = np.argmax(fav_scores, axis=1)
        favourite = np.where(np.isfinite(fav_scores[rows, fav])[:, None], P[rows, fav], np.nan)
        return Ranked(
            couple_ids=np.asarray(couple_ids, dtype=object),
            positions=positions,
            scores=np.where(positions >= 0, final, np.nan),
            enjoyment=np.where(positions >= 0, P[rows[:, None], safe].mean(axis=-1), np.nan),
            partners=np.where((positions >= 0)[..., None], P[rows[:, None], safe], np.nan),
            favourite=favourite,
            routine_distance=np.where(positions >= 0, routine[rows[:, None], safe], np.nan),
            cold_start=cold,
            features=F[rows[:, None], safe],
            histories=hist,
        )

    def recommend(self, couples: Sequence[str], k: int = 10, context: Context | None = None,
                  exclude: dict[str, set[str]] | None = None,
                  history: pd.DataFrame | None = None,
                  profiles: Profiles | None = None) -> list[list[tuple[str, float]]]:
        """Top-``k`` (idea id, score) per couple, best first.

        ``history`` and ``profiles`` default to what :meth:`fit` saw.
        """
        check_is_fitted(self, "learner_")
        if profiles is None and history is None:
            profiles = self._profiles
        history = self._history if history is None else as_dates_frame(history)
        out: list[list[tuple[str, float]]] = []
        ids = self.catalog_.ids
        couples = list(couples)
        step = _batch_rows(1000, len(ids), len(self.feature_names_))
        for start in range(0, len(couples), step):
            chunk = couples[start:start + step]
            sub = history[history["couple_id"].isin(set(map(str, chunk)))]
            ranked = self.rank(sub, chunk, k, context=context, exclude=exclude, profiles=profiles)
            for r in range(len(chunk)):
                out.append([(str(ids[p]), float(s)) for p, s in zip(ranked.positions[r], ranked.scores[r]) if p >= 0])
        return out

    def _titles(self) -> np.ndarray:
        """Idea titles in catalog order (cached)."""
        titles = self.__dict__.get("_title_cache")
        if titles is None:
            titles = self._title_cache = self.catalog_.frame["title"].to_numpy()
        return titles

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_history", None)  # training data stays out of the artifact
        state.pop("_profiles", None)
        state.pop("_title_cache", None)
        return state

    def __setstate__(self, state):
        state.setdefault("target_couples", None)  # artifacts from before the parameter: no cap
        state.setdefault("partner_targets", False)
        state.setdefault("gap_penalty", 0.0)  # and before partners: ranked by the couple's mean
        self.__dict__.update(state)
        if "featurizer_" in state:
            from ..domain.dates import empty_dates
            self._history = empty_dates()
            self._profiles = {}


class _PairwiseLogistic(BaseEstimator):
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

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> _PairwiseLogistic:
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
