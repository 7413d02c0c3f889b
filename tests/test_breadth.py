"""Issue 21 item 2: personal on short histories over a long-tailed catalog (known answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from engine.lab.simulator import generate_catalog, simulate
from engine.lab.simulator.variants import without_attributes
from engine.learning.learners import (
    LONG_TAIL,
    resolve_breadth,
    resolve_learner,
    resolve_negatives,
    resolve_popular_negatives,
)
from engine.learning.model import EnjoymentModel
from engine.learning.sampling import popular_pair_share
from engine.ranking.policy import Candidates, RankingPolicy

N = 10


def _candidates(enjoyment, popularity=None) -> Candidates:
    """One couple, ten ideas, nothing done, all allowed."""
    e = np.asarray(enjoyment, dtype=float)
    return Candidates(enjoyment=np.stack([e, e], axis=-1)[None], outside_routine=np.zeros((1, N)),
                      days_since=np.full((1, N), 365.0), times_done=np.zeros((1, N)),
                      rated=np.full((1, N), np.nan), n_dates=np.array([3]), push=np.zeros(1),
                      allowed=np.ones((1, N), bool), suggested=np.zeros((1, N)),
                      popularity=None if popularity is None else np.asarray(popularity, dtype=float))


# ideas 0-6 are what everyone does (popularity 1) and score highest; 7-9 are the couple's own
# long-tail neighbours (popularity 0.1), a little less enjoyed
ENJOY = [0.90, 0.89, 0.88, 0.87, 0.86, 0.85, 0.84, 0.80, 0.79, 0.78]
POPULAR = [1.0] * 7 + [0.1] * 3


def _rank(breadth: float, k: int = 8, popularity=POPULAR):
    policy = RankingPolicy(routine_weight=0.0, routine_push=0.0, diversity=0.0, breadth=breadth)
    return policy.rank(_candidates(ENJOY, popularity), k, relevant_z=0.75, similarity=np.eye(N))[0][0]


def test_breadth_off_ranks_by_enjoyment_alone():
    assert _rank(0.0).tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_breadth_keeps_the_first_five_and_fills_the_rest_from_the_long_tail():
    # the first five are the five most enjoyed; from the sixth on, popularity costs `breadth`
    # (1.0 - 0.1 = 0.9 of the couple's best): the tail ideas 7, 8, 9 come before popular 5 and 6
    assert _rank(1.0).tolist() == [0, 1, 2, 3, 4, 7, 8, 9]


def test_a_small_breadth_moves_only_ideas_close_in_enjoyment():
    # 0.05 x popularity: at the sixth place popular idea 5 (0.85 / 0.90 - 0.05 = 0.894) still beats
    # tail idea 7 (0.80 / 0.90 - 0.005 = 0.884), which then passes popular 6 (0.84 / 0.90 - 0.05 = 0.883)
    assert _rank(0.05).tolist() == [0, 1, 2, 3, 4, 5, 7, 6]


def test_breadth_never_touches_tonights_three():
    assert _rank(5.0, k=3).tolist() == [0, 1, 2]


def test_breadth_needs_popularity():
    with pytest.raises(ValueError, match="popularity"):
        _rank(1.0, popularity=None)


def test_breadth_is_validated_with_a_clear_error():
    dates = pd.DataFrame({"couple_id": ["c"], "idea_id": ["x"], "rating_a": [5]})
    for bad in (-0.5, "often"):
        with pytest.raises(InvalidParameterError, match="breadth"):
            EnjoymentModel(breadth=bad).fit(dates, None)
    with pytest.raises(InvalidParameterError, match="negatives"):
        EnjoymentModel(negatives="many").fit(dates, None)


def test_popular_pair_share_counts_distinct_couple_idea_pairs():
    # 10 ideas: idea "a" done by 6 couples (twice by one), 4 others once each -> top 10% (1 idea) = 6 / 10
    dates = pd.DataFrame({"couple_id": [f"c{i}" for i in range(6)] + ["c0", "c1", "c2", "c3", "c4"],
                          "idea_id": ["a"] * 6 + ["a", "b", "c", "d", "e"]})
    assert popular_pair_share(dates, n_ideas=10) == pytest.approx(6 / 10)
    assert popular_pair_share(dates.iloc[:0], n_ideas=10) == 0.0


def test_auto_learner_is_pairwise_only_on_a_long_tail():
    assert resolve_learner("auto", LONG_TAIL + 0.01) == "pairwise"
    assert resolve_learner("auto", LONG_TAIL - 0.01) == "linear"
    assert resolve_learner("hgb", 0.9) == "hgb"
    assert resolve_negatives("auto", LONG_TAIL + 0.01) == 20
    assert resolve_negatives("auto", LONG_TAIL - 0.01) == 6
    assert resolve_negatives(9, 0.9) == 9


def test_auto_reaches_past_popularity_on_a_catalog_without_attributes():
    dense, tail = LONG_TAIL - 0.2, LONG_TAIL + 0.01
    # without content features: negatives drawn partly by popularity (pointwise learner), breadth 0.25
    assert resolve_popular_negatives("auto", dense, content_features=False) == 0.2
    assert resolve_breadth("auto", dense, content_features=False) == 0.25
    assert resolve_learner("auto", dense) == "linear"
    # with them, or on a long tail (the pairwise learner): as before
    assert resolve_popular_negatives("auto", dense, content_features=True) == 0.0
    assert resolve_popular_negatives("auto", tail, content_features=False) == 0.0
    assert resolve_breadth("auto", dense, content_features=True) == 0.0
    assert resolve_breadth("auto", tail, content_features=True) == 0.5
    assert resolve_breadth("auto", tail, content_features=False) == 0.25
    assert resolve_popular_negatives(0.5, dense, content_features=True) == 0.5
    assert resolve_breadth(0.1, dense, content_features=False) == 0.1


@pytest.fixture(scope="module")
def long_tail():
    catalog = generate_catalog(300, seed=2)
    world = simulate(300, seed=2, catalog=catalog, dates_per_couple=5, popularity_skew=1.0, progress=False)
    return world, catalog


@pytest.mark.slow
def test_a_short_history_on_a_long_tail_gets_personal_ideas_beyond_the_global_top(long_tail):
    world, catalog = long_tail
    model = EnjoymentModel(random_state=0).fit(world.dates, catalog)
    assert model.popular_share_ > LONG_TAIL and model.learner_name_ == "pairwise" and model.negatives_ == 20
    assert model.ranking_policy().breadth == 0.5
    couples = list(pd.unique(world.dates["couple_id"]))[:60]
    history = world.dates[world.dates["couple_id"].isin(couples)]
    exclude = {c: set(history.loc[history["couple_id"] == c, "idea_id"]) for c in couples}
    wide = model.recommend(couples, 10, history=history, exclude=exclude)
    model.set_params(breadth=0.0)
    narrow = model.recommend(couples, 10, history=history, exclude=exclude)
    top_decile = set(world.dates.drop_duplicates(["couple_id", "idea_id"])["idea_id"]
                     .value_counts().index[:len(catalog) // 10])

    def tail(lists, start):
        return np.mean([i not in top_decile for lst in lists for i, _ in lst[start:]])

    # the first five are the same; the last five reach past the most done ideas, and differ between couples
    assert [lst[:5] for lst in wide] == [lst[:5] for lst in narrow]
    assert tail(wide, 5) > tail(narrow, 5) + 0.2
    assert len({i for lst in wide for i, _ in lst}) > len({i for lst in narrow for i, _ in lst})


@pytest.mark.slow
def test_the_dense_shipped_shape_keeps_the_linear_learner_and_no_breadth():
    world = simulate(150, seed=1, progress=False)
    model = EnjoymentModel(random_state=0).fit(world.dates, world.catalog)
    assert model.popular_share_ < LONG_TAIL and model.learner_name_ == "linear" and model.negatives_ == 6
    assert model.ranking_policy().breadth == 0.0


@pytest.mark.slow
def test_without_attributes_the_dense_shape_learns_past_popularity_and_lists_more_of_the_catalog():
    # the dense shipped shape with its attributes hidden: uniform negatives teach "popular" for "loved"
    world = simulate(400, seed=3, progress=False)
    catalog = without_attributes(world.catalog)
    auto = EnjoymentModel(random_state=0).fit(world.dates, catalog)
    uniform = EnjoymentModel(popular_negatives=0.0, breadth=0.0, random_state=0).fit(world.dates, catalog)
    assert auto.popular_share_ < LONG_TAIL and not auto.content_features_ and auto.learner_name_ == "linear"
    assert auto.popular_negatives_ == 0.2 and auto.ranking_policy().breadth == 0.25
    couples = list(pd.unique(world.dates["couple_id"]))
    history = world.dates
    exclude = {c: set(ideas) for c, ideas in history.groupby("couple_id")["idea_id"]}
    top_decile = set(history.drop_duplicates(["couple_id", "idea_id"])["idea_id"]
                     .value_counts().index[:len(catalog) // 10])

    def reach(model):
        lists = model.recommend(couples, 10, history=history, exclude=exclude)
        return len({i for lst in lists for i, _ in lst}), np.mean([i in top_decile for lst in lists for i, _ in lst])

    (wide, popular_wide), (narrow, popular_narrow) = reach(auto), reach(uniform)
    assert wide > narrow + 20 and popular_wide < popular_narrow - 0.1, (wide, narrow, popular_wide, popular_narrow)
