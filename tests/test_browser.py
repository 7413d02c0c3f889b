"""The couples' pages in headless Chromium (Debian's ``chromium``, driven by playwright) against live gunicorn.

Sign in, get a suggestion, change the context and see it respected, ask for
another idea, rate the date, find it in the history, see the next suggestion
change. Every test saves a screenshot at desktop (1280x800) and phone (390x844)
width into ``tests/screenshots/`` (git-ignored) and checks the phone page does
not scroll sideways.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``
(install it with ``scripts/install-browser.sh``). Without it the tests skip,
unless ``DATEIDEAS_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CHROMIUM, sync_playwright_or_skip

pytestmark = pytest.mark.slow  # starts servers or a browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="module")
def browser():
    sync_playwright = sync_playwright_or_skip()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


class _Live:
    def __init__(self, base: str, process: subprocess.Popen):
        self.base, self.process = base, process

    def api(self, method: str, path: str, token: str | None = None):
        host, port = self.base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def new_couple(self) -> tuple[str, str]:
        status, body = self.api("POST", "/v1/couples")
        assert status == 201, body
        return body["id"], body["token"]


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_world, tiny_model_dir, serve_gunicorn):
    """``dateideas serve`` (gunicorn, 2 workers) on a SQLite store with the tiny world and its fitted model."""
    root = tmp_path_factory.mktemp("browser")
    model_dir = shutil.copytree(tiny_model_dir, root / "models")
    with serve_gunicorn(root, tiny_world, model_dir) as (port, process, _):
        yield _Live(f"http://127.0.0.1:{port}", process)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


def _shoot(page, name: str) -> None:
    """Screenshots at desktop and phone width; the phone page must not scroll sideways."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the phone page is {overflow}px wider than the screen"
    page.set_viewport_size(DESKTOP)


def _sign_in(page, live: _Live, couple: tuple[str, str]) -> None:
    """Sign in with the keyboard only: type, Tab, type, Enter."""
    page.goto(live.base + "/")
    assert page.url.endswith("/signin")
    page.get_by_label("Couple id").focus()
    page.keyboard.type(couple[0])
    page.keyboard.press("Tab")
    page.keyboard.type(couple[1])
    page.keyboard.press("Enter")
    page.wait_for_url("**/tonight")


def _suggestion(page) -> tuple[str, str]:
    card = page.locator("article.suggestion")
    return card.get_attribute("data-idea-id"), card.get_attribute("data-setting")


def _shown(page) -> list[str]:
    return [el.get_attribute("data-idea-id") for el in page.locator("[data-idea-id]").all()]


def test_sign_in_with_a_wrong_token_then_the_right_one(page, live):
    couple = live.new_couple()
    page.goto(live.base + "/signin")
    page.get_by_label("Couple id").fill(couple[0])
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#token-error")
    assert error.inner_text().endswith("No couple has this id and token. Check both and try again.")
    assert page.get_by_label("Token").get_attribute("aria-describedby") == "token-error"
    _shoot(page, "signin-error")
    _sign_in(page, live, couple)
    idea_id, _ = _suggestion(page)
    assert page.locator("h2.idea-title").inner_text()
    assert page.locator("article.suggestion .reasons li").count() >= 1
    assert page.locator("article.suggestion .description").inner_text()
    assert page.locator("li.alternative").count() == 2
    status, api = live.api("GET", f"/v1/couples/{couple[0]}/tonight", token=couple[1])
    assert status == 200 and api["suggestion"]["idea_id"] == idea_id
    _shoot(page, "tonight")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    assert "You are signed out." in page.locator(".flash").inner_text()


def test_sign_up_with_interests_then_sign_in_again_with_the_token_shown_once(page, live):
    page.goto(live.base + "/signin")
    page.get_by_role("link", name="Sign up").click()
    page.wait_for_url("**/signup")
    page.get_by_label("Wellness").check()
    page.get_by_label("Most you would usually spend on a date").select_option(label="Moderate")
    _shoot(page, "signup")
    page.get_by_role("button", name="Sign up").click()
    couple = (page.locator("#couple-id").inner_text(), page.locator("#couple-token").inner_text())
    assert "We will start from what you are into: wellness." in page.locator("main").inner_text()
    _shoot(page, "welcome")
    page.get_by_role("link", name="See tonight's idea").click()
    page.wait_for_url("**/tonight")
    assert page.locator("article.suggestion .reasons li").first.inner_text() == "You said you are into wellness"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    _sign_in(page, live, couple)  # the token shown once signs the couple in again
    status, api = live.api("GET", f"/v1/couples/{couple[0]}/tonight", token=couple[1])
    assert status == 200 and api["suggestion"]["idea_id"] == _suggestion(page)[0]


