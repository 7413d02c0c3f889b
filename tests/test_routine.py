"""Known answers of the adaptive push out of the routine (engine.ranking.routine, EnjoymentModel.rank)."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine import load_catalog
from engine.app.recommender import Recommender
from engine.app.training import train_and_maybe_promote
from engine.domain.context import parse_context
from engine.domain.dates import as_dates_frame, empty_dates
from engine.domain.profiles import Profile, from_couples
from engine.lab.simulator import simulate
from engine.learning.features import FEATURE_NAMES
from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry
from engine.ranking.routine import routine_push

#: the dinner-and-a-movie routine: two kinds of date (cozy-at-home films, romance dinners at home)
DINNER_AND_MOVIE = ["candlelit-dinner-at-home", "film-marathon-theme", "home-cinema-old-film", "picnic-in-bed"]
TONIGHT = parse_context({"day": "2026-05-08"})[0]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def world(catalog):
    return simulate(300, seed=4, catalog=catalog)


@pytest.fixture(scope="module")
def fitted(world, catalog):
    return EnjoymentModel(random_state=0).fit(world.dates, catalog, from_couples(world.couples))


@pytest.fixture
def recommender(fitted):
    return Recommender(copy.deepcopy(fitted), "test")


def _dates(couple: str, ideas: list[str], rating: float) -> pd.DataFrame:
    start = dt.date(2025, 11, 1)
    return as_dates_frame(pd.DataFrame({
        "couple_id": couple, "idea_id": ideas,
        "done_on": [start + dt.timedelta(days=7 * i) for i in range(len(ideas))],
        "rating_a": rating, "rating_b": rating,
    }))


def _kinds(catalog, ideas) -> list[str]:
    return [str(catalog.frame.loc[i, "category"]) for i in ideas]


# --------------------------------------------------------------------------- the push itself

def _push(done, rated, n_groups=4, group_of=(0, 0, 1, 1, 2, 2, 3, 3)):
    done = np.asarray(done, dtype=float)[None, :]
    rated = np.asarray(rated, dtype=float)[None, :]
    return routine_push(np.asarray(group_of), n_groups, done, done, rated, done.sum(axis=1))


def test_a_concentrated_lukewarm_routine_gets_the_full_push_and_a_loved_one_none():
    # 20 dates in one kind: concentration 1; love from the mean rating of those dates
    flat = _push([10, 10, 0, 0, 0, 0, 0, 0], [0.5, 0.5] + [np.nan] * 6)
    loved = _push([10, 10, 0, 0, 0, 0, 0, 0], [1.0, 1.0] + [np.nan] * 6)
    assert flat.concentration[0] == pytest.approx(1.0)
    # z = (0.5 * 20 + 0.6 * 2) / 22 = 0.509 -> love 0.036 -> push 0.964
    assert flat.push[0] == pytest.approx(1 - (0.5090909 - 0.5) / 0.25, abs=1e-4)
    # z = (20 + 1.2) / 22 = 0.9636 -> love 1 -> no push
    assert loved.push[0] == pytest.approx(0.0)
    # unrated: the prior 0.6 -> love 0.4 -> push 0.6
    unrated = _push([10, 10, 0, 0, 0, 0, 0, 0], [np.nan] * 8)
    assert unrated.push[0] == pytest.approx(0.6)


def test_a_varied_history_or_a_short_one_is_barely_pushed():
    # 8 dates spread over 8 kinds: the top 3 hold 3/8 of them, below the 0.4 where the push starts
    varied = _push([1] * 8, [1.0] * 8, n_groups=8, group_of=tuple(range(8)))
    assert varied.push[0] == 0.0
    # 3 dates of one kind: a routine is not known yet (confidence (3 - 2) / 8)
    short = _push([3, 0, 0, 0, 0, 0, 0, 0], [0.0] + [np.nan] * 7)
    assert short.push[0] == pytest.approx(0.125 * 1.0, abs=0.01)


# --------------------------------------------------------------------------- tonight's three

@pytest.mark.slow
def test_the_dinner_and_movie_couple_gets_at_least_two_of_three_outside(recommender, catalog):
    history = _dates("dm", [DINNER_AND_MOVIE[i % 4] for i in range(20)], np.nan)
    routine = set(_kinds(catalog, DINNER_AND_MOVIE))
    assert len(routine) == 2
    picks = recommender.tonight("dm", history, TONIGHT)
    outside = [s for s in picks if _kinds(catalog, [s.idea_id])[0] not in routine]
    assert len(outside) >= 2, [s.idea_id for s in picks]
    # the reason says why
    assert any("times; try something new" in r for s in outside for r in s.reasons), [s.reasons for s in picks]


def test_after_rating_the_routine_low_all_three_are_outside(recommender, catalog):
    history = _dates("dm", [DINNER_AND_MOVIE[i % 4] for i in range(20)], 2)
    routine = set(_kinds(catalog, DINNER_AND_MOVIE))
    picks = recommender.tonight("dm", history, TONIGHT)
    assert len(picks) == 3
    assert all(_kinds(catalog, [s.idea_id])[0] not in routine for s in picks), [s.idea_id for s in picks]
    assert "you have done" in " ".join(picks[0].reasons)


def test_a_varied_loved_history_keeps_two_of_three_in_its_loved_kinds(recommender, catalog):
    frame = catalog.frame
    loved_kinds = ["outdoors", "culture", "music-and-dance", "food-and-drink", "games-and-play", "learning"]
    allowed_now = frame["time_of_day"].map(lambda t: bool({"evening", "night"} & set(t)))
    ideas = [i for kind in loved_kinds for i in list(frame.index[(frame["category"] == kind) & allowed_now])[:4]]
    history = _dates("varied", ideas, 5)
    state = routine_push(recommender.model.featurizer_.group_of_, len(recommender.model.featurizer_.group_labels_),
                         *_summaries(recommender.model, history, "varied"))
    assert state.push[0] < 0.1  # 24 dates over 6 kinds: barely pushed
    picks = recommender.tonight("varied", history, TONIGHT)
    kept = [s for s in picks if _kinds(catalog, [s.idea_id])[0] in loved_kinds]
    assert len(kept) >= 2, [(s.idea_id, _kinds(catalog, [s.idea_id])) for s in picks]


def _summaries(model, history, couple):
    hist = model.featurizer_.histories(history, [couple])
    return hist.done, hist.recent, hist.rated, hist.n_dates


def test_routine_push_out_of_range_is_refused(catalog):
    history = _dates("dm", DINNER_AND_MOVIE * 2, 4)
    with pytest.raises(ValueError, match=r"'routine_push' parameter .* range \[0.0, 1.0\]. Got 2 instead"):
        EnjoymentModel(routine_push=2).fit(history, catalog)


@pytest.mark.slow
def test_a_retrained_model_still_follows_a_new_couples_stated_interests(world, catalog, tmp_path):
    """Retrained through the product's train-and-gate function, a new couple with stated interests
    gets at least two of three picks that match them."""
    registry = Registry(tmp_path / "models")
    result = train_and_maybe_promote(world.dates, catalog, registry, profiles=from_couples(world.couples))
    assert result.promoted
    model = registry.load(catalog=catalog)[0]
    interest = FEATURE_NAMES.index("interest")
    for interests in (("outdoors", "adventure"), ("arts-and-crafts", "learning"), ("music-and-dance",)):
        profiles = {"new": Profile(interests=interests)}
        ranked = model.rank(empty_dates(), ["new"], 3,
                            context=TONIGHT, profiles=profiles)
        on_interest = int((ranked.features[0, :, interest] > 0).sum())
        assert on_interest >= 2, (interests, [catalog.ids[p] for p in ranked.positions[0]])
