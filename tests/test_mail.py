"""A newsletter that arrives: addresses at sign-up, confirmation links, ``newsletter --send`` through a real
local SMTP server (aiosmtpd), signed rate and one-click unsubscribe links, at most one email per address and week.

Everything that is sent is received by an :class:`aiosmtpd.controller.Controller` on a free local port and
parsed back with the :mod:`email` package.
"""

from __future__ import annotations

import datetime as _dt
import email
import email.policy
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from conftest import CHROMIUM, sync_playwright_or_skip

from engine.app.recommender import Recommender
from engine.cli import main
from engine.config import MailSettings, mail_settings_from_env
from engine.domain.emails import EmailError, check_email
from engine.newsletter import (
    LinkError,
    MailLinks,
    NewsletterError,
    deliver_newsletter,
    read_link,
    read_week_picks,
    run_newsletter,
    week_start,
)
from engine.newsletter.delivery import _Throttle
from engine.store import ValidationError, open_store

SECRET = "test-secret-key"
BASE = "http://localhost"


# --------------------------------------------------------------------------- the SMTP server

class _Inbox:
    """aiosmtpd handler: keeps every message it accepts, parsed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self) -> Counter:
        return Counter(m["To"] for m in self.messages)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1:<free port>; yields (inbox, port)."""
    inbox, port = _Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _settings(port: int, **kw) -> MailSettings:
    return MailSettings(host="127.0.0.1", port=port, tls="none", mail_from="Date ideas <news@dates.test>",
                        public_url=BASE, per_second=0, timeout=10, **kw)


# --------------------------------------------------------------------------- a small world

_N = 12  # couples in the newsletter


@pytest.fixture
def world_store(store, tiny_world):
    """The tiny world (80 couples) in a migrated store, on SQLite and PostgreSQL."""
    store.bulk_load([{"id": str(c)} for c in tiny_world.couples["id"]], tiny_world.dates, source="demo")
    return store


@pytest.fixture(scope="module")
def recommender(tiny_model_dir):
    return Recommender.load(tiny_model_dir)


def _week(tiny_world) -> _dt.date:
    return week_start((tiny_world.dates["done_on"].max() + _dt.timedelta(days=10)).date())


def _addresses(store, couples: list[str]) -> dict[str, list[str]]:
    """Give the couples addresses; returns couple -> the addresses that must get mail.

    Every couple: partner A confirmed; every second couple: partner B confirmed too; the third couple's
    B is unconfirmed; the fourth couple's A is confirmed then unsubscribed (so it gets nothing)."""
    expected: dict[str, list[str]] = {}
    for i, couple in enumerate(couples):
        want = []
        for partner in ("a", "b"):
            if partner == "b" and i % 2:
                continue
            address = f"{partner}.{couple}@Example.ORG"
            row = store.set_email(couple, partner, address)
            assert row["address"] == f"{partner}.{couple}@example.org" and not row["confirmed"]
            if i == 2 and partner == "b":
                continue  # never confirmed
            assert store.confirm_email(couple, partner, row["address"])
            if i == 3 and partner == "a":
                assert store.unsubscribe_email(couple, partner, row["address"])
                continue
            want.append(row["address"])
        expected[couple] = want
    return expected


def _written_week(store, recommender, week, out: Path, couples: list[str]):
    run_newsletter(store, recommender, week, out, couple_ids=couples, progress=False)
    return store.completed_newsletter_run(week)["id"], read_week_picks(out, week)


