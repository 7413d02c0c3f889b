"""Questions that deepen: the prompt catalog, depth, the one choice per suggestion, storage, API, page."""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
import threading

import pytest
from click.testing import CliRunner

from engine.app.recommender import Suggestion
from engine.cli import main
from engine.domain.catalog import CatalogError, default_catalog_dir, load_catalog
from engine.practice.prompt_catalog import PILLARS, check_prompts, default_prompts, load_prompts
from engine.practice.prompt_choice import NO_REPEAT_DAYS, choose_prompts
from engine.practice.prompt_depth import STEP, STEP_BACK, couple_depth
from engine.practice.prompts import attach_prompts, mark_prompt
from engine.store import UnknownCoupleError, ValidationError

_DAY = _dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def ideas():
    return load_catalog()


@pytest.fixture(scope="module")
def prompts():
    return load_prompts()


def _suggestions(idea_ids):
    return [Suggestion(idea_id=i, title=i, rank=r + 1, score=0.0, enjoyment=0.5, routine_distance=0.5)
            for r, i in enumerate(idea_ids)]


# ------------------------------------------------------------------ the catalog


def test_the_shipped_catalog_has_over_200_prompts_at_every_depth_and_pillar():
    report = check_prompts()
    assert report.errors == []
    assert report.prompts >= 200
    assert sum(report.by_depth.values()) == report.prompts and min(report.by_depth.values()) >= 50
    assert set(report.by_pillar) == set(PILLARS) and min(report.by_pillar.values()) >= 50


