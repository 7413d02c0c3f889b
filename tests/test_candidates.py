"""Known-answer tests of scoring candidates only: the columns equal those of the whole catalog.

:meth:`HistoryFeaturizer.transform` and :meth:`EnjoymentModel.enjoyment` with
``ideas=`` featurise and score only the candidate ideas (what the hard
constraints and exclusions allow); the features normalised over the catalog
(``rel:<name>``, the reference day of ``days_since``) keep their catalog-wide
statistics. And an answer from the recommender's caches equals a fresh one,
whatever the constraints of the requests before it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from engine.app.recommender import Recommender
from engine.domain.catalog import load_catalog
from engine.domain.constraints import allowed_for_couples
from engine.domain.context import Context
from engine.domain.dates import CoupleDates
from engine.domain.profiles import Profile, from_couples
from engine.learning.model import EnjoymentModel
from engine.learning.pair_features import _RELATIVE

DAY = dt.date(2025, 6, 1)
_EPOCH = dt.date(1970, 1, 1)
AS_OF = (DAY - _EPOCH).days

#: the contexts whose allowed ideas are the candidates (None: every idea)
CONTEXTS = {"none": None, "minutes=60": Context(minutes=60, day=DAY),
            "budget=2&setting=out": Context(budget=2, setting="out", day=DAY)}


@pytest.fixture(scope="module")
def fitted(tiny_world):
    profiles = from_couples(tiny_world.couples)
    model = EnjoymentModel(max_iter=30).fit(tiny_world.dates, tiny_world.catalog, profiles)
    return model, profiles


@pytest.fixture(scope="module")
def couples(tiny_world):
    """Eight couples with history (partners who rate differently among them) and one without."""
    return [str(c) for c in pd.unique(tiny_world.dates["couple_id"])[:8]] + ["nobody-yet"]


def _candidates(model, context, couple_ids, profiles, exclude=None) -> np.ndarray:
    """Catalog positions any of the couples may be offered (constraints, then exclusions)."""
    allowed = allowed_for_couples(model.catalog_, context, [profiles.get(c) for c in couple_ids])
    if exclude is not None:
        allowed &= model.catalog_.couple_planes(couple_ids, exclude) == 0
    return np.flatnonzero(allowed.any(axis=0))


def _assert_same_columns(model, history, couple_ids, profiles, ideas):
    """Features bitwise equal; enjoyment equal to the float32 rounding of its weighted sum."""
    P, F, _ = model.enjoyment(history, couple_ids, as_of_day=AS_OF, profiles=profiles)
    Pc, Fc, _ = model.enjoyment(history, couple_ids, as_of_day=AS_OF, profiles=profiles, ideas=ideas)
    assert Fc.shape == (len(couple_ids), len(ideas), F.shape[2])
    np.testing.assert_array_equal(Fc, F[:, ideas])
    np.testing.assert_allclose(Pc, P[:, ideas], rtol=1e-5, atol=1e-12)
    feat = model.featurizer_
    for partner in ("a", "b"):
        hist = feat.histories(history, couple_ids, profiles, partner=partner)
        np.testing.assert_array_equal(feat.transform(hist, ideas=ideas), feat.transform(hist)[:, ideas])


@pytest.mark.parametrize("name", list(CONTEXTS))
def test_candidates_of_a_context_score_as_in_the_whole_catalog(fitted, tiny_world, couples, name):
    model, profiles = fitted
    # no context: every idea, as an array of positions (the intimacy levels already leave some out)
    ideas = np.arange(len(model.catalog_)) if name == "none" else _candidates(model, CONTEXTS[name], couples, profiles)
    assert 0 < len(ideas) < len(model.catalog_) or name == "none"
    _assert_same_columns(model, tiny_world.dates, couples, profiles, ideas)


def test_partners_who_rate_differently_are_scored_each_on_the_candidates(fitted, tiny_world, couples):
    model, profiles = fitted
    _, a, b = model.featurizer_.partner_histories(tiny_world.dates, couples, profiles)
    differ = ~np.all(np.isclose(a.rated, b.rated, equal_nan=True), axis=1)
    assert differ.any() and not differ.all()  # both paths of enjoyment() are exercised
    P, _, _ = model.enjoyment(tiny_world.dates, couples, as_of_day=AS_OF, profiles=profiles,
                              ideas=_candidates(model, CONTEXTS["minutes=60"], couples, profiles))
    assert not np.array_equal(P[differ, :, 0], P[differ, :, 1])


def test_exclusions_and_recent_suggestions_leave_candidates_scored_as_in_the_catalog(fitted, tiny_world, couples):
    model, profiles = fitted
    ids = model.catalog_.ids
    exclude = {c: set(ids[i::7]) for i, c in enumerate(couples)}
    ideas = _candidates(model, CONTEXTS["budget=2&setting=out"], couples, profiles, exclude)
    _assert_same_columns(model, tiny_world.dates, couples, profiles, ideas)
    # a single couple's candidates, in any order, as one request scores them
    one = couples[:1]
    ideas = _candidates(model, CONTEXTS["minutes=60"], one, profiles, {one[0]: exclude[one[0]]})[::-1]
    _assert_same_columns(model, tiny_world.dates, one, profiles, ideas)


def test_relative_features_keep_the_couples_range_over_the_whole_catalog(fitted, tiny_world, couples):
    model, profiles = fitted
    feat = model.featurizer_
    hist = feat.histories(tiny_world.dates, couples[:3], profiles)
    full = feat.transform(hist)
    three = np.array([5, 17, 40])
    F = feat.transform(hist, ideas=three)
    rel = [model.feature_names_.index(f"rel:{name}") for name in _RELATIVE]
    np.testing.assert_array_equal(F[..., rel], full[:, three][..., rel])
    # three ideas do not span the couple's range: not rescaled to [0, 1] among themselves
    cf_done = model.feature_names_.index("rel:cf_done")
    assert F[..., cf_done].min(axis=1).max() > 0 or F[..., cf_done].max(axis=1).min() < 1


def test_nearby_keeps_its_range_over_every_place(tmp_path):
    """Ideas in two towns 111 km apart: among the far town's ideas alone ``rel:nearby`` stays near 0."""
    rows = ["id,title,category,place"]
    for i in range(30):
        lat = 23.0 if i % 2 == 0 else 22.0
        rows.append(f'i{i:02d},Idea {i},{"ab"[i % 3 == 0]},"{lat + 0.001 * i:.4f},-100.0"')
    (tmp_path / "schema.json").write_text(json.dumps({"attributes": {
        "category": {"kind": "categorical", "values": ["a", "b"]}, "place": {"kind": "location"}}}))
    (tmp_path / "ideas.csv").write_text("\n".join(rows) + "\n")
    catalog = load_catalog(tmp_path)
    dates = pd.DataFrame({"couple_id": ["n"] * 4 + ["s"] * 4,
                          "idea_id": [f"i{i:02d}" for i in (0, 2, 4, 6, 1, 3, 5, 7)],
                          "done_on": [f"2025-03-0{d}" for d in range(1, 9)], "rating_a": [5, 4, 2, 5, 3, 4, 5, 1],
                          "rating_b": [4, 4, 3, 5, 3, 2, 5, 2]})
    model = EnjoymentModel(max_iter=30, rounds=1).fit(dates, catalog)
    south = np.arange(1, 30, 2)
    profiles = {"home-north": Profile(home=(23.0, -100.0))}
    _assert_same_columns(model, dates, ["n", "s", "home-north"], profiles, south)
    F = model.featurizer_.transform(model.featurizer_.histories(dates, ["home-north"], profiles), ideas=south)
    assert F[0, :, model.feature_names_.index("rel:nearby")].max() < 1e-6


