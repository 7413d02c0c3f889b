"""Issue 20 items 4 and 6, "asked at sign-up and changeable later": the Settings page through the Flask test client.

The profile is shown pre-filled, saved through ``Store.update_profile`` (the PATCH route's call, checked by
``check_profile``), errors are in plain words next to the field, a partner alone may only lower the intimacy
level, and a changed level is what the very next suggestion obeys (the history cache and the ranked-list cache
both key on it)."""

from __future__ import annotations

import datetime as _dt
import re

import pytest
from test_intimacy import _every_idea_tonight
from test_mail import _settings, smtp  # noqa: F401 - smtp: a real local SMTP server (aiosmtpd), a fixture
from test_pages import _csrf, _described_by_error, _field_error, _post, _sign_in

from engine.domain.constraints import with_profile
from engine.domain.context import Context
from engine.domain.profiles import NAME_MAX


def _store(app):
    return app.extensions["dateideas.store"]


def _catalog(app):
    return app.extensions["dateideas.models"].catalog


@pytest.fixture
def couple(app):
    return _store(app).create_couple(profile={"name_a": "Sam", "name_b": "Alex", "interests": ["outdoors"],
                                              "budget_ceiling": 1, "kids": True})


@pytest.fixture
def signed_in(client, couple):
    assert _sign_in(client, *couple).status_code == 303
    return client, couple[0]


def _profile(app, couple_id: str) -> dict:
    return _store(app).get_couple(couple_id)["profile"]


def _form(page, **changes) -> dict:
    """The Settings form as the page shows it (pre-filled values), with ``changes``, ready to post."""
    text = page.get_data(as_text=True)
    data: dict = {"csrf_token": _csrf(page)}
    for name in ("name_a", "name_b", "home", "accessibility_needs", "email_a", "email_b"):
        found = re.search(rf'<input[^>]*id="{name}" name="{name}" value="([^"]*)"', text)
        if found:
            data[name] = found.group(1)
    data["interests"] = re.findall(r'name="interests" value="([^"]+)"[^>]*checked', text)
    chosen = re.search(r'<option value="(\d?)" selected', text)
    data["budget_ceiling"] = chosen.group(1) if chosen else ""
    if re.search(r'id="kids" name="kids" value="yes" checked', text):
        data["kids"] = "yes"
    data["intimacy"] = re.search(r'name="intimacy" value="(\w+)"[^>]*checked', text).group(1)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_settings_is_in_the_navigation_and_shows_the_profile_pre_filled(signed_in):
    client, _ = signed_in
    assert 'href="/settings"' in client.get("/tonight").get_data(as_text=True)
    page = client.get("/settings")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'aria-current="page">Settings' in text
    assert 'id="name_a" name="name_a" value="Sam"' in text and 'id="name_b" name="name_b" value="Alex"' in text
    assert re.search(r'name="interests" value="outdoors"[^>]*checked', text)
    assert '<option value="1" selected>Cheap</option>' in text
    assert 'id="kids" name="kids" value="yes" checked' in text
    assert re.search(r'name="intimacy" value="affection"[^>]*checked', text)
    assert " disabled" not in text  # the couple's shared sign-in may change everything


def test_a_change_is_saved_in_one_go_and_shown_on_reload(signed_in, app):
    client, couple_id = signed_in
    page = client.get("/settings")
    saved = client.post("/settings", data=_form(page, name_a="Samira", budget_ceiling="3", kids=None,
                                                interests=["outdoors", "food-and-drink"], home="51.5074,-0.1278",
                                                accessibility_needs="no stairs", intimacy="romantic"))
    assert saved.status_code == 303 and saved.headers["Location"] == "/settings"
    assert _profile(app, couple_id) == {"name_a": "Samira", "name_b": "Alex",
                                        "interests": ["outdoors", "food-and-drink"], "budget_ceiling": 3, "kids": False,
                                        "home": "51.5074,-0.1278",
                                        "accessibility_needs": "no stairs", "intimacy": "romantic"}
    again = client.get("/settings")
    text = again.get_data(as_text=True)
    assert "Your settings are saved." in text
    assert 'value="Samira"' in text and '<option value="3" selected>Splurge</option>' in text
    assert 'id="kids" name="kids" value="yes" checked' not in text and 'value="no stairs"' in text
    assert re.search(r'name="intimacy" value="romantic"[^>]*checked', text)
    assert "Samira" in client.get("/today").get_data(as_text=True)  # the name is used everywhere at once
    # emptied fields are removed from the profile
    client.post("/settings", data=_form(again, name_a="", home="", accessibility_needs="", interests=[]))
    assert _profile(app, couple_id) == {"name_b": "Alex", "budget_ceiling": 3, "kids": False,
                                        "intimacy": "romantic"}


