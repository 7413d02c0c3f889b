"""Tonight's time: ideas carry ``time_of_day``; tonight means evening or night unless the request says."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from engine import load_catalog
from engine.domain.constraints import allowed_mask, allowed_rows, violations
from engine.domain.context import BAD_WEATHER, SEASONS, TIMES_OF_DAY, TONIGHT, Context, ContextError, parse_context


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _times(catalog, ideas) -> list[set[str]]:
    return [set(catalog.frame.loc[i, "time_of_day"]) for i in ideas]


def test_tonight_means_evening_or_night_unless_the_request_says():
    assert parse_context({})[0].time_of_day == TONIGHT == ("evening", "night")
    assert parse_context({"time_of_day": "morning"})[0].time_of_day == ("morning",)
    with pytest.raises(ContextError, match="time_of_day must be one of morning, afternoon, evening, night, "
                                           "got 'noon'") as err:
        parse_context({"time_of_day": "noon"})
    assert err.value.field == "time_of_day"
    # a Context built directly (the newsletter's weekend picks) allows any time
    assert Context().time_of_day is None
    assert parse_context({})[0].to_dict()["time_of_day"] == ["evening", "night"]


def test_the_mask_keeps_only_ideas_that_work_at_the_times_asked(catalog):
    day = dt.date(2026, 6, 5)
    tonight = allowed_mask(catalog, parse_context({"day": day})[0])
    morning = allowed_mask(catalog, parse_context({"day": day, "time_of_day": "morning"})[0])
    anytime = allowed_mask(catalog, Context(day=day))
    times = _times(catalog, catalog.ids)
    assert all(t & {"evening", "night"} for t, ok in zip(times, tonight) if ok)
    assert all("morning" in t for t, ok in zip(times, morning) if ok)
    # "A proper lie-in"-style ideas: morning only, never tonight
    morning_only = np.array([t == {"morning"} for t in times])
    assert morning_only.any() and not (tonight & morning_only).any() and (anytime & morning_only).any()
    assert violations(catalog.frame.loc[catalog.ids[np.flatnonzero(morning_only)[0]]].to_dict(),
                      parse_context({"day": day})[0]) == ["time_of_day"]


def test_allowed_rows_is_the_same_rule_for_many_contexts(catalog):
    rng = np.random.default_rng(0)
    n = 40
    budget = rng.integers(0, 4, n).astype(float)
    minutes = rng.choice([np.nan, 60, 120, 240], n)
    home = rng.choice([np.nan, 0.0, 1.0], n)
    weather = rng.choice(["clear", "rain", "snow", "hot"], n)
    kids = rng.random(n) < 0.5
    season = rng.integers(0, 4, n)
    times = rng.random((n, 4)) < 0.5
    times[~times.any(axis=1), 2] = True
    intimacy = rng.integers(0, 3, n)
    rows = allowed_rows(catalog, budget=budget, minutes=minutes, home=home,
                        bad_weather=np.isin(weather, list(BAD_WEATHER)), kids=kids, season=season, times=times,
                        intimacy=intimacy)
    for r in range(n):
        ctx = Context(budget=int(budget[r]), minutes=None if np.isnan(minutes[r]) else int(minutes[r]),
                      setting=None if np.isnan(home[r]) else ("home" if home[r] else "out"),
                      weather=str(weather[r]), kids=bool(kids[r]), season=SEASONS[season[r]],
                      day=dt.date(2026, 1, 1),
                      time_of_day=tuple(t for t, on in zip(TIMES_OF_DAY, times[r]) if on),
                      intimacy=("affection", "romantic", "sensual")[intimacy[r]])
        assert (rows[r] == allowed_mask(catalog, ctx)).all(), r


# --------------------------------------------------------------------------- the API


@pytest.fixture
def couple(client):
    body = client.post("/v1/couples", json={"profile": {"kids": False}}).get_json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def test_tonight_api_serves_evening_ideas_by_default_and_the_time_asked_for(client, couple, catalog):
    couple_id, headers = couple
    default = client.get(f"/v1/couples/{couple_id}/tonight?k=10", headers=headers).get_json()
    ideas = [default["suggestion"]["idea_id"]] + [s["idea_id"] for s in default["alternatives"]]
    assert len(ideas) == 10 and all(t & {"evening", "night"} for t in _times(catalog, ideas))
    assert default["context"]["time_of_day"] == ["evening", "night"]
    morning = client.get(f"/v1/couples/{couple_id}/tonight?k=10&time_of_day=morning", headers=headers).get_json()
    ideas = [morning["suggestion"]["idea_id"]] + [s["idea_id"] for s in morning["alternatives"]]
    assert all("morning" in t for t in _times(catalog, ideas))
    bad = client.get(f"/v1/couples/{couple_id}/tonight?time_of_day=noon", headers=headers)
    assert bad.status_code == 400
    assert bad.get_json()["error"]["field"] == "time_of_day"
    assert "time_of_day must be one of morning, afternoon, evening, night" in bad.get_json()["error"]["message"]


# --------------------------------------------------------------------------- the profile's kids and needs


def test_a_stated_profile_adds_kids_and_accessibility_as_hard_constraints(catalog):
    from engine.domain.constraints import BARRIERS, with_profile
    from engine.domain.profiles import Profile

    ctx = parse_context({"day": "2026-06-05"})[0]
    stated = Profile(kids=True, accessibility_needs="wheelchair user")
    assert with_profile(ctx, stated).kids is True
    # the request said no kids tonight: that wins
    assert with_profile(parse_context({"day": "2026-06-05", "kids": "false"})[0], stated).kids is False
    # the couple's intimacy level always comes along (affection: nothing stated)
    assert with_profile(ctx, Profile(interests=("outdoors",))) == replace(ctx, intimacy="affection")
    mask = allowed_mask(catalog, with_profile(ctx, stated))
    notes = catalog.frame["accessibility"].fillna("").str.lower()
    barrier = np.array([any(w in n for w in BARRIERS) for n in notes])
    assert barrier.sum() >= 10 and not (mask & barrier).any()
    assert catalog.frame["kid_friendly"].to_numpy()[mask].all()
    assert (allowed_mask(catalog, ctx) & barrier).any()


def test_tonight_api_applies_the_stated_kids_and_accessibility_needs(client, catalog):
    from engine.domain.constraints import BARRIERS

    body = client.post("/v1/couples", json={"profile": {"kids": True, "accessibility_needs": "no stairs"}}).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    r = client.get(f"/v1/couples/{body['id']}/tonight?k=10", headers=headers).get_json()
    ideas = [r["suggestion"]["idea_id"]] + [s["idea_id"] for s in r["alternatives"]]
    frame = catalog.frame.loc[ideas]
    assert frame["kid_friendly"].all()
    assert not any(any(w in str(n).lower() for w in BARRIERS) for n in frame["accessibility"])
    assert r["context"]["kids"] is True and r["context"]["accessible"] is True
