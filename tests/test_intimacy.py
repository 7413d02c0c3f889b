"""Issue 20, item 4, "Intimacy, opt-in": the profile's level, the catalog's levels, and the one rule
(engine.domain.constraints) that keeps an idea above a couple's level out of every path."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from engine.app.recommender import Recommender
from engine.cli import main
from engine.domain.catalog import check_catalog, load_catalog
from engine.domain.constraints import allowed_for_couples, allowed_mask, violations, with_profile
from engine.domain.context import Context, parse_context
from engine.domain.profiles import (
    INTIMACY_LEVELS,
    PROFILE_FIELDS,
    Profile,
    ProfileError,
    check_profile,
    from_couples,
    from_record,
    intimacy_level,
)
from engine.learning.model import EnjoymentModel
from engine.newsletter import plan_picks, week_start

_REPO = Path(__file__).resolve().parents[1]
_DAY = dt.date(2026, 6, 5)  # a Friday in summer


# ------------------------------------------------------------------ the profile


def test_profile_intimacy_defaults_to_affection_and_takes_the_three_levels():
    assert INTIMACY_LEVELS == ("affection", "romantic", "sensual")
    assert Profile().intimacy == "affection" and from_record(None).intimacy == "affection"
    assert from_record({"intimacy": "sensual"}).intimacy == "sensual"
    assert Profile(intimacy=" Romantic ").intimacy == "romantic"
    assert intimacy_level(None) == intimacy_level("") == intimacy_level(float("nan")) == "affection"
    # a hard constraint, not a score: it does not make a profile "stated" nor change equality
    assert Profile(intimacy="sensual") == Profile() and not Profile(intimacy="sensual")
    for level in INTIMACY_LEVELS:
        assert check_profile({"intimacy": level}) == {"intimacy": level}
    assert check_profile({"intimacy": None}) == {}
    assert "intimacy" in PROFILE_FIELDS


def test_a_bad_intimacy_level_is_refused_naming_the_allowed_ones():
    with pytest.raises(ProfileError, match=r"^profile\.intimacy: must be one of affection, romantic, sensual "
                                           r"\(default affection: affection only\), got 'spicy'$") as caught:
        check_profile({"intimacy": "spicy"})
    assert caught.value.field == "profile.intimacy"
    for bad in ("Sensual", 2, True, ["romantic"]):  # the API takes the exact lower-case words
        with pytest.raises(ProfileError, match="must be one of affection, romantic, sensual"):
            check_profile({"intimacy": bad})
    with pytest.raises(ValueError, match=r"intimacy must be one of affection, romantic, sensual, got 'x'"):
        Profile(intimacy="x")


def test_couples_table_carries_the_level():
    couples = pd.DataFrame({"id": ["a", "b", "c"], "intimacy": ["sensual", "", None]})
    found = from_couples(couples)
    assert set(found) == {"a"} and found["a"].intimacy == "sensual"  # the default needs no entry


# ------------------------------------------------------------------ the catalog


def _catalog_dir(folder: Path, levels: list[str] | None) -> Path:
    """Six ideas in the shipped schema; ``levels`` their intimacy column (None: no such column)."""
    rows = []
    for i in range(6):
        row = {"id": f"idea-{i}", "title": f"Idea {i}", "description": f"Do thing {i}.",
               "category": ("romance", "wellness", "culture")[i % 3], "cost": i % 4, "duration_min": 60,
               "setting": "home", "weather_dependent": "false", "seasons": "spring|summer|autumn|winter",
               "time_of_day": "evening|night", "energy": 1, "interactivity": "interactive",
               "company": "just-us", "kid_friendly": "false", "accessibility": "", "planning": "spontaneous",
               "pillars": "physical-intimacy" if i % 2 else "novelty", "novelty": 3, "tags": "test"}
        if levels is not None:
            row["intimacy"] = levels[i]
        rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "ideas.csv", index=False)
    shutil.copy(_REPO / "data" / "schema.json", folder / "schema.json")
    return folder


_LEVELS = ["affection", "sensual", "affection", "romantic", "affection", "sensual"]


def test_catalog_check_counts_ideas_by_intimacy_level(tmp_path):
    report = check_catalog(_catalog_dir(tmp_path / "c", _LEVELS))
    assert report.ok, report.errors
    assert report.by_intimacy == {"affection": 3, "romantic": 1, "sensual": 2}
    assert report.by_pillar == {"novelty": 3, "physical-intimacy": 3}
    result = CliRunner().invoke(main, ["catalog", "check", str(tmp_path / "c"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["by_intimacy"] == {"affection": 3, "romantic": 1, "sensual": 2}
    text = CliRunner().invoke(main, ["catalog", "check", str(tmp_path / "c")]).output
    assert "by intimacy level: affection 3, romantic 1, sensual 2" in text


def test_a_bad_level_in_the_catalog_is_a_problem_with_its_line(tmp_path):
    report = check_catalog(_catalog_dir(tmp_path / "c", ["affection", "spicy", *_LEVELS[2:]]))
    assert [(p.line, p.field) for p in report.errors] == [(3, "intimacy")]
    assert "affection, romantic, sensual" in report.errors[0].message


def test_the_intimacy_attribute_must_be_the_three_levels_in_order(tmp_path):
    folder = _catalog_dir(tmp_path / "c", _LEVELS)
    doc = json.loads((folder / "schema.json").read_text())
    doc["attributes"]["intimacy"]["order"] = ["sensual", "romantic", "affection"]
    (folder / "schema.json").write_text(json.dumps(doc))
    report = check_catalog(folder)
    assert [p.field for p in report.errors] == ["intimacy"]
    assert "must be ordinal with order ['affection', 'romantic', 'sensual']" in report.errors[0].message


def test_a_catalog_without_the_column_is_all_affection_and_unfiltered(tmp_path):
    folder = _catalog_dir(tmp_path / "c", None)  # the shipped schema, a file from before the levels
    report = check_catalog(folder)
    assert report.ok, report.errors
    assert report.by_intimacy == {"affection": 6, "romantic": 0, "sensual": 0}
    catalog = load_catalog(folder)
    assert list(catalog.frame["intimacy"]) == ["affection"] * 6
    assert allowed_mask(catalog, Context(day=_DAY)).all()
    # a schema without the attribute at all (the import format of other datasets)
    doc = json.loads((folder / "schema.json").read_text())
    del doc["attributes"]["intimacy"]
    (folder / "schema.json").write_text(json.dumps(doc))
    bare = load_catalog(folder)
    assert "intimacy" not in bare.frame
    assert allowed_for_couples(bare, Context(day=_DAY), [None, Profile(intimacy="sensual")]).all()


def test_the_shipped_catalog_has_ideas_at_every_level_consent_first_and_never_explicit():
    catalog = load_catalog()
    frame = catalog.frame
    counts = frame["intimacy"].value_counts()
    assert counts["romantic"] >= 12 and counts["sensual"] >= 12
    above = frame[frame["intimacy"] != "affection"]
    assert not above["kid_friendly"].astype(bool).any()  # adult: never with the kids along
    assert above["pillars"].map(lambda p: "physical-intimacy" in p).mean() >= 0.9
    words = " ".join(above["title"] + " " + above["description"]).lower()
    for explicit in ("sex ", "naked", "nude", "orgasm", "porn", "genital"):
        assert explicit not in words, explicit
    # the two existing ideas whose wording is clearly romantic moved up; everything else stayed affection
    assert frame.at["hot-bath-for-two", "intimacy"] == "romantic"
    assert frame.at["couples-massage-at-home", "intimacy"] == "romantic"
    assert frame.at["six-second-kiss", "intimacy"] == "affection"


# ------------------------------------------------------------------ the one rule


def test_allowed_mask_and_violations_say_the_same(tmp_path):
    catalog = load_catalog(_catalog_dir(tmp_path / "c", _LEVELS))
    expect = {"affection": [1, 0, 1, 0, 1, 0], "romantic": [1, 0, 1, 1, 1, 0], "sensual": [1] * 6}
    for level, want in expect.items():
        ctx = Context(day=_DAY, intimacy=level)
        assert allowed_mask(catalog, ctx).astype(int).tolist() == want, level
        assert [not violations(catalog.idea(i), ctx) for i in catalog.ids] == [bool(w) for w in want]
    assert allowed_mask(catalog, Context(day=_DAY)).astype(int).tolist() == expect["affection"]  # None: default
    assert violations(catalog.idea("idea-1"), Context(day=_DAY)) == ["intimacy"]
    # per couple: the context's level wins; without one, each couple's own (no profile: affection)
    rows = allowed_for_couples(catalog, Context(day=_DAY), [None, Profile(intimacy="romantic"),
                                                             Profile(intimacy="sensual")])
    assert rows.astype(int).tolist() == [expect["affection"], expect["romantic"], expect["sensual"]]
    assert with_profile(Context(day=_DAY), Profile(intimacy="sensual")).intimacy == "sensual"
    assert with_profile(Context(day=_DAY), None).intimacy == "affection"
    # a request cannot name a level: only the couple's profile sets it
    with pytest.raises(ValueError, match="unknown parameter 'intimacy'"):
        parse_context({"intimacy": "sensual"})


@pytest.fixture(scope="module")
def loved(tmp_path_factory):
    """A model that ranks the sensual ideas first for everyone (every couple rated them 5, the rest 1-2,
    and its enjoyment is pinned so they come first), then the romantic one."""
    folder = _catalog_dir(tmp_path_factory.mktemp("loved") / "c", _LEVELS)
    catalog = load_catalog(folder)
    rng = np.random.default_rng(0)
    rows = []
    for c in range(40):
        for i in rng.permutation(6)[:4]:
            level = _LEVELS[i]
            rating = 5 if level == "sensual" else (4 if level == "romantic" else int(rng.integers(1, 3)))
            rows.append({"couple_id": f"k{c}", "idea_id": f"idea-{i}", "rating": rating,
                         "done_on": str(dt.date(2026, 1, 1) + dt.timedelta(days=int(rng.integers(0, 120))))})
    dates = pd.DataFrame(rows)
    model = EnjoymentModel(max_iter=30, exploration=0.0, random_state=0).fit(dates, catalog)
    learned = model.enjoyment
    above = catalog.position(["idea-1", "idea-3", "idea-5"])

    def enjoyment(*args, **kwargs):  # make sure: whatever six ideas teach, the ideas above affection come first
        P, F, hist = learned(*args, **kwargs)
        P = P * 0.5
        P[:, above] = 0.99
        P[:, above[1]] = 0.9  # the romantic one just below the sensual ones
        return P, F, hist

    model.enjoyment = enjoyment
    return Recommender(model, "t", cache_couples=0, cache_lists=0), dates


def test_the_model_would_rank_a_sensual_idea_first_but_an_affection_couple_never_gets_one(loved):
    recommender, dates = loved
    empty = dates.iloc[:0]
    sensual = {"idea-1", "idea-5"}
    above = sensual | {"idea-3"}
    # the known answer: unconstrained (a sensual couple), the model puts a sensual idea first
    top = recommender.tonight("new", empty, Context(day=_DAY, intimacy="sensual"), k=3)
    assert top[0].idea_id in sensual
    for ctx in (Context(day=_DAY), with_profile(Context(day=_DAY), Profile()),
                with_profile(Context(day=_DAY), None)):
        picks = recommender.tonight("new", empty, ctx, k=6)
        assert picks and not {s.idea_id for s in picks} & above
    romantic = recommender.tonight("new", empty, with_profile(Context(day=_DAY), Profile(intimacy="romantic")), k=6)
    assert {s.idea_id for s in romantic} & {"idea-3"} and not {s.idea_id for s in romantic} & sensual
    # the recommender's batch and the model's own recommend take each couple's level from its profile
    out = recommender.batch(empty, ["x", "y"], Context(day=_DAY), k=6, distinct_categories=False,
                            profiles={"y": Profile(intimacy="sensual")})
    assert not {s.idea_id for s in out["x"]} & above and out["y"][0].idea_id in sensual
    plain = recommender.model.recommend(["k0"], k=6)[0]
    assert plain and not {i for i, _ in plain} & above


def test_the_newsletter_shows_ideas_above_affection_only_to_couples_who_opted_in(loved):
    recommender, dates = loved
    couples = ["k1", "k2", "k3"]
    week = week_start(dates["done_on"].max())
    profiles = {"k2": Profile(intimacy="sensual"), "k3": Profile(("wellness",), intimacy="romantic")}
    picks = plan_picks(recommender, dates.iloc[:0], couples, week, k=3, profiles=profiles)
    by_couple = picks.groupby("couple_id")["idea_id"].apply(set).to_dict()
    assert not by_couple["k1"] & {"idea-1", "idea-3", "idea-5"}
    assert by_couple["k2"] & {"idea-1", "idea-5"}
    assert not by_couple["k3"] & {"idea-1", "idea-5"}


# ------------------------------------------------------------------ the API and the page


def _new(client, profile=None) -> tuple[str, dict]:
    response = client.post("/v1/couples", json={"profile": profile} if profile is not None else {})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def _every_idea_tonight(client, couple_id, headers) -> set[str]:
    """The ideas of tonight's top ten over 32 contexts (setting, time of day, budget)."""
    seen: set[str] = set()
    for setting in ("home", "out"):
        for time in ("morning", "afternoon", "evening", "night"):
            for budget in range(4):
                url = f"/v1/couples/{couple_id}/tonight?k=10&setting={setting}&time_of_day={time}&budget={budget}"
                body = client.get(url, headers=headers).get_json()
                assert "suggestion" in body, body
                if body["suggestion"] is not None:
                    seen.update([body["suggestion"]["idea_id"], *(a["idea_id"] for a in body["alternatives"])])
    return seen


