"""Issue 16 item 4: what used to be a 500 is a clear 4xx (bad text, deep JSON, chunked bodies) or a 503 (schema)."""

from __future__ import annotations

import io
import logging
import re

import psycopg
import pytest
import sqlalchemy as sa

from engine.store import open_store
from service import create_app
from service.inputs import text_problem


@pytest.fixture
def backend_app(db_url, model_dir):
    """The app on an empty, migrated store, once per backend; yields (app, store)."""
    store = open_store(db_url)
    store.migrate()
    app = create_app({"DATABASE_URL": db_url, "MODEL_DIR": str(model_dir), "LOG_REQUESTS": False,
                      "RETRAIN_AFTER_DATES": 0})
    try:
        yield app, store
    finally:
        app.extensions["dateideas.store"].close()
        store.close()


@pytest.fixture
def api(backend_app):
    """(test client, couple id, auth headers, an idea id) on each backend."""
    app, _ = backend_app
    client = app.test_client()
    body = client.post("/v1/couples").get_json()
    idea = client.get("/v1/ideas?limit=1").get_json()["ideas"][0]["id"]
    return client, body["id"], {"Authorization": f"Bearer {body['token']}"}, idea


def _error(response) -> dict:
    return response.get_json()["error"]


def test_text_problem_names_nul_and_lone_surrogates():
    assert text_problem("un café à deux") is None
    assert "NUL character" in text_problem("a\x00b")
    assert "lone surrogate" in text_problem("\ud800")


@pytest.mark.parametrize("path", ["/v1/couples/c_x%00y/tonight", "/v1/couples/c_x%00y/dates"])
def test_a_nul_in_a_couple_id_is_400_with_or_without_a_token(api, path):
    client, _, auth, _ = api
    for headers in ({}, auth):
        response = client.get(path, headers=headers)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert _error(response)["field"] == "couple_id"
        assert "NUL character" in _error(response)["message"]
    assert client.delete("/v1/couples/c_x%00y", headers=auth).status_code == 400


