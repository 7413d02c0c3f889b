"""``dateideas suggest`` and ``dateideas rate`` against a store and the live model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from engine.cli import main


@pytest.fixture
def env(monkeypatch, service_store, model_dir):
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", service_store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DATEIDEAS_MODEL_DIR", str(model_dir))
    return service_store


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_suggest_prints_ideas_with_reasons_and_logs_them(env):
    result = _run("suggest", "c000001", "--budget", "2", "--setting", "out", "--k", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(" tonight: ") and any(line.startswith("   or #2: ") for line in lines)
    assert lines[1].startswith("          - ")
    logged = env.recent_suggestions("c000001")
    assert [row["rank"] for row in logged] == [1, 2]
    assert f"[{logged[0]['idea_id']}]" in lines[0]


def test_suggest_json_matches_the_service_and_repeats(env):
    first = json.loads(_run("suggest", "c000002", "--kids", "--json").output)
    again = json.loads(_run("suggest", "c000002", "--kids", "--json").output)
    assert first == again
    assert set(first) == {"suggestion", "alternatives", "context", "model_version", "cold_start"}
    assert first["context"]["kids"] is True and first["cold_start"] is False
    moved = json.loads(_run("suggest", "c000002", "--kids", "--json", "--another").output)
    assert moved["suggestion"]["idea_id"] == first["alternatives"][0]["idea_id"]


@pytest.mark.parametrize("args, message", [
    (("suggest", "c000001", "--budget", "5"), "5 is not in the range 0<=x<=3"),
    (("suggest", "c000001", "--weather", "hail"), "'hail' is not one of"),
    (("suggest", "nobody"), "no couple with id 'nobody'"),
    (("rate", "c000001", "IDEA", "--rating", "6"), "ratings.a must be an integer from 1 to 5, got 6"),
    (("rate", "c000001", "no-such-idea", "--rating", "4"), "idea_id 'no-such-idea' is not an idea in the catalog"),
    (("rate", "c000001", "IDEA", "--rating", "4", "--on", "2999-01-01"), "done_on must be a date from 1900-01-01 to "),
    (("rate", "c000001", "IDEA", "--rating", "4", "--on", "0001-01-01"),
     "done_on must be a date from 1900-01-01 to "),
    (("rate", "c000001", "IDEA", "--rating", "4", "--on", "01/02/2024"), "done_on must be a date as YYYY-MM-DD"),
    (("rate", "nobody", "IDEA", "--rating", "4"), "no couple with id 'nobody'"),
])
def test_bad_input_is_refused_with_a_message(env, tiny_world, args, message):
    args = tuple(str(tiny_world.catalog.ids[0]) if a == "IDEA" else a for a in args)
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0
    assert message in result.output


def test_rate_records_a_date(env, tiny_world):
    idea = str(tiny_world.catalog.ids[3])
    before = env.count_dates("c000003")
    result = _run("rate", "c000003", idea, "--rating", "5", "--partner", "b", "--on", "2024-05-04")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("recorded date ")
    date_id = int(result.output.split()[2].rstrip(":"))
    last = next(d for d in env.list_dates("c000003") if d["id"] == date_id)
    assert (last["idea_id"], last["done_on"], last["rating_a"], last["rating_b"]) == (idea, "2024-05-04", None, 5)
    assert last["context"] == {"weekday": "saturday", "season": "spring"}
    assert env.count_dates("c000003") == before + 1


def test_rate_partner_b_later_completes_the_same_date(env, tiny_world):
    idea = str(tiny_world.catalog.ids[4])
    before = env.count_dates("c000004")
    first = _run("rate", "c000004", idea, "--rating", "5", "--partner", "a", "--on", "2024-06-01")
    assert first.output.startswith("recorded date ")
    date_id = int(first.output.split()[2].rstrip(":"))
    later = _run("rate", "c000004", idea, "--rating", "2", "--partner", "b", "--on", "2024-06-01")
    assert later.exit_code == 0, later.output
    assert later.output.startswith(f"completed date {date_id}: ") and "(partner a: 5)" in later.output
    assert env.count_dates("c000004") == before + 1
    date = next(d for d in env.list_dates("c000004") if d["id"] == date_id)
    assert (date["rating_a"], date["rating_b"]) == (5, 2)


def test_invite_gives_a_partner_their_own_token(env):
    result = _run("invite", "c000005", "--partner", "b")
    assert result.exit_code == 0, result.output
    token = result.output.splitlines()[-1]
    assert env.token_role("c000005", token) == "b"
    refused = CliRunner().invoke(main, ["invite", "nobody", "--partner", "a"])
    assert refused.exit_code != 0 and "no couple with id 'nobody'" in refused.output