def test_api_level_is_set_respected_on_tonight_and_changed_later(client):
    catalog = load_catalog()
    level = catalog.frame["intimacy"]
    sensual = set(level.index[level == "sensual"])
    above = set(level.index[level != "affection"])
    plain_id, plain = _new(client)
    seen = _every_idea_tonight(client, plain_id, plain)
    assert len(seen) > 40 and not seen & above
    # a couple who opts in and says it is into physical intimacy gets sensual ideas (no simulated couple
    # has done one, so it is what the couple says that brings them up, not what others did)
    spicy_id, spicy = _new(client, {"intimacy": "sensual", "interests": ["physical-intimacy"]})
    body = client.get(f"/v1/couples/{spicy_id}/tonight", headers=spicy).get_json()
    assert body["context"]["intimacy"] == "sensual"
    assert _every_idea_tonight(client, spicy_id, spicy) & sensual
    # changeable later: lowered, the couple's next tonight has nothing above affection again
    changed = client.patch(f"/v1/couples/{spicy_id}", json={"profile": {"intimacy": "affection"}}, headers=spicy)
    assert changed.status_code == 200
    assert changed.get_json()["profile"] == {"intimacy": "affection", "interests": ["physical-intimacy"]}
    assert not _every_idea_tonight(client, spicy_id, spicy) & above
    raised = client.patch(f"/v1/couples/{plain_id}", json={"profile": {"intimacy": "romantic"}}, headers=plain)
    assert raised.status_code == 200
    assert client.get(f"/v1/couples/{plain_id}/tonight", headers=plain).get_json()["context"]["intimacy"] \
        == "romantic"