def _dicts(picks):
    return [p.to_dict() for p in picks]


def test_a_cached_answer_equals_a_fresh_one_whatever_came_before(fitted, tiny_world):
    model, _ = fitted
    ids = model.catalog_.ids
    rows = tuple((str(ids[i]), AS_OF - 40 + 3 * i, float(1 + i % 5), float(1 + (i * 2) % 5)) for i in range(12))
    history = CoupleDates("c1", rows, Profile(("conversation",), budget_ceiling=3))
    requests = [({"context": CONTEXTS["minutes=60"]}, {}),
                ({"context": Context(day=DAY)}, {}),
                ({"context": CONTEXTS["budget=2&setting=out"]}, {"exclude": [str(ids[3]), str(ids[20])]}),
                ({"context": CONTEXTS["minutes=60"]}, {"recently_suggested": {str(ids[7]): 1.0}}),
                ({"context": Context(setting="home", day=DAY)}, {"k": 5, "offset": 1})]
    cached = Recommender(model, "v-test")
    for args, kwargs in requests:
        fresh = Recommender(model, "v-test", cache_couples=0, cache_lists=0)
        answer = _dicts(cached.tonight("c1", history, args["context"], **kwargs))
        assert answer and answer == _dicts(fresh.tonight("c1", history, args["context"], **kwargs))
    info = cached.cache_info()
    assert info["scored_hits"] == len(requests) - 1 and info["scored_misses"] == 1