def _check_messages(inbox: _Inbox, expected: dict[str, list[str]], picks) -> None:
    """One multipart (text + HTML) email per expected address, with the couple's picks and signed links."""
    by_address = {m["To"]: m for m in inbox.messages}
    assert inbox.to() == Counter(a for addresses in expected.values() for a in addresses)
    for couple, addresses in expected.items():
        ideas = list(picks[picks["couple_id"] == couple]["idea_id"])
        for address in addresses:
            message = by_address[address]
            assert message.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1)
            token = urllib.parse.parse_qs(urllib.parse.urlsplit(unsubscribe).query)["token"][0]
            partner = address[0]
            assert read_link(SECRET, "unsubscribe", token) == {"couple_id": couple, "partner": partner,
                                                               "address": address}
            html = message.get_body(("html",)).get_content()
            text = message.get_body(("plain",)).get_content()
            rates = re.findall(r'class="rate-link" href="([^"]+)"', html)
            assert [read_link(SECRET, "rate", _token(u.replace("&amp;", "&")))["idea_id"] for u in rates] == ideas
            assert text.count("rate it: http://localhost/email/rate?token=") == len(ideas)
            assert unsubscribe in text and "couple " + couple in text


def _token(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]


# --------------------------------------------------------------------------- pure parts

def test_check_email_accepts_plain_addresses_and_says_what_is_allowed():
    assert check_email("  Sam.O'Neil+dates@Mail.Example.ORG ") == "Sam.O'Neil+dates@mail.example.org"
    for bad in ("", "sam", "sam@", "@example.org", "sam@example", "sam@@example.org", "sa m@example.org",
                "sam@exa_mple.org", ".sam@example.org", "sam..x@example.org", "sam@-x.org", "a" * 250 + "@x.org",
                "sam@example.123"):
        with pytest.raises(EmailError, match=r"email_a must be an email address such as sam@example.org"):
            check_email(bad, "email_a")
    with pytest.raises(EmailError, match="got int"):
        check_email(7)


def test_links_verify_only_their_own_kind_key_and_age(monkeypatch):
    links = MailLinks(SECRET, BASE + "/")
    url = links.url("rate", "c1", "a", "a@x.org", "idea-1")
    assert url.startswith("http://localhost/email/rate?token=")
    assert read_link(SECRET, "rate", _token(url)) == {"couple_id": "c1", "partner": "a", "address": "a@x.org",
                                                      "idea_id": "idea-1"}
    with pytest.raises(LinkError, match="not valid") as wrong_kind:
        read_link(SECRET, "unsubscribe", _token(url))
    assert wrong_kind.value.reason == "invalid"
    with pytest.raises(LinkError, match="not valid"):
        read_link("another key", "rate", _token(url))
    with pytest.raises(LinkError, match="not valid"):
        read_link(SECRET, "rate", _token(url)[:-2])
    import time as _time

    real = _time.time
    monkeypatch.setattr(_time, "time", lambda: real() - 8 * 86400)  # made 8 days ago
    old = links.token("confirm", "c1", "a", "a@x.org")
    monkeypatch.setattr(_time, "time", real)
    with pytest.raises(LinkError, match="expired; links of its kind last 7 days") as expired:
        read_link(SECRET, "confirm", old)
    assert expired.value.reason == "expired"