def test_changing_the_context_is_respected(page, live):
    _sign_in(page, live, live.new_couple())
    page.get_by_label("At home").check()
    page.get_by_label("Budget").select_option(label="Up to free")
    page.get_by_label("Weather").select_option("rain")
    page.get_by_role("button", name="Show ideas").click()
    page.wait_for_load_state()
    assert _suggestion(page)[1] == "home"
    assert [el.get_attribute("data-setting") for el in page.locator("[data-setting]").all()] == ["home"] * 3
    facts = page.locator("article.suggestion .facts").inner_text()
    assert "Free" in facts and "At home" in facts
    assert page.get_by_label("At home").is_checked()  # the form keeps tonight's choices
    _shoot(page, "tonight-home")
    page.get_by_label("Out", exact=True).check()
    page.get_by_role("button", name="Show ideas").click()
    page.wait_for_load_state()
    assert {el.get_attribute("data-setting") for el in page.locator("[data-setting]").all()} <= {"out", "away"}


def test_a_bad_value_is_explained_next_to_its_field(page, live):
    _sign_in(page, live, live.new_couple())
    page.get_by_label("Time we have, in minutes").fill("5")
    page.get_by_role("button", name="Show ideas").click()
    error = page.locator("#minutes-error")
    assert error.is_visible()
    assert error.inner_text().strip().endswith("Pick between 15 minutes and a day.")
    assert page.get_by_label("Time we have, in minutes").get_attribute("aria-invalid") == "true"
    _shoot(page, "tonight-error")


def test_another_idea(page, live):
    _sign_in(page, live, live.new_couple())
    first, _ = _suggestion(page)
    page.get_by_role("button", name="Another idea").click()
    page.wait_for_url("**/tonight")
    second, _ = _suggestion(page)
    assert second != first
    page.reload()
    assert _suggestion(page)[0] == second  # it stays on the new idea
    _shoot(page, "tonight-another")


def test_rate_the_date_find_it_in_the_history_and_the_next_suggestion_changes(page, live):
    couple = live.new_couple()
    _sign_in(page, live, couple)
    before = _shown(page)
    assert page.get_by_text("We don't know your tastes yet").is_visible()
    title = page.locator("h2.idea-title").inner_text()
    page.get_by_role("link", name="We did it: rate it").click()
    page.wait_for_url("**/we-did-it?idea=*")
    assert page.get_by_label("The idea").input_value() == before[0]
    # keyboard: radio groups move with the arrow keys
    page.locator("#rating_a-group").get_by_label("1").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.locator("#rating_b-group").get_by_label("5").check()
    page.get_by_label("Note").fill("Laughed all the way home.")
    _shoot(page, "we-did-it")
    page.get_by_role("button", name="Save our date").click()
    page.wait_for_url("**/our-dates")
    row = page.locator(f'tr[data-idea-id="{before[0]}"]')
    assert row.locator("th").inner_text() == title
    assert row.locator(".score").all_inner_texts() == ["4", "5"]
    assert "Laughed all the way home." in row.inner_text()
    status, history = live.api("GET", f"/v1/couples/{couple[0]}/dates", token=couple[1])
    assert [(d["idea_id"], d["ratings"]) for d in history["dates"]] == [(before[0], {"a": 4, "b": 5})]
    _shoot(page, "our-dates")
    page.get_by_role("link", name="Tonight").click()
    page.wait_for_url("**/tonight")
    assert page.get_by_text("We don't know your tastes yet").count() == 0
    assert _shown(page) != before


def test_we_did_it_errors_in_words(page, live):
    _sign_in(page, live, live.new_couple())
    page.goto(live.base + "/we-did-it")
    page.get_by_role("button", name="Save our date").click()
    summary = page.locator(".error-summary")
    assert "Give at least one rating: 1 to 5 from either of you." in summary.inner_text()
    assert page.locator("#ratings-error").is_visible()
    _shoot(page, "we-did-it-error")
    assert re.search(r"/we-did-it$", page.url)


