"""Known-answer tests of the enjoyment model and its ranking."""

from __future__ import annotations

import copy
import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_catalog
from engine.app.recommender import Recommender
from engine.domain.constraints import violations
from engine.domain.context import SEASONS, WEATHERS, Context
from engine.domain.dates import as_dates_frame
from engine.lab.simulator import simulate
from engine.learning.learners import PairwiseLogistic
from engine.learning.model import EnjoymentModel


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def world(catalog):
    return simulate(400, seed=3, catalog=catalog)


@pytest.fixture(scope="module")
def fitted(world, catalog):
    return EnjoymentModel(random_state=0).fit(world.dates, catalog)


@pytest.fixture
def model(fitted):
    """A copy of the fitted model, so a test may change ranking parameters."""
    return copy.deepcopy(fitted)


def _dates(couple: str, ideas: list[str], ratings: list[int], start=dt.date(2025, 3, 1)) -> pd.DataFrame:
    return as_dates_frame(pd.DataFrame({
        "couple_id": couple, "idea_id": ideas,
        "done_on": [start + dt.timedelta(days=7 * i) for i in range(len(ideas))],
        "rating_a": ratings, "rating_b": ratings,
    }))


def _outdoor_active(catalog) -> list[str]:
    f = catalog.frame
    mask = (f["setting"] != "home") & (f["energy"] == "3") & f["category"].isin(["outdoors", "sport-and-movement"])
    return list(f.index[mask])


@pytest.mark.slow
def test_outdoor_active_lover_gets_outdoor_active_first(model, catalog):
    active = _outdoor_active(catalog)
    assert len(active) >= 8
    f = catalog.frame
    calm = list(f.index[(f["setting"] == "home") & (f["energy"] == "1")][:6])
    history = pd.concat([_dates("fan", active[:6], [5] * 6), _dates("fan", calm, [1] * 6, dt.date(2024, 1, 1))])
    rec = Recommender(model.set_params(routine_weight=0.0, diversity=0.0), "test")
    picks = rec.tonight("fan", history, Context(day=dt.date(2025, 7, 5)), k=5)
    top = f.loc[[p.idea_id for p in picks]]
    outdoor_active = (top["setting"] != "home") & (top["energy"].astype(int) >= 2)
    assert outdoor_active.sum() >= 4, top[["category", "setting", "energy"]]
    assert not set(calm) & {p.idea_id for p in picks}


def test_routine_weight_breaks_the_routine_in_the_alternatives_only(model, world, catalog):
    """The suggestion is the most enjoyed idea whatever the weight; the two alternatives after it
    trade enjoyment for a kind of date outside the couple's three most done ones; the ideas after
    tonight's three follow by enjoyment again."""
    category = catalog.frame["category"]
    couples = [str(c) for c in world.couples["id"].iloc[:60]]
    history = world.dates[world.dates["couple_id"].isin(couples)]
    done = history.assign(category=category[history["idea_id"]].to_numpy())
    most = done.groupby("couple_id")["category"].agg(lambda s: set(s.value_counts(sort=True).index[:3]))
    ranked = {}
    for w in (0.0, 1.0):
        model.set_params(routine_weight=w, routine_push=0.0, diversity=0.0)  # the fixed weight alone
        ranked[w] = model.rank(history, couples, k=8, as_of_day=20_500)
    ids = catalog.ids
    outside = {0.0: 0, 1.0: 0}
    for r, c in enumerate(couples):
        plain = [ids[p] for p in ranked[0.0].positions[r]]
        broken = [ids[p] for p in ranked[1.0].positions[r]]
        assert broken[0] == plain[0]  # the suggestion: by enjoyment alone
        for w, picks in ((0.0, plain), (1.0, broken)):
            outside[w] += all(category[i] not in most[c] for i in picks[1:3])
        # after tonight's three, the remaining ideas go by enjoyment: the weight-0 order of what is left
        rest = [i for i in plain if i not in broken[:3]]
        assert broken[3:] == rest[:len(broken) - 3]
    # at weight 1 both alternatives are outside the routine (a couple whose third place is a tie
    # may count another kind as "most done" than pandas does), at weight 0 mostly not
    assert outside[1.0] >= 0.8 * len(couples) > 2 * outside[0.0], outside