def test_throttle_spaces_messages_by_the_rate():
    now = [0.0]
    slept = []
    throttle = _Throttle(4.0, lambda: now[0], lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    for _ in range(5):
        throttle.wait()
    assert slept == [0.25] * 4 and now[0] == 1.0
    unlimited = _Throttle(0, lambda: 0.0, lambda s: pytest.fail("no sleep without a limit"))
    unlimited.wait()
    unlimited.wait()


def test_mail_settings_from_env():
    assert mail_settings_from_env({}) is None
    settings = mail_settings_from_env({"DATEIDEAS_SMTP_HOST": "smtp.example.org", "DATEIDEAS_SMTP_TLS": "ssl",
                                       "DATEIDEAS_PUBLIC_URL": "https://dates.example.org/"})
    assert (settings.port, settings.tls, settings.public_url, settings.per_second) == (
        465, "ssl", "https://dates.example.org", 5.0)
    assert settings.mail_from == "Date ideas <newsletter@smtp.example.org>"
    with pytest.raises(ValueError, match="DATEIDEAS_SMTP_TLS must be one of none, starttls, ssl, got 'tls'"):
        mail_settings_from_env({"DATEIDEAS_SMTP_HOST": "h", "DATEIDEAS_SMTP_TLS": "tls"})
    with pytest.raises(ValueError, match="DATEIDEAS_SMTP_PORT must be a whole number"):
        mail_settings_from_env({"DATEIDEAS_SMTP_HOST": "h", "DATEIDEAS_SMTP_PORT": "x"})
    with pytest.raises(ValueError, match="DATEIDEAS_PUBLIC_URL must start with https://"):
        mail_settings_from_env({"DATEIDEAS_SMTP_HOST": "h", "DATEIDEAS_PUBLIC_URL": "dates.example.org"})


# --------------------------------------------------------------------------- the store (both backends)

def test_store_addresses_confirm_unsubscribe_and_claims(store):
    couple, _ = store.create_couple()
    with pytest.raises(ValidationError, match="email_a: must be an email address"):
        store.set_email(couple, "a", "not-an-address")
    with pytest.raises(ValidationError, match="partner"):
        store.set_email(couple, "c", "c@x.org")
    store.set_email(couple, "a", "a@x.org")
    assert store.mail_recipients([couple]) == {}  # not confirmed yet
    assert not store.confirm_email(couple, "a", "other@x.org")  # a link to another address
    assert store.confirm_email(couple, "a", "a@x.org") and store.confirm_email(couple, "a", "a@x.org")
    assert store.mail_recipients() == {couple: [{"partner": "a", "address": "a@x.org"}]}
    store.set_email(couple, "a", "a@x.org")  # the same address keeps its state
    assert store.email_addresses(couple)["a"]["confirmed"]
    week = _dt.date(2026, 6, 1)
    run = store.start_newsletter_run(week, 3)
    assert store.claim_mail(run, week, couple, "a", "a@x.org")
    assert not store.claim_mail(run, week, couple, "a", "a@x.org")  # claimed: never twice
    assert store.mail_counts(week) == {"sending": 1, "sent": 0, "failed": 0}
    assert store.finish_mail(week, couple, "a@x.org", "failed", error="550 no such user")
    assert store.claim_mail(run, week, couple, "a", "a@x.org")  # refused before: may be tried again
    assert store.finish_mail(week, couple, "a@x.org", "sent", message_id="<m1@x>")
    assert not store.claim_mail(run, week, couple, "a", "a@x.org")
    assert [(r["status"], r["message_id"], r["error"]) for r in store.mail_log(week)] == [("sent", "<m1@x>", None)]
    assert store.unsubscribe_email(couple, "a", "a@x.org") and store.mail_recipients() == {}
    store.set_email(couple, "a", "new@x.org")  # a new address starts over: unconfirmed, subscribed
    assert store.email_addresses(couple)["a"] | {"created_at": None} == {
        "partner": "a", "address": "new@x.org", "created_at": None, "confirmed": False, "confirmed_at": None,
        "subscribed": True, "unsubscribed_at": None, "daily": False}
    assert store.set_email(couple, "a", None) is None and store.email_addresses(couple) == {}
    store.set_email(couple, "b", "b@x.org")
    assert store.delete_couple(couple)  # erasure takes the addresses and the mail log with it
    assert store.email_addresses(couple) == {} and store.mail_log(week) == []


# --------------------------------------------------------------------------- delivery (both backends)

@pytest.mark.slow
def test_send_delivers_one_multipart_email_per_confirmed_address_and_resumes_without_duplicates(
        world_store, recommender, tiny_world, tmp_path, smtp):
    """sent = couples x confirmed subscribed addresses; a crash after the server took an email and before it
    was recorded, then a resume: no address receives the week twice; next week an unsubscribed one gets none."""
    inbox, port = smtp
    store, week = world_store, _week(tiny_world)
    couples = store.couple_ids(active_only=True)[:_N]
    expected = _addresses(store, couples)
    run_id, picks = _written_week(store, recommender, week, tmp_path / "out", couples)
    settings, links = _settings(port), MailLinks(SECRET, BASE)
    total = sum(len(a) for a in expected.values())
    assert total == 16  # 12 A's + 6 B's - an unconfirmed B - an unsubscribed A

    from engine.newsletter.delivery import SmtpSender

    class _DiesAfter(SmtpSender):
        """The 7th email reaches the server, then the process "dies" before it is recorded."""

        def send(self, message):
            super().send(message)
            if len(inbox.messages) == 7:
                raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt), _DiesAfter(settings) as dying:
        deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=settings, links=links,
                           sender=dying, progress=False)
    assert len(inbox.messages) == 7
    assert store.mail_counts(week) == {"sending": 1, "sent": 6, "failed": 0}
    resumed = deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=settings,
                                 links=links, progress=False)
    assert (resumed.sent, resumed.already_sent, resumed.unknown, resumed.failed) == (total - 7, 6, 1, 0)
    assert (resumed.addresses, resumed.couples) == (total, _N - 1)  # the fourth couple has no address left
    _check_messages(inbox, expected, picks)  # every address exactly once
    again = deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=settings,
                               links=links, progress=False)
    assert again.sent == 0 and again.already_sent == total - 1 and len(inbox.messages) == total

    # an unsubscribe is honoured by the next week's delivery
    gone = expected[couples[0]][0]
    assert store.unsubscribe_email(couples[0], "a", gone)
    inbox.messages.clear()
    next_week = week + _dt.timedelta(days=7)
    run_2, picks_2 = _written_week(store, recommender, next_week, tmp_path / "next", couples)
    result = deliver_newsletter(store, tiny_world.catalog, next_week, picks_2, run_id=run_2, settings=settings,
                                links=links, progress=False)
    assert result.sent == total - 1 and gone not in inbox.to() and len(inbox.messages) == total - 1


