"""Daily appreciation: one nudge per partner per day, stable within the day, new each day, a kind streak."""

from __future__ import annotations

import datetime as _dt
import re

import pytest

from engine.domain.catalog import CatalogError, load_catalog
from engine.practice.today import (
    NO_REPEAT_DAYS,
    Nudge,
    check_nudges,
    load_nudges,
    mark_done,
    pick_nudge,
    streak,
    today_for,
)

_DAY = _dt.date(2026, 3, 2)


def test_the_shipped_nudges_are_valid():
    count, problems = check_nudges()
    assert problems == [] and count == len(load_nudges()) >= 30


def test_a_bad_nudge_row_is_named(tmp_path):
    (tmp_path / "nudges.csv").write_text(
        "id,text,kind,needs\n"
        "ok,Thank {partner}.,appreciation,\n"
        "ok,Again.,gesture,\n"
        "date-no-need,Remember {date}.,appreciation,\n"
        "odd,Hi {name}.,hug,\n", encoding="utf-8")
    count, problems = check_nudges(tmp_path)
    where = tmp_path / "nudges.csv"
    assert count == 4
    assert [str(p) for p in problems] == [
        f"{where}:3: id: duplicate id 'ok' (first on line 2)",
        f"{where}:4: needs: a text with {{date}} needs recent_date",
        f"{where}:5: kind: kind must be one of appreciation, gesture, got 'hug'",
        f"{where}:5: text: unknown placeholder {{name}}; allowed: {{partner}}, {{date}}",
    ]
    with pytest.raises(CatalogError, match="duplicate id 'ok'"):
        load_nudges(tmp_path)


def test_pick_is_seeded_per_couple_partner_and_day():
    nudges = load_nudges()
    assert pick_nudge(nudges, "c1", "a", _DAY) == pick_nudge(nudges, "c1", "a", _DAY)
    days = [pick_nudge(nudges, "c1", "a", _DAY + _dt.timedelta(days=n)).id for n in range(30)]
    assert len(set(days)) > 10
    only = (Nudge("x", "x", "gesture"), Nudge("y", "y", "gesture"))
    assert pick_nudge(only, "c1", "a", _DAY, avoid={"x"}).id == "y"
    assert pick_nudge(only, "c1", "a", _DAY, avoid={"x", "y"}).id in {"x", "y"}  # nothing else left
    assert all(pick_nudge(nudges, "c1", "a", _DAY + _dt.timedelta(days=n)).needs == "" for n in range(60))


def test_today_is_stable_within_a_day_and_different_every_day(store):
    catalog = load_catalog()
    couple, _ = store.create_couple()
    seen: dict[str, list[str]] = {"a": [], "b": []}
    for n in range(2 * NO_REPEAT_DAYS):
        day = _DAY + _dt.timedelta(days=n)
        first = today_for(store, couple, day, catalog=catalog)
        if n == 3:  # a date done in the middle of the day does not change today's nudges
            store.add_date(couple, catalog.ids[0], day, 5, 4)
        assert today_for(store, couple, day, catalog=catalog) == first
        assert first["day"] == day.isoformat()
        a, b = first["partners"]["a"], first["partners"]["b"]
        assert a["id"] != b["id"] and a["text"] and b["text"]
        seen["a"].append(a["id"])
        seen["b"].append(b["id"])
    for ids in seen.values():
        for n in range(1, len(ids)):
            assert ids[n] not in ids[max(0, n - NO_REPEAT_DAYS):n]  # not within the last two weeks
            assert ids[n] != seen["a"][n - 1] and ids[n] != seen["b"][n - 1]  # nor yesterday's


def test_a_recent_date_is_named(store):
    catalog = load_catalog()
    couple, _ = store.create_couple()
    idea = catalog.ids[1]
    store.add_date(couple, idea, _DAY - _dt.timedelta(days=3), 5, 5)
    about_dates = tuple(n for n in load_nudges() if n.needs == "recent_date")
    today = today_for(store, couple, _DAY, nudges=about_dates, catalog=catalog)
    title = catalog.frame.at[idea, "title"]
    assert all(f"“{title}”" in p["text"] and "your partner" in p["text"].lower()
               for p in today["partners"].values())


