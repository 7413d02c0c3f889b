"""Implausible dates (issue 16, item 1): one rule refuses them everywhere a date is recorded, and a bad
row already stored is skipped and reported by training and the newsletter, never fatal."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.app.recommender import Recommender
from engine.app.serving import DateInputError, check_date_input
from engine.cli import main
from engine.domain.dataset import DatasetError, read_dataset, write_dataset
from engine.domain.dates import DayError, check_day, implausible_days
from engine.newsletter import run_newsletter, week_start
from engine.store import ValidationError

TODAY = dt.date(2026, 3, 10)


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize("value, latest, message", [
    ("0001-01-01", None, "done_on must be a date from 1900-01-01 to 2099-12-31, got 0001-01-01"),
    ("1899-12-31", None, "done_on must be a date from 1900-01-01 to 2099-12-31, got 1899-12-31"),
    ("2100-01-01", None, "done_on must be a date from 1900-01-01 to 2099-12-31, got 2100-01-01"),
    ("2026-03-12", TODAY + dt.timedelta(days=1),
     "done_on must be a date from 1900-01-01 to 2026-03-11, got 2026-03-12"),
    ("2024-02-30", None, "done_on must be a real date as YYYY-MM-DD, got '2024-02-30'"),
    ("1/2/2024", None, "done_on must be a date as YYYY-MM-DD, got '1/2/2024'"),
    (dt.datetime(2024, 1, 1), None, "done_on must be a date as YYYY-MM-DD"),
])
def test_check_day_names_the_allowed_range(value, latest, message):
    with pytest.raises(DayError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_day(value, latest=latest)


def test_check_day_accepts_the_bounds_and_finds_the_bad_distinct_values():
    assert check_day("1900-01-01") == dt.date(1900, 1, 1)
    assert check_day(dt.date(2099, 12, 31)) == dt.date(2099, 12, 31)
    assert check_day("2026-03-11", latest=TODAY + dt.timedelta(days=1)) == dt.date(2026, 3, 11)
    found = implausible_days(["2024-01-01", "0001-01-01", None, float("nan"), "0001-01-01", "2024-01-01"])
    assert list(found) == ["0001-01-01"]


def test_check_date_input_allows_tomorrow_not_the_day_after_nor_year_one(tiny_world):
    catalog, idea = tiny_world.catalog, str(tiny_world.catalog.ids[0])
    assert check_date_input(catalog, idea, {"a": 4}, "2026-03-11", today=TODAY)["done_on"] == dt.date(2026, 3, 11)
    for day in ("2026-03-12", "0001-01-01", "1899-12-31"):
        with pytest.raises(DateInputError, match=f"done_on must be a date from 1900-01-01 to 2026-03-11, got {day}"):
            check_date_input(catalog, idea, {"a": 4}, day, today=TODAY)


# ------------------------------------------------------------------ every way in refuses it


def test_api_refuses_year_one_with_a_400_naming_the_range(client, app):
    cid, token = app.extensions["dateideas.store"].create_couple()
    response = client.post(f"/v1/couples/{cid}/dates", headers={"Authorization": f"Bearer {token}"},
                           json={"idea_id": "ice-cream-and-a-stroll", "done_on": "0001-01-01", "ratings": {"a": 5}})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "done_on"
    assert error["message"].startswith("done_on must be a date from 1900-01-01 to ")
    assert app.extensions["dateideas.store"].count_dates(cid) == 0


def test_we_did_it_page_refuses_year_one(client, app):
    from tests.test_pages import _csrf, _sign_in

    cid, token = app.extensions["dateideas.store"].create_couple()
    assert _sign_in(client, cid, token).status_code == 303
    page = client.get("/we-did-it")
    response = client.post("/we-did-it", data={"csrf_token": _csrf(page), "idea_id": "ice-cream-and-a-stroll",
                                               "done_on": "0001-01-01", "rating_a": "5", "rating_b": "",
                                               "note": "", "form_id": "f" * 32})
    assert response.status_code == 400
    assert "Pick a day the date has happened on: today, or an earlier day from 1900 on." in response.get_data(
        as_text=True)  # the page says it in words; the API's message names the bounds
    assert app.extensions["dateideas.store"].count_dates(cid) == 0


def test_store_refuses_year_one_itself(store):
    cid, _ = store.create_couple()
    with pytest.raises(ValidationError, match="done_on: done_on must be a date from 1900-01-01 to 2099-12-31"):
        store.add_date(cid, "board-game-night", "0001-01-01", 4, 4)
    frame = pd.DataFrame({"couple_id": [cid, cid], "idea_id": ["a", "b"],
                          "done_on": [dt.date(2024, 1, 1), dt.date(1, 1, 1)], "rating": [4, 5]})
    with pytest.raises(ValidationError, match="row 1: done_on must be a date from 1900-01-01"):
        store.bulk_load([], frame, replace=True)
    assert store.count_dates() == 0


def test_import_refuses_year_one_naming_the_line(tmp_path, tiny_world):
    dates = tiny_world.dates.head(3).copy()
    write_dataset(tmp_path / "data", tiny_world.catalog, dates)
    path = tmp_path / "data" / "dates.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    head, rest = lines[1].split(",", 3)[:2], lines[1].split(",", 3)[3]
    lines[1] = ",".join(head + ["0001-01-01", rest])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        read_dataset(tmp_path / "data")
    found = [(p.line, p.field, p.message) for p in caught.value.problems]
    assert (2, "done_on", "done_on must be a date from 1900-01-01 to 2099-12-31, got 0001-01-01") in found


# ------------------------------------------------------------------ a bad row already stored


def _insert_bad_row(store, couple_id: str, day: str = "0001-01-01") -> int:
    """What an older version (or a hand-edited database) left behind: a row straight into the table."""
    with store._write() as conn:  # noqa: SLF001 - the test writes past the store's checks on purpose
        conn.execute(sa.text("INSERT INTO dates (couple_id, idea_id, done_on, rating_a, rating_b, note, context, "
                             "created_at) VALUES (:c, 'board-game-night', :d, 5, 5, '', '{}', :t)"),
                     {"c": couple_id, "d": dt.date.fromisoformat(day) if store.dialect == "postgresql" else day,
                      "t": dt.datetime(2026, 1, 1)})
        return int(conn.execute(sa.text("SELECT MAX(id) FROM dates")).scalar())


@pytest.fixture
def loaded(store, tiny_world):
    store.bulk_load([{"id": str(c)} for c in tiny_world.couples["id"]], tiny_world.dates)
    victim = str(tiny_world.couples["id"].iloc[0])
    return store, victim, _insert_bad_row(store, victim)


def test_read_dates_skips_and_names_a_stored_year_one(loaded, tiny_world):
    store, victim, bad_id = loaded
    read = store.read_dates()
    assert len(read.frame) == len(tiny_world.dates)  # every good row, not the bad one
    assert read.skipped == [{"id": bad_id, "couple_id": victim, "done_on": "0001-01-01",
                             "reason": "done_on must be a date from 1900-01-01 to 2099-12-31, got 0001-01-01"}]
    assert store.read_dates([victim]).skipped[0]["id"] == bad_id
    assert store.read_dates([str(tiny_world.couples["id"].iloc[1])]).skipped == []


@pytest.mark.slow
def test_train_succeeds_and_reports_the_stored_bad_row(loaded, tmp_path, monkeypatch):
    store, victim, bad_id = loaded
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DATEIDEAS_MODEL_DIR", str(tmp_path / "models"))
    result = CliRunner().invoke(main, ["train", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert out["promoted"]
    assert out["skipped_dates"]["count"] == 1
    assert out["skipped_dates"]["rows"][0] == {"id": bad_id, "couple_id": victim, "done_on": "0001-01-01",
                                                    "reason": "done_on must be a date from 1900-01-01 to 2099-12-31, "
                                                              "got 0001-01-01"}
    assert store.training_runs()[0]["metrics"]["skipped_dates"] == 1


@pytest.mark.slow
def test_newsletter_succeeds_and_reports_the_stored_bad_row(loaded, model_dir, tiny_world, tmp_path):
    store, victim, bad_id = loaded
    recommender = Recommender.load(model_dir, catalog=tiny_world.catalog)
    week = week_start(tiny_world.dates["done_on"].max().date() + dt.timedelta(days=10))
    result = run_newsletter(store, recommender, week, tmp_path / "out", chunk_size=30, progress=False)
    assert result.couples == len(tiny_world.couples)
    assert [(row["id"], row["couple_id"]) for row in result.skipped_dates] == [(bad_id, victim)]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["this_run"]["skipped_dates"]["count"] == 1
    assert summary["this_run"]["skipped_dates"]["rows"][0]["couple_id"] == victim
