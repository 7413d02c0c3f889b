"""Known-answer tests of the history featurizer (engine/learning/features.py).

A six-idea catalog with one categorical attribute (two food, two outdoors, two home
ideas), so every idea vector is a one-hot of its category and the features can be
worked out by hand from their definitions. Three training couples:

* c1: i0 (5, 5) on 2025-01-01, i1 (3, 3) on 01-08, i0 again (4, 4) on 01-15
* c2: i0 (1, 1) on 2025-02-01, i2 (5, 5) on 02-08
* c3: i2 (2, 2) on 2025-03-01, i3 (5, only partner a) on 03-08, i4 (unrated) on 03-15

Ratings are on 1-5 (the scale seen), mapped to z = (rating - 1) / 4 per date (the mean
of the partners who rated): c1 1, 0.5, 0.75; c2 0, 1; c3 0.25, 1, (none).
"""

from __future__ import annotations

import datetime as dt
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from engine.domain.catalog import Catalog
from engine.domain.dates import as_dates_frame
from engine.domain.schema import Schema
from engine.learning.features import HistoryFeaturizer
from engine.learning.pair_features import COLUMN, FEATURE_NAMES, column

IDEAS = [f"i{i}" for i in range(6)]
FOOD, OUTDOORS, HOME = [0, 1], [2, 3], [4, 5]

#: the training z values by idea (see the module docstring)
Z = {"i0": [1.0, 0.75, 0.0], "i1": [0.5], "i2": [1.0, 0.25], "i3": [1.0], "i4": [], "i5": []}
ALL_Z = [z for zs in Z.values() for z in zs]
GLOBAL_Z = sum(ALL_Z) / len(ALL_Z)  # 4.5 / 7
GLOBAL_REL = sum(z >= 0.75 for z in ALL_Z) / len(ALL_Z)  # 4 / 7 (relevant rating 4 -> z 0.75)


def _day(text: str) -> int:
    return (dt.date.fromisoformat(text) - dt.date(1970, 1, 1)).days


def _frame(rows) -> pd.DataFrame:
    return as_dates_frame(pd.DataFrame(rows, columns=["couple_id", "idea_id", "done_on", "rating_a", "rating_b"]))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    frame = pd.DataFrame({"title": [f"Idea {i}" for i in range(6)], "description": "",
                          "category": ["food", "food", "outdoors", "outdoors", "home", "home"]},
                         index=pd.Index(IDEAS, name="id"))
    schema = Schema.from_dict({"attributes": {"category": {"kind": "categorical",
                                                           "values": ["food", "outdoors", "home"]}}})
    return Catalog(frame, schema)


@pytest.fixture(scope="module")
def dates() -> pd.DataFrame:
    return _frame([
        ("c1", "i0", "2025-01-01", 5, 5), ("c1", "i1", "2025-01-08", 3, 3), ("c1", "i0", "2025-01-15", 4, 4),
        ("c2", "i0", "2025-02-01", 1, 1), ("c2", "i2", "2025-02-08", 5, 5),
        ("c3", "i2", "2025-03-01", 2, 2), ("c3", "i3", "2025-03-08", 5, None), ("c3", "i4", "2025-03-15", None, None),
    ])


@pytest.fixture(scope="module")
def fitted0(dates, catalog) -> HistoryFeaturizer:
    """shrink=0 (raw priors and plain cosine co-occurrence), recency half-life of one date."""
    return HistoryFeaturizer(shrink=0.0, recency_half_life=1.0).fit(dates, catalog)


def _features(featurizer, frame, couples, as_of_day=None):
    return featurizer.transform(featurizer.histories(frame, couple_ids=couples), as_of_day=as_of_day)


# --------------------------------------------------------------------------- fit: scale and priors

def test_scale_and_relevant_rating_default_to_the_seen_range_and_its_top_quarter(fitted0, dates, catalog):
    assert fitted0.scale_ == (1.0, 5.0)
    assert fitted0.relevant_rating_ == 4.0  # 5 - (5 - 1) / 4
    on_0_to_2 = HistoryFeaturizer(rating_scale=(0, 2)).fit(dates, catalog)
    assert on_0_to_2.scale_ == (0.0, 2.0)
    assert on_0_to_2.relevant_rating_ == 1.5  # 2 - 2 / 4: only a 2 of 0-2 is liked
    explicit = HistoryFeaturizer(relevant_rating=3).fit(dates, catalog)
    assert explicit.relevant_rating_ == 3.0
    # a 3 of 1-5 (z 0.5) is then liked: i1's only rating makes its relevant rate 1 (shrink 0)
    assert HistoryFeaturizer(relevant_rating=3, shrink=0).fit(dates, catalog).relevant_rate_[1] == 1.0