@pytest.mark.slow
def test_a_refused_email_is_marked_failed_and_tried_again(world_store, recommender, tiny_world, tmp_path, smtp):
    inbox, port = smtp
    store, week = world_store, _week(tiny_world)
    couples = store.couple_ids(active_only=True)[:2]
    for couple in couples:
        store.set_email(couple, "a", f"{couple}@example.org")
        store.confirm_email(couple, "a", f"{couple}@example.org")
    run_id, picks = _written_week(store, recommender, week, tmp_path / "out", couples)

    import smtplib

    from engine.newsletter.delivery import SmtpSender

    class _Refuses(SmtpSender):
        def send(self, message):
            if message["To"].startswith(couples[0]):
                raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"no such user")})
            super().send(message)

    settings = _settings(port)
    with _Refuses(settings) as refusing:
        first = deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=settings,
                                   links=MailLinks(SECRET, BASE), sender=refusing, progress=False)
    assert (first.sent, first.failed) == (1, 1)
    assert {r["address"]: r["status"] for r in store.mail_log(week)}[f"{couples[0]}@example.org"] == "failed"
    second = deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=settings,
                                links=MailLinks(SECRET, BASE), progress=False)
    assert (second.sent, second.already_sent, second.failed) == (1, 1, 0)
    assert sorted(inbox.to()) == sorted(f"{c}@example.org" for c in couples)


@pytest.mark.slow
def test_an_unreachable_server_claims_nothing(world_store, recommender, tiny_world, tmp_path):
    store, week = world_store, _week(tiny_world)
    couple = store.couple_ids(active_only=True)[0]
    store.set_email(couple, "a", "a@example.org")
    store.confirm_email(couple, "a", "a@example.org")
    run_id, picks = _written_week(store, recommender, week, tmp_path / "out", [couple])
    with pytest.raises(NewsletterError, match="cannot connect to the SMTP server 127.0.0.1"):
        deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=_settings(_free_port()),
                           links=MailLinks(SECRET, BASE), progress=False)
    assert store.mail_log(week) == []


