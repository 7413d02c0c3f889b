"""Dates before 1970 are dates (issue 16 accepts days from 1900-01-01 on).

The learning code counts days from 1970-01-01, so a day before 1970 has a
negative number; only :data:`engine.domain.dates.UNDATED` (1899-12-31) means
"no day". Each test compares what the model reads from such history with the
known answer: the days between two dates, or the same history's reading in the
2020s (only differences of days matter to the model).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine.app.reasons import explain
from engine.domain.dates import CoupleDates, as_dates_frame
from engine.learning.model import EnjoymentModel
from engine.learning.pair_features import column
from engine.learning.registry import Registry

_EPOCH = dt.date(1970, 1, 1)
#: 3130 weeks (about 60 years): the simulator's 2024-2026 dates move to 1964-1966, weekdays kept
_SIXTY_YEARS = dt.timedelta(weeks=3130)


def _day(day: dt.date) -> int:
    return (day - _EPOCH).days


@pytest.fixture(scope="module")
def model(tiny_model_dir, tiny_world):
    """The session's model fitted on ``tiny_world`` (2024 on); only read here."""
    return Registry(tiny_model_dir).load(catalog=tiny_world.catalog)[0]


def _couple(rows: list[tuple[str, dt.date | None]]) -> CoupleDates:
    """One couple's dates, rated 5 by both, as the store reads them (day numbers, None: undated)."""
    return CoupleDates("old", tuple((idea, None if day is None else _day(day), 5.0, 5.0) for idea, day in rows))


def _read(model, history, as_of: dt.date) -> tuple[dict, dict, dict]:
    """``last_day``, ``days_since`` (in days) and recency weight of each catalog idea the history has."""
    feat = model.featurizer_
    hist = feat.histories(history, ["old"])
    since = column(feat.transform(hist, as_of_day=_day(as_of)), "days_since")[0] * 365
    done = [str(i) for i in feat.catalog_ids_[hist.done[0] > 0]]
    at = {i: p for i, p in zip(done, feat.positions(np.array(done, dtype=object)))}
    return ({i: float(hist.last_day[0, p]) for i, p in at.items()},
            {i: round(float(since[p]), 3) for i, p in at.items()},
            {i: float(hist.recent[0, p]) for i, p in at.items()})


def test_a_couple_whose_dates_are_all_in_1965_has_them_dated(model, tiny_world):
    """An idea done 30 days before the moment predicted, in 1965, is 30 days ago (not "never")
    through both shapes of history: the store's day numbers and a dates frame."""
    hike, film = tiny_world.catalog.ids[:2]
    history = _couple([(film, dt.date(1965, 1, 10)), (hike, dt.date(1965, 3, 1))])
    frame = history.frame()
    assert frame["done_on"].tolist() == [pd.Timestamp("1965-01-10"), pd.Timestamp("1965-03-01")]
    for shape in (history, frame):
        _, since, _ = _read(model, shape, as_of=dt.date(1965, 3, 31))
        assert since == {hike: 30.0, film: 80.0}
        assert since[hike] / 365 < 1  # the days_since feature: 30 days of its 365


def test_recency_runs_by_day_across_1970_and_undated_dates_come_first(model, tiny_world):
    """1969-12-31 is before 1970-01-02 and after a date without a day, whatever the input order:
    the latest date weighs 1, each earlier one half a half-life less."""
    last_year, undated, new_year = tiny_world.catalog.ids[:3]
    history = _couple([(last_year, dt.date(1969, 12, 31)), (undated, None), (new_year, dt.date(1970, 1, 2))])
    half = 0.5 ** (1 / model.featurizer_.recency_half_life)
    for shape in (history, history.frame()):
        _, since, recent = _read(model, shape, as_of=dt.date(1970, 1, 10))
        assert recent == {new_year: 1.0, last_year: pytest.approx(half), undated: pytest.approx(half ** 2)}
        assert since == {last_year: 10.0, new_year: 8.0, undated: 365.0}