def test_an_alternative_outside_the_routine_says_so(model, world, catalog):
    """An idea of a kind the couple does not do most (what the routine trade-off rewards) carries
    a reason about the routine: "something new", "N weeks since your last ..." or "a break"."""
    couples = [str(c) for c in world.couples["id"].iloc[:40]]
    history = world.dates[world.dates["couple_id"].isin(couples)]
    rec = Recommender(model.set_params(routine_weight=0.25), "test")
    picks = rec.batch(history, couples, Context(day=dt.date(2026, 5, 2)), k=3, distinct_categories=False)
    category = catalog.frame["category"]
    routine = re.compile(r"^(something new for you|it has been .* since your last|a break from your usual"
                         r"|you have done .* times; try something new)")
    checked = 0
    for c in couples:
        done = category[history.loc[history["couple_id"] == c, "idea_id"]].value_counts()
        most = set(done.index[:3]) if len(done) <= 3 or done.iloc[2] > done.iloc[3] else None
        for s in picks[c][1:]:
            if most is not None and category[s.idea_id] not in most:
                checked += 1
                assert any(routine.match(r) for r in s.reasons), (c, s.idea_id, s.reasons)
    assert checked >= 20


def test_a_rating_of_one_pushes_similar_ideas_down(model, catalog):
    f = catalog.frame
    games = list(f.index[f["category"] == "games-and-play"])
    base = _dates("g", games[:2], [4, 4])
    model.set_params(routine_weight=0.0, diversity=0.0)
    p_before, _, _ = model.enjoyment(base, ["g"])
    hated = pd.concat([base, _dates("g", [games[2]], [1], dt.date(2025, 6, 1))])
    p_after, _, _ = model.enjoyment(hated, ["g"])
    others = catalog.position(games[3:])
    # the similar (same-category) ideas lose predicted enjoyment after the 1
    assert np.mean(p_after[0, others]) < np.mean(p_before[0, others])


def test_new_rating_changes_the_next_suggestion_without_retraining(model, catalog, world):
    couple = str(world.couples["id"].iloc[5])
    history = world.dates[world.dates["couple_id"] == couple]
    rec = Recommender(model.set_params(routine_weight=0.2, diversity=0.1), "test")
    ctx = Context(day=dt.date(2026, 5, 2))
    first = rec.tonight(couple, history, ctx, k=3)
    top = first[0].idea_id
    # they do tonight's suggestion and hate it
    rated = pd.concat([history, _dates(couple, [top], [1], dt.date(2026, 5, 2))])
    second = rec.tonight(couple, rated, ctx, k=3)
    assert top not in [s.idea_id for s in second]


def test_unknown_couple_gets_a_flagged_cold_start_list(model):
    rec = Recommender(model, "test")
    picks = rec.tonight("nobody", as_dates_frame(pd.DataFrame(columns=["couple_id", "idea_id"])),
                        Context(day=dt.date(2025, 6, 1)), k=3)
    assert len(picks) == 3
    assert all(p.cold_start for p in picks)
    assert all("start with" in p.reasons[0] or "new in the catalog" in p.reasons[0] for p in picks)


def test_same_seed_same_list_and_exploration_varies_by_seed(model, world):
    couple = str(world.couples["id"].iloc[1])
    history = world.dates[world.dates["couple_id"] == couple]
    explorer = Recommender(model.set_params(exploration=0.3), "test")
    ctx = Context(day=dt.date(2025, 6, 1))
    a = [s.idea_id for s in explorer.tonight(couple, history, ctx, k=5, seed=11)]
    b = [s.idea_id for s in explorer.tonight(couple, history, ctx, k=5, seed=11)]
    lists = {tuple(s.idea_id for s in explorer.tonight(couple, history, ctx, k=5, seed=s)) for s in range(8)}
    assert a == b
    assert len(lists) > 1


def test_every_suggestion_has_one_or_two_reasons(model, world):
    rec = Recommender(model, "test")
    couples = list(world.couples["id"].astype(str)[:40])
    out = rec.batch(world.dates, couples, Context(day=dt.date(2026, 3, 7)), k=3)
    for picks in out.values():
        assert len(picks) == 3
        for p in picks:
            assert 1 <= len(p.reasons) <= 2 and all(isinstance(r, str) and r for r in p.reasons)


def test_what_the_couple_said_and_did_comes_before_what_others_did(model, catalog):
    """A loved idea's first reason is "you loved it last time", however large the collaborative score."""
    from engine.app.reasons import explain
    from engine.learning.features import FEATURE_NAMES

    idea = catalog.ids[5]
    hist = model.featurizer_.histories(_dates("fan", [idea], [5]), ["fan"])
    features = model.featurizer_.transform(hist)[0, 5].copy()
    features[FEATURE_NAMES.index("cf_liked")] = 40.0  # unbounded: a sum over the couple's liked ideas
    features[FEATURE_NAMES.index("taste")] = 9.0
    assert explain(model, hist, 0, 5, features)[0] == "you both loved it last time"
    # one partner's 5 alone is the couple's, not "both"
    alone = model.featurizer_.histories(_dates("fan", [idea], [5]).assign(rating_b=np.nan), ["fan"])
    assert explain(model, alone, 0, 5, features)[0] == "you loved it last time"