def test_catalog_check_json_adds_prompts_by_depth_and_by_pillar():
    result = CliRunner().invoke(main, ["catalog", "check", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["prompts"] == len(load_prompts()) >= 200
    assert sum(body["by_depth"].values()) == body["prompts"]
    assert sum(body["prompts_by_pillar"].values()) == body["prompts"]
    assert body["nudges"] >= 30 and body["errors"] == []


def _catalog_with_prompts(tmp_path, rows: str):
    folder = tmp_path / "cat"
    folder.mkdir()
    for name in ("ideas.csv", "schema.json"):
        shutil.copy(default_catalog_dir() / name, folder / name)
    (folder / "prompts.csv").write_text("id,text,depth,pillar,tags\n" + rows, encoding="utf-8")
    return folder


def test_catalog_check_names_every_bad_prompt_row(tmp_path):
    folder = _catalog_with_prompts(tmp_path, (
        "ok-1,What made you smile today?,1,appreciation,talk\n"
        "deep-4,Too deep?,4,vulnerability,talk\n"
        "ok-1,Another one?,2,novelty,talk\n"
        "bad-pillar,Who?,2,romance,talk\n"
        "Bad Id,,1,novelty,Two Words\n"
        "what-made,What made you smile today?,2,novelty,talk\n"
    ))
    result = CliRunner().invoke(main, ["catalog", "check", str(folder)])
    assert result.exit_code == 1
    out = result.output
    where = str(folder / "prompts.csv")
    assert f"{where}:3: depth: depth must be 1 (light), 2 or 3 (deep), got '4'" in out
    assert f"{where}:4: id: duplicate id 'ok-1' (first on line 2)" in out
    assert f"{where}:5: pillar: pillar must be one of vulnerability, appreciation, physical-intimacy, novelty, " \
           "got 'romance'" in out
    assert f"{where}:6: id: id must be 1-64 lowercase letters, digits and hyphens, got 'Bad Id'" in out
    assert f"{where}:6: text: empty text" in out
    assert f"{where}:6: tags: tags are lowercase words joined by '|', got 'Two Words'" in out
    assert f"{where}:7: text: the same text as line 2" in out
    body = json.loads(CliRunner().invoke(main, ["catalog", "check", str(folder), "--json"]).output)
    assert body["prompts"] == 6 and body["by_depth"] == {"1": 1, "2": 0, "3": 0}
    with pytest.raises(CatalogError, match="prompts.csv:3: depth: depth must be 1"):
        load_prompts(folder)


def test_a_wrong_header_is_named(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "prompts.csv").write_text("id,question,depth\nx,y,1\n", encoding="utf-8")
    report = check_prompts(folder)
    assert [str(p) for p in report.errors] == [
        f"{folder / 'prompts.csv'}:1: the header must be id,text,depth,pillar,tags, got id,question,depth"]


# ------------------------------------------------------------------ depth


def test_depth_moves_up_after_talked_about_prompts():
    assert couple_depth([]) == 1
    assert couple_depth([(1, "talked")] * (STEP - 1)) == 1
    assert couple_depth([(1, "talked")] * STEP) == 2
    assert couple_depth([(1, "talked")] * STEP + [(2, "talked")] * STEP) == 3
    assert couple_depth([(1, "talked")] * 20) == 2  # lighter prompts than the depth reached count for nothing
    assert couple_depth([(1, "talked")] * STEP + [(2, "talked")] * 10) == 3  # 3 is the deepest


def test_depth_stays_lighter_after_skips():
    assert couple_depth([(1, "skipped")] * 10) == 1
    # two talked, a skip: the count starts again, so two more talked do not go deeper
    assert couple_depth([(1, "talked"), (1, "talked"), (1, "skipped"), (1, "talked"), (1, "talked")]) == 1
    at_two = [(1, "talked")] * STEP
    assert couple_depth(at_two + [(2, "skipped")]) == 2
    assert couple_depth(at_two + [(2, "skipped")] * STEP_BACK) == 1  # skipping deep ones: lighter again


# ------------------------------------------------------------------ choosing


def test_a_prompt_fits_the_idea_and_the_depth(ideas, prompts):
    idea = ideas.idea("square-dancing-beginners-night")  # physical-intimacy|novelty, dance
    chosen, rows = choose_prompts(prompts, {idea["id"]: idea}, "c1", _DAY)
    prompt = chosen[idea["id"]]
    assert prompt.depth == 1 and prompt.pillar in idea["pillars"]
    assert {"dance", "music"} & set(prompt.tags)
    assert rows == [{"couple_id": "c1", "prompt_id": prompt.id, "idea_id": idea["id"], "depth": 1,
                     "served_on": _DAY}]
    deep = [{"prompt_id": "x", "idea_id": "y", "depth": d, "served_on": "2020-01-01", "status": "talked",
             "marked_at": f"2020-01-01T00:00:0{i}Z"} for i, d in enumerate([1, 1, 1, 2, 2, 2])]
    chosen, _ = choose_prompts(prompts, {idea["id"]: idea}, "c1", _DAY, deep)
    assert chosen[idea["id"]].depth == 3 and chosen[idea["id"]].pillar in idea["pillars"]


def test_the_same_day_and_idea_keeps_its_prompt(ideas, prompts):
    some = {i: ideas.idea(i) for i in ideas.ids[:3]}
    chosen, rows = choose_prompts(prompts, some, "c1", _DAY)
    history = [dict(r, served_on=r["served_on"].isoformat(), status=None, marked_at=None) for r in rows]
    again, new = choose_prompts(prompts, some, "c1", _DAY, history)
    assert again == chosen and new == []
    assert len({p.id for p in chosen.values()}) == 3  # three ideas, three prompts


# ------------------------------------------------------------------ stored: one transaction per new prompt


@pytest.mark.slow
def test_no_prompt_repeats_within_12_weeks_over_a_season_of_requests(store, ideas, prompts):
    couple, _ = store.create_couple()
    ids = list(ideas.ids)
    shown: list[tuple[_dt.date, str]] = []
    for n in range(150):
        day = _DAY + _dt.timedelta(days=n)
        picks = _suggestions([ids[(7 * n + j) % len(ids)] for j in range(3)])
        attach_prompts(store, couple, picks, day, ideas, prompts=prompts)
        again = _suggestions([s.idea_id for s in picks])
        attach_prompts(store, couple, again, day, ideas, prompts=prompts)  # the same request again
        assert [s.prompt for s in again] == [s.prompt for s in picks]
        if n % 10 == 0 and picks[0].prompt:
            mark_prompt(store, couple, picks[0].prompt["id"], "talked")
        shown += [(day, s.prompt["id"]) for s in picks if s.prompt]
    last: dict[str, _dt.date] = {}
    for day, prompt_id in shown:
        if prompt_id in last:
            assert (day - last[prompt_id]).days >= NO_REPEAT_DAYS, prompt_id
        last[prompt_id] = day
    assert len(shown) > 200  # most suggestions got one
    assert len(set(p for _, p in shown)) < len(shown)  # ... and prompts came back after 12 weeks


def test_marking_takes_the_couple_deeper_and_skips_keep_it_light(store, ideas, prompts):
    couple, _ = store.create_couple()
    skipper, _ = store.create_couple()
    ids = list(ideas.ids)
    for n in range(STEP):
        for who, status in ((couple, "talked"), (skipper, "skipped")):
            picks = _suggestions([ids[n]])
            attach_prompts(store, who, picks, _DAY + _dt.timedelta(days=n), ideas, prompts=prompts)
            assert picks[0].prompt["depth"] == 1
            state = mark_prompt(store, who, picks[0].prompt["id"], status)
    assert state == {"prompt_id": picks[0].prompt["id"], "status": "skipped", "depth": 1, "talked": 0,
                     "skipped": STEP}
    later = _DAY + _dt.timedelta(days=STEP)
    deeper, lighter = _suggestions(ids[10:13]), _suggestions(ids[10:13])
    attach_prompts(store, couple, deeper, later, ideas, prompts=prompts)
    attach_prompts(store, skipper, lighter, later, ideas, prompts=prompts)
    assert [s.prompt["depth"] for s in deeper] == [2, 2, 2]
    assert [s.prompt["depth"] for s in lighter] == [1, 1, 1]


def test_concurrent_requests_never_share_a_prompt(store, ideas, prompts):
    couple, _ = store.create_couple()
    ids = list(ideas.ids)
    out: list[list[Suggestion]] = [_suggestions(ids[3 * t:3 * t + 3]) for t in range(4)]
    threads = [threading.Thread(target=attach_prompts, args=(store, couple, picks, _DAY, ideas),
                                kwargs={"prompts": prompts}) for picks in out]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    given = [s.prompt["id"] for picks in out for s in picks]
    assert len(given) == 12 and len(set(given)) == 12
    assert len(store.prompt_history([couple], _DAY - _dt.timedelta(days=1))[couple]) == 12


def test_prompt_rows_go_with_the_couple(store, ideas, prompts):
    couple, _ = store.create_couple()
    attach_prompts(store, couple, _suggestions(["picnic"] if "picnic" in ideas else list(ideas.ids[:1])),
                   _DAY, ideas, prompts=prompts)
    assert store.prompt_history([couple], _DAY - _dt.timedelta(days=1))
    store.delete_couple(couple)
    assert store.prompt_history([couple], _DAY - _dt.timedelta(days=1)) == {}


# ------------------------------------------------------------------ the API and the page


@pytest.fixture
def couple(client):
    body = client.post("/v1/couples", json={"profile": {"kids": False}}).get_json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def test_tonight_carries_a_prompt_per_idea_and_marking_one_goes_deeper(client, couple):
    couple_id, auth = couple
    first = client.get(f"/v1/couples/{couple_id}/tonight", headers=auth).get_json()
    picks = [first["suggestion"], *first["alternatives"]]
    assert all(set(p["prompt"]) == {"id", "text", "depth", "pillar"} and p["prompt"]["depth"] == 1 for p in picks)
    assert len({p["prompt"]["id"] for p in picks}) == len(picks)
    assert client.get(f"/v1/couples/{couple_id}/tonight", headers=auth).get_json() == first
    assert client.get(f"/v1/couples/{couple_id}/prompts", headers=auth).get_json() == \
        {"depth": 1, "talked": 0, "skipped": 0}
    for pick in picks[:STEP]:
        response = client.post(f"/v1/couples/{couple_id}/prompts/{pick['prompt']['id']}",
                               json={"status": "talked"}, headers=auth)
        assert response.status_code == 200
    assert response.get_json()["depth"] == 2 and response.get_json()["talked"] == STEP


@pytest.mark.parametrize("path, body, status, message", [
    ("nope", {"status": "talked"}, 404, "prompt 'nope' was never shown to this couple"),
    (None, {"status": "maybe"}, 400, "status must be one of talked, skipped, got 'maybe'"),
    (None, {"status": "talked", "extra": 1}, 400, "unknown field 'extra'"),
])
def test_marking_errors_say_what_is_allowed(client, couple, path, body, status, message):
    couple_id, auth = couple
    tonight = client.get(f"/v1/couples/{couple_id}/tonight", headers=auth).get_json()
    prompt_id = path or tonight["suggestion"]["prompt"]["id"]
    response = client.post(f"/v1/couples/{couple_id}/prompts/{prompt_id}", json=body, headers=auth)
    assert response.status_code == status
    assert message in response.get_json()["error"]["message"]


def test_the_page_shows_the_prompt_and_its_buttons_mark_it(client, app):
    store = app.extensions["dateideas.store"]
    couple_id, token = store.create_couple()
    signin = client.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', signin.get_data(as_text=True)).group(1)
    client.post("/signin", data={"csrf_token": csrf, "couple_id": couple_id, "token": token})
    page = client.get("/tonight").get_data(as_text=True)
    prompt_id = re.search(r'<div class="prompt" data-prompt-id="([^"]+)" data-depth="1"', page).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert "We talked about it" in page
    response = client.post(f"/prompts/{prompt_id}", data={"csrf_token": csrf, "status": "talked"})
    assert response.status_code == 303
    [row] = [r for r in store.prompt_history([couple_id], _dt.date(2000, 1, 1))[couple_id]
             if r["prompt_id"] == prompt_id]
    assert row["status"] == "talked"
    assert "go a little deeper" in client.get("/tonight").get_data(as_text=True)
    assert client.post("/prompts/nope", data={"csrf_token": csrf, "status": "talked"}).status_code == 404


def test_the_default_prompt_catalog_is_the_shipped_one():
    assert len(default_prompts()) == len(load_prompts()) and default_prompts() is default_prompts()


def test_the_newsletter_waits_for_a_tonight_request_choosing_prompts_and_never_duplicates_one(store):
    """Tonight's request locks its couple while it chooses; the newsletter recording a prompt for the same
    couple, day and idea meanwhile waits for it, then leaves tonight's row as it is (before, on PostgreSQL it
    wrote its own row in between and tonight's insert failed on the unique key: a 500)."""
    couple, _ = store.create_couple()
    row = {"couple_id": couple, "prompt_id": "vu1-01", "idea_id": "picnic", "depth": 1, "served_on": _DAY}
    recorded: list[int] = []
    newsletter = threading.Thread(target=lambda: recorded.append(store.record_prompts([dict(row)])))

    def choose(rows):
        newsletter.start()
        newsletter.join(timeout=1.0)  # the newsletter must not get through while this couple is locked
        assert recorded == [], "the newsletter wrote its prompts while tonight's request held the couple"
        return "chosen", [dict(row, prompt_id="vu1-02")]

    assert store.assign_prompts(couple, _DAY - _dt.timedelta(days=1), choose) == "chosen"
    newsletter.join(timeout=30)
    assert recorded == [0]  # it found tonight's row and left it
    [kept] = store.prompt_history([couple], _DAY - _dt.timedelta(days=1))[couple]
    assert (kept["prompt_id"], kept["idea_id"]) == ("vu1-02", "picnic")


def test_record_served_refuses_a_bad_log_row_or_a_gone_couple_before_writing_anything(store):
    couple, _ = store.create_couple(couple_id="c1")
    store.create_couple(couple_id="c2")
    since = _DAY - _dt.timedelta(days=1)
    chosen = []

    def choose(rows):  # one new prompt, as tonight's choice would give
        chosen.append(rows)
        return "chosen", [{"couple_id": couple, "prompt_id": "vu1-01", "idea_id": "picnic", "depth": 1,
                           "served_on": _DAY}]

    good = {"couple_id": couple, "idea_id": "picnic", "rank": 1, "served_on": _DAY}
    with pytest.raises(ValidationError, match=r"rows\[1\]\.couple_id: must be 'c1', the couple whose prompts"):
        store.record_served(couple, since, choose, [good, dict(good, couple_id="c2")])
    with pytest.raises(ValidationError, match=r"rows\[0\]\.rank: is required"):
        store.record_served(couple, since, choose, [{"couple_id": couple, "idea_id": "picnic"}])
    with pytest.raises(UnknownCoupleError, match="no couple with id 'gone'"):
        store.record_served("gone", since, choose, [])
    assert chosen == [] and store.prompt_history([couple], since) == {} and store.recent_suggestions(couple) == []
    # no prompt to store: the log rows alone (log_suggestions: a row of a couple erased meanwhile is skipped)
    assert store.record_served(couple, since, None, [good, dict(good, couple_id="gone")]) == (None, 1)
    assert store.record_served(couple, since, None, []) == (None, 0)
    assert store.record_served(couple, since, choose, [dict(good, rank=2)]) == ("chosen", 1)
    assert chosen == [[]]  # chosen from the couple's stored rows: none yet
    assert [(s["idea_id"], s["rank"]) for s in store.recent_suggestions(couple)] == [("picnic", 1), ("picnic", 2)]
    assert [p["prompt_id"] for p in store.prompt_history([couple], since)[couple]] == ["vu1-01"]


def test_an_ideas_fit_is_read_for_the_ideas_asked_about_and_the_memo_is_bounded(monkeypatch):
    """The prompt fit of an idea (its pillars; its tags and category words), computed for the ideas a
    request names rather than as a table of the whole catalog (~40 MiB at 50,000 ideas)."""
    from engine.practice import prompts as module

    catalog = load_catalog()
    got = module._ideas(catalog, ["care-package-evening", "no-such-idea"])
    assert got["no-such-idea"] == {}
    pillars, words = got["care-package-evening"]["fit"]
    assert pillars == frozenset({"appreciation"})
    assert {"giving", "back", "volunteer", "kindness", "winter"} <= words
    monkeypatch.setattr(module, "_FITS_KEPT", 3)
    fields = module._fields_of(catalog)
    for idea_id in catalog.ids[:10]:
        module._ideas(catalog, [idea_id])
        assert len(fields.fits) <= 3
    assert module._ideas(catalog, ["care-package-evening"])["care-package-evening"]["fit"] == (pillars, words)
