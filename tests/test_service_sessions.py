"""Issue 16 item 6: a page session ends on sign-out, token rotation and erasure, and after its lifetimes."""

from __future__ import annotations

import re
import time

import pytest

from engine.store import UnknownCoupleError, open_store
from service import create_app


@pytest.fixture
def pages_app(db_url, model_dir):
    """The app on an empty, migrated store, once per backend."""
    store = open_store(db_url)
    store.migrate()
    app = create_app({"DATABASE_URL": db_url, "MODEL_DIR": str(model_dir), "LOG_REQUESTS": False,
                      "RATELIMIT_ENABLED": False, "SECRET_KEY": "test-secret"})
    try:
        yield app
    finally:
        app.extensions["dateideas.store"].close()
        store.close()


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _sign_in(client, couple_id: str, token: str) -> str:
    """Sign in through the form; returns the session cookie's value (what a thief would copy)."""
    response = client.post("/signin", data={"csrf_token": _csrf(client.get("/signin")), "couple_id": couple_id,
                                            "token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/tonight")
    return client.get_cookie("session").value


def _opens_tonight(app, cookie: str) -> bool:
    """Whether a fresh browser holding only ``cookie`` gets the Tonight page."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get("/tonight").status_code == 200


def test_a_cookie_saved_before_sign_out_no_longer_opens_tonight(pages_app):
    couple_id, token = pages_app.extensions["dateideas.store"].create_couple()
    client = pages_app.test_client()
    saved = _sign_in(client, couple_id, token)
    second_device = pages_app.test_client()
    other_cookie = _sign_in(second_device, couple_id, token)
    assert _opens_tonight(pages_app, saved) and _opens_tonight(pages_app, other_cookie)
    response = client.post("/signout", data={"csrf_token": _csrf(client.get("/tonight"))})
    assert response.status_code == 303
    assert not _opens_tonight(pages_app, saved)
    assert not _opens_tonight(pages_app, other_cookie)  # every session of the couple ended
    refused = pages_app.test_client()
    refused.set_cookie("session", saved)
    assert refused.get("/tonight").headers["Location"].endswith("/signin")
    assert _opens_tonight(pages_app, _sign_in(client, couple_id, token))  # signing in again works


def test_token_rotation_and_erasure_end_the_sessions(pages_app):
    store = pages_app.extensions["dateideas.store"]
    couple_id, token = store.create_couple()
    cookie = _sign_in(pages_app.test_client(), couple_id, token)
    new_token = store.rotate_token(couple_id)
    assert not _opens_tonight(pages_app, cookie)
    cookie = _sign_in(pages_app.test_client(), couple_id, new_token)
    assert _opens_tonight(pages_app, cookie)
    api = pages_app.test_client()
    assert api.delete(f"/v1/couples/{couple_id}", headers={"Authorization": f"Bearer {new_token}"}).status_code == 204
    assert not _opens_tonight(pages_app, cookie)


def test_one_partners_sessions_can_be_revoked_alone(store):
    couple_id, _ = store.create_couple()
    couple, a, b = (store.session_generation(couple_id, p) for p in (None, "a", "b"))
    store.revoke_sessions(couple_id, "a")
    assert store.session_generation(couple_id, "a") != a
    assert (store.session_generation(couple_id), store.session_generation(couple_id, "b")) == (couple, b)
    store.revoke_sessions(couple_id)  # the whole couple: every partner's sessions too
    assert {store.session_generation(couple_id, p) for p in (None, "b")}.isdisjoint({couple, b})
    with pytest.raises(UnknownCoupleError, match="no couple with id 'c_nobody'"):
        store.revoke_sessions("c_nobody")
    assert store.session_generation("c_nobody") is None


def test_an_idle_session_ends(pages_app, monkeypatch):
    couple_id, token = pages_app.extensions["dateideas.store"].create_couple()
    client = pages_app.test_client()
    cookie = _sign_in(client, couple_id, token)
    assert pages_app.permanent_session_lifetime.total_seconds() == 24 * 3600
    now = time.time()
    # itsdangerous dates the signature with time.time(): 23 h later the cookie still opens the page ...
    monkeypatch.setattr(time, "time", lambda: now + 23 * 3600)
    browser = pages_app.test_client()
    browser.set_cookie("session", cookie)
    assert browser.get("/tonight").status_code == 200
    refreshed = browser.get_cookie("session").value
    # ... and that visit re-signed it: 23 h after the visit it is still alive; the original copy is not
    monkeypatch.setattr(time, "time", lambda: now + 46 * 3600)
    assert _opens_tonight(pages_app, refreshed)
    assert not _opens_tonight(pages_app, cookie)


def test_a_session_ends_after_its_absolute_lifetime(pages_app, monkeypatch):
    couple_id, token = pages_app.extensions["dateideas.store"].create_couple()
    client = pages_app.test_client()
    _sign_in(client, couple_id, token)
    now = time.time()
    for day in range(1, 14):  # used every day: the idle lifetime never runs out
        monkeypatch.setattr(time, "time", lambda day=day: now + day * 86400)
        assert client.get("/tonight").status_code == 200
    monkeypatch.setattr(time, "time", lambda: now + 14 * 86400 + 60)
    assert client.get("/tonight").status_code == 303
