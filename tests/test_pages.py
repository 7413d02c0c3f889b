"""The couples' web pages through the Flask test client: sign in/out, CSRF, cookies, Tonight, We did it, Our dates."""

from __future__ import annotations

import datetime as _dt
import html
import re

import pytest

from service import create_app

# ------------------------------------------------------------------ helpers


def _csrf(response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert found, "no CSRF field in the page"
    return found.group(1)


def _field_error(response, name: str) -> str | None:
    """The error text shown next to field ``name`` (``<p class="error" id="NAME-error">``), or None."""
    found = re.search(rf'<p class="error" id="{name}-error">([^<]*)</p>', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def _described_by_error(response, name: str) -> bool:
    """The control ``id=NAME`` (or its radio group ``id=NAME-group``) is marked invalid and points at its error."""
    text = response.get_data(as_text=True)
    tag = (re.search(rf'<fieldset[^>]*\bid="{name}-group"[^>]*>', text)
           or re.search(rf'<(?:input|select|textarea)[^>]*\bid="{name}"[^>]*>', text, re.S))
    if tag is None or 'aria-invalid="true"' not in tag.group(0):
        return False
    described = re.search(r'aria-describedby="([^"]*)"', tag.group(0))
    return described is not None and f"{name}-error" in described.group(1).split()


def _main_idea(response) -> tuple[str, str]:
    found = re.search(r'<article class="suggestion card" data-idea-id="([^"]+)" data-setting="([^"]+)"',
                      response.get_data(as_text=True))
    assert found, "no suggestion on the page"
    return found.group(1), found.group(2)


def _all_ideas(response) -> list[tuple[str, str]]:
    return re.findall(r'class="(?:suggestion|alternative) card" data-idea-id="([^"]+)" data-setting="([^"]+)"',
                      response.get_data(as_text=True))


@pytest.fixture
def couple(app):
    """A fresh couple: (id, token)."""
    return app.extensions["dateideas.store"].create_couple()


def _sign_in(client, couple_id: str, token: str):
    page = client.get("/signin")
    return client.post("/signin", data={"csrf_token": _csrf(page), "couple_id": couple_id, "token": token})


@pytest.fixture
def signed_in(client, couple):
    """The client, signed in as ``couple``; returns (client, couple id)."""
    assert _sign_in(client, *couple).status_code == 303
    return client, couple[0]


def _post(client, path: str, data: dict, from_page: str | None = None):
    """POST a form with the CSRF token of the page it is on."""
    token = _csrf(client.get(from_page or path))
    return client.post(path, data={"csrf_token": token, **data})


# ------------------------------------------------------------------ sign in and out


def test_pages_need_sign_in(client):
    for path in ("/tonight", "/we-did-it", "/our-dates"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert client.get("/").headers["Location"] == "/signin"


def test_sign_in_sets_an_httponly_samesite_session_cookie(client, couple):
    response = _sign_in(client, *couple)
    assert response.status_code == 303 and response.headers["Location"] == "/tonight"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").headers["Location"] == "/tonight"
    assert client.get("/tonight").status_code == 200


def test_sign_in_errors_are_next_to_the_fields(client, couple):
    couple_id, token = couple
    page = client.get("/signin")
    empty = client.post("/signin", data={"csrf_token": _csrf(page), "couple_id": "", "token": ""})
    assert empty.status_code == 401
    assert _field_error(empty, "couple_id") == "Enter your couple id (you got it with your token)."
    assert _field_error(empty, "token") == "Enter your token."
    assert _described_by_error(empty, "couple_id") and _described_by_error(empty, "token")
    wrong = client.post("/signin", data={"csrf_token": _csrf(page), "couple_id": couple_id, "token": token + "x"})
    assert wrong.status_code == 401
    assert _field_error(wrong, "token") == "No couple has this id and token. Check both and try again."
    assert f'value="{couple_id}"' in wrong.get_data(as_text=True)  # the id is kept, the token is not
    assert client.get("/tonight").status_code == 303


def test_every_form_post_needs_the_csrf_token(signed_in, couple):
    client, _ = signed_in
    for path in ("/signin", "/signup", "/signout", "/tonight", "/we-did-it"):
        for token in (None, "forged-token"):
            data = {"couple_id": couple[0], "token": couple[1], "setting": "home", "rating_a": "5",
                    "idea_id": "ice-cream-and-a-stroll"}
            if token:
                data["csrf_token"] = token
            response = client.post(path, data=data)
            assert response.status_code == 400, path
            assert "This form has expired or did not come from this site" in response.get_data(as_text=True)
    assert client.get("/tonight").status_code == 200  # still signed in: the forged sign-out did nothing
    assert client.application.extensions["dateideas.store"].list_dates(couple[0]) == []


def test_a_csrf_token_from_another_session_is_refused(app, couple):
    mine, theirs = app.test_client(), app.test_client()
    _sign_in(mine, *couple)
    stolen = _csrf(theirs.get("/signin"))
    response = mine.post("/we-did-it", data={"csrf_token": stolen, "idea_id": "ice-cream-and-a-stroll",
                                             "rating_a": "5"})
    assert response.status_code == 400


def test_sign_up_stores_the_profile_shows_the_token_once_and_signs_in(client, app):
    store = app.extensions["dateideas.store"]
    catalog = app.extensions["dateideas.models"].catalog
    page = client.get("/signup")
    assert page.status_code == 200 and 'href="/signup"' in client.get("/signin").get_data(as_text=True)
    offered = re.findall(r'name="interests" value="([^"]+)"', page.get_data(as_text=True))
    assert offered == sorted(catalog.frame["category"].unique())
    before = set(store.couple_ids())
    done = client.post("/signup", data={"csrf_token": _csrf(page), "interests": ["wellness", "culture"],
                                        "budget_ceiling": "2", "kids": "yes"})
    assert done.status_code == 201
    (couple_id,) = set(store.couple_ids()) - before
    text = done.get_data(as_text=True)
    token = re.search(r'<code id="couple-token">([^<]+)</code>', text).group(1)
    assert f'<code id="couple-id">{couple_id}</code>' in text and store.verify_token(couple_id, token)
    assert store.get_couple(couple_id)["profile"] == {"interests": ["wellness", "culture"], "budget_ceiling": 2,
                                                       "kids": True}
    tonight = client.get("/tonight")  # signed in as the new couple, whose interests shape the first ideas
    assert tonight.status_code == 200 and "You said you are into" in tonight.get_data(as_text=True)
    assert token not in tonight.get_data(as_text=True)


def test_sign_up_errors_are_next_to_the_fields_and_create_nothing(client, app):
    store = app.extensions["dateideas.store"]
    before = set(store.couple_ids())
    page = client.get("/signup")
    bad = client.post("/signup", data={"csrf_token": _csrf(page), "interests": ["wellness", "sky-diving"],
                                       "budget_ceiling": "7"})
    assert bad.status_code == 400
    assert _field_error(bad, "interests") == "Choose from the listed interests."
    assert _field_error(bad, "budget_ceiling") == "Choose a budget from the list, or leave it open."
    assert _described_by_error(bad, "interests") and _described_by_error(bad, "budget_ceiling")
    assert 'value="wellness" checked' in bad.get_data(as_text=True)  # choices are kept
    assert set(store.couple_ids()) == before
    nothing = client.post("/signup", data={"csrf_token": _csrf(page)})  # everything is optional
    assert nothing.status_code == 201 and len(set(store.couple_ids()) - before) == 1


def test_sign_out_ends_the_session(signed_in):
    client, _ = signed_in
    response = _post(client, "/signout", {}, from_page="/tonight")
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert "You are signed out." in client.get("/signin").get_data(as_text=True)
    assert client.get("/tonight").status_code == 303


def test_an_erased_couple_is_signed_out(signed_in, app):
    client, couple_id = signed_in
    app.extensions["dateideas.store"].delete_couple(couple_id)
    assert client.get("/our-dates").headers["Location"] == "/signin"


def test_pages_send_protective_headers_and_the_api_sets_no_cookie(signed_in):
    client, _ = signed_in
    response = client.get("/tonight")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in client.get("/healthz").headers


def test_workers_on_one_model_folder_share_the_session_key(app, couple, model_dir, service_store, tmp_path):
    """A second app (another gunicorn worker) on the same model folder accepts the first one's cookie."""
    client = app.test_client()
    _sign_in(client, *couple)
    other = create_app({"DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
                        "MODEL_DIR": str(model_dir), "RETRAIN_AFTER_DATES": 0, "LOG_REQUESTS": False,
                        "TRAINING_LOG": str(tmp_path / "t.log")})
    try:
        assert other.config["SECRET_KEY"] == app.config["SECRET_KEY"]
        assert len(app.config["SECRET_KEY"]) == 64
        assert (model_dir / "session-secret").stat().st_mode & 0o777 == 0o600
        cookie = client.get_cookie("session")
        visitor = other.test_client()
        visitor.set_cookie("session", cookie.value)
        assert visitor.get("/tonight").status_code == 200
    finally:
        other.extensions["dateideas.store"].close()


# ------------------------------------------------------------------ Tonight


def test_tonight_shows_the_same_suggestion_as_the_api(signed_in, couple):
    client, couple_id = signed_in
    page = client.get("/tonight")
    assert page.status_code == 200
    api = client.get(f"/v1/couples/{couple_id}/tonight", headers={"Authorization": f"Bearer {couple[1]}"})
    body = api.get_json()
    assert _main_idea(page)[0] == body["suggestion"]["idea_id"]
    assert [i for i, _ in _all_ideas(page)] == [body["suggestion"]["idea_id"]] + \
        [a["idea_id"] for a in body["alternatives"]]
    text = html.unescape(page.get_data(as_text=True))
    reason = body["suggestion"]["reasons"][0]
    assert reason[:1].upper() + reason[1:] in text
    description = client.get(f"/v1/ideas/{body['suggestion']['idea_id']}").get_json()["description"]
    assert description in text


def test_the_context_is_respected_and_kept(signed_in, app):
    client, _ = signed_in
    response = _post(client, "/tonight", {"setting": "home", "budget": "0", "minutes": "90", "weather": "rain",
                                          "kids": "true", "action": "show"})
    assert response.status_code == 303 and response.headers["Location"] == "/tonight"
    page = client.get("/tonight")
    catalog = app.extensions["dateideas.models"].catalog
    ideas = _all_ideas(page)
    assert len(ideas) == 3
    for idea_id, setting in ideas:
        idea = catalog.idea(idea_id)
        assert setting == idea["setting"] == "home"
        assert int(idea["cost"]) == 0 and idea["duration_min"] <= 90 and idea["kid_friendly"]
    text = page.get_data(as_text=True)
    assert '<option value="0" selected>' in text and 'value="90"' in text
    assert 'value="home" checked' in text and '<option value="rain" selected>' in text


@pytest.mark.parametrize(("field", "value", "message"), [
    ("minutes", "5", "Pick between 15 minutes and a day."),
    ("minutes", "lots", "Pick between 15 minutes and a day."),
    ("budget", "9", "Pick a budget from the list: free, cheap, moderate or splurge."),
    ("weather", "hail", "Pick the weather from the list."),
    ("setting", "moon", "Pick at home or out."),
    ("kids", "maybe", "Tick the box if the kids come along, or leave it empty."),
])
def test_context_errors_are_shown_next_to_the_field(signed_in, field, value, message):
    client, _ = signed_in
    response = _post(client, "/tonight", {field: value, "action": "show"})
    assert response.status_code == 400
    assert _field_error(response, field) == message
    assert _described_by_error(response, field)
    assert f'href="#{field}"' in response.get_data(as_text=True)  # the summary links to the field
    assert 'class="suggestion card"' not in response.get_data(as_text=True)


def test_the_api_keeps_the_precise_message_the_page_puts_in_words(signed_in):
    client, couple_id = signed_in
    token = client.application.extensions["dateideas.store"].rotate_token(couple_id)
    api = client.get(f"/v1/couples/{couple_id}/tonight?minutes=5", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 400
    assert api.get_json()["error"]["message"] == ("minutes must be an integer from 15 to 1440 "
                                                  "(time available tonight), got 5")


def test_another_idea_moves_on_and_stays(signed_in):
    client, _ = signed_in
    first = _main_idea(client.get("/tonight"))[0]
    assert _main_idea(client.get("/tonight"))[0] == first  # the same request twice: the same idea
    response = _post(client, "/tonight", {"action": "another"})
    assert response.status_code == 303
    second = _main_idea(client.get("/tonight"))[0]
    assert second != first
    assert _main_idea(client.get("/tonight"))[0] == second


def test_no_model_says_so_in_words(service_store, tmp_path):
    app = create_app({"DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
                      "MODEL_DIR": str(tmp_path / "empty-models"), "RETRAIN_AFTER_DATES": 0,
                      "LOG_REQUESTS": False, "TRAINING_LOG": str(tmp_path / "t.log")})
    try:
        client = app.test_client()
        _sign_in(client, *service_store.create_couple())
        page = client.get("/tonight")
        assert page.status_code == 503
        assert "No model is trained yet, so there are no suggestions." in page.get_data(as_text=True)
    finally:
        app.extensions["dateideas.store"].close()


# ------------------------------------------------------------------ We did it and Our dates


def test_we_did_it_stores_the_date_once_and_our_dates_shows_both_ratings(signed_in, app):
    client, couple_id = signed_in
    idea = _main_idea(client.get("/tonight"))[0]
    form = client.get(f"/we-did-it?idea={idea}")
    text = form.get_data(as_text=True)
    assert re.search(rf'<input id="idea_id" name="idea_id" list="idea-choices" value="{idea}"', text)
    assert "<legend>Partner A's rating</legend>" in text and "<legend>Partner B's rating</legend>" in text
    assert text.count('type="radio" name="rating_a"') == text.count('type="radio" name="rating_b"') == 5
    form_id = re.search(r'name="form_id" value="([0-9a-f]{32})"', text).group(1)
    data = {"csrf_token": _csrf(form), "form_id": form_id, "idea_id": idea, "done_on": "",
            "rating_a": "5", "rating_b": "3", "note": "we laughed a lot"}
    response = client.post("/we-did-it", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/our-dates"
    again = client.post("/we-did-it", data=data)  # a double submit of the same form
    assert again.status_code == 303
    stored = app.extensions["dateideas.store"].list_dates(couple_id)
    assert [(d["idea_id"], d["rating_a"], d["rating_b"], d["note"], d["done_on"]) for d in stored] == \
        [(idea, 5, 3, "we laughed a lot", _dt.date.today().isoformat())]
    history = client.get("/our-dates")
    row = re.search(rf'<tr data-idea-id="{idea}"[^>]*>(.*?)</tr>', history.get_data(as_text=True), re.S).group(1)
    scores = re.findall(r'<span class="score">(\d)</span>', row)
    assert scores == ["5", "3"] and "we laughed a lot" in row
    assert "was already saved." in history.get_data(as_text=True)


def test_our_dates_says_days_as_people_do(signed_in, app):
    from service.date_pages import human_day

    today = _dt.date(2026, 12, 6)
    assert human_day("2026-12-12", today) == "Saturday 12 December"
    assert human_day(_dt.date(2025, 2, 1), today) == "Saturday 1 February 2025"
    assert human_day(None, today) == human_day("", today) == "an unknown day"
    client, couple_id = signed_in
    assert _post(client, "/we-did-it", {"idea_id": "ice-cream-and-a-stroll", "rating_a": "4",
                                        "done_on": "2024-03-09"}).status_code == 303
    history = client.get("/our-dates").get_data(as_text=True)
    assert '<time datetime="2024-03-09">Saturday 9 March 2024</time>' in history
    # and every page names its icon, which is served
    assert 'rel="icon" href="/static/favicon.svg"' in history
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.data.startswith(b"<svg")


def test_one_partner_may_rate_alone(signed_in, app):
    client, couple_id = signed_in
    response = _post(client, "/we-did-it", {"idea_id": "ice-cream-and-a-stroll", "rating_b": "4"})
    assert response.status_code == 303
    history = client.get("/our-dates").get_data(as_text=True)
    assert "not rated" in history and '<span class="score">4</span>' in history
    assert app.extensions["dateideas.store"].list_dates(couple_id)[0]["rating_a"] is None


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"rating_a": "7"}, "rating_a", "Choose Partner A's rating from 1 to 5, or leave it empty."),
    ({"rating_b": "x"}, "rating_b", "Choose Partner B's rating from 1 to 5, or leave it empty."),
    ({}, "ratings", "Give at least one rating: 1 to 5 from either of you."),
    ({"rating_a": "4", "idea_id": "no-such-idea"}, "idea_id",
     "Choose the idea you did from the list: type a word of its name and pick it."),
    ({"rating_a": "4", "done_on": "2020-02-30"}, "done_on", "Pick the day of the date from the calendar."),
    ({"rating_a": "4", "note": "x" * 2001}, "note", "Keep the note to 2,000 characters or fewer."),
])
def test_rating_errors_are_shown_next_to_the_field(signed_in, app, data, field, message):
    client, couple_id = signed_in
    response = _post(client, "/we-did-it", {"idea_id": "ice-cream-and-a-stroll", **data})
    assert response.status_code == 400
    assert _field_error(response, field) == message
    if field != "ratings":
        assert _described_by_error(response, field)
    assert app.extensions["dateideas.store"].list_dates(couple_id) == []
    if "note" in data:  # what was typed is kept
        assert data["note"] in response.get_data(as_text=True)


def test_a_future_day_is_refused(signed_in):
    """Tomorrow is allowed (the couple's time zone may be ahead of the server's), the day after is not."""
    client, _ = signed_in
    tomorrow = _dt.date.today() + _dt.timedelta(days=1)
    later = tomorrow + _dt.timedelta(days=1)
    response = _post(client, "/we-did-it", {"idea_id": "ice-cream-and-a-stroll", "rating_a": "4",
                                            "done_on": later.isoformat()})
    assert response.status_code == 400
    assert _field_error(response, "done_on") == ("Pick a day the date has happened on: today, or an earlier "
                                                 "day from 1900 on.")


def test_rating_a_date_changes_the_next_suggestion(signed_in):
    """The very next page reflects the rating: no longer a cold start, and other ideas around it."""
    client, _ = signed_in
    before = client.get("/tonight")
    assert "We don't know your tastes yet" in before.get_data(as_text=True)
    first = _main_idea(before)[0]
    assert _post(client, "/we-did-it", {"idea_id": first, "rating_a": "2", "rating_b": "1"}).status_code == 303
    after = client.get("/tonight")
    assert "We don't know your tastes yet" not in after.get_data(as_text=True)
    assert _all_ideas(after) != _all_ideas(before)


def test_a_date_rated_low_today_is_not_suggested_again(signed_in):
    client, _ = signed_in
    first = _main_idea(client.get("/tonight"))[0]
    assert _post(client, "/we-did-it", {"idea_id": first, "rating_a": "2", "rating_b": "1"}).status_code == 303
    assert _main_idea(client.get("/tonight"))[0] != first


def test_our_dates_when_empty_points_to_tonight(signed_in):
    client, _ = signed_in
    text = client.get("/our-dates").get_data(as_text=True)
    assert "No dates yet." in text and 'href="/tonight"' in text


def test_a_body_over_the_limit_gets_a_page_not_json(signed_in):
    client, _ = signed_in
    response = _post(client, "/we-did-it", {"idea_id": "ice-cream-and-a-stroll", "note": "x" * 70_000})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "What you sent is too long. Keep the note to 2,000 characters" in response.get_data(as_text=True)


def test_a_mistyped_page_address_gets_the_sites_404_page_and_the_api_keeps_json(client):
    page = client.get("/tonigth/<b>x</b>", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in text and 'href="/static/pages.css' in text
    assert "There is no page at /tonigth/&lt;b&gt;x&lt;/b&gt;. Check the address" in text  # escaped
    for path, accept in (("/v1/couplez", "text/html"), ("/tonigth", "*/*"), ("/tonigth", "application/json")):
        api = client.get(path, headers={"Accept": accept})
        assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found", (path, accept)


# ------------------------------------------------------------------ partners


def _invite(client, partner: str) -> str:
    response = _post(client, "/invite", {"partner": partner})
    assert response.status_code == 201
    assert re.search(r'id="invite-link" href="http://localhost/signin\?couple_id=c_', response.get_data(as_text=True))
    return re.search(r'<code id="partner-token">([^<]+)</code>', response.get_data(as_text=True)).group(1)


def test_each_partner_signs_in_rates_alone_and_sees_the_other_only_after_rating(signed_in, app):
    client, couple_id = signed_in
    assert _post(client, "/invite", {"partner": "c"}).status_code == 400
    token_a, token_b = _invite(client, "a"), _invite(client, "b")
    store = app.extensions["dateideas.store"]
    assert (store.token_role(couple_id, token_a), store.token_role(couple_id, token_b)) == ("a", "b")
    idea = "ice-cream-and-a-stroll"

    # partner a, on their own: only their rating on the form, and no Invite
    a = app.test_client()
    assert _sign_in(a, couple_id, token_a).status_code == 303
    form = a.get("/we-did-it").get_data(as_text=True)
    assert "<legend>Your rating</legend>" in form and 'name="rating_b"' not in form and "/invite" not in form
    assert a.get("/invite").status_code == 403
    # a sent rating of b's is ignored: a rates only for themselves
    assert _post(a, "/we-did-it", {"idea_id": idea, "rating_a": "5", "rating_b": "1"}).status_code == 303
    assert [(d["rating_a"], d["rating_b"]) for d in store.list_dates(couple_id)] == [(5, None)]

    # partner b sees that a rated, not how
    b = app.test_client()
    assert _sign_in(b, couple_id, token_b).status_code == 303
    page = b.get("/our-dates").get_data(as_text=True)
    assert "you will see it once you have rated too" in page and '<span class="score">' not in page
    # the couple's sign-in sees a's rating
    assert '<span class="score">5</span>' in client.get("/our-dates").get_data(as_text=True)

    response = _post(b, "/we-did-it", {"idea_id": idea, "rating_b": "2"})
    assert response.status_code == 303
    assert "your rating completes" in b.get("/our-dates").get_data(as_text=True)
    assert [(d["rating_a"], d["rating_b"]) for d in store.list_dates(couple_id)] == [(5, 2)]
    for who in (a, b, client):
        row = re.search(rf'<tr data-idea-id="{idea}"[^>]*>(.*?)</tr>', who.get("/our-dates").get_data(as_text=True),
                        re.S).group(1)
        assert re.findall(r'<span class="score">(\d)</span>', row) == ["5", "2"]
