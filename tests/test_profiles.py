"""Known-answer tests of couples' stated profiles (interests, budget ceiling): from onboarding to the ranked list."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine import load_catalog
from engine.domain.dates import CoupleDates, as_dates_frame
from engine.domain.profiles import NO_PROFILE, Profile, budget_ceiling, from_couples, from_record, labels
from engine.lab.simulator import simulate
from engine.learning.features import FEATURE_NAMES, HistoryFeaturizer
from engine.learning.model import EnjoymentModel

COL = FEATURE_NAMES.index("interest")
OVER = FEATURE_NAMES.index("over_budget")


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
    couples = pd.DataFrame({"id": ["a", "b", "c", "d"], "interests": ["Culture|games", "", None, None],
                            "budget_ceiling": [1.0, None, float("nan"), 0.0]})
    assert from_couples(couples) == {"a": Profile(("culture", "games"), 1), "d": Profile((), 0)}
    assert from_couples(couples.drop(columns="budget_ceiling")) == {"a": Profile(("culture", "games"))}
    assert from_couples(couples.drop(columns=["interests", "budget_ceiling"])) == {} and from_couples(None) == {}


def test_a_profile_keeps_what_the_model_uses_and_refuses_a_budget_that_is_not_a_tier():
    record = {"interests": ["Dancing"], "budget_ceiling": 2, "kids": True, "accessibility_needs": "step-free"}
    # kids and accessibility needs are kept too: tonight's hard constraints (engine.domain.constraints.with_profile)
    assert from_record(record) == Profile(("dancing",), 2)  # what the model scores
    assert from_record(record).kids is True and from_record(record).accessibility_needs == "step-free"
    plain = from_record({"kids": "false", "accessibility_needs": " "})
    assert plain == NO_PROFILE and plain.kids is False and plain.accessibility_needs is None
    assert from_record(None) == NO_PROFILE and not NO_PROFILE and Profile((), 0)  # a ceiling of 0 is stated
    assert [budget_ceiling(v) for v in (0, 3, 2.0, "1", "", None, float("nan"))] == [0, 3, 2, 1, None, None, None]
    for bad in (4, -1, 1.5, "cheap", True):
        with pytest.raises(ValueError, match="budget_ceiling must be a whole cost tier from 0 to 3"):
            budget_ceiling(bad)


def test_the_interest_feature_marks_exactly_the_ideas_with_a_stated_value(world, catalog):
    feat = HistoryFeaturizer().fit(world.dates, catalog)
    f = catalog.frame
    wellness = f["category"].to_numpy() == "wellness"
    # a category value, matched without regard to case; a label no idea has changes nothing
    hist = feat.histories(world.dates.iloc[:0], ["a", "b"],
                          {"a": from_record({"interests": ["Wellness", "no-such-thing"]})})
    F = feat.transform(hist)
    np.testing.assert_array_equal(F[0, :, COL], wellness.astype(np.float32))
    assert not F[1, :, COL].any()
    # a multi-valued attribute matches on any of its values
    pillar = "novelty"
    has_pillar = np.array([pillar in values for values in f["pillars"]])
    assert 0 < has_pillar.sum() < len(f)
    F = feat.transform(feat.histories(world.dates.iloc[:0], ["a"], {"a": Profile((pillar,))}))
    np.testing.assert_array_equal(F[0, :, COL] > 0, has_pillar)
    # one couple's request: the profile travels with its CoupleDates
    F = feat.transform(feat.histories(CoupleDates("a", (), Profile(("wellness",)))))
    np.testing.assert_array_equal(F[0, :, COL], wellness.astype(np.float32))
    # interest_novel: the same mark, scaled by how far the idea is from the couple's routine
    couple = world.couple_ids[0]
    F = feat.transform(feat.histories(world.dates, [couple], {couple: Profile(("wellness",))}))
    novel, routine = FEATURE_NAMES.index("interest_novel"), FEATURE_NAMES.index("routine_distance")
    np.testing.assert_allclose(F[0, :, novel], np.where(wellness, F[0, :, routine], 0.0), rtol=1e-6)
    assert F[0, wellness, novel].min() > 0


def test_the_over_budget_feature_marks_exactly_the_ideas_above_the_ceiling(world, catalog):
    feat = HistoryFeaturizer().fit(world.dates, catalog)
    cost = catalog.frame["cost"].astype(int).to_numpy()
    assert set(cost) == {0, 1, 2, 3}
    hist = feat.histories(world.dates.iloc[:0], ["free", "mid", "any", "silent"],
                          {"free": Profile((), 0), "mid": Profile(("culture",), 1), "any": Profile((), 3)})
    F = feat.transform(hist)
    np.testing.assert_array_equal(F[0, :, OVER], (cost > 0).astype(np.float32))
    np.testing.assert_array_equal(F[1, :, OVER], (cost > 1).astype(np.float32))
    assert not F[2, :, OVER].any() and not F[3, :, OVER].any()  # splurge allowed; no ceiling stated
    # the request path: the ceiling travels with the CoupleDates
    F = feat.transform(feat.histories(CoupleDates("mid", (), Profile((), 1))))
    np.testing.assert_array_equal(F[0, :, OVER], (cost > 1).astype(np.float32))


def _interest_world(catalog, n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, dict[str, Profile]]:
    """Couples who love the category they stated and dislike the rest: half wellness, half culture."""
    rng = np.random.default_rng(seed)
    f = catalog.frame
    by_cat = {c: list(f.index[f["category"] == c]) for c in ("wellness", "culture")}
    rest = list(f.index[~f["category"].isin(by_cat)])
    rows, interests = [], {}
    for c in range(n):
        cat = "wellness" if c % 2 == 0 else "culture"
        interests[f"k{c}"] = Profile((cat,))
        ideas = [(i, 5) for i in rng.choice(by_cat[cat], 2, replace=False)] + \
                [(i, 2) for i in rng.choice(rest, 6, replace=False)]
        for week, j in enumerate(rng.permutation(len(ideas))):
            rows.append((f"k{c}", ideas[j][0], dt.date(2025, 1, 1) + dt.timedelta(days=7 * week), ideas[j][1]))
    dates = as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "done_on", "rating_a"]))
    return dates, interests


@pytest.mark.slow
def test_a_model_trained_with_interests_ranks_a_new_couples_interest_first(catalog):
    """Stated interests predict what couples love; a new couple with no dates but an
    interest gets that category first, and without interests it does not."""
    dates, interests = _interest_world(catalog)
    model = EnjoymentModel(routine_weight=0.0, routine_push=0.0, diversity=0.0).fit(dates, catalog, interests)
    weight = model.linear_weights_[model.feature_names_.index("interest")]
    assert weight > 0
    category = catalog.frame["category"]
    for cat in ("wellness", "culture"):
        ranked = model.recommend(["new"], k=5, history=dates.iloc[:0], profiles={"new": Profile((cat,))})[0]
        assert [category[i] for i, _ in ranked] == [cat] * 5
    plain = model.recommend(["new"], k=5, history=dates.iloc[:0])[0]
    assert {category[i] for i, _ in plain} != {"wellness"}
    # recommend without a history uses the dates and profiles seen in fit
    fitted = model.recommend(["k0"], k=3, exclude={"k0": set(dates.loc[dates["couple_id"] == "k0", "idea_id"])})[0]
    assert [category[i] for i, _ in fitted] == ["wellness"] * 3


@pytest.mark.slow
def test_without_interests_in_training_the_feature_carries_no_weight(catalog):
    dates, _ = _interest_world(catalog)
    model = EnjoymentModel().fit(dates, catalog)
    assert model.linear_weights_[model.feature_names_.index("interest")] == 0.0


def test_evaluation_hands_every_ranker_the_datasets_profiles(world):
    from engine.lab.evaluation import evaluate

    seen: list[dict] = []

    class Recorder:
        def fit(self, dates, catalog, profiles=None):
            seen.append(dict(profiles))
            self.ids = list(catalog.ids)
            return self

        def recommend(self, couples, k, context=None, exclude=None, history=None, profiles=None):
            seen.append(dict(profiles))
            return [[(i, 0.0) for i in self.ids if i not in exclude[c]][:k] for c in couples]

    evaluate(world, {"recorder": Recorder}, seeds=1, progress=False)
    expected = from_couples(world.couples)
    assert len(expected) == len(world.couples)  # every simulated couple states 2-3 interests and a ceiling
    assert all(p.interests and p.budget_ceiling is not None for p in expected.values())
    assert seen == [expected, expected]


@pytest.mark.slow
def test_tonight_for_a_new_couple_follows_and_names_its_interest_and_caches_by_it(catalog):
    from engine.app.recommender import Recommender
    from engine.domain.context import Context

    dates, interests = _interest_world(catalog)
    rec = Recommender(EnjoymentModel().fit(dates, catalog, interests), "v-test")
    ctx = Context(budget=3, day=dt.date(2025, 6, 1))
    category = catalog.frame["category"]
    picks, cached = rec.tonight_cached("new", CoupleDates("new", (), Profile(("culture",))), ctx, k=3)
    assert not cached and [category[s.idea_id] for s in picks] == ["culture"] * 3
    assert all(s.reasons[0] == "you said you are into culture" for s in picks)
    # the same rows with other interests are another history: not answered from the cache
    other, cached = rec.tonight_cached("new", CoupleDates("new", (), Profile(("wellness",))), ctx, k=3)
    assert not cached and [category[s.idea_id] for s in other] == ["wellness"] * 3
    again, cached = rec.tonight_cached("new", CoupleDates("new", (), Profile(("wellness",))), ctx, k=3)
    assert cached and [s.idea_id for s in again] == [s.idea_id for s in other]
    # profiles passed explicitly win over the CoupleDates' own, and never come from its cached scores
    explicit = rec.batch(CoupleDates("new", (), Profile(("wellness",))), ["new"], ctx, k=3, distinct_categories=False,
                         profiles={"new": Profile(("culture",))})["new"]
    assert [category[s.idea_id] for s in explicit] == ["culture"] * 3


def _budget_world(catalog, n: int = 240, seed: int = 1) -> tuple[pd.DataFrame, dict[str, Profile]]:
    """Couples who only ever do ideas within their stated budget ceiling, rated at random: half of them
    say 2 and do only ideas of cost 2 (so those are the popular ones), a quarter each say 0 or 1."""
    rng = np.random.default_rng(seed)
    cost = catalog.frame["cost"].astype(int)
    rows, profiles = [], {}
    for c in range(n):
        ceiling = (0, 1, 2, 2)[c % 4]
        profiles[f"b{c}"] = Profile((), ceiling)
        within = list(cost.index[(cost == 2) if ceiling == 2 else (cost <= ceiling)])
        for week, idea in enumerate(rng.choice(within, 8, replace=False)):
            rows.append((f"b{c}", idea, dt.date(2025, 1, 1) + dt.timedelta(days=7 * week), int(rng.integers(1, 6))))
    dates = as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "done_on", "rating_a"]))
    return dates, profiles


@pytest.mark.slow
def test_a_model_trained_with_budget_ceilings_keeps_a_new_couple_within_its_own(catalog):
    """Couples never go over their ceiling, so the model learns to mark such ideas down: a new
    couple that says "up to 1" gets ideas of cost 0-1 first, and without the ceiling it does not."""
    dates, profiles = _budget_world(catalog)
    model = EnjoymentModel(routine_weight=0.0, diversity=0.0).fit(dates, catalog, profiles)
    assert model.linear_weights_[model.feature_names_.index("over_budget")] < 0
    cost = catalog.frame["cost"].astype(int)
    within = model.recommend(["new"], k=10, history=dates.iloc[:0], profiles={"new": Profile((), 1)})[0]
    assert max(cost[i] for i, _ in within) <= 1
    anything = model.recommend(["new"], k=10, history=dates.iloc[:0])[0]
    assert max(cost[i] for i, _ in anything) > 1
    # the ceiling travels with a request's CoupleDates too
    from engine.app.recommender import Recommender
    from engine.domain.context import Context

    rec = Recommender(model, "v-test")
    picks = rec.tonight("new", CoupleDates("new", (), Profile((), 0)), Context(budget=3, day=dt.date(2025, 6, 1)), k=3)
    assert [cost[s.idea_id] for s in picks] == [0, 0, 0]


def test_fit_refuses_profiles_that_are_not_profile_objects(catalog):
    dates, _ = _budget_world(catalog, n=30)
    with pytest.raises(TypeError, match="profiles must map couple ids to engine.domain.profiles.Profile"):
        EnjoymentModel().fit(dates, catalog, {"b0": ["wellness"]})


def test_a_profile_normalises_what_it_is_given():
    assert Profile(["Outdoors", " outdoors", "Games"], "2") == Profile(("games", "outdoors"), 2)
    assert Profile("wellness|Culture") == Profile(("culture", "wellness"))
    with pytest.raises(ValueError, match="budget_ceiling must be a whole cost tier"):
        Profile((), 7)


@pytest.mark.slow
def test_a_new_couples_stated_interests_lead_its_first_suggestions(catalog):
    """With no dates, what the couple said at sign-up is most of what is known: the `interest_cold`
    feature lets the model weigh it more then. A model trained on a small simulated world (the demo's
    size) gives a new couple mostly ideas of the category it names."""
    world = simulate(50, seed=7, catalog=catalog)
    model = EnjoymentModel().fit(world.dates, catalog, from_couples(world.couples))
    assert model.linear_weights_[model.feature_names_.index("interest_cold")] > 0
    category = catalog.frame["category"]
    for cat in ("wellness", "culture"):
        picks = model.recommend(["new"], 3, history=world.dates.iloc[:0], profiles={"new": Profile((cat,))})[0]
        assert sum(category[i] == cat for i, _ in picks) >= 2, (cat, picks)
