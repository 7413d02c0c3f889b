"""``dateideas couples``: list, show, create, token, erase, with the API's validation."""

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


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def _json(*args: str):
    result = _run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_help_names_every_subcommand():
    result = _run("couples", "--help")
    assert result.exit_code == 0
    for name in ("list", "show", "create", "token", "erase"):
        assert f"  {name} " in result.output


def test_round_trip_create_token_suggest_rate_list_erase(env, app, tiny_world):
    created = _json("couples", "create", "--budget-ceiling", "2", "--interest", "cooking",
                    "--interest", "music", "--no-kids")
    cid, first_token = created["id"], created["token"]
    assert created["profile"] == {"budget_ceiling": 2, "interests": ["cooking", "music"], "kids": False}
    assert env.verify_token(cid, first_token)

    issued = _json("couples", "token", cid)
    assert issued["id"] == cid and issued["token"] != first_token
    assert env.verify_token(cid, issued["token"]) and not env.verify_token(cid, first_token)
    client = app.test_client()  # the token the command issued opens the API
    answer = client.get(f"/v1/couples/{cid}/tonight", headers={"Authorization": f"Bearer {issued['token']}"})
    assert answer.status_code == 200

    tonight = _json("suggest", cid)
    idea = tonight["suggestion"]["idea_id"]
    rated = _run("rate", cid, idea, "--rating", "5")
    assert rated.exit_code == 0, rated.output

    listed = _json("couples", "list", "--limit", "0")
    assert listed["total"] == len(tiny_world.couples) + 1
    mine = next(c for c in listed["couples"] if c["id"] == cid)
    assert (mine["dates"], mine["source"], mine["active"]) == (1, "api", True)
    assert _json("couples", "show", cid)["dates"] == 1

    erased = _json("couples", "erase", cid, "--yes")
    assert erased == {"id": cid, "erased": True, "dates": 1}
    assert env.get_couple(cid) is None and env.count_dates(cid) == 0
    gone = CliRunner().invoke(main, ["couples", "show", cid])
    assert gone.exit_code == 1
    assert (f"no couple with id {cid!r}; `dateideas couples list` shows them, `dateideas couples create` adds one"
            in gone.output)


def test_list_prints_a_table_and_says_how_many_are_left(env, tiny_world):
    result = _run("couples", "list", "--limit", "3")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "created", "(UTC)", "source", "dates", "status"]
    first = sorted(str(c) for c in tiny_world.couples["id"])[0]
    assert lines[1].split()[0] == first and lines[1].split()[-2:] == [
        str(int((tiny_world.dates["couple_id"] == first).sum())), "active"]
    assert lines[-1] == f"... {len(tiny_world.couples) - 3} more of {len(tiny_world.couples)} (--limit 0 shows all)"


def test_create_text_output_and_a_chosen_id(env):
    result = _run("couples", "create", "--id", "pat-and-sam", "--home", "52.52,13.405")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "created couple pat-and-sam"
    token = result.output.splitlines()[1].removeprefix("token (shown once): ")
    assert env.verify_token("pat-and-sam", token)
    again = CliRunner().invoke(main, ["couples", "create", "--id", "pat-and-sam"])
    assert again.exit_code == 1 and "a couple with id 'pat-and-sam' already exists" in again.output


@pytest.mark.parametrize("args, field", [
    (("--budget-ceiling", "7"), "profile.budget_ceiling"),
    (("--home", "the moon"), "profile.home"),
    (("--profile", '{"budget_ceiling": 1, "pets": true}'), "profile.pets"),
    (("--profile", '["not", "an", "object"]'), "profile"),
])
def test_create_refuses_what_the_api_refuses_in_the_same_words(env, client, args, field):
    result = CliRunner().invoke(main, ["couples", "create", *args])
    assert result.exit_code == 1
    profile = json.loads(dict(zip(args[::2], args[1::2])).get("--profile", "{}"))
    if "--budget-ceiling" in args:
        profile = {"budget_ceiling": 7}
    if "--home" in args:
        profile = {"home": "the moon"}
    api = client.post("/v1/couples", json={"profile": profile})
    assert api.status_code == 400 and api.get_json()["error"]["field"] == field
    assert result.output.strip() == f"Error: {api.get_json()['error']['message']}"
    assert env.count_couples() == 80


def test_create_refuses_bad_json_naming_the_option(env):
    result = CliRunner().invoke(main, ["couples", "create", "--profile", "{budget"])
    assert result.exit_code == 2 and "Invalid value for --profile: is not valid JSON" in result.output


def test_erase_asks_first_and_keeps_the_couple_on_no(env, tiny_world):
    cid = str(tiny_world.couples["id"].iloc[0])
    kept = CliRunner().invoke(main, ["couples", "erase", cid], input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    assert env.get_couple(cid) is not None
    done = CliRunner().invoke(main, ["couples", "erase", cid], input="y\n")
    assert done.exit_code == 0 and done.output.splitlines()[-1].startswith(f"erased couple {cid} and their ")
    assert env.get_couple(cid) is None


def test_token_for_an_unknown_couple_names_the_list_command(env):
    result = CliRunner().invoke(main, ["couples", "token", "nobody"])
    assert result.exit_code == 1 and "`dateideas couples list` shows them" in result.output