def test_batch_distinct_categories(model, world, catalog):
    rec = Recommender(model, "test")
    couples = list(world.couples["id"].astype(str)[:60])
    out = rec.batch(world.dates, couples, Context(day=dt.date(2026, 3, 7)), k=3, distinct_categories=True)
    for picks in out.values():
        cats = catalog.frame.loc[[p.idea_id for p in picks], "category"]
        assert cats.is_unique


_contexts = st.builds(
    Context,
    budget=st.one_of(st.none(), st.integers(0, 3)),
    minutes=st.one_of(st.none(), st.integers(15, 1440)),
    setting=st.one_of(st.none(), st.sampled_from(["home", "out"])),
    weather=st.one_of(st.none(), st.sampled_from(WEATHERS)),
    kids=st.booleans(),
    season=st.one_of(st.none(), st.sampled_from(SEASONS)),
    day=st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ctx=_contexts, couple_row=st.integers(0, 399))
@pytest.mark.slow
def test_constraints_are_never_violated(fitted, world, catalog, ctx, couple_row):
    model = fitted
    couple = str(world.couples["id"].iloc[couple_row])
    history = world.dates[world.dates["couple_id"] == couple]
    picks = Recommender(model, "test").tonight(couple, history, ctx, k=5)
    for p in picks:
        assert violations(catalog.idea(p.idea_id), ctx) == []


@pytest.mark.slow
def test_model_recovers_a_known_answer(catalog):
    """Two groups of couples: one loves music-and-dance, the other wellness; a new
    couple with two top-rated music dates must get music-and-dance first."""
    rng = np.random.default_rng(0)
    f = catalog.frame
    music = list(f.index[f["category"] == "music-and-dance"])
    wellness = list(f.index[f["category"] == "wellness"])
    rest = list(f.index[~f["category"].isin(["music-and-dance", "wellness"])])
    rows = []
    for c in range(240):
        loved = music if c % 2 == 0 else wellness
        ideas = [(i, 5) for i in rng.choice(loved, 6, replace=False)] + \
                [(i, 2) for i in rng.choice(rest, 3, replace=False)]
        for week, j in enumerate(rng.permutation(len(ideas))):
            rows.append((f"k{c}", ideas[j][0], dt.date(2025, 1, 1) + dt.timedelta(days=7 * week), ideas[j][1]))
    dates = as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "done_on", "rating_a"]))
    model = EnjoymentModel(routine_weight=0.0, diversity=0.0).fit(dates, catalog)
    newcomer = _dates("new", music[:2], [5, 5])
    ranked = model.recommend(["new"], k=5, history=newcomer, exclude={"new": set(music[:2])})[0]
    assert [f.loc[i, "category"] for i, _ in ranked] == ["music-and-dance"] * 5


def test_invalid_parameters_are_refused_saying_what_is_allowed(world, catalog):
    """The declarative ``_parameter_constraints`` (scikit-learn's checks) name the range and the value."""
    with pytest.raises(ValueError, match=r"'routine_weight' parameter .* must be a float in the range \[0.0, 1.0\]"
                                         r"\. Got 2 instead"):
        EnjoymentModel(routine_weight=2).fit(world.dates, catalog)
    with pytest.raises(ValueError, match=r"'learner' parameter .* must be a str among .*'hgb'.*Got 'forest'"):
        EnjoymentModel(learner="forest").fit(world.dates, catalog)
    with pytest.raises(ValueError, match=r"'gap_penalty' parameter .* range \[0.0, 0.5\]\. Got 0.7 instead"):
        EnjoymentModel(gap_penalty=0.7).fit(world.dates, catalog)
    assert set(EnjoymentModel._parameter_constraints) == set(EnjoymentModel().get_params())


def test_training_examples_are_point_in_time(catalog):
    """A target's history holds only dates before the target idea was first done."""
    dates = _dates("p", list(catalog.ids[:8]), [5, 4, 5, 2, 5, 4, 1, 5])
    model = EnjoymentModel(target_share=0.5)
    item_dates, context, targets = model._point_in_time(dates, np.random.default_rng(0))
    assert len(targets) == 4
    for _, t in targets.iterrows():
        seen = context[context["couple_id"] == t["key"]]
        assert (seen["done_on"] < t["first"]).all()
        assert t["idea_id"] not in set(seen["idea_id"])
    # idea-side statistics never see a target pair
    assert not (set(zip(item_dates["couple_id"], item_dates["idea_id"]))
                & set(zip(targets["couple_id"], targets["idea_id"])))


