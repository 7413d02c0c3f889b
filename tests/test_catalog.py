"""Tests for engine.domain.catalog and ``dateideas catalog check``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.domain.catalog import (
    Catalog,
    CatalogError,
    Problem,
    check_catalog,
    default_catalog_dir,
    load_catalog,
)

_SCHEMA = {
    "attributes": {
        "category": {"kind": "categorical", "values": ["food", "walk"]},
        "cost": {"kind": "ordinal", "order": ["0", "1", "2"]},
        "minutes": {"kind": "numeric", "min": 5, "max": 600},
        "indoor": {"kind": "boolean"},
        "seasons": {"kind": "multi", "values": ["spring", "summer"]},
        "note": {"kind": "text"},
    }
}
_HEADER = "id,title,description,category,cost,minutes,indoor,seasons,note"
_GOOD = [
    'picnic,Picnic,"Pack bread, cheese and a blanket.",food,1,90,false,spring|summer,',
    "stroll,Evening stroll,Walk the river path.,walk,0,45,false,summer,Flat path.",
]


def _write(folder: Path, lines: list[str], header: str = _HEADER, schema: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.json").write_text(json.dumps(schema or _SCHEMA), encoding="utf-8")
    (folder / "ideas.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return folder


def _only_problem(folder: Path) -> Problem:
    report = check_catalog(folder)
    assert len(report.errors) == 1, report.errors
    with pytest.raises(CatalogError):
        load_catalog(folder)
    return report.errors[0]


# --- loading a good catalog ---------------------------------------------------

def test_load_good_catalog_types_values(tmp_path):
    cat = load_catalog(_write(tmp_path, _GOOD))
    assert isinstance(cat, Catalog)
    assert list(cat.ids) == ["picnic", "stroll"]
    assert len(cat) == 2 and "picnic" in cat and "nope" not in cat
    assert list(cat.frame.columns) == ["title", "description", *_SCHEMA["attributes"]]
    assert cat.frame.loc["picnic", "minutes"] == 90.0
    assert cat.frame["indoor"].tolist() == [False, False]
    assert cat.frame.loc["picnic", "seasons"] == ("spring", "summer")
    assert cat.frame.loc["picnic", "note"] == ""
    assert list(cat.position(["stroll", "zzz", "picnic"])) == [1, -1, 0]
    idea = cat.idea("picnic")
    assert idea == {
        "id": "picnic", "title": "Picnic", "description": "Pack bread, cheese and a blanket.",
        "category": "food", "cost": "1", "minutes": 90.0, "indoor": False,
        "seasons": ["spring", "summer"], "note": "",
    }
    assert type(idea["indoor"]) is bool


def test_ideas_csv_path_and_no_description_column(tmp_path):
    header = "id,title,category,cost,minutes,indoor,seasons,note"
    folder = _write(tmp_path, ["a,A,food,0,30,true,spring,"], header=header)
    cat = load_catalog(folder / "ideas.csv")
    assert cat.frame.loc["a", "description"] == ""
    assert list(cat.frame.columns)[:2] == ["title", "description"]


def test_utf8_bom_is_accepted(tmp_path):
    folder = _write(tmp_path, _GOOD)
    raw = (folder / "ideas.csv").read_bytes()
    (folder / "ideas.csv").write_bytes(b"\xef\xbb\xbf" + raw)
    assert list(load_catalog(folder).ids) == ["picnic", "stroll"]



def test_repeated_attribute_values_are_held_once(tmp_path):
    """Ideas that share a level, a kind or a tag set share one object (a 50,000-idea catalog's frame
    118 -> 57 MiB resident); the values read are the same, and one idea's text is not another's."""
    lines = [f"i{k},Idea {k},Walk {k}.,walk,1,30,false,spring|summer,Flat path." for k in range(3)]
    frame = load_catalog(_write(tmp_path, lines)).frame
    for name in ("category", "cost", "seasons", "note"):
        first, *rest = frame[name].tolist()
        assert all(value is first for value in rest), name
    assert frame["seasons"].tolist() == [("spring", "summer")] * 3
    assert frame["description"].tolist() == ["Walk 0.", "Walk 1.", "Walk 2."]
    assert frame["minutes"].tolist() == [30.0] * 3

# --- one test per kind of error ----------------------------------------------

def test_missing_column(tmp_path):
    header = "id,title,description,category,cost,minutes,seasons,note"
    p = _only_problem(_write(tmp_path, ["a,A,D,food,0,30,spring,"], header=header))
    assert (p.line, p.field) == (1, "indoor")
    assert p.message == "missing column 'indoor' declared in schema.json"


def test_missing_required_id_column(tmp_path):
    header = "title,description,category,cost,minutes,indoor,seasons,note"
    p = _only_problem(_write(tmp_path, ["A,D,food,0,30,true,spring,"], header=header))
    assert (p.line, p.field, p.message) == (1, "id", "missing column 'id'")


def test_unknown_column(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,food,0,30,true,spring,,x"], header=_HEADER + ",colour"))
    assert (p.line, p.field) == (1, "colour")
    assert re.match(r"unknown column 'colour'; every attribute column must be declared in schema.json", p.message)


def test_duplicate_column(tmp_path):
    report = check_catalog(_write(tmp_path, ["a,A,D,food,0,30,true,spring,,walk"], header=_HEADER + ",category"))
    assert [(p.field, p.message) for p in report.errors] == [("category", "column 'category' appears 2 times")]


def test_wrong_type_numeric(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,food,0,half an hour,true,spring,"]))
    assert (p.line, p.field) == (2, "minutes")
    assert p.message == "'half an hour' is not a number; expected a number from 5 to 600"


def test_wrong_type_boolean(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,food,0,30,sometimes,spring,"]))
    assert (p.line, p.field) == (2, "indoor")
    assert p.message == "'sometimes' is not a boolean (true or false); expected true or false"


@pytest.mark.parametrize("minutes, message", [
    ("700", "700 is above the maximum 600; expected a number from 5 to 600"),
    ("1", "1 is below the minimum 5; expected a number from 5 to 600"),
])
def test_numeric_out_of_range(tmp_path, minutes, message):
    p = _only_problem(_write(tmp_path, [f"a,A,D,food,0,{minutes},true,spring,"]))
    assert (p.line, p.field, p.message) == (2, "minutes", message)


def test_categorical_not_allowed(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,swim,0,30,true,spring,"]))
    assert (p.line, p.field, p.message) == (2, "category", "'swim' is not one of food, walk")


def test_ordinal_not_allowed(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,food,3,30,true,spring,"]))
    assert (p.line, p.field, p.message) == (2, "cost", "'3' is not one of 0, 1, 2")


def test_multi_not_allowed(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,food,0,30,true,spring|winter,"]))
    assert (p.line, p.field, p.message) == (2, "seasons", "'winter' not in spring, summer")


def test_empty_required_attribute(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,D,food,,30,true,spring,"]))
    assert (p.line, p.field, p.message) == (2, "cost", "empty value; cost is required (one of 0, 1, 2)")


def test_duplicate_id(tmp_path):
    p = _only_problem(_write(tmp_path, [*_GOOD, "picnic,Again,Another.,food,0,30,true,spring,"]))
    assert (p.line, p.field) == (4, "id")
    assert p.message == "duplicate id 'picnic' (first on line 2)"


def test_empty_id(tmp_path):
    p = _only_problem(_write(tmp_path, [" ,A,D,food,0,30,true,spring,"]))
    assert (p.line, p.field, p.message) == (2, "id", "empty id; every idea needs a unique id")


def test_empty_title(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,  ,D,food,0,30,true,spring,"]))
    assert (p.line, p.field, p.message) == (2, "title", "empty title")


def test_empty_description(tmp_path):
    p = _only_problem(_write(tmp_path, ['a,A,"",food,0,30,true,spring,']))
    assert (p.line, p.field, p.message) == (2, "description", "empty description")


def test_wrong_field_count(tmp_path):
    p = _only_problem(_write(tmp_path, ["a,A,Pack bread, cheese,food,0,30,true,spring,"]))
    assert (p.line, p.field) == (2, None)
    assert p.message == "expected 9 fields as in the header, found 10; quote cells that contain commas"


def test_unreadable_csv_quoting(tmp_path):
    p = _only_problem(_write(tmp_path, [*_GOOD, 'c,"Broken"title,D,food,0,30,true,spring,']))
    assert (p.line, p.field) == (4, None)
    assert p.message.startswith("cannot read the file:")


def test_empty_ideas_file(tmp_path):
    folder = _write(tmp_path, [])
    (folder / "ideas.csv").write_text("", encoding="utf-8")
    p = _only_problem(folder)
    assert (p.line, p.message) == (1, "the file is empty; a header row is required")


def test_missing_files(tmp_path):
    folder = _write(tmp_path, _GOOD)
    (folder / "ideas.csv").unlink()
    p = _only_problem(folder)
    assert (p.file, p.message) == (str(folder / "ideas.csv"), "ideas file not found")
    (folder / "schema.json").unlink()
    p = _only_problem(folder)
    assert p.file == str(folder / "schema.json")
    assert p.message == "schema file not found; a catalog needs schema.json beside ideas.csv"


def test_bad_schema_kind(tmp_path):
    schema = {"attributes": {**_SCHEMA["attributes"], "indoor": {"kind": "yes-no"}}}
    p = _only_problem(_write(tmp_path, _GOOD, schema=schema))
    assert p.file == str(tmp_path / "schema.json")
    assert p.message == ("bad schema: attribute 'indoor': kind must be one of categorical, ordinal, "
                         "numeric, boolean, multi, text, location, got 'yes-no'")


def test_bad_schema_json(tmp_path):
    folder = _write(tmp_path, _GOOD)
    (folder / "schema.json").write_text('{"attributes": {"category": ', encoding="utf-8")
    p = _only_problem(folder)
    assert (p.file, p.line, p.field) == (str(folder / "schema.json"), None, None)
    assert p.message.startswith("bad schema: not valid JSON")


def test_schema_attribute_clashing_with_reserved_column(tmp_path):
    schema = {"attributes": {**_SCHEMA["attributes"], "title": {"kind": "text"}}}
    p = _only_problem(_write(tmp_path, _GOOD, schema=schema))
    assert p.field == "title"
    assert p.message.startswith("bad schema: attribute 'title' clashes with a reserved column")


# --- all at once, with physical line numbers ----------------------------------

def test_every_problem_reported_at_once_with_physical_lines(tmp_path):
    lines = [
        'picnic,Picnic,"Pack bread,\ncheese\nand a blanket.",food,1,90,false,spring|summer,',  # lines 2-4
        "",                                                                                    # line 5 (blank)
        "stroll,,Walk.,walk,9,45,false,autumn,",                                               # line 6
        'picnic,"Two\nlines",Again.,food,0,3,perhaps,spring,',                                  # lines 7-8
        "short,row",                                                                           # line 9
    ]
    report = check_catalog(_write(tmp_path, lines, header=_HEADER + ",extra"))
    got = [(p.line, p.field) for p in report.errors]
    assert got == [
        (1, "extra"),
        (2, None),  # 10 header columns, 9 cells
        (6, None),
        (7, None),
        (9, None),
    ]
    # now with a matching header every cell-level problem shows up, each on its own line
    report = check_catalog(_write(tmp_path, lines))
    got = [(p.line, p.field) for p in report.errors]
    assert got == [
        (6, "title"), (6, "cost"), (6, "seasons"),
        (7, "id"), (7, "minutes"), (7, "indoor"),
        (9, None),
    ]
    assert report.ideas == 3
    assert report.by_category == {"food": 2, "walk": 1}
    with pytest.raises(CatalogError, match=r"7 problem\(s\) in the catalog") as info:
        load_catalog(tmp_path)
    assert len(info.value.problems) == 7
    assert f"{tmp_path / 'ideas.csv'}:7: id: duplicate id 'picnic' (first on line 2)" in str(info.value)


# --- the CLI --------------------------------------------------------------------

def test_cli_check_bad_catalog_exits_1_with_one_line_per_problem(tmp_path):
    folder = _write(tmp_path, [*_GOOD, "stroll,Again,Walk.,walk,0,45,false,summer,", "x,X,D,food,0,30,maybe,spring,"])
    result = CliRunner().invoke(main, ["catalog", "check", str(folder)])
    assert result.exit_code == 1
    out = result.output.splitlines()
    assert out[0] == f"{folder / 'ideas.csv'}:4: id: duplicate id 'stroll' (first on line 3)"
    assert out[1].startswith(f"{folder / 'ideas.csv'}:5: indoor: 'maybe' is not a boolean")
    assert out[2] == f"{folder}: 2 problem(s) in 4 idea(s) read."
    result = CliRunner().invoke(main, ["catalog", "check", str(folder / "ideas.csv"), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert set(doc) == {"ideas", "by_category", "by_pillar", "by_intimacy", "errors"}
    assert doc["ideas"] == 4
    assert doc["errors"][0] == {"file": str(folder / "ideas.csv"), "line": 4, "field": "id",
                                "message": "duplicate id 'stroll' (first on line 3)"}


def test_cli_check_good_small_catalog_exits_0(tmp_path):
    result = CliRunner().invoke(main, ["catalog", "check", str(_write(tmp_path, _GOOD))])
    assert result.exit_code == 0, result.output
    assert "OK, 2 ideas in 2 categories." in result.output


# --- the shipped catalog ----------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


def test_shipped_catalog_passes_and_meets_coverage(shipped):
    result = CliRunner().invoke(main, ["catalog", "check", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["errors"] == []
    assert doc["ideas"] == len(shipped) >= 300
    categories = shipped.schema["category"].values
    assert set(doc["by_category"]) == set(categories)
    assert all(doc["by_category"][c] >= 10 for c in categories), doc["by_category"]
    assert sum(doc["by_category"].values()) == doc["ideas"]
    for pillar in ("vulnerability", "appreciation", "physical-intimacy", "novelty"):
        assert doc["by_pillar"][pillar] >= 40, doc["by_pillar"]

    f = shipped.frame
    assert set(f["cost"]) == {"0", "1", "2", "3"}
    assert set(f["setting"]) == {"home", "out", "away"}
    assert set(f["energy"]) == {"1", "2", "3"}
    season_counts = pd.Series([s for ss in f["seasons"] for s in ss]).value_counts()
    assert all(season_counts.get(s, 0) >= 150 for s in ("spring", "summer", "autumn", "winter")), season_counts
    assert int(f["kid_friendly"].sum()) >= 60
    assert int((~f["weather_dependent"].astype(bool)).sum()) >= 60
    quick_home = (f["setting"] == "home") & (f["company"] == "just-us") & (f["duration_min"] < 30)
    assert int(quick_home.sum()) >= 30


def test_shipped_catalog_rows_are_complete_and_sensible(shipped):
    f = shipped.frame
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in shipped.ids)
    for name in ("seasons", "time_of_day", "pillars", "tags"):
        assert all(len(v) > 0 for v in f[name]), name
    assert f["title"].is_unique and f["description"].is_unique
    sentences = f["description"].str.count(r"[.!?](\s|$)")
    assert sentences.between(1, 5).all(), f.loc[~sentences.between(1, 5), "description"]
    away = f[f["setting"] == "away"]
    assert (away["duration_min"] >= 480).all()
    assert away["cost"].isin(["2", "3"]).mean() >= 0.75
    assert set(f["novelty"]) == {"1", "2", "3", "4", "5"}
    assert set(f["interactivity"]) == {"interactive", "side-by-side", "passive"}
    for seed in ("square-dancing-beginners-night", "ice-cream-and-a-stroll", "just-because-flowers",
                 "plan-a-weekend-getaway", "something-never-told", "specific-compliments-exchange"):
        assert seed in shipped


def test_default_catalog_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DATEIDEAS_CATALOG", raising=False)
    assert default_catalog_dir() == Path(__file__).resolve().parent.parent / "data"
    monkeypatch.setenv("DATEIDEAS_CATALOG", str(_write(tmp_path, _GOOD)))
    assert list(load_catalog().ids) == ["picnic", "stroll"]


def test_couple_planes_places_each_couples_ideas_in_one_lookup():
    catalog = load_catalog()
    first, second, third = (str(i) for i in catalog.ids[:3])
    planes = catalog.couple_planes(["a", "b", "c"], {
        "a": {first, "no-such-idea"},          # a set: weight 1, the unknown idea left out
        "c": {third: 0.5, second: 2.0},        # weights
        "stranger": {first},                   # a couple not asked for: left out
        "b": set(),
    })
    assert planes.shape == (3, len(catalog))
    assert planes[0, 0] == 1.0 and planes[0].sum() == 1.0
    assert not planes[1].any()
    assert planes[2, 2] == 0.5 and planes[2, 1] == 2.0 and planes[2].sum() == 2.5
    assert not catalog.couple_planes(["a"], None).any()
