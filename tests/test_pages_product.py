"""Issue 20 item 6, "the page as a product", through the Flask test client: partner names, editing and
deleting a date, "not for us", plain-word errors, the 404 page, tap targets, browsing and saving ideas."""

from __future__ import annotations

import re

import pytest
from test_pages import _csrf, _field_error, _post, _sign_in

from engine.domain.profiles import NAME_MAX, ProfileError, check_profile


def _store(app):
    return app.extensions["dateideas.store"]


def _sign_up(client, **fields):
    page = client.get("/signup")
    return client.post("/signup", data={"csrf_token": _csrf(page), **fields})


@pytest.fixture
def couple(app):
    return _store(app).create_couple()


@pytest.fixture
def signed_in(client, couple):
    assert _sign_in(client, *couple).status_code == 303
    return client, couple[0]


# ------------------------------------------------------------------ 1. partner names


def test_names_are_checked_like_the_rest_of_the_profile():
    assert check_profile({"name_a": "  Sam  ", "name_b": "Zoë  Ann"}) == {"name_a": "Sam", "name_b": "Zoë Ann"}
    assert check_profile({"name_a": None}) == {}
    for bad in ("", "   ", "x" * (NAME_MAX + 1), "Sam\x00", 7):
        with pytest.raises(ProfileError, match="profile.name_a"):
            check_profile({"name_a": bad})


def test_sign_up_names_are_said_on_every_page_instead_of_partner_a_and_b(client, app):
    done = _sign_up(client, name_a="Sam", name_b="<b>Alex</b>")
    assert done.status_code == 201
    text = done.get_data(as_text=True)
    couple_id = re.search(r'<code id="couple-id">([^<]+)</code>', text).group(1)
    assert _store(app).get_couple(couple_id)["profile"] == {"name_a": "Sam", "name_b": "<b>Alex</b>"}
    assert "Welcome, Sam and &lt;b&gt;Alex&lt;/b&gt;" in text  # escaped, never markup
    idea = app.extensions["dateideas.models"].catalog.frame.index[0]
    _store(app).add_date(couple_id, idea, "2024-05-01", 4, None)
    for path in ("/today", "/we-did-it", "/our-dates", "/invite"):
        page = client.get(path).get_data(as_text=True)
        assert "Sam" in page and "&lt;b&gt;Alex&lt;/b&gt;" in page, path
        assert "<b>Alex" not in page, path
        assert "Partner A" not in page and "partner A" not in page, path
    we_did_it = client.get("/we-did-it").get_data(as_text=True)
    assert "<legend>Sam's rating</legend>" in we_did_it
    bad = _post(client, "/we-did-it", {"idea_id": idea, "rating_a": "9"})
    assert _field_error(bad, "rating_a") == "Choose Sam's rating from 1 to 5, or leave it empty."


def test_without_names_the_pages_say_partner_a_and_b(signed_in):
    client, _ = signed_in
    text = client.get("/our-dates").get_data(as_text=True) + client.get("/today").get_data(as_text=True)
    assert "Partner A" in text and "Partner B" in text


def test_a_too_long_name_is_explained_and_creates_nothing(client, app):
    before = set(_store(app).couple_ids())
    bad = _sign_up(client, name_a="x" * (NAME_MAX + 1), name_b="Alex")
    assert bad.status_code == 400
    assert _field_error(bad, "name_a") == (f"Write a first name of up to {NAME_MAX} characters "
                                           "(letters, spaces and punctuation), or leave it empty.")
    assert 'value="Alex"' in bad.get_data(as_text=True)
    assert set(_store(app).couple_ids()) == before


# ------------------------------------------------------------------ 2. edit or delete a date


def _ideas(app, n: int = 2) -> list[str]:
    return list(app.extensions["dateideas.models"].catalog.frame.index[:n])


def _history_rows(store, couple_id: str):
    import datetime as _dt

    today = _dt.date.today()
    return store.tonight_reads(couple_id, today, today - _dt.timedelta(days=14), "x" * 32).history