def test_api_400_for_a_bad_level_on_create_and_change(client):
    bad = client.post("/v1/couples", json={"profile": {"intimacy": "very"}})
    assert bad.status_code == 400
    error = bad.get_json()["error"]
    assert error["field"] == "profile.intimacy"
    assert error["message"] == ("profile.intimacy must be one of affection, romantic, sensual "
                                "(default affection: affection only), got 'very'")
    couple_id, headers = _new(client)
    again = client.patch(f"/v1/couples/{couple_id}", json={"profile": {"intimacy": "very"}}, headers=headers)
    assert again.status_code == 400 and again.get_json()["error"]["field"] == "profile.intimacy"
    assert client.patch(f"/v1/couples/{couple_id}", json={"profile": {"intimacy": "romantic"}}).status_code == 404
    listed = client.get("/v1/ideas?intimacy=loud")
    assert listed.status_code == 400 and "affection, romantic, sensual" in listed.get_json()["error"]["message"]
    shown = client.get("/v1/ideas?intimacy=affection&limit=100&offset=0").get_json()
    assert shown["total"] == int((load_catalog().frame["intimacy"] == "affection").sum())


def test_one_partner_alone_may_lower_the_level_but_not_raise_it(client):
    couple_id, headers = _new(client, {"intimacy": "romantic"})
    partner = client.post(f"/v1/couples/{couple_id}/partners/a/token", headers=headers).get_json()["token"]
    alone = {"Authorization": f"Bearer {partner}"}
    up = client.patch(f"/v1/couples/{couple_id}", json={"profile": {"intimacy": "sensual"}}, headers=alone)
    assert up.status_code == 403 and "needs both of you" in up.get_json()["error"]["message"]
    other = client.patch(f"/v1/couples/{couple_id}", json={"profile": {"budget_ceiling": 1}}, headers=alone)
    assert other.status_code == 403
    down = client.patch(f"/v1/couples/{couple_id}", json={"profile": {"intimacy": "affection"}}, headers=alone)
    assert down.status_code == 200 and down.get_json()["profile"]["intimacy"] == "affection"


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_signup_page_asks_the_level_tastefully_and_stores_it(client, service_store):
    page = client.get("/signup")
    html = page.get_data(as_text=True)
    assert 'name="intimacy" value="affection"' in html and "choose together" in html.lower()
    assert re.search(r'value="affection"[^>]*checked', html)  # affection only is the default
    bad = client.post("/signup", data={"csrf_token": _csrf(page), "intimacy": "wild"})
    assert bad.status_code == 400
    assert "Choose affection only, romantic or sensual" in bad.get_data(as_text=True)
    done = client.post("/signup", data={"csrf_token": _csrf(page), "intimacy": "romantic"})
    assert done.status_code == 201
    couple_id = re.search(r'id="couple-id">([^<]+)<', done.get_data(as_text=True)).group(1)
    assert service_store.get_couple(couple_id)["profile"] == {"intimacy": "romantic"}
    # the page's idea list holds romantic ideas now, still no sensual one
    catalog = load_catalog()
    listed = client.get("/we-did-it").get_data(as_text=True)
    level = catalog.frame["intimacy"]
    assert f'value="{level.index[level == "romantic"][0]}"' in listed
    assert not any(f'value="{i}"' in listed for i in level.index[level == "sensual"])
    plain = client.post("/signup", data={"csrf_token": _csrf(client.get("/signup"))})
    plain_id = re.search(r'id="couple-id">([^<]+)<', plain.get_data(as_text=True)).group(1)
    assert service_store.get_couple(plain_id)["profile"] == {}  # the default is not stored


def test_import_reads_the_level_from_couples_csv():
    from engine.commands.importing import couple_records

    couples = pd.DataFrame({"id": ["a", "b", "c"], "intimacy": ["sensual", "affection", "loud"]})
    records, problems, ignored = couple_records(couples)
    assert [r["profile"] for r in records[:2]] == [{"intimacy": "sensual"}, {}] and not ignored
    assert problems == ["couples.csv:4: intimacy must be one of affection, romantic, sensual, got 'loud'"]