def _scaled_by_allowed(model, exploration=0.0):
    """The same fitted model, ranking by the best allowed idea (constraint-first), exploring as told."""
    other = copy.copy(model)
    other.scale, other.exploration = "allowed", exploration
    return other


@pytest.mark.parametrize("exploration", [0.0, 0.3])
@pytest.mark.parametrize("name", ["minutes=60", "budget=2&setting=out"])
def test_ranked_by_the_best_allowed_idea_only_the_candidates_are_scored(fitted, tiny_world, couples, name,
                                                                        exploration):
    model = _scaled_by_allowed(fitted[0], exploration)
    profiles = fitted[1]
    ids = model.catalog_.ids
    exclude = {c: set(ids[i::5]) for i, c in enumerate(couples)}
    asked = []
    score = model.enjoyment

    def spy(*args, **kwargs):
        asked.append(kwargs.get("ideas"))
        return score(*args, **kwargs)

    model.enjoyment = spy
    args = dict(context=CONTEXTS[name], exclude=exclude, as_of_day=AS_OF, profiles=profiles,
                distinct_groups=True, seed=np.arange(len(couples)))
    first = model.rank(tiny_world.dates, couples, 8, **args)
    np.testing.assert_array_equal(asked[0], _candidates(model, CONTEXTS[name], couples, profiles, exclude))
    # the whole catalog scored, then ranked: the same lists, scores, features and reasons' inputs
    whole = model.rank(tiny_world.dates, couples, 8, scored=score(tiny_world.dates, couples, as_of_day=AS_OF,
                                                                   profiles=profiles), **args)
    assert (first.positions >= 0).sum() > len(couples)
    for field in ("positions", "favourite", "routine_distance", "features"):
        np.testing.assert_array_equal(getattr(first, field), getattr(whole, field), err_msg=field)
    # the predictions to float32's rounding: BLAS's weighted sum over the feature planes may round the
    # last few ideas of a row differently by the row's length (OpenBLAS's sgemv tail, seen on Haswell)
    for field in ("scores", "enjoyment", "partners"):
        np.testing.assert_allclose(getattr(first, field), getattr(whole, field), rtol=1e-6, atol=1e-7,
                                   err_msg=field)
    # and the catalog-wide scale still scores every idea
    asked.clear()
    model.scale = "catalog"
    model.rank(tiny_world.dates, couples, 3, context=CONTEXTS[name], as_of_day=AS_OF, profiles=profiles)
    assert asked == [None]


def test_ranked_by_the_best_allowed_idea_a_cached_answer_equals_a_fresh_one(fitted):
    model = _scaled_by_allowed(fitted[0])
    ids = model.catalog_.ids
    rows = tuple((str(ids[i]), AS_OF - 40 + 3 * i, float(1 + i % 5), float(1 + (i * 2) % 5)) for i in range(12))
    history = CoupleDates("c1", rows, Profile(("conversation",), budget_ceiling=3))
    cached = Recommender(model, "v-test")
    for context in (CONTEXTS["minutes=60"], Context(day=DAY), CONTEXTS["budget=2&setting=out"],
                    CONTEXTS["minutes=60"]):
        fresh = Recommender(model, "v-test", cache_couples=0, cache_lists=0)
        answer = _dicts(cached.tonight("c1", history, context))
        assert answer and answer == _dicts(fresh.tonight("c1", history, context))
    info = cached.cache_info()
    # each context scores its own candidates; the repeated one is the ranked list's cache hit
    assert info["scored_hits"] == 0 and info["scored_misses"] == 0
    assert info["lists_hits"] == 1