def test_a_rating_session_is_history_for_the_targets_of_its_day(catalog):
    """Ratings given in one sitting share a day (MovieLens users rate dozens of films at once): a
    target's history then holds that day's other non-target ideas, not nothing."""
    ideas = list(catalog.ids[:8])
    dates = _dates("p", ideas, [5, 4, 5, 2, 5, 4, 1, 5]).assign(done_on=pd.Timestamp("2025-03-01"))
    later = _dates("p", list(catalog.ids[8:10]), [5, 3], start=dt.date(2025, 4, 1))
    dates = as_dates_frame(pd.concat([dates, later], ignore_index=True))
    item_dates, context, targets = EnjoymentModel(target_share=0.5)._point_in_time(dates, np.random.default_rng(0))
    chosen = set(targets["idea_id"])
    assert len(targets) == 5
    for _, t in targets.iterrows():
        seen = set(context.loc[context["couple_id"] == t["key"], "idea_id"])
        if t["idea_id"] in ideas:  # the session's day: its other ideas but the targets being predicted
            assert seen == set(ideas) - chosen, t["idea_id"]
        else:  # a later day: strictly what came before, as ever (the whole session, targets too)
            assert seen == set(dates.loc[dates["done_on"] < t["first"], "idea_id"]) >= set(ideas), t["idea_id"]


def test_target_couples_caps_who_gives_training_targets(world, catalog):
    """Only ``target_couples`` couples give targets; the other couples' dates all feed the idea side."""
    model = EnjoymentModel(target_couples=25)
    item_dates, context, targets = model._point_in_time(world.dates, np.random.default_rng(0))
    assert targets["couple_id"].nunique() == 25
    others = ~world.dates["couple_id"].isin(set(targets["couple_id"]))
    assert others.sum() > 0 and set(world.dates.loc[others].index) <= set(item_dates.index)
    uncapped = EnjoymentModel(target_couples=None)._point_in_time(world.dates, np.random.default_rng(0))[2]
    assert uncapped["couple_id"].nunique() > 300
    with pytest.raises(ValueError, match=r"'target_couples' parameter .* int in the range \[1, inf\) or None\. Got 0"):
        EnjoymentModel(target_couples=0).fit(world.dates, catalog)


def test_artifact_from_before_target_couples_loads_without_a_cap(fitted):
    state = fitted.__getstate__()
    del state["target_couples"]
    old = EnjoymentModel.__new__(EnjoymentModel)
    old.__setstate__(state)
    assert old.get_params()["target_couples"] is None  # clone() and the gate's refit still work


def test_artifact_from_before_the_trailing_underscores_ranks_as_it_did(fitted, world):
    """Artifacts saved before issue 17 hold ``_idea_sim``/``_linear_weights``/``_linear_bias`` and name
    the pairwise learner in this module; they load under the new names and rank the same."""
    import pickle

    state = fitted.__getstate__()
    for old, new in (("_idea_sim", "idea_similarity_"), ("_linear_weights", "linear_weights_"),
                     ("_linear_bias", "linear_bias_")):
        state[old] = state.pop(new)
    old = EnjoymentModel.__new__(EnjoymentModel)
    old.__setstate__(state)
    couples = list(world.couple_ids[:5])
    assert old.rank(world.dates, couples, 5).positions.tolist() == \
        fitted.rank(world.dates, couples, 5).positions.tolist()
    assert not hasattr(old, "_idea_sim")
    # a pickle naming engine.learning.model._PairwiseLogistic still resolves
    stream = pickle.dumps(PairwiseLogistic(max_pairs=7), protocol=0)
    old_stream = stream.replace(b"engine.learning.learners\nPairwiseLogistic",
                                b"engine.learning.model\n_PairwiseLogistic")
    assert old_stream != stream
    assert isinstance(pickle.loads(old_stream), PairwiseLogistic) and pickle.loads(old_stream).max_pairs == 7


def test_an_idea_rated_one_is_not_suggested_again(model):
    """A cold couple does tonight's top idea and both rate it 1: it must not come back first."""
    rec = Recommender(model, "test")
    ctx = Context(day=dt.date(2026, 5, 2))
    empty = as_dates_frame(pd.DataFrame(columns=["couple_id", "idea_id"]))
    top = rec.tonight("fresh", empty, ctx, k=3)[0].idea_id
    after = rec.tonight("fresh", _dates("fresh", [top], [1], dt.date(2026, 5, 2)), ctx, k=5)
    assert top not in [s.idea_id for s in after]
    p, _, _ = model.enjoyment(_dates("fresh", [top], [1], dt.date(2026, 5, 2)), ["fresh"])
    assert np.all(p[0, model.catalog_.position([top])[0]] == 0.0)