def test_streak_counts_days_in_a_row_and_never_mentions_a_gap():
    def rows(days):
        return [{"day": (_DAY - _dt.timedelta(days=d)).isoformat(), "partner": "a", "done_at": "x"} for d in days]

    assert streak(rows([0, 1, 2]), "a", _DAY) == {"days": 3, "total": 3, "text": "Done today. 3 days in a row."}
    assert streak(rows([1, 2]), "a", _DAY) == {
        "days": 2, "total": 2, "text": "2 days in a row so far; today's is here whenever it fits."}
    after_gap = streak(rows([3, 4, 9]), "a", _DAY)
    assert after_gap == {"days": 0, "total": 3,
                         "text": "3 kind things done lately. Today's is here whenever it fits."}
    assert streak([], "a", _DAY)["text"] == "A small one for today, whenever it fits."
    assert streak(rows([0, 1]), "b", _DAY)["days"] == 0  # partner a's days are a's
    for case in (rows([3, 4, 9]), rows([1]), [], rows([0, 5])):
        text = streak(case, "a", _DAY)["text"].lower()
        assert not re.search(r"miss|broke|lost|again|behind|forgot", text), text


def test_marking_done_is_once_per_partner_and_day(store):
    couple, _ = store.create_couple()
    for n in range(3):
        day = _DAY + _dt.timedelta(days=n)
        after = mark_done(store, couple, "a", day)
        assert after["partners"]["a"]["done"] and not after["partners"]["b"]["done"]
    again = mark_done(store, couple, "a", day)
    assert again["partners"]["a"]["streak"]["days"] == 3 and again["partners"]["a"]["streak"]["total"] == 3
    with pytest.raises(ValueError, match="partner must be a or b, got 'c'"):
        mark_done(store, couple, "c", day)


# ------------------------------------------------------------------ the API and the page


@pytest.fixture
def couple(client):
    body = client.post("/v1/couples", json={}).get_json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def test_today_api_shows_and_marks(client, couple):
    couple_id, auth = couple
    today = client.get(f"/v1/couples/{couple_id}/today", headers=auth)
    assert today.status_code == 200
    body = today.get_json()
    assert body["day"] == _dt.date.today().isoformat() and set(body["partners"]) == {"a", "b"}
    assert all(p["text"] and p["done"] is False for p in body["partners"].values())
    done = client.post(f"/v1/couples/{couple_id}/today", json={"partner": "b"}, headers=auth).get_json()
    assert done["partners"]["b"]["done"] and done["partners"]["b"]["streak"]["days"] == 1
    assert done["partners"]["a"]["text"] == body["partners"]["a"]["text"]
    bad = client.post(f"/v1/couples/{couple_id}/today", json={"partner": "c"}, headers=auth)
    assert bad.status_code == 400 and bad.get_json()["error"] == {
        "code": "bad_request", "field": "partner", "message": "partner must be \"a\" or \"b\", got 'c'"}
    assert client.get(f"/v1/couples/{couple_id}/today").status_code == 404  # no token


def test_today_page_shows_both_partners_and_a_done_button(client, app):
    store = app.extensions["dateideas.store"]
    couple_id, token = store.create_couple()
    signin = client.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', signin.get_data(as_text=True)).group(1)
    client.post("/signin", data={"csrf_token": csrf, "couple_id": couple_id, "token": token})
    page = client.get("/today")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and text.count('class="nudge card"') == 2
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    assert client.post("/today", data={"csrf_token": csrf, "partner": "a"}).status_code == 303
    after = client.get("/today").get_data(as_text=True)
    assert "Done today. Nice one." in after and after.count('name="partner"') == 1
    assert client.post("/today", data={"csrf_token": csrf, "partner": "z"}).status_code == 400
