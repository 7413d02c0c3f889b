"""Point-in-time training examples for :class:`~engine.learning.model.EnjoymentModel`.

A share of each couple's distinct ideas are training targets; each target's
features see only the couple's dates before that idea was first done (all the
couple's other ideas on undated data), and the idea-side statistics are learned
without the target pairs. Negatives are ideas the couple never did.
:func:`point_in_time` chooses the targets and their histories,
:func:`training_examples` turns them into pair-feature rows.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..domain.dates import UNDATED, mean_rating
from ..domain.profiles import Profile
from .dismissals import known_negatives
from .features import HistoryFeaturizer

__all__ = ["point_in_time", "training_examples", "batch_rows", "popular_pair_share", "too_few_examples"]

logger = logging.getLogger(__name__)

#: point-in-time targets are drawn first among ideas first done after this share of a couple's ideas
_LATE_TARGETS = 0.7
#: float32 cells of one batch's (couple, idea, feature) planes at most: 48M = 192 MB. Training
#: targets go 2,000 and ranked couples 1,000 at a time, fewer over a catalog so large that those
#: would be more (4,000 ideas x ~60 features: 200 rows; was 1-2 GB a batch, issue 23)
_BATCH_CELLS = 48_000_000


def batch_rows(most: int, n_ideas: int, n_features: int) -> int:
    """Rows per feature batch: ``most``, fewer when their planes would exceed :data:`_BATCH_CELLS`."""
    return max(1, min(most, _BATCH_CELLS // max(n_ideas * n_features, 1)))


def popular_pair_share(dates: pd.DataFrame, n_ideas: int, top: float = 0.10) -> float:
    """Share of the distinct (couple, idea) pairs that fall on the ``top`` share of the
    ``n_ideas`` catalog ideas most couples did: how long-tailed the data is (0 without dates)."""
    pairs = dates.drop_duplicates(["couple_id", "idea_id"])
    if pairs.empty:
        return 0.0
    counts = np.sort(pairs["idea_id"].value_counts().to_numpy())[::-1]
    head = max(1, int(round(top * max(int(n_ideas), 1))))
    return float(counts[:head].sum() / counts.sum())


def point_in_time(dates: pd.DataFrame, rng: np.random.Generator, *, training_history: str = "before",
                  target_share: float = 0.25, target_couples: int | None = None,
                  partner_targets: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Choose training targets and their point-in-time histories.

    Per couple with >= 3 distinct ideas, ``target_share`` of its distinct
    ideas (at least one) are targets. A target's history is the couple's
    dates before the day the target idea was first done, and that day's
    dates of its other non-target ideas (all the couple's other non-target
    ideas when the data has no dates). The idea side
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
    if training_history == "before" and pairs["first"].notna().any():
        # prefer targets late in the couple's history: their features then see a
        # history about as long as the ones served (measured: README, "Model")
        late = pairs.groupby("couple_id")["first"].rank(pct=True).to_numpy() > _LATE_TARGETS
        draw = draw + np.where(late, 0.0, 1.0)
    order = pd.Series(draw).groupby(pairs["couple_id"].to_numpy()).rank(method="first")
    want = np.maximum(np.round(target_share * n_distinct), 1)
    is_target = (order.to_numpy() <= want) & (n_distinct >= 3) & pairs["rating"].notna().to_numpy()
    if target_couples is not None:
        chosen = pd.unique(pairs["couple_id"].to_numpy()[is_target])
        if len(chosen) > int(target_couples):
            keep = rng.choice(chosen, size=int(target_couples), replace=False)
            is_target &= pairs["couple_id"].isin(keep).to_numpy()
    targets = pairs.loc[is_target].reset_index(drop=True)
    targets["key"] = targets["couple_id"] + "@" + targets["idea_id"]
    if partner_targets:
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
    dated = joined["first"].notna() & (training_history == "before")
    before = joined["done_on"] < joined["first"]
    # undated data, and the target's own day (a rating session puts many dates on one day; without
    # them such targets would train on empty histories): the couple's other ideas, but not its other
    # target ideas (they are being predicted)
    others = (~dated | (joined["done_on"] == joined["first"])) & (joined["idea_id"] != joined["_target"])
    if others.any():
        others &= ~pd.MultiIndex.from_frame(joined[["couple_id", "idea_id"]]).isin(target_pairs)
    context = joined.loc[(dated & before) | others]
    context = context.drop(columns=["couple_id", "first", "_target"]).rename(columns={"key": "couple_id"})
    if partner_targets:
        # the target's partner's view of the history (:meth:`HistoryFeaturizer.histories` with partner)
        is_b = context["couple_id"].map(dict(zip(targets["key"], targets["partner"] == "b"))).to_numpy(bool)
        a, b = context["rating_a"].to_numpy(float), context["rating_b"].to_numpy(float)
        own, other = np.where(is_b, b, a), np.where(is_b, a, b)
        context = context.assign(rating_a=np.where(np.isnan(own), other, own), rating_b=np.nan)
    return item_dates, context, targets

def training_examples(feat: HistoryFeaturizer, context: pd.DataFrame, targets: pd.DataFrame,
                      dates: pd.DataFrame, rng: np.random.Generator, profiles: dict[str, Profile], *,
                      negatives: int = 6, popular_negatives: float = 0.0, marks: pd.DataFrame | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair features, labels and each example's target key (its ranking group).

    ``marks``: the couples' "not for us" marks (:func:`~engine.learning.dismissals.mark_days`);
    those made before a target's day replace that many of its random negatives
    (:func:`~engine.learning.dismissals.known_negatives`)."""
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
    # each target's day number; UNDATED on undated data (its features are as of the context's latest date)
    days = np.where(targets["first"].notna(),
                    targets["first"].to_numpy("datetime64[D]").astype("int64"), UNDATED)
    ctx_groups = context.groupby("couple_id", sort=False).indices
    mark_cols = feat.positions(marks["idea_id"].to_numpy()) if marks is not None else None
    Xs, ys, gs = [], [], []
    chunk = batch_rows(2000, n_i, len(feat.feature_names_))
    for start in range(0, len(keys), chunk):
        sl = slice(start, start + chunk)
        ks = keys[sl]
        idx = [ctx_groups[k] for k in ks if k in ctx_groups]
        sub = context.iloc[np.concatenate(idx)] if idx else context.iloc[:0]
        hist = feat.histories(sub, ks, key_profiles)
        F = feat.transform(hist, as_of_day=days[sl])
        rows = np.arange(len(ks))
        ok = tcol[sl] >= 0
        Xs.append(F[rows[ok], tcol[sl][ok]])
        ys.append(label[sl][ok])
        gs.append(ks[ok])
        # negatives: ideas this couple never did
        neg_rows = np.repeat(rows, int(negatives))
        neg_cols = rng.integers(0, n_i, size=len(neg_rows))
        if popular_negatives > 0:
            # some negatives drawn by popularity: popular ideas the couple skipped teach taste
            popular = rng.random(len(neg_rows)) < popular_negatives
            weights = feat.idea_counts_ + 1.0
            neg_cols[popular] = rng.choice(n_i, size=int(popular.sum()), p=weights / weights.sum())
        if marks is not None and len(marks):  # ideas the couple turned down: negatives they told us about
            slots, cols = known_negatives(marks, owners[sl], days[sl], mark_cols, int(negatives))
            neg_cols[slots] = cols
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


def too_few_examples(y: np.ndarray, feat: HistoryFeaturizer, dates: pd.DataFrame) -> str:
    """Why training examples ``y`` (all one label, or none) give nothing to learn, and what would."""
    if not len(y):
        return ("training needs couples with at least 3 different rated ideas (each is learnt from the "
                f"couple's others); none of the {dates['couple_id'].nunique()} couples has: add more rated dates")
    if y[0]:
        return f"training needs both relevant and non-relevant examples; got {len(y)} examples, all relevant"
    lo, hi = feat.scale_
    return (f"training needs both relevant and non-relevant examples; got {len(y)} examples, none relevant: "
            f"no target's rating reaches the relevant rating {feat.relevant_rating_:g} on the scale {lo:g}-{hi:g}; "
            "lower it (relevant_rating, evaluate/train --relevant) or add more rated dates")