def test_priors_stay_finite_without_shrinkage(world, catalog):
    """shrink=0: an idea nobody rated gets the global prior, not NaN (it used to divide by zero)."""
    from engine.learning.features import HistoryFeaturizer

    feat = HistoryFeaturizer(shrink=0).fit(world.dates, catalog)
    unrated = feat.idea_counts_ == 0
    assert unrated.any()
    assert np.all(np.isfinite(feat.quality_)) and np.all(np.isfinite(feat.relevant_rate_))
    assert np.allclose(feat.quality_[unrated], feat.global_z_)


def test_choice_taste_reads_taste_from_what_a_couple_chose(world, catalog):
    """choice_taste: zero for a couple with no dates; a couple who only ever went out for active
    ideas (no ratings at all) scores unseen outdoor, active ideas above calm evenings at home; and
    it is the direct solve of (lambda I + n C) w = chosen - n * mean."""
    from engine.learning.features import FEATURE_NAMES, HistoryFeaturizer

    feat = HistoryFeaturizer().fit(world.dates, catalog)
    col = FEATURE_NAMES.index("choice_taste")
    active = _outdoor_active(catalog)
    f = catalog.frame
    calm = list(f.index[(f["setting"] == "home") & (f["energy"] == "1")])
    chosen = _dates("goer", active[:4] * 2, [None] * 8)
    hist = feat.histories(pd.concat([chosen, _dates("new", [], [])]), ["goer", "new"])
    F = feat.transform(hist)
    assert np.all(F[1, :, col] == 0.0)
    pos = catalog.position
    assert F[0, pos(active[4:]), col].mean() > F[0, pos(calm), col].mean() + 0.5
    V = feat.idea_vectors_
    counts = feat.idea_counts_ + 1.0
    p = counts / counts.sum()
    mean = p @ V
    C = ((V - mean) * p[:, None]).T @ (V - mean)
    s = hist.done[0] @ V - 8 * mean
    w = np.linalg.solve(feat.choice_shrink * np.eye(len(mean)) + 8 * C, s)
    np.testing.assert_allclose(F[0, :, col], V @ w, rtol=1e-4, atol=1e-4)


def test_cf_factors_find_the_ideas_that_go_with_what_a_couple_did(catalog):
    """Two crowds: one does ideas A, the other ideas B. A couple who did three A ideas scores the other
    A ideas above every B idea on cf_factors; a couple with no dates scores every idea 0."""
    from engine.learning.features import FEATURE_NAMES, HistoryFeaturizer

    ids = list(catalog.ids)
    a, b = ids[:10], ids[10:20]
    rng = np.random.default_rng(0)
    crowd = pd.concat([_dates(f"{name}{i}", list(rng.choice(group, 6, replace=False)), [4] * 6)
                       for name, group in (("a", a), ("b", b)) for i in range(40)])
    feat = HistoryFeaturizer().fit(crowd, catalog)
    col = FEATURE_NAMES.index("cf_factors")
    hist = feat.histories(pd.concat([_dates("new", a[:3], [5] * 3)]), ["new", "cold"])
    F = feat.transform(hist)
    pos = catalog.position
    assert F[0, pos(a[3:]), col].min() > F[0, pos(b), col].max()
    assert np.all(F[1, :, col] == 0.0)


def test_group_ranks_mark_the_couples_most_done_categories(world, catalog):
    """group_rank1..4: the idea's category is the couple's most / 2nd / 3rd / 4th most done one."""
    from engine.learning.features import FEATURE_NAMES, HistoryFeaturizer

    feat = HistoryFeaturizer().fit(world.dates, catalog)
    f = catalog.frame
    cats = ["outdoors", "food-and-drink", "culture", "games-and-play"]
    ideas = [list(f.index[f["category"] == c]) for c in cats]
    assert all(len(group) >= 2 for group in ideas)
    done = ideas[0][:1] * 5 + ideas[1][:2] * 2 + ideas[2][:1]  # 5, 4 and 1 dates; games never
    hist = feat.histories(_dates("fan", done, [4] * len(done)), ["fan"])
    F = feat.transform(hist)
    cols = [FEATURE_NAMES.index(f"group_rank{r}") for r in (1, 2, 3, 4)]
    for rank, group in enumerate(ideas[:3]):
        got = F[0][np.ix_(catalog.position(group), cols)]
        assert (got == np.eye(4)[rank]).all(), (cats[rank], got[:2])
    assert not F[0][np.ix_(catalog.position(ideas[3]), cols)].any()
    # ties keep the group order; a group never done has no place
    ranks = HistoryFeaturizer._group_ranks(np.array([[2.0, 0.0, 2.0, 1.0]]), ranks=2)
    np.testing.assert_array_equal(ranks[0], [[1, 0], [0, 0], [0, 1], [0, 0]])