@pytest.mark.parametrize("note, words", [("a\u0000b", "NUL character"), ("\ud800", "lone surrogate")])
def test_a_note_with_a_nul_or_a_lone_surrogate_is_400_and_nothing_is_stored(api, note, words):
    client, couple_id, auth, idea = api
    # written by hand: the escape must reach the server as \\u0000 / \\ud800, as a client would send it
    escaped = note.encode("unicode_escape").decode().replace("\\x00", "\\u0000")
    raw = '{"idea_id": "' + idea + '", "ratings": {"a": 4}, "note": "' + escaped + '"}'
    response = client.post(f"/v1/couples/{couple_id}/dates", headers=auth, data=raw,
                           content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert _error(response) == {"code": "bad_request", "field": "note", "message": "note contains a "
                                + ("NUL character (U+0000), which is not allowed in text" if "NUL" in words
                                   else "lone surrogate (U+D800-U+DFFF), which is not valid Unicode text")}
    assert client.get(f"/v1/couples/{couple_id}/dates", headers=auth).get_json() == {"dates": []}


def test_a_query_value_with_a_nul_is_400(api):
    client, couple_id, auth, _ = api
    response = client.get(f"/v1/couples/{couple_id}/tonight?weather=sun%00ny", headers=auth)
    assert response.status_code == 400 and _error(response)["field"] == "weather"


@pytest.mark.parametrize("depth", [40, 6000])
def test_deeply_nested_json_is_400(api, depth):
    client, couple_id, auth, _ = api
    deep = "[" * depth + "]" * depth
    assert len(deep) < 64 * 1024
    for path, headers, body in (("/v1/couples", {}, '{"profile": ' + deep + '}'),
                                (f"/v1/couples/{couple_id}/dates", auth, '{"note": ' + deep + '}')):
        response = client.post(path, headers=headers, data=body, content_type="application/json")
        assert response.status_code == 400, response.get_data(as_text=True)
        assert _error(response) == {"code": "bad_json",
                                    "message": "the JSON body is nested more than 32 levels deep"}


def _sign_in_form(client, couple_id: str, token: str):
    page = client.get("/signin").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/signin", data={"csrf_token": csrf, "couple_id": couple_id, "token": token})


def test_a_nul_in_the_sign_in_forms_couple_id_is_a_400_page(api):
    client, couple_id, _, _ = api
    response = _sign_in_form(client, couple_id + "\x00", "whatever")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "couple_id contains a NUL character" in response.get_data(as_text=True)


def test_a_chunked_body_over_the_limit_is_413(api):
    client, _, _, _ = api
    body = b'{"profile": {"interests": ["' + b"x" * 100_000 + b'"]}}'
    # gunicorn sets wsgi.input_terminated for chunked bodies; werkzeug then stops reading at the limit
    response = client.post("/v1/couples", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and _error(response)["code"] == "too_large"
    small = client.post("/v1/couples", input_stream=io.BytesIO(b'{"profile": {"kids": true}}'),
                        content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                        environ_overrides={"wsgi.input_terminated": True})
    assert small.status_code == 201 and small.get_json()["profile"] == {"kids": True}


def test_a_missing_schema_is_503_naming_the_fix(backend_app):
    app, store = backend_app
    client = app.test_client()
    body = client.post("/v1/couples").get_json()
    auth = {"Authorization": f"Bearer {body['token']}"}
    with store.engine.begin() as conn:  # the database answers, but holds no table at all
        tables = sa.MetaData()
        tables.reflect(conn)
        tables.drop_all(conn)
    for response in (client.get(f"/v1/couples/{body['id']}/tonight", headers=auth),  # raw cursor read
                     client.post("/v1/couples")):                                     # SQLAlchemy write
        assert response.status_code == 503, response.get_data(as_text=True)
        assert _error(response)["code"] == "no_schema"
        assert "run `dateideas init`" in _error(response)["message"]


def test_a_raw_driver_operational_error_is_503(app, client, monkeypatch):
    store = app.extensions["dateideas.store"]

    def down(*args, **kwargs):
        raise psycopg.OperationalError("connection to server at 127.0.0.1 failed: server closed the connection")

    couple_id, token = store.create_couple()
    monkeypatch.setattr(store, "token_role", down)
    response = client.get(f"/v1/couples/{couple_id}/tonight", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and _error(response)["code"] == "unavailable"


def test_a_sqlite_worker_never_imports_the_postgresql_driver(tmp_path):
    """psycopg (7 MiB a worker) comes in only with a PostgreSQL store; its errors are still told
    apart where it is loaded (the test above)."""
    import subprocess
    import sys

    code = ("import sys; from service import create_app; "
            f"app = create_app({{'DATABASE_URL': 'sqlite:///{tmp_path}/x.sqlite3', 'MODEL_DIR': '{tmp_path}'}}); "
            "app.test_client().get('/healthz'); print('psycopg' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_logged_traceback_of_a_500_carries_the_request_id_of_its_body(app, client, monkeypatch, caplog):
    store = app.extensions["dateideas.store"]
    couple_id, token = store.create_couple()
    monkeypatch.setattr(store, "token_role", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = client.get(f"/v1/couples/{couple_id}/tonight", headers={"Authorization": f"Bearer {token}",
                                                                           "X-Request-ID": "req-4242"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "req-4242"
    assert "req-4242" in _error(response)["message"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert "req-4242" in record.getMessage() and record.exc_info[0] is ZeroDivisionError


def test_a_database_outage_on_a_page_is_a_503_page(app, client, monkeypatch):
    store = app.extensions["dateideas.store"]
    couple_id, token = store.create_couple()
    page = client.get("/signin").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/signin", data={"csrf_token": csrf, "couple_id": couple_id, "token": token}).status_code == 303

    def down(*args, **kwargs):
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "session_generation", down)
    response = client.get("/tonight")
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "cannot reach our database" in response.get_data(as_text=True)
