""""Not for us" marks as known training negatives (engine.learning.dismissals), and what training learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.domain.dates import UNDATED, as_dates_frame
from engine.learning.dismissals import known_negatives, mark_days
from engine.learning.model import EnjoymentModel


def _dates() -> pd.DataFrame:
    return as_dates_frame(pd.DataFrame({
        "couple_id": ["c1", "c1", "c2"], "idea_id": ["hike", "cinema", "hike"],
        "done_on": ["2026-01-05", "2026-02-10", "2026-01-01"], "rating_a": [5.0, 2.0, 4.0]}))


def _marks(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["couple_id", "idea_id", "created_at"]).assign(
        created_at=lambda f: pd.to_datetime(f["created_at"], format="ISO8601"))


def _day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype("int64"))


def test_marks_keep_the_first_of_each_idea_and_leave_out_ideas_done():
    marks = mark_days(_marks(("c1", "karaoke", "2026-03-02 20:30"), ("c1", "karaoke", "2026-03-01 09:00"),
                             ("c1", "hike", "2026-03-01"), ("c2", "opera", "2026-01-20")), _dates())
    assert marks.to_dict("records") == [
        {"couple_id": "c2", "idea_id": "opera", "day": _day("2026-01-20")},
        {"couple_id": "c1", "idea_id": "karaoke", "day": _day("2026-03-01")}]


def test_a_targets_marks_from_before_its_day_replace_its_first_random_negatives():
    marks = pd.DataFrame({"couple_id": ["c1", "c1", "c1", "c2"], "idea_id": ["a", "b", "c", "d"],
                          "day": [10, 20, 30, 5]})
    owners = np.array(["c1", "c2", "c1", "c3"])
    days = np.array([25, 8, UNDATED, 40])  # c1 on day 25: a, b; c2: d; c1 undated: a, b, c (two fit); c3: none
    slots, cols = known_negatives(marks, owners, days, np.array([7, 8, 9, -1]), negatives=2)
    assert sorted(zip(slots.tolist(), cols.tolist())) == [(0, 7), (1, 8), (4, 7), (5, 8)]
    # d is not in the catalog (column -1): c2's target keeps its random negatives (slots 2, 3)


def test_a_dismissals_frame_without_its_columns_is_refused_by_name():
    with pytest.raises(ValueError, match=r"needs columns couple_id, idea_id, created_at; missing \['created_at'\]"):
        mark_days(pd.DataFrame({"couple_id": ["c1"], "idea_id": ["x"]}), _dates())


class _Recording(EnjoymentModel):
    """The engine's model, recording the last date and the number of marks each fit is given."""

    seen: list = []

    def fit(self, dates, catalog, profiles=None, dismissals=None):
        self.seen.append((dates["done_on"].max(), None if dismissals is None else len(dismissals)))
        return super().fit(dates, catalog, profiles, dismissals=dismissals)


def _turn_down_the_most_done(world, per_couple: int = 3) -> pd.DataFrame:
    """Each couple marks "not for us" the most done ideas it has not done, on the day of its first date."""
    dates = world.dates
    ranked = dates["idea_id"].value_counts().index.tolist()
    rows = []
    for couple, own in dates.groupby("couple_id"):
        done = set(own["idea_id"])
        rows += [(couple, idea, own["done_on"].min()) for idea in [i for i in ranked if i not in done][:per_couple]]
    return _marks(*rows)


def test_couples_who_turn_down_the_popular_ideas_teach_the_model_to_follow_popularity_less(tiny_world):
    marks = _turn_down_the_most_done(tiny_world)
    plain = EnjoymentModel(learner="linear", rounds=2).fit(tiny_world.dates, tiny_world.catalog)
    taught = EnjoymentModel(learner="linear", rounds=2).fit(tiny_world.dates, tiny_world.catalog, dismissals=marks)
    column = plain.feature_names_.index("popularity")
    assert taught.linear_weights_[column] < plain.linear_weights_[column] - 0.05
    # the marks replace random negatives: about as many examples (a random one is sometimes an idea done)
    assert abs(taught.n_examples_ - plain.n_examples_) <= 0.05 * plain.n_examples_


def test_training_hands_the_marks_to_both_fits_and_the_candidate_only_those_before_its_cut(tiny_world, tmp_path):
    from engine.app.training import train_and_maybe_promote
    from engine.learning.registry import Registry

    seen = _Recording.seen = []
    last = tiny_world.dates["done_on"].max()
    marks = _marks(("c0", tiny_world.catalog.ids[0], str(last.date())),             # after the cut
                   ("c0", tiny_world.catalog.ids[1], str((last - pd.Timedelta(days=400)).date())))
    result = train_and_maybe_promote(tiny_world.dates, tiny_world.catalog, Registry(tmp_path / "models"),
                                     params={"rounds": 1}, factory=_Recording, dismissals=marks)
    assert result.version
    (cut, before), (everything, all_marks) = seen
    assert cut < last == everything  # the candidate's dates end at the hold-out's cut; the final fit has all
    assert (before, all_marks) == (1, 2)