def test_editing_a_date_changes_the_stored_row_and_the_history_tonight_reads(signed_in, app):
    client, couple_id = signed_in
    store = _store(app)
    first, second = _ideas(app)
    record, _ = store.add_date(couple_id, first, "2024-05-01", 2, 3, note="oops")
    before = _history_rows(store, couple_id)  # cached under the couple's history stamp
    page = client.get(f"/our-dates/{record['id']}")
    assert page.status_code == 200 and "Change this date" in page.get_data(as_text=True)
    assert f'href="/our-dates/{record["id"]}"' in client.get("/our-dates").get_data(as_text=True)
    done = client.post(f"/our-dates/{record['id']}", data={
        "csrf_token": _csrf(page), "idea_id": second, "done_on": "2024-05-04", "rating_a": "5", "rating_b": "4",
        "note": "it was lovely"})
    assert done.status_code == 303 and done.headers["Location"] == "/our-dates"
    (row,) = store.list_dates(couple_id)
    assert (row["id"], row["idea_id"], row["done_on"], row["rating_a"], row["rating_b"], row["note"]) == (
        record["id"], second, "2024-05-04", 5, 4, "it was lovely")
    assert row["context"]["weekday"] == "saturday"
    after = _history_rows(store, couple_id)
    assert after != before and [r[0] for r in after.rows] == [second] and after.rows[0][2:] == (5.0, 4.0)
    assert "Changed:" in client.get("/our-dates").get_data(as_text=True)