def test_an_undated_date_still_reads_as_undated_beside_the_earliest_days(model, tiny_world):
    """``last_day`` counts from 1899-12-31: 0 for a date without a day, 1 for 1900-01-01, and the
    days between for 1969-12-31; an undated idea is "never" to ``days_since``."""
    undated, first_day, eve = tiny_world.catalog.ids[:3]
    history = _couple([(undated, None), (first_day, dt.date(1900, 1, 1)), (eve, dt.date(1969, 12, 31))])
    assert history.frame()["done_on"].isna().tolist() == [True, False, False]
    for shape in (history, history.frame()):
        last, since, _ = _read(model, shape, as_of=dt.date(1900, 1, 31))
        eve_day = (dt.date(1969, 12, 31) - dt.date(1899, 12, 31)).days
        assert last == {undated: 0.0, first_day: 1.0, eve: float(eve_day)}
        assert {i: since[i] for i in (undated, first_day)} == {undated: 365.0, first_day: 30.0}


def _shifted(dates: pd.DataFrame) -> pd.DataFrame:
    return as_dates_frame(dates.assign(done_on=dates["done_on"] - pd.Timedelta(_SIXTY_YEARS)))


def _ranked_reasons(model, dates: pd.DataFrame, as_of: np.ndarray) -> tuple[np.ndarray, list[list[list[str]]]]:
    couples = sorted(dates["couple_id"].unique())
    ranked = model.rank(dates, couples, 5, as_of_day=as_of)
    reasons = [[explain(model, ranked.histories, r, int(p), ranked.features[r, j], as_of_day=int(as_of[r]),
                        partners=ranked.partners[r, j], favourite=ranked.favourite[r])
                for j, p in enumerate(ranked.positions[r]) if p >= 0] for r in range(len(couples))]
    return ranked.positions, reasons


def test_weeks_since_your_last_date_reads_the_same_for_the_1960s_as_for_the_2020s(model, tiny_world):
    """The same histories sixty years earlier, asked a month after each couple's latest date, get
    the same suggestions and reasons, "it has been N weeks since your last ... date" among them."""
    now = tiny_world.dates
    latest = now.groupby("couple_id")["done_on"].max().sort_index()
    as_of = (latest + pd.Timedelta(days=30)).to_numpy("datetime64[D]").astype(np.int64)
    picks_now, reasons_now = _ranked_reasons(model, now, as_of)
    picks_then, reasons_then = _ranked_reasons(model, _shifted(now), as_of - _SIXTY_YEARS.days)
    said = [s for couple in reasons_then for pick in couple for s in pick if "since your last" in s]
    assert said and said == [s for couple in reasons_now for pick in couple for s in pick if "since your last" in s]
    assert reasons_then == reasons_now
    assert np.array_equal(picks_then, picks_now)


def _marks(dates: pd.DataFrame, ideas: np.ndarray) -> pd.DataFrame:
    """Three "not for us" marks per couple, of ideas it never did, made on days spread over its dates."""
    rng = np.random.default_rng(5)
    rows = []
    for couple, done in dates.groupby("couple_id"):
        spread = pd.date_range(done["done_on"].min(), done["done_on"].max(), periods=3)
        rows += [(couple, idea, when + pd.Timedelta(hours=20))
                 for idea, when in zip(rng.choice(np.setdiff1d(ideas, done["idea_id"]), 3, replace=False), spread)]
    return pd.DataFrame(rows, columns=["couple_id", "idea_id", "created_at"])


def test_training_on_the_same_dates_and_marks_sixty_years_earlier_learns_the_same_model(tiny_world):
    """A training target dated before 1970 has its own day, as a 2020s one has: only the "not for
    us" marks made before it stand in for its negatives (not every mark, as on undated data), so
    the model fitted on the 1960s copy of the dates and marks predicts exactly what the 2020s fit does."""
    now = tiny_world.dates[tiny_world.dates["couple_id"].isin(sorted(tiny_world.dates["couple_id"].unique())[:30])]
    marks = _marks(now, np.asarray(tiny_world.catalog.ids, dtype=object))
    then, marks_then = _shifted(now), marks.assign(created_at=marks["created_at"] - pd.Timedelta(_SIXTY_YEARS))
    fitted = [EnjoymentModel(max_iter=30, rounds=1, random_state=0).fit(d, tiny_world.catalog, dismissals=m)
              for d, m in ((now, marks), (then, marks_then))]
    couples = sorted(now["couple_id"].unique())
    assert np.array_equal(fitted[1].enjoyment(then, couples)[0], fitted[0].enjoyment(now, couples)[0])