def test_features_of_a_batch_equal_each_couples_own(world, catalog):
    """A batch (dense similarity products) and one couple at a time (sparse) give the same features."""
    from engine.learning.features import _DENSE_ROWS, HistoryFeaturizer

    feat = HistoryFeaturizer().fit(world.dates, catalog)
    couples = list(world.couple_ids[:_DENSE_ROWS + 6])
    batch = feat.transform(feat.histories(world.dates, couples))
    for r in (0, 17, len(couples) - 1):
        one = feat.transform(feat.histories(world.dates[world.dates["couple_id"] == couples[r]], [couples[r]]))
        np.testing.assert_allclose(batch[r], one[0], rtol=1e-5, atol=1e-5)
    cached = feat.__dict__["_matrix_cache"]  # dense copies (the batch); a couple's few ideas read rows in place
    assert ("dense", "similarity_") in cached
    assert ("T", "similarity_") not in cached  # made only for a row holding many ideas (10 MB at 50,000)
    assert "_matrix_cache" not in feat.__getstate__()


def test_pairs_pair_each_relevant_row_with_its_own_groups_negatives():
    from engine.learning.learners import _pairs

    y = np.array([0, 1, 0, 0, 0, 1, 0, 1])
    groups = np.array([7, 7, 7, 3, 3, 5, 9, 9])
    pos, neg = _pairs(y, groups, max_pairs=20, rng=np.random.default_rng(0))
    assert sorted(zip(pos.tolist(), neg.tolist())) == [(1, 0), (1, 2), (7, 6)]
    # a group without a relevant row (3) or without a non-relevant one (5) gives no pair
    pos, neg = _pairs(y, groups, max_pairs=1, rng=np.random.default_rng(0))
    assert len(pos) == 2 and set(pos.tolist()) == {1, 7}
    assert all(groups[p] == groups[n] and y[p] == 1 and y[n] == 0 for p, n in zip(pos, neg))


@pytest.fixture(scope="module")
def pairwise(world, catalog):
    return EnjoymentModel(learner="pairwise", random_state=0).fit(world.dates, catalog)


@pytest.mark.slow
def test_pairwise_learner_scores_calibrated_probabilities_on_the_linear_path(pairwise, world):
    couples = list(world.couples["id"].astype(str)[:20])
    p, F, _ = pairwise.enjoyment(world.dates[world.dates["couple_id"].isin(couples)], couples)
    assert np.all((p >= 0) & (p <= 1))
    # the folded weighted sum is the fitted ranker plus its Platt calibration
    flat = F[:, :50].reshape(-1, F.shape[-1])
    np.testing.assert_allclose(pairwise.predict(flat), pairwise.learner_.predict_proba(flat)[:, 1],
                               rtol=1e-4, atol=1e-6)


def test_pairwise_learner_recovers_the_outdoor_active_lover(pairwise, catalog):
    active = _outdoor_active(catalog)
    f = catalog.frame
    calm = list(f.index[(f["setting"] == "home") & (f["energy"] == "1")][:6])
    history = pd.concat([_dates("fan", active[:6], [5] * 6), _dates("fan", calm, [1] * 6, dt.date(2024, 1, 1))])
    ranked = pairwise.set_params(routine_weight=0.0, diversity=0.0).recommend(
        ["fan"], k=5, history=history, exclude={"fan": set(active[:6]) | set(calm)})[0]
    top = f.loc[[i for i, _ in ranked]]
    assert ((top["setting"] != "home") & (top["energy"].astype(int) >= 2)).sum() >= 4, top


def test_match_and_above_features_compare_each_idea_with_what_the_couple_did(world, catalog):
    """match:<scalar> = -|couple's mean value - idea's value|, above:<scalar> = idea's value - the highest
    value the couple did, match:<block> = couple's mean block . idea's block; a couple without dates gets
    0 for the scalar ones. Checked for one couple and for a batch larger than one step of rows."""
    from engine.learning.features import HistoryFeaturizer
    from engine.learning.pair_features import _MATCH_ROWS

    feat = HistoryFeaturizer().fit(world.dates, catalog)
    V = feat.idea_vectors_
    names = feat.feature_names_
    done = [catalog.ids[3], catalog.ids[40], catalog.ids[40]]  # repeats count once
    couples = ["fan"] + [f"x{i}" for i in range(_MATCH_ROWS + 5)] + ["new"]
    dates = _dates("fan", done, [4, 5, 5])
    F = feat.transform(feat.histories(dates, couples))
    for attr, cols, scalar in feat.blocks_:
        if scalar:
            c = cols[0]
            mean = V[[3, 40], c].mean()
            np.testing.assert_allclose(F[0, :, names.index(f"match:{attr}")], -np.abs(mean - V[:, c]), atol=1e-6)
            np.testing.assert_allclose(F[0, :, names.index(f"above:{attr}")], V[:, c] - V[[3, 40], c].max(),
                                       atol=1e-6)
            assert not F[1:, :, names.index(f"match:{attr}")].any()
            assert not F[1:, :, names.index(f"above:{attr}")].any()
        else:
            profile = V[[3, 40]][:, cols].mean(axis=0)
            np.testing.assert_allclose(F[0, :, names.index(f"match:{attr}")], V[:, cols] @ profile, atol=1e-6)
    # one couple alone: the same numbers
    np.testing.assert_array_equal(feat.transform(feat.histories(dates, ["fan"]))[0], F[0])