@pytest.mark.parametrize("field, value, message", [
    ("name_a", "x" * (NAME_MAX + 1), f"Write a first name of up to {NAME_MAX} characters "
                                     "(letters, spaces and punctuation), or leave it empty."),
    ("budget_ceiling", "9", "Choose a budget from the list, or leave it open."),
    ("budget_ceiling", "-1", "Choose a budget from the list, or leave it open."),
    ("home", "the moon", "Write where you live as latitude,longitude (like 51.5074,-0.1278), or leave it empty."),
    ("intimacy", "wild", "Choose affection only, romantic or sensual."),
    ("interests", ["not-a-category"], "Choose from the listed interests."),
    ("email_a", "not an address", "Enter an email address like sam@example.org, or leave it empty."),
])
def test_a_bad_value_is_explained_next_to_its_field_and_changes_nothing(signed_in, app, field, value, message):
    client, couple_id = signed_in
    before = _profile(app, couple_id)
    page = client.get("/settings")
    bad = client.post("/settings", data=_form(page, name_b="Alexandra", **{field: value}))
    assert bad.status_code == 400
    assert _field_error(bad, field) == message
    assert _described_by_error(bad, field)
    assert 'value="Alexandra"' in bad.get_data(as_text=True)  # what was typed stays in the form
    assert _profile(app, couple_id) == before  # the good change next to it is not saved either
    assert _store(app).email_addresses(couple_id) == {}


def test_the_forms_csrf_token_is_needed(signed_in, app):
    client, couple_id = signed_in
    before = _profile(app, couple_id)
    form = _form(client.get("/settings"), name_a="Mallory")
    for token in (None, "forged"):
        refused = client.post("/settings", data={**form, "csrf_token": token} if token else
                              {k: v for k, v in form.items() if k != "csrf_token"})
        assert refused.status_code == 400 and "did not come from this site" in refused.get_data(as_text=True)
    assert _profile(app, couple_id) == before


def test_signed_out_goes_to_sign_in(client):
    response = client.get("/settings")
    assert response.status_code == 303 and response.headers["Location"] == "/signin"


def test_an_email_address_is_added_changed_and_removed_with_a_confirmation_each_time(signed_in, app):
    client, couple_id = signed_in
    store = _store(app)
    client.post("/settings", data=_form(client.get("/settings"), email_a="sam@example.org"))
    row = store.email_addresses(couple_id)["a"]
    assert (row["address"], row["confirmed"]) == ("sam@example.org", False)
    assert store.confirm_email(couple_id, "a", "sam@example.org")
    page = client.get("/settings")
    assert "Confirmed: the weekly ideas go to it." in page.get_data(as_text=True)
    client.post("/settings", data=_form(page, name_b="Alexa"))  # unchanged: still confirmed
    assert store.email_addresses(couple_id)["a"]["confirmed"]
    client.post("/settings", data=_form(client.get("/settings"), email_a="samira@example.org"))
    row = store.email_addresses(couple_id)["a"]
    assert (row["address"], row["confirmed"]) == ("samira@example.org", False)  # a new address: confirmed again
    client.post("/settings", data=_form(client.get("/settings"), email_a=""))
    assert store.email_addresses(couple_id) == {}


def test_a_new_or_changed_address_is_sent_a_confirmation_link(signed_in, app, smtp):  # noqa: F811 - the fixture
    inbox, port = smtp
    app.config["MAIL"] = _settings(port)
    client, couple_id = signed_in
    saved = client.post("/settings", data=_form(client.get("/settings"), email_a="sam@example.org"),
                        follow_redirects=True)
    assert "We are sending a link to sam@example.org to confirm it." in saved.get_data(as_text=True)
    outbox = app.extensions["dateideas.outbox"]  # the links go out right after the response
    assert outbox.drain(30) and list(inbox.to()) == ["sam@example.org"]
    assert inbox.messages[0]["Subject"].startswith("Confirm your email")
    client.post("/settings", data=_form(client.get("/settings"), name_b="Alexa"))  # the address as it was
    assert outbox.drain(30) and len(inbox.messages) == 1
    client.post("/settings", data=_form(client.get("/settings"), email_b="alex@example.org"))
    assert outbox.drain(30) and list(inbox.to()) == ["sam@example.org", "alex@example.org"]
    link = re.search(r"http://localhost/email/confirm\?token=\S+", inbox.messages[1].get_content()).group(0)
    assert client.get(link.removeprefix("http://localhost")).status_code == 200
    assert _store(app).email_addresses(couple_id)["b"]["confirmed"]


# ------------------------------------------------------------------ the intimacy level, changed later


