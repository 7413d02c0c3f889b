"""``another`` has a per-couple daily limit, counted in the database (issue 16, item 2): a 429 with Retry-After."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.app.serving import seconds_until_tomorrow


@pytest.fixture
def limited(app):
    app.config["ANOTHER_PER_DAY"] = 2
    cid, token = app.extensions["dateideas.store"].create_couple()
    return app.test_client(), cid, {"Authorization": f"Bearer {token}"}


def test_another_beyond_the_daily_limit_is_a_429_with_retry_after(limited, app):
    client, cid, headers = limited
    url = f"/v1/couples/{cid}/tonight?budget=3"
    first = client.get(url, headers=headers).get_json()
    moved = [client.get(url + "&another=true", headers=headers) for _ in range(2)]
    assert [r.status_code for r in moved] == [200, 200]
    assert moved[1].get_json()["suggestion"]["idea_id"] == first["alternatives"][1]["idea_id"]  # offset 2
    refused = client.get(url + "&another=true", headers=headers)
    assert refused.status_code == 429
    assert refused.get_json() == {"error": {
        "code": "too_many_requests", "field": "another",
        "message": "another is limited to 2 requests per couple per day and this couple has used them all today; "
                   "tonight's ideas without another=true still work, and another works again tomorrow"}}
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    # another context is the same couple: still refused; the plain request still answers, with the last list
    assert client.get(f"/v1/couples/{cid}/tonight?budget=2&another=1", headers=headers).status_code == 429
    assert client.get(url, headers=headers).get_json() == moved[1].get_json()
    # the limit is the couple's: another couple is not affected
    other, token = app.extensions["dateideas.store"].create_couple()
    assert client.get(f"/v1/couples/{other}/tonight?another=1",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_page_another_button_says_the_limit_in_words(limited, app):
    from tests.test_pages import _post, _sign_in

    client, cid, _ = limited
    store = app.extensions["dateideas.store"]
    _, token = cid, store.rotate_token(cid)
    assert _sign_in(client, cid, token).status_code == 303
    client.get("/tonight")
    assert [_post(client, "/tonight", {"action": "another"}).status_code for _ in range(2)] == [303, 303]
    response = _post(client, "/tonight", {"action": "another"})
    assert response.status_code == 429
    assert "You have asked for another idea 2 times today" in response.get_data(as_text=True)


def test_seconds_until_tomorrow_known_answers():
    assert seconds_until_tomorrow(dt.datetime(2026, 3, 10, 23, 59, 30)) == 30
    assert seconds_until_tomorrow(dt.datetime(2026, 3, 10, 0, 0, 0)) == 86_400
    assert seconds_until_tomorrow(dt.datetime(2026, 3, 10, 23, 59, 59, 999_999)) == 1