def test_popularity_is_log1p_of_the_couples_who_did_it_over_the_most(fitted0):
    # couples who did each idea (a repeat counts once): i0 c1 c2, i1 c1, i2 c2 c3, i3 c3, i4 c3, i5 none
    counts = np.array([2, 1, 2, 1, 1, 0])
    np.testing.assert_allclose(fitted0.popularity_, np.log1p(counts) / np.log1p(2))
    assert fitted0.popularity_[0] == 1.0 and fitted0.popularity_[5] == 0.0


def test_priors_unshrunk_are_each_ideas_own_mean_and_unrated_ideas_get_the_global_mean(fitted0):
    assert fitted0.global_z_ == pytest.approx(GLOBAL_Z)
    assert fitted0.global_rel_ == pytest.approx(GLOBAL_REL)
    quality = [np.mean(Z[i]) if Z[i] else GLOBAL_Z for i in IDEAS]
    relevant = [np.mean([z >= 0.75 for z in Z[i]]) if Z[i] else GLOBAL_REL for i in IDEAS]
    np.testing.assert_allclose(fitted0.quality_, quality)  # i4 was done but never rated: the global mean
    np.testing.assert_allclose(fitted0.relevant_rate_, relevant)
    np.testing.assert_allclose(fitted0.quality_[:4], [1.75 / 3, 0.5, 0.625, 1.0])
    np.testing.assert_allclose(fitted0.relevant_rate_[:4], [2 / 3, 0.0, 0.5, 1.0])


def test_priors_shrink_toward_the_global_mean_by_shrink_pseudo_ratings(dates, catalog):
    shrunk = HistoryFeaturizer(shrink=1.0).fit(dates, catalog)
    quality = [(sum(Z[i]) + GLOBAL_Z) / (len(Z[i]) + 1) for i in IDEAS]
    relevant = [(sum(z >= 0.75 for z in Z[i]) + GLOBAL_REL) / (len(Z[i]) + 1) for i in IDEAS]
    np.testing.assert_allclose(shrunk.quality_, quality)
    np.testing.assert_allclose(shrunk.relevant_rate_, relevant)
    assert shrunk.quality_[3] == pytest.approx((1.0 + 4.5 / 7) / 2)  # one 5: halfway to the global mean
    assert shrunk.quality_[5] == pytest.approx(GLOBAL_Z)


@pytest.mark.parametrize("params, message", [
    ({"neighbours": 0}, r"neighbours must be >= 1, got 0; try 50"),
    ({"shrink": -1}, r"shrink must be >= 0, got -1; try 10"),
    ({"recency_half_life": 0}, r"recency_half_life must be > 0, got 0; try 8"),
    ({"choice_shrink": 0}, r"choice_shrink must be > 0, got 0; try 0.3"),
    ({"group_attribute": "title"}, r"group_attribute 'title' is not a categorical attribute; choose one of"),
])
def test_bad_parameters_are_refused_naming_the_parameter_and_a_fix(params, message, dates, catalog):
    with pytest.raises(ValueError, match=message):
        HistoryFeaturizer(**params).fit(dates, catalog)


# --------------------------------------------------------------------------- transform

def test_times_done_history_size_and_days_since_as_of_a_day(fitted0, dates):
    as_of = _day("2025-01-15") + 30
    F = _features(fitted0, dates, ["c1"], as_of_day=as_of)[0]
    np.testing.assert_allclose(column(F, "times_done"), np.log1p([2, 1, 0, 0, 0, 0]), rtol=1e-6)
    np.testing.assert_allclose(column(F, "history_size"), math.log1p(3), rtol=1e-6)
    # days since the latest time done, over 365; never done: 1
    np.testing.assert_allclose(column(F, "days_since"), [30 / 365, 37 / 365, 1, 1, 1, 1], rtol=1e-6)
    # by default as of the couple's latest date; and capped at a year
    latest = _features(fitted0, dates, ["c1"])[0]
    np.testing.assert_allclose(column(latest, "days_since"), [0, 7 / 365, 1, 1, 1, 1], rtol=1e-6)
    much_later = _features(fitted0, dates, ["c1"], as_of_day=_day("2027-01-01"))[0]
    np.testing.assert_allclose(column(much_later, "days_since"), 1.0)