def test_the_level_changed_here_is_what_the_next_suggestion_obeys(signed_in, app, couple):
    client, couple_id = signed_in
    level = _catalog(app).frame["intimacy"]
    sensual, above = set(level.index[level == "sensual"]), set(level.index[level != "affection"])
    api = {"Authorization": f"Bearer {couple[1]}"}
    store = _store(app)
    today = _dt.date.today()

    def history():
        return store.tonight_reads(couple_id, today, today - _dt.timedelta(days=14), "x" * 32).history

    before = history()
    assert not _every_idea_tonight(client, couple_id, api) & above  # and the caches hold affection's lists
    # (kids along and a cheap budget rule out every sensual idea: the couple says they are free of both)
    client.post("/settings", data=_form(client.get("/settings"), intimacy="sensual", kids=None, budget_ceiling="",
                                        interests=["romance", "wellness"]))
    after = history()
    # the history cache keys on the couple's stamp, which the change renewed: the new level is read at once ...
    assert after.profile.intimacy == "sensual" and before.profile.intimacy == "affection"
    # ... and tonight's context carries it, so the ranked-list cache (keyed by the context) cannot answer stale
    ctx = Context(day=today)
    assert with_profile(ctx, after.profile) != with_profile(ctx, before.profile)
    assert _every_idea_tonight(client, couple_id, api) & sensual  # a sensual-only idea is possible now
    assert {i for i in sensual if f'value="{i}"' in client.get("/we-did-it").get_data(as_text=True)}
    client.post("/settings", data=_form(client.get("/settings"), intimacy="affection"))
    assert history().profile.intimacy == "affection"
    assert not _every_idea_tonight(client, couple_id, api) & above  # never offered again
    page = client.get("/tonight").get_data(as_text=True)
    assert not any(f'data-idea-id="{i}"' in page for i in above)


def _partner_alone(app, client, couple_id: str, partner: str = "a"):
    token = re.search(r'<code id="partner-token">([^<]+)</code>',
                      _post(client, "/invite", {"partner": partner}).get_data(as_text=True)).group(1)
    alone = app.test_client()
    assert _sign_in(alone, couple_id, token).status_code == 303
    return alone


def test_a_partner_alone_may_lower_the_level_but_not_raise_it_nor_change_the_rest(signed_in, app):
    client, couple_id = signed_in
    client.post("/settings", data=_form(client.get("/settings"), intimacy="romantic"))
    before = _profile(app, couple_id)
    alone = _partner_alone(app, client, couple_id)
    page = alone.get("/settings")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="alone-note"' in text
    assert re.search(r'name="intimacy" value="sensual"[^>]*disabled', text)  # shown, not selectable
    assert not re.search(r'name="intimacy" value="(affection|romantic)"[^>]*disabled', text)
    assert re.search(r'<fieldset class="field" id="names-group"\s+disabled>', text)  # the rest is read-only
    assert 'name="email_a"' not in text

    forged = alone.post("/settings", data={"csrf_token": _csrf(page), "intimacy": "sensual"})
    assert forged.status_code == 403
    assert "Raising how much physical closeness ideas include needs both of you" in forged.get_data(as_text=True)
    assert _profile(app, couple_id) == before

    # other fields sent along are ignored: a partner alone changes only the level, and only down
    lowered = alone.post("/settings", data={"csrf_token": _csrf(page), "intimacy": "affection",
                                            "name_a": "Mallory", "budget_ceiling": "3"})
    assert lowered.status_code == 303
    assert _profile(app, couple_id) == {**before, "intimacy": "affection"}
    assert re.search(r'name="intimacy" value="romantic"[^>]*disabled', alone.get("/settings").get_data(as_text=True))
    # the couple's shared sign-in may raise it again
    assert client.post("/settings", data=_form(client.get("/settings"), intimacy="sensual")).status_code == 303
    assert _profile(app, couple_id)["intimacy"] == "sensual"


def test_an_address_waiting_for_confirmation_can_be_sent_the_link_again(signed_in, app, smtp):  # noqa: F811
    inbox, port = smtp
    client, couple_id = signed_in
    outbox = app.extensions["dateideas.outbox"]
    client.post("/settings", data=_form(client.get("/settings"), email_a="sam@example.org"))  # no SMTP yet
    page = client.get("/settings").get_data(as_text=True)
    assert 'form="resend-form" id="resend_a" name="resend" value="a"' in page and 'id="resend_b"' not in page
    csrf = _csrf(client.get("/settings"))
    unset = client.post("/settings", data={"csrf_token": csrf, "resend": "a"}, follow_redirects=True)
    assert "Email is not set up on this service" in unset.get_data(as_text=True)
    app.config["MAIL"] = _settings(port)
    again = client.post("/settings", data={"csrf_token": csrf, "resend": "a"}, follow_redirects=True)
    assert "We are sending a new link to sam@example.org to confirm it." in again.get_data(as_text=True)
    assert outbox.drain(30) and list(inbox.to()) == ["sam@example.org"]
    link = re.search(r"http://localhost/email/confirm\?token=\S+", inbox.messages[0].get_content()).group(0)
    assert client.get(link.removeprefix("http://localhost")).status_code == 200
    assert 'id="resend_a"' not in client.get("/settings").get_data(as_text=True)  # confirmed: nothing to resend
    refused = client.post("/settings", data={"csrf_token": csrf, "resend": "a"})
    assert refused.status_code == 400 and len(inbox.messages) == 1
    assert client.post("/settings", data={"csrf_token": csrf, "resend": "z"}).status_code == 400
