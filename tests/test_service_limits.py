"""Issue 16 item 8: rate limits on sign-in, sign-up, couple creation and ``another`` (Flask-Limiter).

In memory and on the Redis server at 127.0.0.1:6379 (each test its own key
prefix, so parallel runs never share counts).
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

from service import create_app

_REDIS = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(_REDIS, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        reason = f"no Redis at {_REDIS} (the shared rate-limit counts are tested on it): {exc}"
        if os.environ.get("DATEIDEAS_REQUIRE_REDIS") == "1":  # make test, CI: a missing Redis fails
            pytest.fail(reason + " (DATEIDEAS_REQUIRE_REDIS=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(params=["memory", "redis"])
def limited(request, service_store, model_dir):
    """An app factory with small limits; the counts in memory or in Redis (a unique prefix per test)."""
    made = []
    prefix = f"dateideas-test-{uuid.uuid4().hex}"
    if request.param == "redis":
        _redis_or_skip()

    def make(**limits):
        app = create_app({
            "DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
            "MODEL_DIR": str(model_dir), "LOG_REQUESTS": False, "RETRAIN_AFTER_DATES": 0,
            "RATELIMIT_STORAGE_URI": _REDIS if request.param == "redis" else "memory://",
            "RATELIMIT_KEY_PREFIX": prefix, **limits})
        made.append(app)
        return app

    make.shared = request.param == "redis"  # counts shared by apps, as by gunicorn workers and replicas
    yield make
    for app in made:
        app.extensions["dateideas.store"].close()
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(_REDIS)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _retry_after(response) -> int:
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 3600
    return seconds


@pytest.mark.slow
def test_couple_creation_is_limited_per_address_with_a_json_429(limited):
    client = limited(LIMIT_COUPLES="3 per hour").test_client()
    assert [client.post("/v1/couples").status_code for _ in range(3)] == [201] * 3
    refused = client.post("/v1/couples")
    assert refused.status_code == 429 and _retry_after(refused) > 3000
    assert refused.get_json() == {"error": {"code": "too_many_requests", "message": (
        "too many couples created from this address: the limit is 3 per hour; "
        "wait as long as Retry-After says, then try again")}}
    other = limited(LIMIT_COUPLES="3 per hour").test_client()  # another worker: in Redis, the same counts
    assert other.post("/v1/couples").status_code == (429 if limited.shared else 201)
    elsewhere = client.post("/v1/couples", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert elsewhere.status_code == 201  # another client address has its own allowance


def test_sign_in_attempts_are_limited_with_an_html_429(limited):
    app = limited(LIMIT_SIGNIN="2 per minute")
    couple_id, token = app.extensions["dateideas.store"].create_couple()
    client = app.test_client()
    csrf = _csrf(client.get("/signin"))
    wrong = [client.post("/signin", data={"csrf_token": csrf, "couple_id": couple_id, "token": "nope"})
             for _ in range(2)]
    assert [r.status_code for r in wrong] == [401, 401]
    refused = client.post("/signin", data={"csrf_token": csrf, "couple_id": couple_id, "token": token})
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 1 <= _retry_after(refused) <= 60
    assert "too many sign-in attempts from this address" in refused.get_data(as_text=True)
    assert client.get("/signin").status_code == 200  # the page itself is not limited


def test_sign_ups_are_limited(limited):
    client = limited(LIMIT_SIGNUP="1 per hour").test_client()
    csrf = _csrf(client.get("/signup"))
    assert client.post("/signup", data={"csrf_token": csrf}).status_code == 201
    csrf = _csrf(client.get("/signup"))
    refused = client.post("/signup", data={"csrf_token": csrf})
    assert refused.status_code == 429 and "too many sign-ups" in refused.get_data(as_text=True)


def test_another_is_limited_per_couple_and_only_answered_requests_count(limited):
    app = limited(LIMIT_ANOTHER="2 per minute")
    store = app.extensions["dateideas.store"]
    client = app.test_client()
    couple_id, token = store.create_couple()
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/v1/couples/{couple_id}/tonight?another=true"
    # a stranger without the token uses none of the couple's allowance
    assert [client.get(url).status_code for _ in range(3)] == [404] * 3
    assert [client.get(url, headers=auth).status_code for _ in range(2)] == [200, 200]
    refused = client.get(url, headers=auth)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "too_many_requests"
    assert "'another' requests for this couple" in refused.get_json()["error"]["message"]
    _retry_after(refused)
    assert client.get(f"/v1/couples/{couple_id}/tonight", headers=auth).status_code == 200  # plain tonight is free
    other_id, other_token = store.create_couple()
    assert client.get(f"/v1/couples/{other_id}/tonight?another=1",
                      headers={"Authorization": f"Bearer {other_token}"}).status_code == 200
    # the page's "Another idea" button shares the couple's count
    page = app.test_client()
    signin = page.post("/signin", data={"csrf_token": _csrf(page.get("/signin")), "couple_id": couple_id,
                                        "token": token})
    assert signin.status_code == 303
    button = page.post("/tonight", data={"csrf_token": _csrf(page.get("/tonight")), "action": "another"})
    assert button.status_code == 429 and button.mimetype == "text/html"


def test_limits_can_be_turned_off_and_bad_limits_are_named(limited):
    client = limited(LIMIT_COUPLES="1 per hour", RATELIMIT_ENABLED=False).test_client()
    assert [client.post("/v1/couples").status_code for _ in range(3)] == [201] * 3
    with pytest.raises(ValueError, match=r"LIMIT_SIGNIN \(env DATEIDEAS_RATELIMIT_SIGNIN\) must be a rate limit "
                                         r"such as '10 per minute'.*got 'lots'"):
        limited(LIMIT_SIGNIN="lots")


def test_the_environment_names_the_storage_and_the_limits(monkeypatch, tmp_path):
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("DATEIDEAS_RATELIMIT_STORAGE", _REDIS)
    monkeypatch.setenv("DATEIDEAS_RATELIMIT_SIGNIN", "5 per minute")
    app = create_app()
    try:
        assert app.config["RATELIMIT_STORAGE_URI"] == _REDIS
        assert app.config["LIMIT_SIGNIN"] == "5 per minute" and app.config["LIMIT_SIGNUP"] == "10 per hour"
    finally:
        app.extensions["dateideas.store"].close()


@pytest.mark.parametrize("hops", [0, 1])
def test_per_address_limits_follow_the_proxy_setting(limited, hops):
    """Behind one trusted proxy each forwarded client has its own count; with none trusted a client
    cannot escape its count by sending X-Forwarded-For."""
    client = limited(LIMIT_COUPLES="2 per hour", TRUSTED_PROXIES=hops).test_client()

    def create(address: str) -> int:
        return client.post("/v1/couples", headers={"X-Forwarded-For": address}).status_code

    assert [create("203.0.113.7"), create("203.0.113.7")] == [201, 201]
    assert create("203.0.113.7") == 429
    assert create("198.51.100.9") == (201 if hops else 429)


def test_a_bad_proxy_setting_is_refused_with_what_is_allowed(service_store, model_dir):
    with pytest.raises(ValueError, match=r"TRUSTED_PROXIES must be a whole number >= 0 \(proxies in front\)"):
        create_app({"DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
                    "MODEL_DIR": str(model_dir), "TRUSTED_PROXIES": -1})