def test_an_edit_is_validated_like_we_did_it_and_changes_nothing_when_wrong(signed_in, app):
    client, couple_id = signed_in
    store = _store(app)
    record, _ = store.add_date(couple_id, _ideas(app)[0], "2024-05-01", 2, None)
    page = client.get(f"/our-dates/{record['id']}")
    bad = client.post(f"/our-dates/{record['id']}", data={
        "csrf_token": _csrf(page), "idea_id": record["idea_id"], "done_on": "2024-05-01", "rating_a": "",
        "rating_b": ""})
    assert bad.status_code == 400
    assert _field_error(bad, "ratings") == "Give at least one rating: 1 to 5 from either of you."
    late = client.post(f"/our-dates/{record['id']}", data={
        "csrf_token": _csrf(page), "idea_id": record["idea_id"], "done_on": "2999-01-01", "rating_a": "3"})
    assert late.status_code == 400 and "Pick a day the date has happened on" in _field_error(late, "done_on")
    assert store.list_dates(couple_id)[0]["rating_a"] == 2
    forged = client.post(f"/our-dates/{record['id']}/delete", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and len(store.list_dates(couple_id)) == 1


def test_deleting_a_date_removes_it_and_another_couple_cannot(app, couple):
    store = _store(app)
    record, _ = store.add_date(couple[0], _ideas(app)[0], "2024-05-01", 4, 4)
    keep, _ = store.add_date(couple[0], _ideas(app)[1], "2024-05-02", 3, None)
    intruder = app.test_client()
    _sign_in(intruder, *store.create_couple())
    for path in (f"/our-dates/{record['id']}", f"/our-dates/{record['id']}/delete"):
        refused = _post(intruder, path, {"idea_id": record["idea_id"], "rating_a": "1"}, from_page="/our-dates")
        assert refused.status_code == 404 and "not one of yours" in refused.get_data(as_text=True)
    assert len(store.list_dates(couple[0])) == 2
    owner = app.test_client()
    _sign_in(owner, *couple)
    done = _post(owner, f"/our-dates/{record['id']}/delete", {}, from_page="/our-dates")
    assert done.status_code == 303
    assert [d["id"] for d in store.list_dates(couple[0])] == [keep["id"]]
    assert [r[0] for r in _history_rows(store, couple[0]).rows] == [keep["idea_id"]]
    assert "Deleted:" in owner.get("/our-dates").get_data(as_text=True)
    again = _post(owner, f"/our-dates/{record['id']}/delete", {}, from_page="/our-dates")
    assert again.status_code == 404


def test_the_api_changes_and_deletes_a_date(app, client):
    store = _store(app)
    couple_id, token = store.create_couple()
    auth = {"Authorization": f"Bearer {token}"}
    record, _ = store.add_date(couple_id, _ideas(app)[0], "2024-05-01", 2, 3)
    url = f"/v1/couples/{couple_id}/dates/{record['id']}"
    changed = client.patch(url, headers=auth, json={"ratings": {"a": 5}, "note": "better than we said"})
    assert changed.status_code == 200
    assert changed.get_json()["ratings"] == {"a": 5, "b": 3} and changed.get_json()["note"] == "better than we said"
    assert store.get_date(couple_id, record["id"])["rating_a"] == 5
    bad = client.patch(url, headers=auth, json={"ratings": {"a": 9}})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "ratings.a"
    partner = store.issue_partner_token(couple_id, "b")
    refused = client.patch(url, headers={"Authorization": f"Bearer {partner}"}, json={"ratings": {"a": 1}})
    assert refused.status_code == 403 and store.get_date(couple_id, record["id"])["rating_a"] == 5
    other_id, other_token = store.create_couple()
    stranger = client.delete(f"/v1/couples/{other_id}/dates/{record['id']}",
                             headers={"Authorization": f"Bearer {other_token}"})
    assert stranger.status_code == 404 and store.get_date(couple_id, record["id"]) is not None
    assert client.delete(url, headers=auth).status_code == 204
    assert store.list_dates(couple_id) == [] and client.delete(url, headers=auth).status_code == 404
    assert client.patch(url, headers=auth, json={"note": "x"}).status_code == 404


# ------------------------------------------------------------------ 3. "not for us"


def _ideas_on(response) -> list[str]:
    return re.findall(r'class="(?:suggestion|alternative) card" data-idea-id="([^"]+)"',
                      response.get_data(as_text=True))


def _mark(client, idea: str, kind: str, *, undo: bool = False, back: str = "tonight", from_page: str = "/tonight"):
    data = {"kind": kind, "back": back, **({"undo": "1"} if undo else {})}
    return _post(client, f"/ideas/{idea}/mark", data, from_page=from_page)


def test_not_for_us_is_never_suggested_again_in_20_requests_and_is_stored(signed_in, app):
    client, couple_id = signed_in
    first = client.get("/tonight")
    main, alternative = _ideas_on(first)[:2]
    assert 'data-mark="not-for-us"' in first.get_data(as_text=True)
    done = _mark(client, main, "not-for-us")
    assert done.status_code == 303 and done.headers["Location"] == "/tonight"
    assert _mark(client, alternative, "not-for-us").status_code == 303
    page = client.get("/tonight")
    assert "We will not suggest" in page.get_data(as_text=True)
    seen = set()
    for i in range(20):
        if i % 2:
            assert _post(client, "/tonight", {"action": "another"}).status_code == 303
        shown = _ideas_on(client.get("/tonight"))
        assert shown and main not in shown and alternative not in shown, i
        seen.update(shown)
    assert len(seen) > 6  # the requests moved on through the catalog, and never met the two
    api = client.get(f"/v1/couples/{couple_id}/tonight",
                     headers={"Authorization": f"Bearer {_store(app).rotate_token(couple_id)}"})
    picked = [api.get_json()["suggestion"]["idea_id"]] + [a["idea_id"] for a in api.get_json()["alternatives"]]
    assert main not in picked and alternative not in picked
    frame = _store(app).dismissals_frame()  # a negative signal training can read
    assert sorted(frame[frame["couple_id"] == couple_id]["idea_id"]) == sorted([main, alternative])


def test_not_for_us_is_listed_and_undone(signed_in, app):
    client, couple_id = signed_in
    main = _ideas_on(client.get("/tonight"))[0]
    _mark(client, main, "not-for-us")
    assert main not in _ideas_on(client.get("/tonight"))
    listed = client.get("/saved").get_data(as_text=True)
    assert re.search(rf'data-idea-id="{main}" data-list="not-for-us"', listed)
    undone = _mark(client, main, "not-for-us", undo=True, back="saved", from_page="/saved")
    assert undone.status_code == 303 and undone.headers["Location"] == "/saved"
    assert "can be suggested again" in client.get("/saved").get_data(as_text=True)
    assert _ideas_on(client.get("/tonight"))[0] == main  # the same request as before: the same first idea
    assert _store(app).marked_ideas(couple_id, "not-for-us") == []
    assert _mark(client, "no-such-idea", "not-for-us").status_code == 404
    assert _mark(client, main, "meh").status_code == 400
    forged = client.post(f"/ideas/{main}/mark", data={"csrf_token": "forged", "kind": "not-for-us"})
    assert forged.status_code == 400 and _store(app).marked_ideas(couple_id, "not-for-us") == []


# ------------------------------------------------------------------ 4. words, 404, footer, tap targets


def test_no_model_version_on_the_page(signed_in, app):
    client, _ = signed_in
    text = client.get("/tonight").get_data(as_text=True)
    version = app.extensions["dateideas.models"].get().version
    assert "Model " not in text and version not in text


def test_errors_are_plain_words_and_a_missing_date_is_the_sites_404_page(signed_in):
    client, _ = signed_in
    when = _post(client, "/tonight", {"time_of_day": "midnight"})
    assert when.status_code == 400
    assert _field_error(when, "time_of_day") == "Pick when from the list: morning, afternoon, evening or night."
    minutes = _post(client, "/tonight", {"minutes": "5"})
    assert _field_error(minutes, "minutes") == "Pick between 15 minutes and a day."
    missing = client.get("/our-dates/987654321")
    text = missing.get_data(as_text=True)
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert 'href="/static/pages.css' in text and "not one of yours" in text
    wrong_method = client.delete("/our-dates", headers={"Accept": "text/html,*/*;q=0.8"})
    assert wrong_method.status_code == 405 and "cannot be opened that way" in wrong_method.get_data(as_text=True)


def test_tap_targets_are_at_least_44_px(app):
    from pathlib import Path

    css = (Path(app.root_path) / "static" / "pages.css").read_text()
    rule = re.search(r"\nbutton, \.button, input:not\(\[type=radio\]\):not\(\[type=checkbox\]\), select, textarea "
                     r"\{([^}]*)\}", css)
    assert rule and "min-height: 44px" in rule.group(1) and "min-width: 44px" in rule.group(1)
    nav = re.search(r"\nnav a \{([^}]*)\}", css)
    assert nav and "min-height: 44px" in nav.group(1)
    assert "min-height: 0" not in css  # nothing opts out
    assert re.search(r"label\.choice \{[^}]*min-height: 44px", css)


# ------------------------------------------------------------------ 5. browse and save ideas


def test_browsing_searches_titles_and_descriptions_and_never_lists_above_the_intimacy_level(app, client):
    store = _store(app)
    frame = app.extensions["dateideas.models"].catalog.frame
    sensual = frame.index[frame["intimacy"] == "sensual"][0]
    couple = store.create_couple()
    _sign_in(client, *couple)
    everything = client.get("/ideas").get_data(as_text=True)
    allowed = int((frame["intimacy"] == "affection").sum())
    assert f"{allowed} ideas" in everything
    listed = re.findall(r'<li class="card" data-idea-id="([^"]+)"', everything)
    assert listed and set(frame.loc[listed, "intimacy"]) == {"affection"}
    by_title = client.get("/ideas", query_string={"q": frame.at[sensual, "title"]}).get_data(as_text=True)
    assert f'data-idea-id="{sensual}"' not in by_title
    found = re.findall(r'<li class="card" data-idea-id="([^"]+)"', client.get("/ideas?q=FILM").get_data(as_text=True))
    text = (frame["title"] + " " + frame["description"]).str.lower()
    expected = set(frame.index[text.str.contains("film") & (frame["intimacy"] == "affection")])
    assert found and set(found) == expected
    store.update_profile(couple[0], {"intimacy": "sensual"})
    opened = client.get("/ideas", query_string={"q": frame.at[sensual, "title"]}).get_data(as_text=True)
    assert f'data-idea-id="{sensual}"' in opened
    assert "&lt;script&gt;" in client.get("/ideas?q=<script>").get_data(as_text=True)
    saved = _post(client, f"/ideas/{sensual}/mark", {"kind": "saved", "back": "saved"}, from_page="/ideas")
    assert saved.status_code == 303 and f'data-idea-id="{sensual}"' in client.get("/saved").get_data(as_text=True)
    store.update_profile(couple[0], {"intimacy": None})  # back to affection only: no longer listed, nor savable
    assert f'data-idea-id="{sensual}"' not in client.get("/saved").get_data(as_text=True)
    store.unmark_idea(couple[0], sensual, "saved")
    refused = _post(client, f"/ideas/{sensual}/mark", {"kind": "saved"}, from_page="/ideas")
    assert refused.status_code == 404 and store.marked_ideas(couple[0], "saved") == []


def test_save_for_later_unsave_and_the_saved_list(signed_in, app):
    client, couple_id = signed_in
    page = client.get("/ideas?q=picnic").get_data(as_text=True)
    idea = re.findall(r'<li class="card" data-idea-id="([^"]+)"', page)[0]
    saved = _post(client, f"/ideas/{idea}/mark", {"kind": "saved", "back": "ideas", "q": "picnic"}, from_page="/ideas")
    assert saved.status_code == 303 and saved.headers["Location"] == "/ideas?q=picnic"
    assert re.search(rf'data-idea-id="{idea}" data-list="saved"', client.get("/saved").get_data(as_text=True))
    assert 'data-mark="saved-undo"' in client.get("/ideas?q=picnic").get_data(as_text=True)
    assert [m["idea_id"] for m in _store(app).marked_ideas(couple_id, "saved")] == [idea]
    _post(client, f"/ideas/{idea}/mark", {"kind": "saved", "undo": "1", "back": "saved"}, from_page="/saved")
    assert _store(app).marked_ideas(couple_id, "saved") == []
    assert "Nothing saved yet" in client.get("/saved").get_data(as_text=True)


def test_we_did_it_takes_an_idea_from_a_searchable_list_by_id_or_title(signed_in, app):
    client, couple_id = signed_in
    frame = app.extensions["dateideas.models"].catalog.frame
    idea = frame.index[frame["intimacy"] == "affection"][3]
    page = client.get("/we-did-it").get_data(as_text=True)
    assert "<select" not in page.split('id="idea_id"')[0][-200:] and '<datalist id="idea-choices">' in page
    assert f'<option value="{idea}" label="{frame.at[idea, "title"]}' in page
    data = {"csrf_token": _csrf(client.get("/we-did-it")), "idea_id": frame.at[idea, "title"].upper(),
            "rating_a": "4"}
    assert client.post("/we-did-it", data=data).status_code == 303
    assert [d["idea_id"] for d in _store(app).list_dates(couple_id)] == [idea]


def test_a_partner_changes_only_their_own_rating_of_a_date(app):
    store = _store(app)
    couple_id, _ = store.create_couple(profile={"name_a": "Sam", "name_b": "Alex"})
    record, _ = store.add_date(couple_id, _ideas(app)[0], "2024-05-01", 2, 3)
    b = app.test_client()
    assert _sign_in(b, couple_id, store.issue_partner_token(couple_id, "b")).status_code == 303
    page = b.get(f"/our-dates/{record['id']}")
    assert 'name="rating_a"' not in page.get_data(as_text=True)
    done = b.post(f"/our-dates/{record['id']}", data={"csrf_token": _csrf(page), "idea_id": record["idea_id"],
                                                       "done_on": "2024-05-01", "rating_a": "5", "rating_b": "1"})
    assert done.status_code == 303
    assert (store.get_date(couple_id, record["id"])["rating_a"], store.get_date(couple_id, record["id"])["rating_b"]) \
        == (2, 1)