def test_a_mistyped_address_shows_the_sites_not_found_page(page, live):
    response = page.goto(live.base + "/tonigth")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert "There is no page at /tonigth." in page.locator("[role=alert]").inner_text()
    assert page.locator("link[rel=stylesheet]").count() == 1  # in the site's style
    page.get_by_role("link", name="Back to the start").click()
    page.wait_for_load_state()
    assert re.fullmatch(re.escape(live.base) + r"/(signin)?", page.url)  # home (signed out: sign-in)
    page.goto(live.base + "/tonigth")
    _shoot(page, "not-found")


def test_today_shows_both_partners_and_one_marks_theirs_done(page, live):
    _sign_in(page, live, live.new_couple())
    page.get_by_role("link", name="Today").click()
    page.wait_for_url("**/today")
    cards = page.locator("section.nudge")
    assert cards.count() == 2
    assert all(text.strip() for text in page.locator(".nudge-text").all_inner_texts())
    page.get_by_role("button", name="Done (partner A)").click()
    page.wait_for_url("**/today")
    assert page.locator('section.nudge[data-partner="a"] .done').inner_text() == "Done"
    assert "Done today. Nice one." in page.locator('section.nudge[data-partner="a"] .streak').inner_text()
    assert page.get_by_role("button", name="Done (partner B)").is_visible()
    _shoot(page, "today")


def test_a_prompt_on_tonight_marked_talked_about(page, live):
    couple = live.new_couple()
    _sign_in(page, live, couple)
    prompt = page.locator("article.suggestion .prompt")
    prompt_id = prompt.get_attribute("data-prompt-id")
    assert prompt.get_attribute("data-depth") == "1" and prompt.locator(".prompt-text").inner_text().strip()
    _shoot(page, "tonight-prompt")
    page.get_by_role("button", name="We talked about it").click()
    page.wait_for_url("**/tonight")
    assert "go a little deeper" in page.locator(".flash").inner_text()
    status, body = live.api("GET", f"/v1/couples/{couple[0]}/prompts", couple[1])
    assert status == 200 and body == {"depth": 1, "talked": 1, "skipped": 0}
    assert prompt_id


def test_an_intimacy_level_set_at_sign_up_is_respected(page, live):
    page.goto(live.base + "/signup")
    assert page.get_by_label("Affection only").is_checked()  # the default, explained in one line
    assert "choose together" in page.locator("#intimacy-hint").inner_text().lower()
    page.get_by_label("Romantic").check()
    _shoot(page, "signup-intimacy")
    page.get_by_role("button", name="Sign up").click()
    couple = (page.locator("#couple-id").inner_text(), page.locator("#couple-token").inner_text())
    page.get_by_role("link", name="See tonight's idea").click()
    page.wait_for_url("**/tonight")
    status, api = live.api("GET", f"/v1/couples/{couple[0]}/tonight", token=couple[1])
    assert status == 200 and api["context"]["intimacy"] == "romantic"
    shown = set(_shown(page))
    for _ in range(4):
        page.get_by_role("button", name="Another idea").click()
        page.wait_for_url("**/tonight")
        shown.update(_shown(page))
    _shoot(page, "tonight-intimacy")
    levels = {idea: live.api("GET", f"/v1/ideas/{idea}")[1]["intimacy"] for idea in shown}
    assert levels and "sensual" not in levels.values(), levels
    # the ideas to rate list romantic ideas now, never a sensual one
    page.goto(live.base + "/we-did-it")
    options = set(page.locator("#idea-choices option").evaluate_all("els => els.map(e => e.value)"))
    status, romantic = live.api("GET", "/v1/ideas?intimacy=romantic&limit=100&offset=250")
    status2, everything = live.api("GET", "/v1/ideas?limit=100&offset=300")
    assert status == status2 == 200
    listed = {i["id"] for i in romantic["ideas"] if i["intimacy"] == "romantic"}
    assert len(listed) >= 12 and listed <= options
    sensual = {i["id"] for i in everything["ideas"] if i["intimacy"] == "sensual"}
    assert sensual and not sensual & options


