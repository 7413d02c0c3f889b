"""Breadth beside accuracy (issue 21, item 3): the Gini of exposure over the catalog, the share
of the top k among the 10% most popular ideas, their place in ``evaluate`` (per seed, with
intervals) and the report's picture of accuracy against coverage."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from sklearn.base import BaseEstimator

from engine.lab.evaluation import (
    BREADTH_METRICS,
    coverage,
    evaluate,
    exposure_gini,
    popular_share,
    popular_shortlist,
    split_dates,
)
from engine.lab.report import ACCURACY_COVERAGE_ALT, _accuracy_coverage_figure, render_report
from engine.lab.simulator import simulate

# --------------------------------------------------------------------------- exposure Gini


def test_gini_of_equal_exposure_is_zero():
    assert exposure_gini([[0, 1], [2, 3]], 4) == pytest.approx(0.0)
    assert exposure_gini([[0, 1, 2], [0, 1, 2], [2, 1, 0]], 3) == pytest.approx(0.0)


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_gini_of_one_idea_taking_everything_is_n_minus_one_over_n(n):
    # every list shows idea 0 only; the other n - 1 ideas are never shown and count as 0
    assert exposure_gini([[0]] * 7, n) == pytest.approx((n - 1) / n)


def test_gini_worked_examples():
    # exposures [0, 1, 1, 2] (idea 3 twice, ideas 1 and 2 once, idea 0 never):
    # sorted ascending, 2 * (1*0 + 2*1 + 3*1 + 4*2) / (4 * 4) - 5/4 = 26/16 - 20/16 = 0.375;
    # the same by the mean absolute difference: sum |x_i - x_j| over ordered pairs 12 / (2 * 4^2 * 1)
    assert exposure_gini([[3, 1], [3, 2]], 4) == pytest.approx(0.375)
    # exposures [2, 1, 0] over 3 ideas: sorted [0, 1, 2], 2 * 8 / 9 - 4/3 = 4/9
    assert exposure_gini([[0], [0], [1]], 3) == pytest.approx(4 / 9)
    # the order of the lists and of the ideas in them does not matter
    assert exposure_gini([[1], [0], [0]], 3) == pytest.approx(4 / 9)


def test_gini_without_exposure_is_zero():
    assert exposure_gini([], 5) == 0.0
    assert exposure_gini([[], []], 5) == 0.0
    assert exposure_gini([[0]], 0) == 0.0


# --------------------------------------------------------------------------- popular share

#: training interactions of ten ideas: idea 6 most (9), then idea 0 (5), then ideas 2 and 3 tied (3)
_POPULARITY = np.array([5, 0, 3, 3, 1, 0, 9, 2, 2, 2])


def test_shortlist_is_ceil_of_the_share_and_ties_go_to_the_earlier_idea():
    assert popular_shortlist(_POPULARITY, 0.10).tolist() == [6]
    assert popular_shortlist(_POPULARITY, 0.20).tolist() == [0, 6]
    # the tie at the cutoff (ideas 2 and 3, 3 each) goes to the idea earlier in the catalog
    assert popular_shortlist(_POPULARITY, 0.30).tolist() == [0, 2, 6]
    assert popular_shortlist(_POPULARITY, 0.25).tolist() == [0, 2, 6]  # ceil(2.5) = 3
    assert len(popular_shortlist(np.arange(30), 0.10)) == 3  # 0.1 * 30 is 3.0000000000000004 in floats
    assert len(popular_shortlist(np.arange(5), 0.10)) == 1  # at least one idea
    assert popular_shortlist(np.zeros(4), 0.5).tolist() == [0, 1]  # all tied: catalog order
    with pytest.raises(ValueError, match="top must be a share"):
        popular_shortlist(_POPULARITY, 0.0)


def test_popular_share_of_constructed_lists():
    lists = [[6, 1], [2, 3], [0]]  # five recommendations
    assert popular_share(lists, _POPULARITY) == pytest.approx(1 / 5)  # only idea 6 is in the top 10%
    assert popular_share(lists, _POPULARITY, top=0.30) == pytest.approx(3 / 5)  # 6, 2 and 0
    assert popular_share([[6], [6, 0]], _POPULARITY, top=0.20) == 1.0
    assert popular_share([[1, 4, 5]], _POPULARITY) == 0.0
    assert popular_share([], _POPULARITY) == 0.0
    # pooled over the recommendations, not averaged per list: (1 + 0 + 0 + 0) / 4, not (1 + 0) / 2
    assert popular_share([[6], [1, 4, 5]], _POPULARITY) == pytest.approx(0.25)


# --------------------------------------------------------------------------- in the protocol


def _by_couples(train, ids):
    """Catalog ids by the number of training couples who did them, most first (ties: catalog order)."""
    couples = train.assign(idea_id=train["idea_id"].astype(str)).groupby("idea_id")["couple_id"].nunique()
    counts = couples.reindex(ids, fill_value=0).to_numpy()
    return [ids[p] for p in np.argsort(-counts, kind="stable")]


class _ByCouples(BaseEstimator):
    """Most popular by couples (like MostPopular), so the lists are known to the test."""

    def fit(self, dates, catalog, profiles=None):
        self.order_ = _by_couples(dates, [str(i) for i in catalog.ids])
        return self

    def recommend(self, couples, k, context=None, exclude=None, history=None, profiles=None):
        return [[(i, 1.0) for i in [i for i in self.order_ if i not in exclude[c]][:k]] for c in couples]


@pytest.fixture(scope="module")
def world():
    from engine.domain.catalog import load_catalog

    return simulate(60, seed=3, catalog=load_catalog())


def test_protocol_scores_breadth_per_seed_on_the_split_training_dates(world):
    k, seeds = 10, 2
    result = evaluate(world, {"by_couples": _ByCouples}, k=k, seeds=seeds, progress=False)
    values = result["models"]["by_couples"]
    ids = [str(i) for i in world.catalog.ids]
    expected: dict[str, list[float]] = {m: [] for m in BREADTH_METRICS}
    by_couples = []
    for seed in range(seeds):
        split = split_dates(world.dates, seed)
        order = _by_couples(split.train, ids)
        lists = [[ids.index(i) for i in order if i not in split.history[c]][:k] for c in split.couples]
        train = split.train.assign(idea_id=split.train["idea_id"].astype(str))
        dates = train["idea_id"].value_counts().reindex(ids, fill_value=0).to_numpy()
        expected["coverage"].append(round(coverage(lists, len(ids)), 4))
        expected["exposure_gini"].append(round(exposure_gini(lists, len(ids)), 4))
        expected["popular_share_top10"].append(round(popular_share(lists, dates), 4))
        couples = train.groupby("idea_id")["couple_id"].nunique().reindex(ids, fill_value=0).to_numpy()
        by_couples.append(round(popular_share(lists, couples), 4))
    for metric in BREADTH_METRICS:
        assert values["per_seed"][metric] == expected[metric]
        assert values[metric] == pytest.approx(np.mean(expected[metric]), abs=1e-4)
        lo, hi = values[f"{metric}_ci"]
        assert lo <= values[metric] <= hi
    # popularity is counted in dates (interactions), not couples: couples repeat ideas here, so the
    # lists ranked by couples are all in the by-couples top 10% but not all in the by-dates one
    assert by_couples == [1.0, 1.0] and all(v < 1.0 for v in expected["popular_share_top10"])


def test_popular_ranker_is_concentrated_and_random_is_spread(world):
    from engine.lab.baselines import MostPopular, RandomRecommender

    models = evaluate(world, {"popular": MostPopular, "random": RandomRecommender}, k=10, seeds=1,
                      progress=False)["models"]
    assert models["popular"]["exposure_gini"] > 0.9 > models["random"]["exposure_gini"]
    assert models["popular"]["popular_share_top10"] > 0.8
    assert models["random"]["popular_share_top10"] < 0.25
    assert models["popular"]["coverage"] < models["random"]["coverage"]


# --------------------------------------------------------------------------- the report

_MODELS = {
    "engine": {"ndcg": 0.34, "ndcg_ci": [0.32, 0.36], "coverage": 0.80, "coverage_ci": [0.78, 0.82],
               "exposure_gini": 0.55, "exposure_gini_ci": [0.5, 0.6],
               "popular_share_top10": 0.3, "popular_share_top10_ci": [0.25, 0.35]},
    "popular": {"ndcg": 0.10, "ndcg_ci": [0.08, 0.12], "coverage": 0.05, "coverage_ci": [0.05, 0.05],
                "exposure_gini": 0.97, "exposure_gini_ci": [0.97, 0.97],
                "popular_share_top10": 1.0, "popular_share_top10_ci": [1.0, 1.0]},
}


def test_accuracy_against_coverage_has_one_labelled_point_per_model_with_error_bars():
    ax = _accuracy_coverage_figure(_MODELS, k=10).axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    points = [tuple(np.round(c.lines[0].get_xydata()[0], 4)) for c in bars]
    assert points == [(0.80, 0.34), (0.05, 0.10)]
    xbars, ybars = bars[0].lines[2]  # the engine's coverage and NDCG intervals
    assert [round(v, 4) for v in xbars.get_segments()[0][:, 0]] == [0.78, 0.82]
    assert [round(v, 4) for v in ybars.get_segments()[0][:, 1]] == [0.32, 0.36]
    assert [t.get_text() for t in ax.texts] == ["engine", "popular"]
    assert ax.get_xlabel().startswith("Catalog coverage") and ax.get_ylabel() == "NDCG@10"


def test_report_carries_the_accuracy_coverage_picture_and_the_breadth_columns():
    page = render_report({"dataset": "t", "k": 10, "seeds": 3, "models": _MODELS})
    assert '<h2 id="accuracy-coverage">Accuracy against coverage</h2>' in page
    assert f'alt="{ACCURACY_COVERAGE_ALT}"' in page
    assert page.count('<img src="data:image/png;base64,') == 2  # the bars and the new picture
    assert "<th>Exposure Gini</th>" in page and "<th>Top-k among 10% most popular</th>" in page
    assert "0.5500 &plusmn; 0.0500" in page