# --------------------------------------------------------------------------- the links in a browser (test client)

@pytest.fixture
def mail_app(app, smtp):
    inbox, port = smtp
    app.config["SECRET_KEY"] = SECRET
    app.config["MAIL"] = _settings(port)
    return app


@pytest.mark.slow
def test_rate_and_unsubscribe_from_the_email_links(mail_app, service_store, model_dir, tiny_world, tmp_path, smtp):
    """The links of an email that arrived: "rate it" opens We did it for that idea signed in as the partner;
    the one-click POST (RFC 8058, no cookie, no CSRF token) unsubscribes; the next week sends nothing there."""
    inbox, port = smtp
    store, week = service_store, _week(tiny_world)
    couple = store.couple_ids(active_only=True)[0]
    for partner in ("a", "b"):
        store.set_email(couple, partner, f"{partner}@example.org")
        store.confirm_email(couple, partner, f"{partner}@example.org")
    recommender = Recommender.load(model_dir)
    run_id, picks = _written_week(store, recommender, week, tmp_path / "out", [couple])
    deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=_settings(port),
                       links=MailLinks(SECRET, BASE), progress=False)
    message = next(m for m in inbox.messages if m["To"] == "b@example.org")
    html = message.get_body(("html",)).get_content()
    rate = re.findall(r'class="rate-link" href="([^"]+)"', html)[1].replace("&amp;", "&")
    idea = read_link(SECRET, "rate", _token(rate))["idea_id"]

    client = mail_app.test_client()
    opened = client.get(rate.removeprefix(BASE))
    assert opened.status_code == 303 and opened.headers["Location"] == f"/we-did-it?idea={idea}"
    page = client.get(opened.headers["Location"])
    assert page.status_code == 200
    assert re.search(rf'<input id="idea_id"[^>]* value="{re.escape(idea)}"', page.get_data(as_text=True))
    with client.session_transaction() as session:
        assert (session["couple_id"], session["partner"]) == (couple, "b")  # signed in as the reader
    assert client.get(rate.removeprefix(BASE)[:-3]).status_code == 400  # a mangled link

    unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1).removeprefix(BASE)
    fresh = mail_app.test_client()  # a mail provider: no cookie, no CSRF token
    confirm_page = fresh.get(unsubscribe)
    assert confirm_page.status_code == 200 and "b@example.org" in confirm_page.get_data(as_text=True)
    assert store.email_addresses(couple)["b"]["subscribed"]  # GET changes nothing
    done = fresh.post(unsubscribe, data="List-Unsubscribe=One-Click",
                      content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "no more newsletters" in done.get_data(as_text=True)
    assert not store.email_addresses(couple)["b"]["subscribed"]
    assert fresh.post(unsubscribe, data="List-Unsubscribe=One-Click").status_code == 200  # twice: harmless

    inbox.messages.clear()
    next_week = week + _dt.timedelta(days=7)
    run_2, picks_2 = _written_week(store, recommender, next_week, tmp_path / "next", [couple])
    deliver_newsletter(store, tiny_world.catalog, next_week, picks_2, run_id=run_2, settings=_settings(port),
                       links=MailLinks(SECRET, BASE), progress=False)
    assert list(inbox.to()) == ["a@example.org"]
    # a changed address voids the old links
    store.set_email(couple, "b", "new-b@example.org")
    assert fresh.get(unsubscribe).status_code == 410


# --------------------------------------------------------------------------- sign-up: API and page

def test_api_signup_takes_optional_addresses_and_sends_a_confirmation_link(mail_app, smtp):
    inbox, _ = smtp
    client = mail_app.test_client()
    bad = client.post("/v1/couples", json={"email_a": "sam(at)example.org"})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["field"] == "email_a"
    assert "email_a must be an email address such as sam@example.org" in bad.get_json()["error"]["message"]
    assert inbox.messages == []
    none = client.post("/v1/couples", json={})
    assert none.status_code == 201 and none.get_json()["emails"] == {}
    created = client.post("/v1/couples", json={"email_a": "Sam@Example.org", "email_b": ""})
    assert created.status_code == 201
    body = created.get_json()
    assert body["emails"] == {"a": {"address": "Sam@example.org", "confirmed": False, "subscribed": True,
                                    "confirmation_sent": True, "daily": False}}
    assert mail_app.extensions["dateideas.outbox"].drain(30)  # sent after the response
    (message,) = inbox.messages
    assert message["To"] == "Sam@example.org" and message["Subject"].startswith("Confirm your email")
    link = re.search(r"http://localhost/email/confirm\?token=\S+", message.get_content()).group(0)
    store = mail_app.extensions["dateideas.store"]
    assert store.mail_recipients([body["id"]]) == {}
    page = client.get(link.removeprefix("http://localhost"))
    assert page.status_code == 200 and "Sam@example.org will receive your weekly date ideas" in \
        page.get_data(as_text=True)
    assert store.mail_recipients([body["id"]]) == {body["id"]: [{"partner": "a", "address": "Sam@example.org"}]}
    assert client.get("/email/confirm?token=nonsense").status_code == 400


def test_signup_page_has_the_email_fields_and_says_what_is_wrong(mail_app, smtp):
    inbox, _ = smtp
    client = mail_app.test_client()
    page = client.get("/signup")
    html = page.get_data(as_text=True)
    assert 'name="email_a"' in html and 'name="email_b"' in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    bad = client.post("/signup", data={"csrf_token": csrf, "email_b": "nope"})
    assert bad.status_code == 400 and "Enter an email address like sam@example.org" in bad.get_data(as_text=True)
    ok = client.post("/signup", data={"csrf_token": csrf, "email_a": "a@example.org", "email_b": "b@example.org"})
    assert ok.status_code == 201 and "We are sending a link to a@example.org" in ok.get_data(as_text=True)
    assert mail_app.extensions["dateideas.outbox"].drain(30)  # sent after the response
    assert sorted(inbox.to()) == ["a@example.org", "b@example.org"]


def test_signup_answers_without_waiting_for_a_mail_server_that_does_not_answer(app, caplog):
    """The confirmation goes out after the response (service.outbox): a mail server that takes the connection
    and never says a word holds the background job, not the sign-up, nor the worker's one request thread."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog) and never answers
    try:
        app.config["MAIL"] = _settings(silent.getsockname()[1])
        outbox = app.extensions["dateideas.outbox"]
        created = app.test_client().post("/v1/couples", json={"email_a": "sam@example.org"})
        assert created.status_code == 201
        assert created.get_json()["emails"]["a"]["confirmation_sent"] is True  # on its way
        assert not outbox.drain(0.5)  # still waiting on the silent server while the response is out
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        silent.close()  # the server goes away: the job fails, and says so in the log
    with caplog.at_level("WARNING", logger="service.mail"):
        assert outbox.drain(60)
    assert "could not send the confirmation email(s) of couple" in caplog.text
    store = app.extensions["dateideas.store"]
    assert store.email_addresses(created.get_json()["id"])["a"]["confirmed"] is False


def test_signup_without_smtp_keeps_the_address_unconfirmed(app):
    client = app.test_client()
    created = client.post("/v1/couples", json={"email_b": "b@example.org"})
    assert created.status_code == 201
    assert created.get_json()["emails"]["b"]["confirmation_sent"] is False


# --------------------------------------------------------------------------- the command

def _cli_env(db_url: str, model_dir: Path, port: int | None) -> dict[str, str]:
    env = {"DATEIDEAS_DATABASE_URL": db_url, "DATEIDEAS_MODEL_DIR": str(model_dir), "DATEIDEAS_SECRET_KEY": SECRET}
    if port is not None:
        env.update(DATEIDEAS_SMTP_HOST="127.0.0.1", DATEIDEAS_SMTP_PORT=str(port), DATEIDEAS_SMTP_TLS="none",
                   DATEIDEAS_MAIL_FROM="Date ideas <news@dates.test>", DATEIDEAS_PUBLIC_URL=BASE,
                   DATEIDEAS_SMTP_PER_SECOND="0")
    return env


def test_cli_send_without_smtp_is_refused_before_anything_is_written(sqlite_url, model_dir, tmp_path):
    open_store(sqlite_url).migrate()
    runner = CliRunner()
    base = ["newsletter", "--week", "2026-06-01", "--out", str(tmp_path / "out"), "--send", "--no-progress"]
    result = runner.invoke(main, base, env={**_cli_env(sqlite_url, model_dir, None), "DATEIDEAS_SMTP_HOST": ""})
    assert result.exit_code == 1 and "--send needs an SMTP server: set DATEIDEAS_SMTP_HOST" in result.output
    no_url = runner.invoke(main, base, env={**_cli_env(sqlite_url, model_dir, 25), "DATEIDEAS_PUBLIC_URL": ""})
    assert no_url.exit_code == 1 and "--send needs DATEIDEAS_PUBLIC_URL" in no_url.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_send_killed_midway_then_resumed_sends_every_address_once(sqlite_url, tiny_world, model_dir, tmp_path,
                                                                      smtp):
    """`dateideas newsletter --send` in a real process, SIGKILLed right after the SMTP server accepted its 5th
    email (before it was recorded), then run again: the week is not rebuilt, no address gets it twice."""
    inbox, port = smtp
    store = open_store(sqlite_url)
    store.migrate()
    store.bulk_load([{"id": str(c)} for c in tiny_world.couples["id"]], tiny_world.dates, source="demo")
    couples = store.couple_ids(active_only=True)[:_N]
    expected = _addresses(store, couples)
    total = sum(len(a) for a in expected.values())
    listed = tmp_path / "couples.txt"
    listed.write_text("\n".join(couples) + "\n", encoding="utf-8")
    week = _week(tiny_world)
    out = tmp_path / "out"
    args = ["newsletter", "--week", week.isoformat(), "--out", str(out), "--couples", str(listed), "--send",
            "--no-progress"]
    env = {**os.environ, **_cli_env(sqlite_url, model_dir, port)}
    killer = (
        "import os, signal, sys\n"
        "from engine.newsletter.delivery import SmtpSender\n"
        "real = SmtpSender.send\n"
        "n = [0]\n"
        "def send_then_die(self, message):\n"
        "    real(self, message)\n"
        "    n[0] += 1\n"
        "    if n[0] == 5:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "SmtpSender.send = send_then_die\n"
        "from engine.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    proc = subprocess.run([sys.executable, "-c", killer, *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    assert len(inbox.messages) == 5
    result = CliRunner().invoke(main, args, env=_cli_env(sqlite_url, model_dir, port))
    assert result.exit_code == 0, result.output
    assert "already written completely" in result.output
    assert (f"sent {total - 5} email(s) to {total} confirmed address(es) of {_N - 1} couple(s)" in result.output
            and "4 already sent by an earlier delivery" in result.output
            and "1 claimed by a delivery that stopped" in result.output), result.output
    _check_messages(inbox, expected, read_week_picks(out, week))  # each address exactly once
    assert store.mail_counts(week) == {"sending": 1, "sent": total - 1, "failed": 0}
    store.close()


# --------------------------------------------------------------------------- in a browser (Chromium, live gunicorn)

_PHONE = {"width": 390, "height": 844}
_SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture
def phone_page():
    """A phone-width page in Debian's headless Chromium (skipped without it, as tests/test_browser.py)."""
    with sync_playwright_or_skip()() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_context(viewport=_PHONE).new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def _shot(page, name: str) -> None:
    _SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(_SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, name


@pytest.mark.slow
def test_in_a_browser_sign_up_confirm_rate_and_unsubscribe_from_the_email_links(
        phone_page, tmp_path, tiny_world, tiny_model_dir, serve_gunicorn, smtp):
    """Phone-width Chromium against `dateideas serve`: sign up with two addresses, confirm both from the
    emails that arrived, get the newsletter (--send's delivery), rate an idea from partner B's email (signed
    in as B), unsubscribe B from the email's link; the next week's delivery mails only A."""
    import shutil

    from engine.config import signing_secret

    inbox, port = smtp
    page = phone_page
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "models")
    env = {"DATEIDEAS_SMTP_HOST": "127.0.0.1", "DATEIDEAS_SMTP_PORT": str(port), "DATEIDEAS_SMTP_TLS": "none",
           "DATEIDEAS_MAIL_FROM": "Date ideas <news@dates.test>"}
    with serve_gunicorn(tmp_path, tiny_world, model_dir, env) as (http_port, _process, db_url):
        base = f"http://127.0.0.1:{http_port}"
        page.goto(base + "/signup")
        page.get_by_label("Partner A's email").fill("a@example.org")
        page.get_by_label("Partner B's email").fill("b@example.org")
        _shot(page, "email-signup")
        page.get_by_role("button", name="Sign up").click()
        assert "We are sending a link to a@example.org" in page.locator("#email-confirmations").inner_text()
        couple = page.locator("#couple-id").inner_text()
        deadline = time.monotonic() + 30  # the worker sends them right after the response
        while len(inbox.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(inbox.to()) == ["a@example.org", "b@example.org"]
        for message in inbox.messages:
            page.goto(re.search(r"http://\S+/email/confirm\?token=\S+", message.get_content()).group(0))
            assert "will receive your weekly date ideas" in page.locator("#email-message").inner_text()
        _shot(page, "email-confirmed")
        page.context.clear_cookies()  # a reader opening the email later, signed out

        inbox.messages.clear()
        store = open_store(db_url)
        try:
            week = _week(tiny_world)
            run_id, picks = _written_week(store, Recommender.load(model_dir), week, tmp_path / "out", [couple])
            links = MailLinks(signing_secret(model_dir), base)  # the server's key, from its model folder
            deliver_newsletter(store, tiny_world.catalog, week, picks, run_id=run_id, settings=_settings(port),
                               links=links, progress=False)
            message = next(m for m in inbox.messages if m["To"] == "b@example.org")
            html = message.get_body(("html",)).get_content()
            idea = list(picks["idea_id"])[0]
            rate = re.findall(r'class="rate-link" href="([^"]+)"', html)[0].replace("&amp;", "&")
            page.goto(rate)
            page.wait_for_url(f"**/we-did-it?idea={idea}")
            assert page.get_by_label("The idea").input_value() == idea
            _shot(page, "email-rate")
            page.locator("#rating_b-group").get_by_label("5").check()  # signed in as B: B's own rating
            page.get_by_role("button", name="Save our date").click()
            page.wait_for_url("**/our-dates")
            assert [(d["idea_id"], d["rating_b"]) for d in store.list_dates(couple)] == [(idea, 5)]

            page.context.clear_cookies()
            page.goto(re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1))
            assert "b@example.org" in page.locator("main").inner_text()
            page.get_by_role("button", name="Unsubscribe").click()
            assert "no more newsletters" in page.locator("#email-message").inner_text()
            _shot(page, "email-unsubscribed")
            assert not store.email_addresses(couple)["b"]["subscribed"]

            inbox.messages.clear()
            next_week = week + _dt.timedelta(days=7)
            run_2, picks_2 = _written_week(store, Recommender.load(model_dir), next_week, tmp_path / "next", [couple])
            deliver_newsletter(store, tiny_world.catalog, next_week, picks_2, run_id=run_2,
                               settings=_settings(port), links=links, progress=False)
            assert list(inbox.to()) == ["a@example.org"]
        finally:
            store.close()