def test_edit_and_delete_a_date_and_not_for_us_at_phone_width(page, live):
    """Issue 20 item 6: "not for us" on tonight's suggestion (gone from the next ideas, back from Saved),
    a mistaken date changed and another deleted on Our dates; every control at least 44 px tall."""
    couple = live.new_couple()
    _sign_in(page, live, couple)
    page.set_viewport_size(PHONE)
    first, _ = _suggestion(page)
    title = page.locator("h2.idea-title").inner_text()
    page.locator("article.suggestion").get_by_role("button", name="Not for us").click()
    page.wait_for_url("**/tonight")
    assert "We will not suggest" in page.locator(".flash").inner_text()
    for _ in range(3):
        assert first not in _shown(page)
        page.get_by_role("button", name="Another idea").click()
        page.wait_for_url("**/tonight")
    _shoot(page, "tonight-not-for-us")
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Saved").click()
    card = page.locator(f'li[data-idea-id="{first}"][data-list="not-for-us"]')
    assert card.locator("h3").inner_text() == title
    card.get_by_role("button", name="Suggest it again").click()
    page.wait_for_url("**/saved")
    assert page.locator(f'li[data-idea-id="{first}"]').count() == 0
    # two dates: one rated wrongly, one that never happened
    page.goto(live.base + f"/we-did-it?idea={first}")
    page.locator("#rating_a-group").get_by_label("2").check()
    page.get_by_role("button", name="Save our date").click()
    page.wait_for_url("**/our-dates")
    page.goto(live.base + "/we-did-it")
    page.get_by_label("The idea").fill("picnic")  # the searchable list: typed, then chosen
    idea = [v for v in page.locator("#idea-choices option").evaluate_all("els => els.map(e => e.value)")
            if "picnic" in v and v != first][0]
    page.get_by_label("The idea").fill(idea)
    page.locator("#rating_b-group").get_by_label("3").check()
    page.get_by_role("button", name="Save our date").click()
    page.wait_for_url("**/our-dates")
    page.set_viewport_size(PHONE)
    for control in page.locator("main button, main a.button, nav a").all():
        box = control.bounding_box()
        assert box is None or box["height"] >= 44, (control.inner_text(), box)
    _shoot(page, "our-dates-edit")
    row = page.locator(f'tr[data-idea-id="{first}"]')
    row.get_by_role("link", name="Edit").click()
    page.wait_for_url("**/our-dates/*")
    page.locator("#rating_a-group").get_by_label("5").check()
    page.get_by_label("Note").fill("Better than we first said.")
    _shoot(page, "edit-date")
    page.get_by_role("button", name="Save the changes").click()
    page.wait_for_url("**/our-dates")
    assert page.locator(f'tr[data-idea-id="{first}"] .score').all_inner_texts() == ["5"]
    page.locator(f'tr[data-idea-id="{idea}"]').get_by_role("button", name="Delete").click()
    page.wait_for_url("**/our-dates")
    assert page.locator(f'tr[data-idea-id="{idea}"]').count() == 0
    status, history = live.api("GET", f"/v1/couples/{couple[0]}/dates", token=couple[1])
    assert status == 200 and [(d["idea_id"], d["ratings"], d["note"]) for d in history["dates"]] == [
        (first, {"a": 5, "b": None}, "Better than we first said.")]


def test_settings_changed_at_phone_width(page, live):
    """Issue 20 items 4 and 6, "changeable later": Settings from the navigation, names and the intimacy level
    changed at phone width, kept on reload, and the next suggestion uses the new level."""
    couple = live.new_couple()
    _sign_in(page, live, couple)
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url("**/settings")
    assert page.get_by_label("Affection only").is_checked()
    page.get_by_label("Partner A's first name").fill("Sam")
    page.get_by_label("Partner B's first name").fill("Alex")
    page.get_by_label("Romantic").check()
    # text fields, lists and buttons, and each tick box's or radio button's whole label, are tap targets
    controls = ("main button, main input:not([type=checkbox]):not([type=radio]):not([type=hidden]), "
                "main select, main label.choice, nav a")
    for control in page.locator(controls).all():
        box = control.bounding_box()
        assert box is None or box["height"] >= 44, (control.inner_text(), control.get_attribute("name"), box)
    _shoot(page, "settings")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/settings")
    assert "Your settings are saved." in page.locator(".flash").inner_text()
    page.reload()
    assert page.get_by_label("Partner A's first name").input_value() == "Sam"
    assert page.get_by_label("Romantic").is_checked()
    status, api = live.api("GET", f"/v1/couples/{couple[0]}/tonight", token=couple[1])
    assert status == 200 and api["context"]["intimacy"] == "romantic"
