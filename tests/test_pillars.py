"""Pillars in balance: the re-ranking's known answers, and four newsletter weeks on a simulated world."""

from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict

import pandas as pd
import pytest

from engine.app.recommender import Recommender, Suggestion
from engine.newsletter import run_newsletter
from engine.practice.pillars import PILLARS, balance_picks, dated_pillars, idea_pillars

_PILLARS_OF = {
    "dinner": frozenset({"novelty"}), "hike": frozenset({"novelty"}), "museum": frozenset({"novelty"}),
    "letters": frozenset({"vulnerability", "appreciation"}), "massage": frozenset({"physical-intimacy"}),
    "thanks": frozenset({"appreciation"}),
}


def _ranked(*ideas_scores):
    return [Suggestion(idea_id=i, title=i, rank=r + 1, score=s, enjoyment=s, routine_distance=0.5,
                       reasons=[f"why {i}"]) for r, (i, s) in enumerate(ideas_scores)]


def test_the_best_stays_first_and_a_neglected_pillar_moves_up_with_a_reason():
    ranked = _ranked(("dinner", 1.0), ("hike", 0.9), ("museum", 0.85), ("letters", 0.6), ("massage", 0.45))
    out = balance_picks({"c": ranked}, 3, _PILLARS_OF, sent={"c": {"novelty", "appreciation"}})["c"]
    assert [s.idea_id for s in out] == ["dinner", "letters", "massage"]
    assert [s.rank for s in out] == [1, 2, 3]
    assert out[1].reasons == ["you have not had a vulnerability date in a month", "why letters"]
    assert out[2].reasons == ["you have not had a physical-intimacy date in a month", "why massage"]
    assert out[0].reasons == ["why dinner"]


def test_a_couple_with_every_pillar_covered_keeps_the_ranking_but_two_pillars_a_week():
    ranked = _ranked(("dinner", 1.0), ("hike", 0.9), ("museum", 0.85), ("thanks", 0.2))
    out = balance_picks({"c": ranked}, 3, _PILLARS_OF, sent={"c": set(PILLARS)})["c"]
    assert [s.idea_id for s in out] == ["dinner", "hike", "thanks"]  # the last slot adds a second pillar
    only_novelty = balance_picks({"c": _ranked(("dinner", 1.0), ("hike", 0.9), ("museum", 0.8))}, 3,
                                 _PILLARS_OF, sent={"c": set(PILLARS)})["c"]
    assert [s.idea_id for s in only_novelty] == ["dinner", "hike", "museum"]  # nothing else to choose from


def test_the_reason_says_newsletters_when_the_couple_did_have_such_a_date():
    ranked = _ranked(("dinner", 1.0), ("hike", 0.9), ("letters", 0.5))
    out = balance_picks({"c": ranked}, 2, _PILLARS_OF, sent={}, dated={"c": {"vulnerability", "appreciation"}})
    assert out["c"][1].reasons[0] == "a vulnerability idea: it has not come up in your recent newsletters"


def test_dated_pillars_reads_the_last_four_weeks():
    dates = pd.DataFrame({"couple_id": ["c", "c", "d"], "idea_id": ["letters", "massage", "dinner"],
                          "done_on": pd.to_datetime(["2026-02-20", "2026-01-01", "2026-02-25"])})
    assert dated_pillars(dates, _PILLARS_OF, _dt.date(2026, 3, 1)) == {
        "c": {"vulnerability", "appreciation"}, "d": {"novelty"}}


@pytest.mark.slow
def test_four_weeks_of_newsletters_cover_all_four_pillars_for_nine_couples_in_ten(service_store, model_dir,
                                                                                  tmp_path):
    recommender = Recommender.load(model_dir)
    pillars = idea_pillars(recommender.catalog)
    monday = _dt.date(2026, 11, 30)
    weekly: dict[tuple[str, int], set[str]] = defaultdict(set)
    overall: dict[str, set[str]] = defaultdict(set)
    for w in range(4):
        run_newsletter(service_store, recommender, monday + _dt.timedelta(weeks=w), tmp_path / f"w{w}",
                       progress=False)
        for line in (tmp_path / f"w{w}" / "picks.jsonl").read_text(encoding="utf-8").splitlines():
            pick = json.loads(line)
            weekly[(pick["couple_id"], w)] |= pillars[pick["idea_id"]]
            overall[pick["couple_id"]] |= pillars[pick["idea_id"]]
            assert pick["prompt"]["id"]
    couples = service_store.count_couples()
    assert len(overall) == couples
    assert all(len(p) >= 2 for p in weekly.values())
    assert sum(set(PILLARS) <= p for p in overall.values()) >= 0.9 * couples


def test_tonight_favours_a_pillar_the_last_month_lacked_only_for_a_couple_with_recent_dates():
    from engine.domain.catalog import load_catalog
    from engine.domain.dates import CoupleDates
    from engine.practice.pillars import balance_tonight

    catalog = load_catalog()
    pillars = idea_pillars(catalog)
    novelty = [i for i, p in pillars.items() if p == {"novelty"}]
    opening = [i for i, p in pillars.items() if p == {"vulnerability"}]
    day = _dt.date(2026, 3, 1)
    today = (day - _dt.date(1970, 1, 1)).days
    window = _ranked((novelty[0], 1.0), (novelty[1], 0.9), (novelty[2], 0.85), (opening[0], 0.6),
                     (novelty[3], 0.5), (novelty[4], 0.4))
    recent = CoupleDates("c", ((novelty[5], today - 3, 5.0, 4.0), (novelty[6], today - 20, 4.0, 4.0)))
    picks = balance_tonight(window, 3, catalog, recent, day)
    assert [s.idea_id for s in picks] == [novelty[0], opening[0], novelty[1]]
    assert picks[1].reasons[0] == "you have not had a vulnerability date in a month"
    long_ago = CoupleDates("c", ((novelty[5], today - 40, 5.0, 4.0),))
    for history in (long_ago, CoupleDates("c")):  # nothing in the last four weeks: the ranking as it is
        window = _ranked((novelty[0], 1.0), (novelty[1], 0.9), (novelty[2], 0.85), (opening[0], 0.6))
        assert [s.idea_id for s in balance_tonight(window, 3, catalog, history, day)] == novelty[:3]