# ------------------------------------------------------------------ partners


def _partner_dates(couple: str, x: list[str], x_ratings: tuple[int, int], y: list[str],
                   y_ratings: tuple[int, int]) -> pd.DataFrame:
    """Four dates of kind X rated ``x_ratings`` (a, b), then four of kind Y rated ``y_ratings``."""
    ideas = x + y
    return as_dates_frame(pd.DataFrame({
        "couple_id": couple, "idea_id": ideas,
        "done_on": [dt.date(2025, 3, 1) + dt.timedelta(days=7 * i) for i in range(len(ideas))],
        "rating_a": [x_ratings[0]] * len(x) + [y_ratings[0]] * len(y),
        "rating_b": [x_ratings[1]] * len(x) + [y_ratings[1]] * len(y),
    }))


@pytest.fixture
def partner_histories(catalog):
    """Three couples who did the same eight dates: four dinners out (food and drink) rated (5, 1),
    (3, 3) and (1, 5) by partners (a, b), and four outdoor dates each rated (3, 4): partner b
    rates the outdoors well, partner a is lukewarm. Averaged per date, the three histories are
    the same (3 and 3.5)."""
    f = catalog.frame
    food = list(f.index[f["category"] == "food-and-drink"][:4])
    outdoors = list(f.index[f["category"] == "outdoors"][:4])
    couples = {"51": (5, 1), "33": (3, 3), "15": (1, 5)}
    history = pd.concat([_partner_dates(c, food, r, outdoors, (3, 4)) for c, r in couples.items()])
    return history, list(couples)


def test_partners_5_1_3_3_1_5_get_different_lists_and_5_1_favours_what_b_rated_well(model, catalog,
                                                                                      partner_histories):
    history, couples = partner_histories
    category = catalog.frame["category"]
    rec = Recommender(model, "test")
    ctx = Context(day=dt.date(2025, 6, 1))
    lists = rec.batch(history, couples, ctx, k=10, distinct_categories=False)
    ids = {c: [s.idea_id for s in lists[c]] for c in couples}
    assert ids["51"] != ids["33"] != ids["15"] != ids["51"]
    assert len({tuple(v[:3]) for v in ids.values()}) == 3  # tonight's three too
    kinds = {c: [category[i] for i in v] for c, v in ids.items()}
    # partner b rated the outdoors 4 and the dinners 1: the (5, 1) couple's list leans outdoors ...
    assert kinds["51"].count("outdoors") >= 6 and kinds["51"].count("food-and-drink") <= 2
    # tonight's three: none of the dinners partner b rated 1 (the routine push may take them beyond both kinds)
    assert kinds["51"][:3].count("food-and-drink") == 0
    # ... while by the mean of the partners (gap_penalty 0) partner a's 5s for dinners lead it
    model.set_params(gap_penalty=0.0)
    mean_list = [category[s.idea_id] for s in Recommender(model, "mean").batch(
        history, ["51"], ctx, k=10, distinct_categories=False)["51"]]
    assert mean_list.count("food-and-drink") > kinds["51"].count("food-and-drink")
    assert mean_list.count("outdoors") < kinds["51"].count("outdoors")


