"""Known-answer tests of couples' stated interests: from onboarding to the ranked list."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine import load_catalog
from engine.dates import CoupleDates, as_dates_frame
from engine.features import FEATURE_NAMES, HistoryFeaturizer
from engine.interests import from_couples, labels
from engine.model import EnjoymentModel
from engine.simulator import simulate

COL = FEATURE_NAMES.index("interest")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def world(catalog):
    return simulate(300, seed=4, catalog=catalog)


def test_labels_are_distinct_lower_case_and_accept_the_import_format():
    assert labels(["Dancing", " cooking", "dancing", ""]) == ("cooking", "dancing")
    assert labels("Outdoors|wellness||outdoors") == ("outdoors", "wellness")
    assert labels(None) == () and labels(float("nan")) == () and labels([]) == ()
    couples = pd.DataFrame({"id": ["a", "b", "c"], "interests": ["Culture|games", "", None]})
    assert from_couples(couples) == {"a": ("culture", "games")}
    assert from_couples(couples.drop(columns="interests")) == {} and from_couples(None) == {}


def test_the_interest_feature_marks_exactly_the_ideas_with_a_stated_value(world, catalog):
    feat = HistoryFeaturizer().fit(world.dates, catalog)
    f = catalog.frame
    wellness = f["category"].to_numpy() == "wellness"
    # a category value, matched without regard to case; a label no idea has changes nothing
    hist = feat.histories(world.dates.iloc[:0], ["a", "b"], {"a": ["Wellness", "no-such-thing"]})
    F = feat.transform(hist)
    np.testing.assert_array_equal(F[0, :, COL], wellness.astype(np.float32))
    assert not F[1, :, COL].any()
    # a multi-valued attribute matches on any of its values
    pillar = "novelty"
    has_pillar = np.array([pillar in values for values in f["pillars"]])
    assert 0 < has_pillar.sum() < len(f)
    F = feat.transform(feat.histories(world.dates.iloc[:0], ["a"], {"a": [pillar]}))
    np.testing.assert_array_equal(F[0, :, COL] > 0, has_pillar)
    # one couple's request: the interests travel with its CoupleDates
    F = feat.transform(feat.histories(CoupleDates("a", (), ("wellness",))))
    np.testing.assert_array_equal(F[0, :, COL], wellness.astype(np.float32))
    # interest_novel: the same mark, scaled by how far the idea is from the couple's routine
    couple = world.couple_ids[0]
    F = feat.transform(feat.histories(world.dates, [couple], {couple: ["wellness"]}))
    novel, routine = FEATURE_NAMES.index("interest_novel"), FEATURE_NAMES.index("routine_distance")
    np.testing.assert_allclose(F[0, :, novel], np.where(wellness, F[0, :, routine], 0.0), rtol=1e-6)
    assert F[0, wellness, novel].min() > 0


def _interest_world(catalog, n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Couples who love the category they stated and dislike the rest: half wellness, half culture."""
    rng = np.random.default_rng(seed)
    f = catalog.frame
    by_cat = {c: list(f.index[f["category"] == c]) for c in ("wellness", "culture")}
    rest = list(f.index[~f["category"].isin(by_cat)])
    rows, interests = [], {}
    for c in range(n):
        cat = "wellness" if c % 2 == 0 else "culture"
        interests[f"k{c}"] = [cat]
        ideas = [(i, 5) for i in rng.choice(by_cat[cat], 2, replace=False)] + \
                [(i, 2) for i in rng.choice(rest, 6, replace=False)]
        for week, j in enumerate(rng.permutation(len(ideas))):
            rows.append((f"k{c}", ideas[j][0], dt.date(2025, 1, 1) + dt.timedelta(days=7 * week), ideas[j][1]))
    dates = as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "done_on", "rating_a"]))
    return dates, interests


def test_a_model_trained_with_interests_ranks_a_new_couples_interest_first(catalog):
    """Stated interests predict what couples love; a new couple with no dates but an
    interest gets that category first, and without interests it does not."""
    dates, interests = _interest_world(catalog)
    model = EnjoymentModel(routine_weight=0.0, diversity=0.0).fit(dates, catalog, interests)
    weight = model._linear_weights[model.feature_names_.index("interest")]
    assert weight > 0
    category = catalog.frame["category"]
    for cat in ("wellness", "culture"):
        ranked = model.recommend(["new"], k=5, history=dates.iloc[:0], interests={"new": [cat]})[0]
        assert [category[i] for i, _ in ranked] == [cat] * 5
    plain = model.recommend(["new"], k=5, history=dates.iloc[:0])[0]
    assert {category[i] for i, _ in plain} != {"wellness"}
    # recommend without a history uses the dates and interests seen in fit
    fitted = model.recommend(["k0"], k=3, exclude={"k0": set(dates.loc[dates["couple_id"] == "k0", "idea_id"])})[0]
    assert [category[i] for i, _ in fitted] == ["wellness"] * 3


def test_without_interests_in_training_the_feature_carries_no_weight(catalog):
    dates, _ = _interest_world(catalog)
    model = EnjoymentModel().fit(dates, catalog)
    assert model._linear_weights[model.feature_names_.index("interest")] == 0.0


def test_evaluation_hands_every_ranker_the_datasets_interests(world):
    from engine.evaluation import evaluate

    seen: list[dict] = []

    class Recorder:
        def fit(self, dates, catalog, interests=None):
            seen.append(dict(interests))
            self.ids = list(catalog.ids)
            return self

        def recommend(self, couples, k, context=None, exclude=None, history=None, interests=None):
            seen.append(dict(interests))
            return [[(i, 0.0) for i in self.ids if i not in exclude[c]][:k] for c in couples]

    evaluate(world, {"recorder": Recorder}, seeds=1, progress=False)
    expected = from_couples(world.couples)
    assert len(expected) == len(world.couples)  # every simulated couple states 2-3 interests
    assert seen == [expected, expected]


def test_tonight_for_a_new_couple_follows_and_names_its_interest_and_caches_by_it(catalog):
    from engine.context import Context
    from engine.recommender import Recommender

    dates, interests = _interest_world(catalog)
    rec = Recommender(EnjoymentModel().fit(dates, catalog, interests), "v-test")
    ctx = Context(budget=3, day=dt.date(2025, 6, 1))
    category = catalog.frame["category"]
    picks, cached = rec.tonight_cached("new", CoupleDates("new", (), ("culture",)), ctx, k=3)
    assert not cached and [category[s.idea_id] for s in picks] == ["culture"] * 3
    assert all(s.reasons[0] == "you said you are into culture" for s in picks)
    # the same rows with other interests are another history: not answered from the cache
    other, cached = rec.tonight_cached("new", CoupleDates("new", (), ("wellness",)), ctx, k=3)
    assert not cached and [category[s.idea_id] for s in other] == ["wellness"] * 3
    again, cached = rec.tonight_cached("new", CoupleDates("new", (), ("wellness",)), ctx, k=3)
    assert cached and [s.idea_id for s in again] == [s.idea_id for s in other]
    # interests passed explicitly win over the CoupleDates' own, and never come from its cached scores
    explicit = rec.batch(CoupleDates("new", (), ("wellness",)), ["new"], ctx, k=3, distinct_categories=False,
                         interests={"new": ["culture"]})["new"]
    assert [category[s.idea_id] for s in explicit] == ["culture"] * 3
