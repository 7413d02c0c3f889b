"""Issue 20 item 2, "an optional daily email": each opted-in partner's Today nudge by email, once a day.

Sent through a real local SMTP server (aiosmtpd, the fixture of tests/test_mail.py) and parsed back; the store
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as _dt
import re

import pytest
from click.testing import CliRunner
from test_mail import (
    BASE,
    SECRET,
    _settings,
    smtp,  # noqa: F401 - a fixture: a real local SMTP server (aiosmtpd)
)
from test_pages import _sign_in
from test_settings_page import _form

from engine.cli import main
from engine.newsletter import MailLinks, deliver_daily
from engine.practice.today import today_for
from engine.store import open_store

DAY = _dt.date(2026, 3, 2)


def _people(store) -> dict[str, tuple[str, str, str]]:
    """Couples with addresses in each state; name -> (couple, partner, address)."""
    out = {}
    for name in ("in_a", "in_b", "not_opted", "unconfirmed", "unsubscribed"):
        couple, _ = store.create_couple(profile={"name_a": "Sam", "name_b": "Alex"})
        partner = "b" if name == "in_b" else "a"
        address = f"{name}@example.org"
        store.set_email(couple, partner, address)
        if name != "unconfirmed":
            assert store.confirm_email(couple, partner, address)
        if name != "not_opted":
            assert store.set_daily(couple, partner, True)
        if name == "unsubscribed":
            assert store.unsubscribe_email(couple, partner, address)
        out[name] = (couple, partner, address)
    # the first couple's other partner too, opted in: both partners of one couple get their own nudge
    couple = out["in_a"][0]
    store.set_email(couple, "b", "in_a_b@example.org")
    store.confirm_email(couple, "b", "in_a_b@example.org")
    store.set_daily(couple, "b", True)
    out["in_a_b"] = (couple, "b", "in_a_b@example.org")
    return out


def _deliver(store, port, day=DAY):
    return deliver_daily(store, day, settings=_settings(port), links=MailLinks(SECRET, BASE))


def test_opted_in_confirmed_addresses_each_get_their_nudge_once_a_day(store, smtp):  # noqa: F811 - the fixture
    inbox, port = smtp
    people = _people(store)
    assert store.email_addresses(people["not_opted"][0])["a"]["daily"] is False  # default off
    result = _deliver(store, port)
    wanted = {people[n][2] for n in ("in_a", "in_b", "in_a_b")}
    assert (result.sent, result.addresses) == (3, 3)
    assert sorted(inbox.to().elements()) == sorted(wanted)
    for message in inbox.messages:
        couple, partner, _ = next(p for p in people.values() if p[2] == message["To"])
        nudge = today_for(store, couple, DAY)["partners"][partner]["text"]  # what the Today page shows
        assert message.get_content_type() == "multipart/alternative"
        assert nudge in message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)).get_content().count("<strong>") == 1
        assert message["List-Unsubscribe"].startswith(f"<{BASE}/email/daily/unsubscribe?token=")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"{BASE}/today" in message.get_body(("plain",)).get_content()
    assert {r["status"] for r in store.daily_log(DAY)} == {"sent"}

    again = _deliver(store, port)  # a second run of the day
    assert (again.sent, again.already_sent, len(inbox.messages)) == (0, 3, 3)
    tomorrow = _deliver(store, port, DAY + _dt.timedelta(days=1))
    assert tomorrow.sent == 3 and len(inbox.messages) == 6


def test_a_killed_run_resumes_without_duplicates(store, smtp):  # noqa: F811 - the fixture
    inbox, port = smtp
    _people(store)

    class _Dies:
        """Connects for real, then the process 'dies' after the first email is handed over."""

        def __init__(self):
            from engine.newsletter import SmtpSender
            self.real, self.n = SmtpSender(_settings(port)), 0

        def ready(self):
            self.real.ready()

        def send(self, message):
            if self.n == 1:
                raise KeyboardInterrupt
            self.n += 1
            self.real.send(message)

    sender = _Dies()
    with pytest.raises(KeyboardInterrupt):
        deliver_daily(store, DAY, settings=_settings(port), links=MailLinks(SECRET, BASE), sender=sender)
    sender.real.close()
    assert len(inbox.messages) == 1
    resumed = _deliver(store, port)
    assert (resumed.sent, resumed.already_sent, resumed.unknown) == (1, 1, 1)  # the one in flight: never twice
    assert len(inbox.messages) == 2 and len(set(inbox.to())) == 2


def test_the_cli_sends_once_per_day(db_url, tmp_path, smtp):  # noqa: F811 - the fixture
    inbox, port = smtp
    store = open_store(db_url)
    try:
        store.migrate()
        _people(store)
    finally:
        store.close()
    env = {"DATEIDEAS_DATABASE_URL": db_url, "DATEIDEAS_MODEL_DIR": str(tmp_path / "models"),
           "DATEIDEAS_SMTP_HOST": "127.0.0.1", "DATEIDEAS_SMTP_PORT": str(port), "DATEIDEAS_SMTP_TLS": "none",
           "DATEIDEAS_PUBLIC_URL": BASE, "DATEIDEAS_SMTP_PER_SECOND": "0"}
    preview = CliRunner().invoke(main, ["today", "--day", DAY.isoformat()], env=env)  # without --send: a look
    assert preview.exit_code == 0, preview.output
    assert "3 opted-in, confirmed address(es); 3 to send, 0 already sent" in preview.output and not inbox.messages
    first = CliRunner().invoke(main, ["today", "--send", "--day", DAY.isoformat()], env=env)
    assert first.exit_code == 0, first.output
    assert "sent 3 daily email(s)" in first.output and len(inbox.messages) == 3
    second = CliRunner().invoke(main, ["today", "--send", "--day", DAY.isoformat()], env=env)
    assert second.exit_code == 0 and "sent 0 daily email(s)" in second.output and len(inbox.messages) == 3
    after = CliRunner().invoke(main, ["today", "--day", DAY.isoformat()], env=env)
    assert "3 opted-in, confirmed address(es); 0 to send, 3 already sent" in after.output


def test_the_unsubscribe_link_stops_the_daily_email_and_not_the_newsletter(app, service_store, smtp):  # noqa: F811 - the fixture
    inbox, port = smtp
    app.config["SECRET_KEY"] = SECRET
    store = service_store
    couple, _ = store.create_couple(profile={})
    store.set_email(couple, "a", "sam@example.org")
    store.confirm_email(couple, "a", "sam@example.org")
    store.set_daily(couple, "a", True)
    _deliver(store, port)
    unsubscribe = re.fullmatch(r"<(.+)>", inbox.messages[0]["List-Unsubscribe"]).group(1).removeprefix(BASE)
    fresh = app.test_client()  # a mail provider's one-click POST: no cookie, no CSRF token
    page = fresh.get(unsubscribe)
    assert page.status_code == 200 and "the daily nudge email" in page.get_data(as_text=True)
    done = fresh.post(unsubscribe, data="List-Unsubscribe=One-Click",
                      content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "no more daily nudges" in done.get_data(as_text=True)
    row = store.email_addresses(couple)["a"]
    assert row["daily"] is False and row["subscribed"] is True  # the newsletter goes on
    assert couple in store.mail_recipients([couple])
    assert _deliver(store, port, DAY + _dt.timedelta(days=1)).sent == 0
    # the newsletter's unsubscribe link is another kind: it does not open the daily page, nor the reverse
    assert fresh.get(unsubscribe.replace("/email/daily/unsubscribe", "/email/unsubscribe")).status_code == 400


def test_the_settings_checkbox_sets_the_opt_in(client, app):
    store = app.extensions["dateideas.store"]
    couple, token = store.create_couple(profile={"name_a": "Sam", "name_b": "Alex"})
    assert _sign_in(client, couple, token).status_code == 303
    client.post("/settings", data=_form(client.get("/settings"), email_a="sam@example.org", daily_a="yes"))
    assert store.email_addresses(couple)["a"]["daily"] is True
    page = client.get("/settings").get_data(as_text=True)
    assert "Also a daily nudge by email" in page
    assert re.search(r'id="daily_a" name="daily_a" value="yes" checked', page)
    assert not re.search(r'id="daily_b" name="daily_b" value="yes" checked', page)
    client.post("/settings", data=_form(client.get("/settings")))  # unticked
    assert store.email_addresses(couple)["a"]["daily"] is False


def test_the_api_sign_up_takes_the_opt_in(client):
    made = client.post("/v1/couples", json={"email_a": "sam@example.org", "daily_a": True})
    assert made.status_code == 201 and made.get_json()["emails"]["a"]["daily"] is True
    assert client.post("/v1/couples", json={"daily_b": True}).status_code == 400  # no address to send to
    assert client.post("/v1/couples", json={"email_a": "s@example.org", "daily_a": "yes"}).status_code == 400


def test_erasing_a_couple_deletes_its_daily_rows(store, smtp):  # noqa: F811 - the fixture
    inbox, port = smtp
    people = _people(store)
    _deliver(store, port)
    couple = people["in_a"][0]
    store.delete_couple(couple)
    assert all(r["couple_id"] != couple for r in store.daily_log(DAY))


def test_the_api_changes_addresses_and_opt_ins_after_sign_up(client, app):
    store = app.extensions["dateideas.store"]
    made = client.post("/v1/couples", json={"email_a": "sam@example.org"}).get_json()
    couple, auth = made["id"], {"Authorization": f"Bearer {made['token']}"}
    url = f"/v1/couples/{couple}"
    assert store.confirm_email(couple, "a", "sam@example.org")

    # opting in keeps the confirmed address; a new address for b is stored unconfirmed
    changed = client.patch(url, headers=auth, json={"daily_a": True, "email_b": "alex@example.org"})
    assert changed.status_code == 200, changed.get_json()
    emails = changed.get_json()["emails"]
    state = {p: (row["address"], row["confirmed"], row["daily"]) for p, row in emails.items()}
    assert state == {"a": ("sam@example.org", True, True), "b": ("alex@example.org", False, False)}
    assert changed.get_json()["profile"] == made["profile"]

    # a changed address must be confirmed again; null removes one
    changed = client.patch(url, headers=auth, json={"email_a": "sam@new.example.org", "email_b": None})
    emails = changed.get_json()["emails"]
    assert set(emails) == {"a"} and emails["a"]["address"] == "sam@new.example.org"
    assert emails["a"]["confirmed"] is False
    assert set(store.email_addresses(couple)) == {"a"}

    # every field is checked before anything is written
    before = store.email_addresses(couple)
    for body, field in (({"daily_b": True}, "daily_b"),  # b has no address now
                        ({"email_b": "alex@example.org", "daily_a": "yes"}, "daily_a"),
                        ({"email_b": "not an address", "daily_a": False}, "email_b"),
                        ({"email_b": "alex@example.org", "profile": {"budget": 9}}, "profile.budget")):
        refused = client.patch(url, headers=auth, json=body)
        assert refused.status_code == 400 and refused.get_json()["error"]["field"] == field, body
        assert store.email_addresses(couple) == before, body
    assert client.patch(url, headers=auth, json={}).status_code == 400  # nothing to change

    # one partner's own token may not change addresses
    partner = client.post(f"{url}/partners/a/token", headers=auth).get_json()["token"]
    refused = client.patch(url, headers={"Authorization": f"Bearer {partner}"}, json={"daily_a": False})
    assert refused.status_code == 403 and store.email_addresses(couple)["a"]["daily"] is True