def test_each_partner_is_predicted_from_their_own_ratings(model, catalog, partner_histories):
    history, couples = partner_histories
    P, _, hist = model.enjoyment(history, couples)
    food = (catalog.frame["category"] == "food-and-drink").to_numpy()
    undone = hist.done.sum(axis=0) == 0
    a_food, b_food = P[0, food & undone, 0].mean(), P[0, food & undone, 1].mean()
    assert a_food > 2 * b_food  # (5, 1): a loved the dinners, b did not
    assert P[2, food & undone, 1].mean() > 2 * P[2, food & undone, 0].mean()  # (1, 5): the other way round
    # an idea a partner rated is scaled by their own rating: b's 1 for a dinner they did is 0
    done_food = food & ~undone
    assert np.all(P[0, done_food, 1] == 0) and np.all(P[0, done_food, 0] > 0)
    # the (3, 3) couple's partners differ only on the outdoors (3 vs 4): both predictions come from the model
    assert not np.allclose(P[1, undone, 0], P[1, undone, 1])
    # partners who never rated differently are one prediction
    same = _dates("same", list(catalog.ids[:6]), [5, 4, 2, 5, 3, 4])
    Q, _, _ = model.enjoyment(same, ["same"])
    np.testing.assert_array_equal(Q[..., 0], Q[..., 1])


def test_together_protects_the_less_keen_partner():
    from engine.ranking.policy import together

    P = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.6, 0.4]])
    np.testing.assert_allclose(together(P, 0.0), [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(together(P, 0.5), [0.1, 0.5, 0.1, 0.4])  # least misery
    np.testing.assert_allclose(together(P, 0.4), [0.18, 0.5, 0.18, 0.42])


def test_a_pick_that_spares_a_partner_says_so(model, catalog, partner_histories):
    history, _ = partner_histories
    picks = Recommender(model, "test").tonight("51", history[history["couple_id"] == "51"],
                                               Context(day=dt.date(2025, 6, 1)), k=3)
    said = [r for s in picks for r in s.reasons]
    assert "picked so neither of you is left out" in said
    from engine.app.reasons import left_out

    assert left_out(np.array([0.3, 0.25]), np.array([0.6, 0.05]))
    assert not left_out(np.array([0.3, 0.25]), np.array([0.35, 0.3]))
    assert not left_out(np.array([0.3, 0.25]), None)


def test_training_targets_are_one_partners_with_that_partners_history(catalog):
    ideas = list(catalog.ids[:8])
    dates = _dates("p", ideas, [5, 4, 5, 2, 5, 4, 1, 5]).assign(rating_b=[1, 2, 1, 4, np.nan, 2, 5, 1])
    model = EnjoymentModel(target_share=0.5)
    _, context, targets = model._point_in_time(dates, np.random.default_rng(0))
    rated = dates.set_index("idea_id")
    for _, t in targets.iterrows():
        own = rated.loc[t["idea_id"], f"rating_{t['partner']}"]
        assert t["rating"] == own
        seen = context[context["couple_id"] == t["key"]].set_index("idea_id")
        for idea, row in seen.iterrows():
            mine = rated.loc[idea, f"rating_{t['partner']}"]
            theirs = rated.loc[idea, f"rating_{'ab'[t['partner'] == 'a']}"]
            assert row["rating_a"] == (theirs if np.isnan(mine) else mine) and np.isnan(row["rating_b"])
    assert set(targets["partner"]) == {"a", "b"}


def test_retaste_gives_a_partners_features_from_the_others(model, world):
    """One partner's features, from the other's with only the rating-based ones recomputed, are exactly
    what a full transform of that partner's history gives."""
    feat = model.featurizer_
    couples = list(world.couples["id"].astype(str)[:40])
    a, b = (feat.histories(world.dates, couples, partner=p) for p in "ab")
    full = feat.transform(b, as_of_day=20_500)
    np.testing.assert_array_equal(feat.retaste(feat.transform(a, as_of_day=20_500)[:], b), full)
    assert not np.array_equal(feat.transform(a, as_of_day=20_500), full)


@pytest.mark.parametrize("n_couples", [1, 40])
def test_each_partner_is_scored_from_their_own_features_with_one_pass_for_both(model, world, n_couples):
    """enjoyment projects partner b's taste back onto the ideas in partner a's pass (``_transform``'s
    ``partner``, ``retaste``'s ``back``): each partner's prediction is exactly the model's on a full
    transform of that partner's history (a rated idea is scaled by its rating, so unrated ones)."""
    feat = model.featurizer_
    couples = list(world.couples["id"].astype(str)[:n_couples]) if n_couples > 1 else [
        next(c for c in world.couples["id"].astype(str)
             if not np.array_equal(*(feat.histories(world.dates, [c], partner=p).rated for p in "ab"),
                                   equal_nan=True))]
    P, _, _ = model.enjoyment(world.dates, couples, as_of_day=20_500)
    for j, partner in enumerate("ab"):
        h = feat.histories(world.dates, couples, partner=partner)
        expected = model._predict_features(feat.transform(h, as_of_day=20_500))
        unrated = np.isnan(h.rated)
        np.testing.assert_array_equal(P[..., j][unrated], expected[unrated])
    assert not np.array_equal(P[..., 0], P[..., 1])
