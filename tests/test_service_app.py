"""The Flask service through the test client: auth, validation, tonight, dates, ideas, admin, ops."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import shutil
import time

import pytest

from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry
from service import create_app
from service.models import ModelHolder


@pytest.fixture
def couple(client):
    """A fresh couple: (id, auth headers)."""
    body = client.post("/v1/couples", json={"profile": {"kids": False}}).get_json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def _idea(client, n: int = 0) -> str:
    return client.get("/v1/ideas?limit=100").get_json()["ideas"][n]["id"]


def _error(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return body["error"]


# ------------------------------------------------------------------ factory and config

def test_create_app_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("DATEIDEAS_MODEL_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("DATEIDEAS_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("DATEIDEAS_RETRAIN_AFTER_DATES", "7")
    app = create_app()
    assert app.config["DATABASE_URL"].endswith("x.sqlite3")
    assert app.config["MODEL_DIR"] == str(tmp_path / "m")
    assert app.config["ADMIN_TOKEN"] == "s3cret"
    assert app.config["RETRAIN_AFTER_DATES"] == 7
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    app.extensions["dateideas.store"].close()


def test_bad_retrain_setting_is_named(monkeypatch):
    monkeypatch.setenv("DATEIDEAS_RETRAIN_AFTER_DATES", "many")
    with pytest.raises(ValueError, match="DATEIDEAS_RETRAIN_AFTER_DATES must be a whole number >= 0, got 'many'"):
        create_app()


def test_no_model_means_not_ready_and_503_on_tonight(service_store, tmp_path):
    app = create_app({"DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
                      "MODEL_DIR": str(tmp_path / "empty"), "LOG_REQUESTS": False})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "no model loaded" in _error(ready)["message"]
    body = client.post("/v1/couples").get_json()
    r = client.get(f"/v1/couples/{body['id']}/tonight", headers={"Authorization": f"Bearer {body['token']}"})
    assert r.status_code == 503 and _error(r)["code"] == "no_model"
    app.extensions["dateideas.store"].close()


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("kwargs, status, code, message", [
    ({"data": "{", "content_type": "application/json"}, 400, "bad_json", "not valid JSON"),
    ({"data": "[1, 2]", "content_type": "application/json"}, 400, "bad_request", "must be a JSON object"),
    ({"data": "x" * (64 * 1024 + 1), "content_type": "application/json"}, 413, "too_large", "64 KiB"),
    ({"data": "profile=1", "content_type": "text/plain"}, 415, "unsupported_media_type",
     "Content-Type: application/json"),
    ({"json": {"name": "x"}}, 400, "bad_request", "unknown field 'name'; allowed: profile"),
    ({"json": {"profile": {"budget_ceiling": 9}}}, 400, "bad_request",
     "profile.budget_ceiling must be an integer cost tier"),
    ({"json": {"profile": {"home": "12.5"}}}, 400, "bad_request",
     'profile.home must be where the couple lives, "latitude,longitude" in decimal degrees'),
])
def test_body_errors_are_json(client, kwargs, status, code, message):
    r = client.post("/v1/couples", **kwargs)
    assert r.status_code == status
    error = _error(r)
    assert error["code"] == code
    assert message in error["message"]


def test_unknown_route_and_wrong_method_are_json(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and _error(r)["code"] == "not_found"
    r = client.put("/v1/ideas")
    assert r.status_code == 405 and _error(r)["code"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"]


# ------------------------------------------------------------------ auth

def test_couple_token_is_shown_once_and_required(client):
    r = client.post("/v1/couples")
    assert r.status_code == 201
    body = r.get_json()
    assert body["id"].startswith("c_") and len(body["token"]) >= 40
    assert r.headers["Location"] == f"/v1/couples/{body['id']}/tonight"
    path = f"/v1/couples/{body['id']}/dates"
    assert client.get(path, headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": body["token"]},
                    {"Authorization": f"Basic {body['token']}"}):
        r = client.get(path, headers=headers)
        assert r.status_code == 404
        assert _error(r)["message"] == "no couple with this id, or the bearer token does not belong to it"


def test_two_couples_cannot_see_each_other(client):
    one = client.post("/v1/couples").get_json()
    two = client.post("/v1/couples").get_json()
    idea = _idea(client)
    own = {"Authorization": f"Bearer {one['token']}"}
    assert client.post(f"/v1/couples/{one['id']}/dates", headers=own,
                       json={"idea_id": idea, "ratings": {"a": 5}}).status_code == 201
    other = {"Authorization": f"Bearer {two['token']}"}
    for method, path in [("get", "/dates"), ("get", "/tonight"), ("post", "/dates"), ("delete", "")]:
        r = getattr(client, method)(f"/v1/couples/{one['id']}{path}", headers=other,
                                    json={"idea_id": idea, "ratings": {"a": 1}} if method == "post" else None)
        assert r.status_code == 404, (method, path)
    # an unknown id answers exactly like someone else's id
    unknown = client.get("/v1/couples/c_doesnotexist/dates", headers=other)
    mine = client.get(f"/v1/couples/{one['id']}/dates", headers=other)
    assert unknown.get_json() == mine.get_json()
    assert len(client.get(f"/v1/couples/{one['id']}/dates", headers=own).get_json()["dates"]) == 1
    assert client.get(f"/v1/couples/{two['id']}/dates", headers=other).get_json() == {"dates": []}


def test_delete_erases_the_couple(client, couple, app):
    couple_id, headers = couple
    client.post(f"/v1/couples/{couple_id}/dates", headers=headers, json={"idea_id": _idea(client), "ratings": {"a": 3}})
    client.get(f"/v1/couples/{couple_id}/tonight", headers=headers)
    assert client.delete(f"/v1/couples/{couple_id}", headers=headers).status_code == 204
    store = app.extensions["dateideas.store"]
    assert store.get_couple(couple_id) is None
    assert store.list_dates(couple_id) == [] and store.recent_suggestions(couple_id) == []
    assert client.get(f"/v1/couples/{couple_id}/dates", headers=headers).status_code == 404


@pytest.mark.parametrize("headers, status, message", [
    ({}, 401, "admin routes need Authorization: Bearer <DATEIDEAS_ADMIN_TOKEN>"),
    ({"Authorization": "Bearer nope"}, 403, "the bearer token is not the admin token"),
])
def test_admin_routes_need_the_admin_token(client, headers, status, message):
    for method, path in (("get", "/v1/admin/models"), ("post", "/v1/admin/train")):
        r = getattr(client, method)(path, headers=headers)
        assert r.status_code == status
        assert _error(r)["message"] == message
        if status == 401:
            assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_admin_routes_disabled_without_a_configured_token(service_store, model_dir):
    app = create_app({"DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
                      "MODEL_DIR": str(model_dir), "ADMIN_TOKEN": None, "LOG_REQUESTS": False})
    r = app.test_client().get("/v1/admin/models", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 403
    assert "set DATEIDEAS_ADMIN_TOKEN" in _error(r)["message"]
    app.extensions["dateideas.store"].close()


# ------------------------------------------------------------------ tonight

@pytest.mark.parametrize("query, field, message", [
    ("budget=4", "budget", "budget must be an integer from 0 to 3 (0 free ... 3 splurge), got 4"),
    ("budget=cheap", "budget", "budget must be an integer from 0 to 3 (0 free ... 3 splurge), got 'cheap'"),
    ("minutes=10", "minutes", "minutes must be an integer from 15 to 1440 (time available tonight), got 10"),
    ("minutes=1441", "minutes", "minutes must be an integer from 15 to 1440"),
    ("setting=away", "setting", "setting must be one of home, out, got 'away'"),
    ("weather=hail", "weather", "weather must be one of clear, cloudy, hot, cold, rain, snow, storm, got 'hail'"),
    ("kids=maybe", "kids", "kids must be true or false, got 'maybe'"),
    ("k=0", "k", "k must be an integer from 1 to 10 (number of ideas), got 0"),
    ("k=11", "k", "k must be an integer from 1 to 10 (number of ideas), got 11"),
    ("another=2", "another", "another must be true or false, got '2'"),
    ("day=2024-02-30", "day", "day must be a date as YYYY-MM-DD, got '2024-02-30'"),
    ("mood=good", "mood", "unknown parameter 'mood'; allowed: budget, minutes, setting, weather, kids, k"),
    ("budget=1&budget=2", "budget", "give budget once, got 2 values"),
])
def test_tonight_validation(client, couple, query, field, message):
    couple_id, headers = couple
    r = client.get(f"/v1/couples/{couple_id}/tonight?{query}", headers=headers)
    assert r.status_code == 400
    error = _error(r)
    assert error["field"] == field
    assert message in error["message"]


def test_tonight_respects_the_context_and_logs_what_was_served(client, couple, app):
    couple_id, headers = couple
    r = client.get(f"/v1/couples/{couple_id}/tonight?budget=1&setting=home&kids=true&k=4", headers=headers)
    assert r.status_code == 200
    body = r.get_json()
    assert body["cold_start"] is True
    assert body["context"]["budget"] == 1 and body["context"]["setting"] == "home" and body["context"]["kids"] is True
    picks = [body["suggestion"], *body["alternatives"]]
    assert [p["rank"] for p in picks] == list(range(1, len(picks) + 1)) and 1 <= len(picks) <= 4
    catalog = app.extensions["dateideas.models"].catalog
    for pick in picks:
        idea = catalog.idea(pick["idea_id"])
        assert int(idea["cost"]) <= 1 and idea["setting"] == "home" and idea["kid_friendly"] is True
        assert pick["reasons"] and pick["cold_start"] is True
    logged = app.extensions["dateideas.store"].recent_suggestions(couple_id)
    assert [(row["idea_id"], row["rank"]) for row in logged] == [(p["idea_id"], p["rank"]) for p in picks]
    assert {row["model_version"] for row in logged} == {body["model_version"]}


def test_a_new_couples_stated_interests_shape_its_first_suggestions(client, app):
    """The demo model learned that stated interests predict what couples love (as in the
    simulator): a couple signing up with an interest gets it tonight, with the reason."""
    catalog = app.extensions["dateideas.models"].catalog
    for interest in ("wellness", "culture"):
        body = client.post("/v1/couples", json={"profile": {"interests": [interest.title()]}}).get_json()
        r = client.get(f"/v1/couples/{body['id']}/tonight?budget=3&k=3",
                       headers={"Authorization": f"Bearer {body['token']}"})
        picks = [r.get_json()["suggestion"], *r.get_json()["alternatives"]]
        assert [catalog.idea(p["idea_id"])["category"] for p in picks] == [interest] * 3
        assert all(p["reasons"][0] == f"you said you are into {interest}" for p in picks)


def test_same_request_twice_same_answer_and_another_moves_on(client, couple):
    couple_id, headers = couple
    url = f"/v1/couples/{couple_id}/tonight?budget=3&k=2"
    first = client.get(url, headers=headers).get_json()
    again = client.get(url, headers=headers).get_json()
    assert again == first
    moved = client.get(url + "&another=1", headers=headers).get_json()
    first_ids = [first["suggestion"]["idea_id"], *[a["idea_id"] for a in first["alternatives"]]]
    # offset = number of `another` requests today: the old first alternative is now the suggestion
    assert moved["suggestion"]["idea_id"] == first_ids[1] != first_ids[0]
    assert moved["suggestion"]["rank"] == 1
    # the moved-on answer is now the answer to the plain request, until another `another`
    assert client.get(url, headers=headers).get_json() == moved
    # a different context is a different request
    other = client.get(f"/v1/couples/{couple_id}/tonight?budget=3&k=3", headers=headers).get_json()
    assert other["suggestion"]["idea_id"] == first["suggestion"]["idea_id"]


def test_a_new_rating_is_reflected_at_once(client, app):
    body = client.post("/v1/couples").get_json()
    couple_id, headers = body["id"], {"Authorization": f"Bearer {body['token']}"}
    before = client.get(f"/v1/couples/{couple_id}/tonight?k=5", headers=headers).get_json()
    assert before["cold_start"] is True
    top = before["suggestion"]["idea_id"]
    today = _dt.date.today().isoformat()
    r = client.post(f"/v1/couples/{couple_id}/dates", headers=headers,
                    json={"idea_id": top, "done_on": today, "ratings": {"a": 1, "b": 1}})
    assert r.status_code == 201
    after = client.get(f"/v1/couples/{couple_id}/tonight?k=5", headers=headers).get_json()
    assert after["cold_start"] is False  # the history came from the store, no retrain needed
    assert after["suggestion"]["idea_id"] != top  # just done and rated 1: not suggested first again
    assert after["model_version"] == before["model_version"]


# ------------------------------------------------------------------ dates

@pytest.mark.parametrize("body, field, message", [
    ({"ratings": {"a": 4}}, "idea_id", "idea_id is required"),
    ({"idea_id": "no-such-idea", "ratings": {"a": 4}}, "idea_id",
     "idea_id 'no-such-idea' is not an idea in the catalog"),
    ({"idea_id": 7, "ratings": {"a": 4}}, "idea_id", "idea_id must be the id of an idea in the catalog, got 7"),
    ({"idea_id": "@", }, "ratings", "ratings is required"),
    ({"idea_id": "@", "ratings": {}}, "ratings", "at least one rating (a or b, an integer from 1 to 5) is required"),
    ({"idea_id": "@", "ratings": {"a": None, "b": None}}, "ratings", "at least one rating"),
    ({"idea_id": "@", "ratings": 5}, "ratings", "ratings must be an object like"),
    ({"idea_id": "@", "ratings": {"a": 7}}, "ratings.a", "ratings.a must be an integer from 1 to 5, got 7"),
    ({"idea_id": "@", "ratings": {"b": 0}}, "ratings.b", "ratings.b must be an integer from 1 to 5, got 0"),
    ({"idea_id": "@", "ratings": {"a": 4.5}}, "ratings.a", "ratings.a must be an integer from 1 to 5 or null, got 4.5"),
    ({"idea_id": "@", "ratings": {"a": "5"}}, "ratings.a", "ratings.a must be an integer from 1 to 5 or null, got '5'"),
    ({"idea_id": "@", "ratings": {"a": True}}, "ratings.a",
     "ratings.a must be an integer from 1 to 5 or null, got True"),
    ({"idea_id": "@", "ratings": {"c": 3}}, "ratings.c", "ratings may only have the partners a and b, got 'c'"),
    ({"idea_id": "@", "ratings": {"a": 3}, "done_on": "2024-02-30"}, "done_on",
     "done_on must be a real date as YYYY-MM-DD, got '2024-02-30'"),
    ({"idea_id": "@", "ratings": {"a": 3}, "done_on": "yesterday"}, "done_on",
     "done_on must be a date as YYYY-MM-DD, got 'yesterday'"),
    ({"idea_id": "@", "ratings": {"a": 3}, "done_on": "2999-01-01"}, "done_on",
     "done_on must be a date from 1900-01-01 to "),
    ({"idea_id": "@", "ratings": {"a": 3}, "done_on": "0001-01-01"}, "done_on",
     "done_on must be a date from 1900-01-01 to "),
    ({"idea_id": "@", "ratings": {"a": 3}, "note": "x" * 2001}, "note",
     "note must be at most 2000 characters, got 2001"),
    ({"idea_id": "@", "ratings": {"a": 3}, "note": 5}, "note", "note must be a string of at most 2000 characters"),
    ({"idea_id": "@", "ratings": {"a": 3}, "place": "park"}, "place",
     "unknown field 'place'; allowed: idea_id, done_on, ratings, note"),
])
def test_date_validation(client, couple, body, field, message):
    couple_id, headers = couple
    if body.get("idea_id") == "@":
        body = dict(body, idea_id=_idea(client))
    r = client.post(f"/v1/couples/{couple_id}/dates", headers=headers, json=body)
    assert r.status_code == 400
    error = _error(r)
    assert error["field"] == field
    assert message in error["message"]
    assert client.get(f"/v1/couples/{couple_id}/dates", headers=headers).get_json() == {"dates": []}


def test_date_is_stored_and_returned(client, couple):
    couple_id, headers = couple
    idea = _idea(client, 1)
    r = client.post(f"/v1/couples/{couple_id}/dates", headers=headers,
                    json={"idea_id": idea, "done_on": "2024-03-02", "ratings": {"a": 5, "b": None}, "note": "fun"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["idea_id"] == idea and body["done_on"] == "2024-03-02"
    assert body["ratings"] == {"a": 5, "b": None} and body["note"] == "fun"
    assert body["context"] == {"weekday": "saturday", "season": "spring"}
    assert client.get(f"/v1/couples/{couple_id}/dates", headers=headers).get_json() == {"dates": [body]}


def test_idempotency_key_stores_one_date(client, couple, app):
    couple_id, headers = couple
    body = {"idea_id": _idea(client), "ratings": {"a": 4, "b": 5}}
    keyed = dict(headers, **{"Idempotency-Key": "retry-123"})
    first = client.post(f"/v1/couples/{couple_id}/dates", headers=keyed, json=body)
    second = client.post(f"/v1/couples/{couple_id}/dates", headers=keyed, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json() == first.get_json()
    assert app.extensions["dateideas.store"].count_dates(couple_id) == 1
    changed = client.post(f"/v1/couples/{couple_id}/dates", headers=keyed, json=dict(body, ratings={"a": 1}))
    assert changed.status_code == 422
    assert _error(changed)["field"] == "Idempotency-Key"
    bad = client.post(f"/v1/couples/{couple_id}/dates", headers=dict(headers, **{"Idempotency-Key": "has space"}),
                      json=body)
    assert bad.status_code == 400 and _error(bad)["field"] == "Idempotency-Key"
    assert app.extensions["dateideas.store"].count_dates(couple_id) == 1


# ------------------------------------------------------------------ ideas

def test_ideas_paging_and_filters(client, app):
    catalog = app.extensions["dateideas.models"].catalog
    page = client.get("/v1/ideas?limit=3&offset=2").get_json()
    assert page["total"] == len(catalog) and page["limit"] == 3 and page["offset"] == 2
    assert [i["id"] for i in page["ideas"]] == list(catalog.ids[2:5])
    home = client.get("/v1/ideas?setting=home&budget=0&kids=true&limit=100").get_json()
    frame = catalog.frame
    expected = frame.index[(frame["setting"] == "home") & (frame["cost"].astype(int) == 0) & frame["kid_friendly"]]
    assert [i["id"] for i in home["ideas"]] == list(expected)[:100] and home["total"] == len(expected)
    one = client.get(f"/v1/ideas/{catalog.ids[0]}").get_json()
    assert one == json.loads(json.dumps(catalog.idea(catalog.ids[0])))


@pytest.mark.parametrize("query, field, message", [
    ("limit=0", "limit", "limit must be an integer from 1 to 100, got 0"),
    ("offset=-1", "offset", "offset must be an integer >= 0, got -1"),
    ("budget=x", "budget", "budget must be an integer from 0 to 3, got 'x'"),
    ("setting=moon", "setting", "setting must be one of"),
    ("kids=perhaps", "kids", "kids must be true or false, got 'perhaps'"),
    ("sort=title", "sort", "unknown parameter 'sort'"),
])
def test_ideas_validation(client, query, field, message):
    r = client.get(f"/v1/ideas?{query}")
    assert r.status_code == 400
    assert _error(r)["field"] == field and message in _error(r)["message"]


def test_unknown_idea_is_404(client):
    r = client.get("/v1/ideas/not-an-idea")
    assert r.status_code == 404 and "not-an-idea" in _error(r)["message"]


# ------------------------------------------------------------------ admin

def test_admin_models_lists_versions_and_failures(client, app, admin_headers):
    store = app.extensions["dateideas.store"]
    run = store.start_training_run(pid=999_999_999)  # a process that does not exist
    body = client.get("/v1/admin/models", headers=admin_headers).get_json()
    live = Registry(app.config["MODEL_DIR"]).live_version()
    assert body["live"] == live and [v["version"] for v in body["versions"]] == [live]
    assert body["versions"][0]["live"] is True
    assert body["training"]["running"] is None
    assert body["training"]["last_failure"]["id"] == run
    assert "is gone (killed or crashed)" in body["training"]["last_failure"]["error"]


def test_admin_train_refuses_while_a_run_is_under_way(client, app, admin_headers):
    store = app.extensions["dateideas.store"]
    import os

    run = store.start_training_run(pid=os.getpid())  # "running", and its process is alive
    r = client.post("/v1/admin/train", headers=admin_headers)
    assert r.status_code == 409 and _error(r)["code"] == "training_running"
    assert f"run {run} (pid {os.getpid()})" in _error(r)["message"]


def test_admin_train_while_a_process_is_starting_or_exiting_says_so(client, app, admin_headers):
    store = app.extensions["dateideas.store"]
    assert store.try_lock("training-launch", "another-worker", ttl_s=20)  # launched, no run row yet
    r = client.post("/v1/admin/train", headers=admin_headers)
    assert r.status_code == 409 and _error(r)["code"] == "training_running"
    assert "starting or just finishing; try again in a few seconds" in _error(r)["message"]


@pytest.mark.slow
def test_retrain_starts_after_enough_new_dates(client, couple, app, monkeypatch):
    started = []
    launcher = app.extensions["dateideas.training"]
    monkeypatch.setattr(launcher, "request", lambda store, reason: started.append(reason) or 4242)
    app.config["RETRAIN_AFTER_DATES"] = 3
    store = app.extensions["dateideas.store"]
    time.sleep(1.1)  # run start times are kept to the second: let the fixture's bulk load be earlier
    store.finish_training_run(store.start_training_run(), "succeeded")  # dates count from here
    couple_id, headers = couple
    idea = _idea(client)
    for n in range(3):
        client.post(f"/v1/couples/{couple_id}/dates", headers=headers, json={"idea_id": idea, "ratings": {"a": 4}})
        assert len(started) == (1 if n == 2 else 0)
    assert started[0].startswith("3 new dates since")


# ------------------------------------------------------------------ ops

def test_metrics_count_requests_suggestions_and_dates(client, couple):
    couple_id, headers = couple
    client.get(f"/v1/couples/{couple_id}/tonight?k=3", headers=headers)
    client.post(f"/v1/couples/{couple_id}/dates", headers=headers, json={"idea_id": _idea(client), "ratings": {"a": 4}})
    client.get("/v1/ideas?limit=0")
    text = client.get("/metrics").get_data(as_text=True)
    assert ('dateideas_http_requests_total{method="GET",route="/v1/couples/<couple_id>/tonight",status="200"} 1.0'
            in text)
    assert 'dateideas_http_requests_total{method="GET",route="/v1/ideas",status="400"} 1.0' in text
    assert ('dateideas_http_request_duration_seconds_count'
            '{method="GET",route="/v1/couples/<couple_id>/tonight",status="200"} 1.0' in text)
    assert "dateideas_suggestions_served_total 3.0" in text
    assert 'dateideas_dates_received_total{result="created"} 1.0' in text
    assert "dateideas_model_swaps_total 1.0" in text
    live = client.get("/readyz").get_json()["model_version"]
    assert f'dateideas_model_live_info{{version="{live}"}} 1.0' in text
    assert 'dateideas_training_runs{status="failed"} 0.0' in text


def test_request_id_is_echoed_and_logged(service_store, model_dir, caplog):
    app = create_app({"DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
                      "MODEL_DIR": str(model_dir), "LOG_REQUESTS": True})
    client = app.test_client()
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(handler.format(record))
    handler.setFormatter(next(h for h in logging.getLogger("service.access").handlers).formatter)
    logging.getLogger("service.access").addHandler(handler)
    try:
        r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        generated = client.get("/v1/ideas/nope", headers={"X-Request-ID": "bad id with spaces"})
    finally:
        logging.getLogger("service.access").removeHandler(handler)
        app.extensions["dateideas.store"].close()
    assert r.headers["X-Request-ID"] == "abc-123"
    assert len(generated.headers["X-Request-ID"]) == 32
    first, second = (json.loads(line) for line in lines)
    assert first["request_id"] == "abc-123" and first["route"] == "/healthz" and first["status"] == 200
    assert second["request_id"] == generated.headers["X-Request-ID"] and second["status"] == 404


def test_openapi_documents_every_route(client, app):
    doc = client.get("/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("pages."):  # HTML pages are not in the API
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <int:date_id> is {date_id} in OpenAPI
        served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented


# ------------------------------------------------------------------ hot swap

@pytest.mark.slow
def test_holder_swaps_to_a_new_live_version_and_keeps_the_old_on_failure(model_dir, tiny_world):
    holder = ModelHolder(model_dir, check_interval=0.0)
    first = holder.get()
    registry = Registry(model_dir)
    new = registry.save(EnjoymentModel(max_iter=5).fit(tiny_world.dates, tiny_world.catalog))
    assert holder.get() is first  # saved, not promoted: nothing changes
    registry.promote(new, catalog=tiny_world.catalog)
    second = holder.get()
    assert second.version == new and second is not first
    assert first.version != new  # a request holding `first` still has it
    # a corrupt version made live is refused; the previous one keeps serving
    broken = registry.save(EnjoymentModel(max_iter=5).fit(tiny_world.dates, tiny_world.catalog))
    (model_dir / broken / "model.joblib").write_bytes(b"garbage")
    (model_dir / "LIVE").write_text(broken + "\n")
    assert holder.get() is second
    assert "does not match the checksum" in holder.last_error
    shutil.rmtree(model_dir / broken)


def test_a_serving_worker_keeps_its_model_out_of_the_collectors_passes_and_frees_the_old_one(model_dir):
    """gunicorn's ``post_worker_init`` marks the app served: after a swap the collector runs once and
    leaves what is alive out of its later passes (a full pass paused a 50,000-idea worker's request
    for 100-160 ms); the next swap frees the old model, even one held only by a reference cycle."""
    import gc
    import weakref

    from service import gunicorn_conf

    app = create_app({"DATABASE_URL": "sqlite://", "MODEL_DIR": str(model_dir), "LOG_REQUESTS": False,
                      "MODEL_CHECK_INTERVAL": 0.0})
    holder = app.extensions["dateideas.models"]
    assert holder.freeze_gc is False  # a test process, a CLI: the collector as it is
    gunicorn_conf.post_worker_init(type("Worker", (), {"wsgi": app})())
    assert holder.freeze_gc is True
    try:
        first = holder.get()
        assert gc.get_freeze_count() > 0
        seen = {id(o) for o in gc.get_objects()}
        assert id(first.model.__dict__) not in seen and id(first.model.featurizer_.__dict__) not in seen
        registry = Registry(model_dir)
        new = registry.save(first.model)
        old = weakref.ref(first.model)
        first.model.__dict__["_self"] = first.model  # only the collector can free it now
        del first
        registry.promote(new)
        assert holder.get().version == new
        assert old() is None
    finally:
        gc.unfreeze()


def test_core_flow_on_postgresql(pg_url, model_dir):
    from engine.store import open_store

    store = open_store(pg_url)
    store.migrate()
    app = create_app({"DATABASE_URL": pg_url, "MODEL_DIR": str(model_dir), "LOG_REQUESTS": False})
    client = app.test_client()
    try:
        body = client.post("/v1/couples").get_json()
        path, auth = f"/v1/couples/{body['id']}", {"Authorization": f"Bearer {body['token']}"}
        first = client.get(f"{path}/tonight?k=2", headers=auth).get_json()
        assert client.get(f"{path}/tonight?k=2", headers=auth).get_json() == first
        date = {"idea_id": first["suggestion"]["idea_id"], "ratings": {"a": 2, "b": 5}}
        keyed = dict(auth, **{"Idempotency-Key": "pg-1"})
        made = client.post(f"{path}/dates", headers=keyed, json=date)
        again = client.post(f"{path}/dates", headers=keyed, json=date)
        assert (made.status_code, again.status_code) == (201, 200) and made.get_json() == again.get_json()
        assert client.get(f"{path}/dates", headers=auth).get_json() == {"dates": [made.get_json()]}
        assert client.get(f"{path}/tonight?k=2", headers=auth).get_json()["cold_start"] is False
        assert client.get("/readyz").status_code == 200
    finally:
        app.extensions["dateideas.store"].close()
        store.close()


def _cache_counts(client) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    out = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("dateideas_tonight_cache_total{"):
            out[line.split('result="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return out


def _demo_couple(app) -> tuple[str, dict[str, str]]:
    """A couple with simulated history (from the bulk load) and a token."""
    store = app.extensions["dateideas.store"]
    couple_id = max(store.couple_ids(), key=store.count_dates)
    return couple_id, {"Authorization": f"Bearer {store.rotate_token(couple_id)}"}


@pytest.mark.slow
def test_a_cached_answer_is_logged_and_a_new_rating_is_not_answered_from_the_cache(client, app):
    couple_id, headers = _demo_couple(app)
    url = f"/v1/couples/{couple_id}/tonight?k=3&setting=out"
    first = client.get(url, headers=headers).get_json()
    again = client.get(url, headers=headers).get_json()
    assert again == first and _cache_counts(client) == {"hit": 1.0, "miss": 1.0}
    logged = app.extensions["dateideas.store"].recent_suggestions(couple_id)
    # the repeat served the list already logged for this request today: nothing new to log
    assert [(row["idea_id"], row["rank"]) for row in logged] == [
        (p["idea_id"], p["rank"]) for p in (first["suggestion"], *first["alternatives"])]
    top = first["suggestion"]["idea_id"]
    r = client.post(f"/v1/couples/{couple_id}/dates", headers=headers,
                    json={"idea_id": top, "ratings": {"a": 1, "b": 1}})
    assert r.status_code == 201
    after = client.get(url, headers=headers).get_json()
    assert _cache_counts(client) == {"hit": 1.0, "miss": 2.0}  # the new date changed the history: computed
    assert after["suggestion"]["idea_id"] != top  # done today and rated 1
    assert client.get(url, headers=headers).get_json() == after
    assert _cache_counts(client) == {"hit": 2.0, "miss": 2.0}
    # the same request answered with a new list is logged again (under the same key), its repeat is not
    logged = app.extensions["dateideas.store"].recent_suggestions(couple_id)
    assert len(logged) == 6 and [row["idea_id"] for row in logged[3:]] == [
        p["idea_id"] for p in (after["suggestion"], *after["alternatives"])]
    assert len({row["request_key"] for row in logged}) == 1
    moved = client.get(url + "&another=1", headers=headers).get_json()
    assert len(app.extensions["dateideas.store"].recent_suggestions(couple_id)) == 9 and moved != after


@pytest.mark.slow
def test_a_promoted_model_answers_the_next_request_without_its_predecessors_cache(client, app, model_dir,
                                                                                    tiny_world):
    couple_id, headers = _demo_couple(app)
    url = f"/v1/couples/{couple_id}/tonight?k=3"
    first = client.get(url, headers=headers).get_json()
    assert client.get(url, headers=headers).get_json() == first
    registry = Registry(model_dir)
    new = registry.save(EnjoymentModel(max_iter=5, routine_weight=0.9).fit(tiny_world.dates, tiny_world.catalog))
    registry.promote(new, catalog=tiny_world.catalog)
    after = client.get(url, headers=headers).get_json()
    assert after["model_version"] == new != first["model_version"]
    assert _cache_counts(client) == {"hit": 1.0, "miss": 2.0}
    logged = app.extensions["dateideas.store"].recent_suggestions(couple_id)
    assert [row["model_version"] for row in logged] == [first["model_version"]] * 3 + [new] * 3


# ------------------------------------------------------------------ partners

def _partner(client, couple_id: str, headers: dict, who: str) -> dict[str, str]:
    r = client.post(f"/v1/couples/{couple_id}/partners/{who}/token", headers=headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["couple_id"], body["partner"]) == (couple_id, who)
    return {"Authorization": f"Bearer {body['token']}"}


def test_each_partner_rates_on_their_own_and_completes_one_date(client, couple, app):
    couple_id, headers = couple
    a, b = _partner(client, couple_id, headers, "a"), _partner(client, couple_id, headers, "b")
    path = f"/v1/couples/{couple_id}/dates"
    idea = _idea(client, 2)
    first = client.post(path, headers=dict(a, **{"Idempotency-Key": "a-1"}),
                        json={"idea_id": idea, "done_on": "2024-03-02", "ratings": {"a": 5}})
    assert first.status_code == 201 and first.get_json()["ratings"] == {"a": 5, "b": None}
    # b has not rated: b sees that a rated, not how; the couple's token sees it
    [seen_by_b] = client.get(path, headers=b).get_json()["dates"]
    assert seen_by_b["ratings"] == {"a": None, "b": None} and seen_by_b["hidden"] == ["a"]
    assert client.get(path, headers=headers).get_json()["dates"][0]["ratings"] == {"a": 5, "b": None}
    assert client.get(path, headers=a).get_json()["dates"][0]["hidden"] == []
    # a partner rates only for themselves
    other = client.post(path, headers=b, json={"idea_id": idea, "done_on": "2024-03-02", "ratings": {"a": 1, "b": 2}})
    assert other.status_code == 403 and _error(other)["field"] == "ratings"
    assert "signed in as partner b" in _error(other)["message"]
    later = client.post(path, headers=dict(b, **{"Idempotency-Key": "b-1"}),
                        json={"idea_id": idea, "done_on": "2024-03-02", "ratings": {"b": 2}, "note": "meh"})
    assert later.status_code == 200
    body = later.get_json()
    assert body["completed"] is True and body["id"] == first.get_json()["id"]
    assert body["ratings"] == {"a": 5, "b": 2} and body["hidden"] == []
    retry = client.post(path, headers=dict(b, **{"Idempotency-Key": "b-1"}),
                        json={"idea_id": idea, "done_on": "2024-03-02", "ratings": {"b": 2}, "note": "meh"})
    assert retry.status_code == 200 and retry.get_json() == body
    assert app.extensions["dateideas.store"].count_dates(couple_id) == 1
    for who in (a, b, headers):
        [date] = client.get(path, headers=who).get_json()["dates"]
        assert date["ratings"] == {"a": 5, "b": 2}


def test_partner_tokens_need_the_couples_token_and_belong_to_one_couple(client, couple):
    couple_id, headers = couple
    b = _partner(client, couple_id, headers, "b")
    refused = client.post(f"/v1/couples/{couple_id}/partners/a/token", headers=b)
    assert refused.status_code == 403 and "couple's token" in _error(refused)["message"]
    wrong = client.post(f"/v1/couples/{couple_id}/partners/c/token", headers=headers)
    assert wrong.status_code == 404 and "partner must be a or b" in _error(wrong)["message"]
    other = client.post("/v1/couples").get_json()["id"]
    assert client.get(f"/v1/couples/{other}/dates", headers=b).status_code == 404
    assert client.get(f"/v1/couples/{couple_id}/tonight?k=1", headers=b).status_code == 200
    erase = client.delete(f"/v1/couples/{couple_id}", headers=b)
    assert erase.status_code == 403 and "couple's token" in _error(erase)["message"]
    fresh = _partner(client, couple_id, headers, "b")  # replaces the old one
    assert client.get(f"/v1/couples/{couple_id}/dates", headers=b).status_code == 404
    assert client.get(f"/v1/couples/{couple_id}/dates", headers=fresh).status_code == 200
