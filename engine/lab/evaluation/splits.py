"""Seeded hold-out splits of a dates frame (the protocol's step 2, :mod:`engine.lab.evaluation`)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...domain.dates import mean_rating

__all__ = ["Split", "split_dates"]


@dataclass
class Split:
    """One seeded hold-out split.

    Attributes
    ----------
    train : DataFrame
        Training dates (dates-frame columns).
    test : dict of couple id to dict of idea id to float
        Held-out mean rating per test couple.
    history : dict of couple id to set of idea ids
        Each test couple's training-history ideas (never ranked for it).
    seed : int
    """

    train: pd.DataFrame
    test: dict[str, dict[str, float]]
    history: dict[str, set[str]]
    seed: int

    @property
    def couples(self) -> list[str]:
        """Test couples, sorted."""
        return sorted(self.test)


def split_dates(dates: pd.DataFrame, seed: int, test_share: float = 0.2,
                min_rated: int = 3) -> Split:
    """Hold out a seeded random share of each eligible couple's rated ideas.

    Parameters
    ----------
    dates : DataFrame
        A dates frame.
    seed : int
        Same seed, same split.
    test_share : float, default=0.2
        Share of a couple's rated ideas held out (``round(share * n)``, at least one).
    min_rated : int, default=3
        Couples with fewer rated ideas are not tested (they stay in training).

    Returns
    -------
    Split
    """
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1 (exclusive), got {test_share!r}")
    if not isinstance(min_rated, numbers.Integral) or min_rated < 2:
        raise ValueError(f"min_rated must be an integer >= 2, got {min_rated!r}")
    frame = dates.assign(couple_id=dates["couple_id"].astype(str), idea_id=dates["idea_id"].astype(str))
    rated = frame.assign(_r=mean_rating(frame)).dropna(subset=["_r"])
    pairs = (rated.groupby(["couple_id", "idea_id"], sort=True)["_r"].mean()
             .rename("rating").reset_index())
    n_rated = pairs.groupby("couple_id")["idea_id"].transform("size").to_numpy()
    pairs = pairs[n_rated >= min_rated].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    order = pd.Series(rng.random(len(pairs)), index=pairs.index)
    rank = order.groupby(pairs["couple_id"]).rank(method="first").to_numpy() - 1
    n = pairs.groupby("couple_id")["idea_id"].transform("size").to_numpy()
    n_test = np.maximum(1, np.round(test_share * n))
    held = pairs[rank < n_test]
    key = frame["couple_id"] + "\x1f" + frame["idea_id"]
    held_key = set(held["couple_id"] + "\x1f" + held["idea_id"])
    train = dates[~key.isin(held_key).to_numpy()].reset_index(drop=True)
    test: dict[str, dict[str, float]] = {}
    for couple, idea, rating in held[["couple_id", "idea_id", "rating"]].itertuples(index=False):
        test.setdefault(couple, {})[idea] = float(rating)
    tr = train[train["couple_id"].astype(str).isin(test)]
    history = {c: set() for c in test}
    for couple, ideas in tr.groupby(tr["couple_id"].astype(str))["idea_id"]:
        history[couple] = set(ideas.astype(str))
    return Split(train=train, test=test, history=history, seed=int(seed))