def test_group_ranks_follow_the_couples_most_done_kinds_ties_in_catalog_order(fitted0, dates):
    F = _features(fitted0, dates, ["c1", "c2", "c3"])
    ranks = np.stack([column(F, f"group_rank{n}") for n in (1, 2, 3, 4)], axis=-1)
    # c1: food 3 times, nothing else -> food first, the rest unranked
    np.testing.assert_array_equal(ranks[0, :, 0], [1, 1, 0, 0, 0, 0])
    assert ranks[0, 2:].sum() == 0
    # c2: food once, outdoors once: the tie keeps the group order (food before outdoors)
    np.testing.assert_array_equal(ranks[1, :, 0], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(ranks[1, :, 1], [0, 0, 1, 1, 0, 0])
    # c3: outdoors twice, home once, food never
    np.testing.assert_array_equal(ranks[2, :, 0], [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(ranks[2, :, 1], [0, 0, 0, 0, 1, 1])
    assert ranks[2, FOOD].sum() == 0
    assert ranks[..., 2:].sum() == 0  # no couple did a third kind
    # each idea has at most one place
    assert ranks.sum(axis=-1).max() == 1


def test_routine_distance_is_half_attribute_unlikeness_half_rarity_of_the_kind(fitted0, dates, catalog):
    F = _features(fitted0, dates, ["c1", "c2"])
    dist = column(F, "routine_distance")
    # c1 only did food: food ideas are the routine (0), every other kind is as far as can be (1)
    np.testing.assert_allclose(dist[0], [0, 0, 1, 1, 1, 1], atol=1e-6)
    # c2: i0 (food) then i2 (outdoors); half-life 1 date -> recency weights 0.5 (food), 1 (outdoors)
    cos_food, cos_out = 0.5 / math.sqrt(1.25), 1.0 / math.sqrt(1.25)
    share_food, share_out = 0.5 / 1.5, 1.0 / 1.5
    food = 0.5 * (1 - cos_food) + 0.5 * (1 - share_food)
    outdoors = 0.5 * (1 - cos_out) + 0.5 * (1 - share_out)
    np.testing.assert_allclose(dist[1], [food, food, outdoors, outdoors, 1, 1], rtol=1e-6)
    assert 0 <= dist.min() and dist.max() <= 1
    # a longer half-life weighs the older food date more: food nearer, outdoors farther
    slow = HistoryFeaturizer(shrink=0.0, recency_half_life=8.0).fit(dates, catalog)
    slow_dist = column(_features(slow, dates, ["c2"]), "routine_distance")[0]
    assert slow_dist[0] < food and slow_dist[2] > outdoors


def test_cf_done_is_the_cosine_co_occurrence_of_what_the_couple_did(fitted0, dates, catalog):
    probe = _frame([("q", "i0", "2025-04-01", 4, 4)])
    cf = column(_features(fitted0, probe, ["q"]), "cf_done")[0]
    # i0 and i1 done together by 1 couple (i0 by 2, i1 by 1): 1 / sqrt(2 * 1); i0 and i2 by 1 of 2 and 2: 1 / 2
    np.testing.assert_allclose(cf, [0, 1 / math.sqrt(2), 0.5, 0, 0, 0], rtol=1e-6)
    # shrink is added to the cosine's denominator
    shrunk = HistoryFeaturizer(shrink=1.0).fit(dates, catalog)
    np.testing.assert_allclose(column(_features(shrunk, probe, ["q"]), "cf_done")[0],
                               [0, 1 / (math.sqrt(2) + 1), 1 / (2 + 1), 0, 0, 0], rtol=1e-6)
    # neighbours=1: each idea keeps its most similar contributors (ties kept); i2's are i3 and i4
    # (1 / sqrt(2) each), so i0 (1 / 2) no longer contributes to it; i1's only one is i0
    top1 = HistoryFeaturizer(shrink=0.0, neighbours=1).fit(dates, catalog)
    np.testing.assert_allclose(column(_features(top1, probe, ["q"]), "cf_done")[0],
                               [0, 1 / math.sqrt(2), 0, 0, 0, 0], rtol=1e-6)
    # over the square root of the number of ideas done: i0 and i5 (with no co-occurrence)
    two = _frame([("q", "i0", "2025-04-01", 4, 4), ("q", "i5", "2025-04-02", 4, 4)])
    np.testing.assert_allclose(column(_features(fitted0, two, ["q"]), "cf_done")[0, 1], 0.5, rtol=1e-6)


def test_a_cold_couple_gets_the_idea_priors_and_neutral_history_features(fitted0, dates):
    F = _features(fitted0, dates, ["newcomer"])[0]
    np.testing.assert_allclose(column(F, "popularity"), fitted0.popularity_, rtol=1e-6)
    np.testing.assert_allclose(column(F, "quality"), fitted0.quality_, rtol=1e-6)
    np.testing.assert_allclose(column(F, "relevant_rate"), fitted0.relevant_rate_, rtol=1e-6)
    np.testing.assert_allclose(column(F, "couple_mean"), GLOBAL_Z, rtol=1e-6)  # the shrunk mean of nothing
    np.testing.assert_allclose(column(F, "routine_distance"), 0.5)
    np.testing.assert_allclose(column(F, "days_since"), 1.0)
    for name in ("times_done", "history_size", "cf_done", "cf_liked", "cf_disliked", "taste", "sim_liked",
                 "attr_share", "attr_taste", "cf_user", "cf_bm25", "choice_taste", "cf_factors",
                 "group_rank1", "group_rank2", "group_rank3", "group_rank4"):
        np.testing.assert_allclose(column(F, name), 0.0, atol=1e-12, err_msg=name)
    # the same as a couple passed with an empty history
    empty = _features(fitted0, dates.iloc[:0], ["newcomer"])[0]
    np.testing.assert_array_equal(empty[:, :len(FEATURE_NAMES)], F[:, :len(FEATURE_NAMES)])


def test_couple_mean_and_attr_share_from_the_couples_ratings_and_dates(fitted0, dates):
    F = _features(fitted0, dates, ["c1", "c3"])
    # shrunk mean: (sum of z + 3 * global) / (rated dates + 3); c3's unrated date does not count
    np.testing.assert_allclose(column(F, "couple_mean")[:, 0],
                               [(2.25 + 3 * GLOBAL_Z) / 6, (1.25 + 3 * GLOBAL_Z) / 5], rtol=1e-6)
    # share of the distinct ideas done that are of the idea's kind: c3 did 2 outdoors and 1 home of 3
    np.testing.assert_allclose(column(F, "attr_share")[1], [0, 0, 2 / 3, 2 / 3, 1 / 3, 1 / 3], rtol=1e-6)


# --------------------------------------------------------------------------- partners

@pytest.fixture(scope="module")
def disagreeing():
    """Partner a loved the food date and hated the outdoors one; partner b the other way round."""
    return _frame([("p", "i0", "2025-04-01", 5, 1), ("p", "i2", "2025-04-08", 1, 5)])


def test_partners_who_rated_differently_get_their_own_taste(fitted0, disagreeing):
    couple, a, b = fitted0.partner_histories(disagreeing, couple_ids=["p"])
    Fa, Fb, Fc = (fitted0.transform(h)[0] for h in (a, b, couple))
    # each partner's shrunk mean: (1 + 0 + 3 * global) / 5; centred ratings 2 (z - mean), clipped to [-1, 1]
    mean = (1.0 + 3 * GLOBAL_Z) / 5
    loved, hated = min(2 * (1 - mean), 1.0), max(2 * (0 - mean), -1.0)
    assert hated == -1.0  # clipped
    # taste: centred ratings on the idea vectors over (ratings + 2), scored on each idea
    np.testing.assert_allclose(column(Fa, "taste"), [loved / 4] * 2 + [hated / 4] * 2 + [0, 0], rtol=1e-5)
    np.testing.assert_allclose(column(Fb, "taste"), [hated / 4] * 2 + [loved / 4] * 2 + [0, 0], rtol=1e-5)
    # the couple's: both dates a 3 (z 0.5) on average
    both = 2 * (0.5 - mean)
    np.testing.assert_allclose(column(Fc, "taste"), [both / 4] * 4 + [0, 0], rtol=1e-5)
    np.testing.assert_allclose(column(Fa, "sim_liked"), [1, 1, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(column(Fb, "sim_liked"), [0, 0, 1, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(column(Fa, "sim_disliked"), [0, 0, 1, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(column(Fa, "attr_taste"), [loved] * 2 + [hated] * 2 + [0, 0], rtol=1e-5)
    # what was done and when is the same for both
    for name in ("times_done", "days_since", "routine_distance", "cf_done", "choice_taste", "cf_factors"):
        np.testing.assert_array_equal(column(Fa, name), column(Fb, name), err_msg=name)


def test_partners_who_rated_alike_or_a_partner_who_never_rates_get_the_couples_taste(fitted0):
    alike = _frame([("p", "i0", "2025-04-01", 5, 5), ("p", "i2", "2025-04-08", 2, 2)])
    silent_b = _frame([("p", "i0", "2025-04-01", 5, None), ("p", "i2", "2025-04-08", 2, None)])
    for frame in (alike, silent_b):
        couple, a, b = (fitted0.transform(h)[0] for h in fitted0.partner_histories(frame, couple_ids=["p"]))
        np.testing.assert_array_equal(a, couple)
        np.testing.assert_array_equal(b, couple)
    assert column(couple, "taste")[0] > 0 > column(couple, "taste")[2]


def test_retaste_turns_the_couples_features_into_a_partners(fitted0, disagreeing):
    couple, a, b = fitted0.partner_histories(disagreeing, couple_ids=["p"])
    F = fitted0.transform(couple)
    for partner in (a, b):
        redone = fitted0.retaste(np.array(F), partner)
        np.testing.assert_allclose(redone, fitted0.transform(partner), rtol=1e-6, atol=1e-7)
    assert not np.allclose(fitted0.retaste(np.array(F), a), fitted0.retaste(np.array(F), b))


# --------------------------------------------------------------------------- seeds, pickling, columns

def test_random_state_is_a_parameter_and_seeds_the_reference_sample_and_the_factors(dates, catalog):
    assert HistoryFeaturizer().get_params()["random_state"] == 0
    assert clone(HistoryFeaturizer(random_state=7)).random_state == 7
    probe = _frame([("q", "i0", "2025-04-01", 4, 4), ("q", "i3", "2025-04-02", 4, 4)])

    def fit(seed):
        return HistoryFeaturizer(reference_couples=1, random_state=seed).fit(dates, catalog)

    one, again = fit(5), fit(5)
    np.testing.assert_array_equal(_features(one, probe, ["q"]), _features(again, probe, ["q"]))
    np.testing.assert_array_equal(one.item_factors_, again.item_factors_)
    # one reference couple of the three, drawn by the seed: different seeds draw different couples
    drawn = {tuple(fit(seed).reference_.indices) for seed in range(8)}
    assert len(drawn) > 1 and drawn <= {(0, 1), (0, 2), (2, 3, 4)}  # c1's, c2's or c3's ideas
    assert not np.array_equal(fit(0).item_factors_, fit(1).item_factors_)


def test_pickling_keeps_the_features_and_old_pickles_default_to_seed_0(fitted0, dates):
    F = _features(fitted0, dates, ["c1", "c2", "c3"])  # builds the derived caches
    state = fitted0.__getstate__()
    assert not {"_idea_pos", "_idea_index", "_matrix_cache"} & set(state)
    restored = pickle.loads(pickle.dumps(fitted0))
    np.testing.assert_array_equal(_features(restored, dates, ["c1", "c2", "c3"]), F)
    del state["random_state"]
    old = HistoryFeaturizer.__new__(HistoryFeaturizer)
    old.__setstate__(state)
    assert old.random_state == 0


def test_column_returns_the_named_plane_of_the_features(fitted0, dates):
    F = _features(fitted0, dates, ["c1", "c2"])
    assert COLUMN == {name: i for i, name in enumerate(FEATURE_NAMES)} and len(FEATURE_NAMES) == 30
    assert list(fitted0.feature_names_[:30]) == list(FEATURE_NAMES)
    np.testing.assert_array_equal(column(F, "quality"), np.broadcast_to(fitted0.quality_.astype(np.float32), (2, 6)))
    np.testing.assert_array_equal(column(F, "times_done")[0], np.log1p([2, 1, 0, 0, 0, 0]).astype(np.float32))
    view = column(F, "popularity")
    assert np.shares_memory(view, F)
    view[...] = -1.0
    assert (F[..., COLUMN["popularity"]] == -1.0).all() and (F[..., COLUMN["quality"]] != -1.0).any()
