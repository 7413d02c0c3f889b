"""Tests for engine.domain.schema: attribute kinds, cell parsing and schema.json errors."""

from __future__ import annotations

import json

import pytest

from engine.domain.schema import KINDS, AttributeSpec, Schema, SchemaError, load_schema

_DOC = {
    "attributes": {
        "category": {"kind": "categorical", "values": ["food", "walk"]},
        "cost": {"kind": "ordinal", "order": ["0", "1", "2"]},
        "minutes": {"kind": "numeric", "min": 5, "max": 600},
        "indoor": {"kind": "boolean"},
        "seasons": {"kind": "multi", "values": ["spring", "summer"]},
        "tags": {"kind": "multi"},
        "note": {"kind": "text", "description": "free text"},
    },
    "version": 2,
}


@pytest.fixture
def schema() -> Schema:
    return Schema.from_dict(_DOC)


def test_from_dict_keeps_kinds_order_and_extra(schema):
    assert list(schema.attributes) == ["category", "cost", "minutes", "indoor", "seasons", "tags", "note"]
    assert schema["cost"].order == ("0", "1", "2")
    assert schema["minutes"].min == 5 and schema["minutes"].max == 600
    assert schema.names("multi") == ["seasons", "tags"]
    assert schema.names() == list(schema.attributes)
    assert "note" in schema and "nope" not in schema
    assert schema.extra == {"version": 2}
    assert set(KINDS) == {"categorical", "ordinal", "numeric", "boolean", "multi", "text", "location"}


def test_to_dict_round_trips(schema):
    again = Schema.from_dict(schema.to_dict())
    assert again == schema


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("category", " food ", "food"),
        ("cost", "2", "2"),
        ("minutes", "90", 90.0),
        ("minutes", "5", 5.0),
        ("indoor", "TRUE", True),
        ("indoor", "no", False),
        ("seasons", "spring| summer", ("spring", "summer")),
        ("seasons", "", ()),
        ("tags", "any|thing", ("any", "thing")),
        ("note", "  hello, world ", "hello, world"),
        ("note", "", None),
        ("cost", "", None),
    ],
)
def test_parse_known_answers(schema, name, raw, expected):
    assert schema[name].parse(raw) == expected


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("category", "swim", r"'swim' is not one of food, walk"),
        ("cost", "3", r"'3' is not one of 0, 1, 2"),
        ("minutes", "ninety", r"'ninety' is not a number"),
        ("minutes", "nan", r"'nan' is not a finite number"),
        ("minutes", "4", r"4 is below the minimum 5"),
        ("minutes", "601", r"601 is above the maximum 600"),
        ("indoor", "maybe", r"'maybe' is not a boolean \(true or false\)"),
        ("seasons", "spring|winter|fall", r"'winter', 'fall' not in spring, summer"),
    ],
)
def test_parse_refuses_with_message(schema, name, raw, message):
    with pytest.raises(ValueError, match=message):
        schema[name].parse(raw)


def test_allowed_describes_each_kind(schema):
    assert schema["category"].allowed() == "one of food, walk"
    assert schema["cost"].allowed() == "one of 0, 1, 2"
    assert schema["minutes"].allowed() == "a number from 5 to 600"
    assert AttributeSpec("m", "numeric", min=1).allowed() == "a number of at least 1"
    assert AttributeSpec("m", "numeric").allowed() == "a number"
    assert schema["indoor"].allowed() == "true or false"
    assert schema["seasons"].allowed() == "values from spring, summer joined by |"
    assert schema["tags"].allowed() == "labels joined by |"
    assert schema["note"].allowed() == "any text"


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], r'schema must be an object with an "attributes" object'),
        ({"attrs": {}}, r'schema must be an object with an "attributes" object'),
        ({"attributes": {"x": {"kind": "colour"}}},
         r"attribute 'x': kind must be one of categorical, ordinal, numeric, boolean, multi, text, location, "
         r"got 'colour'"),
        ({"attributes": {"x": "numeric"}}, r"attribute 'x': kind must be one of .*, got 'numeric'"),
        ({"attributes": {"x": {"kind": "ordinal"}}}, r'attribute \'x\': an ordinal needs a non-empty "order" list'),
        ({"attributes": {"x": {"kind": "categorical", "values": "abc"}}},
         r'attribute \'x\': "values" must be a list of strings, got \'abc\''),
        ({"attributes": {"x": {"kind": "ordinal", "order": ["1", "1"]}}},
         r'attribute \'x\': "order" lists a value twice'),
        ({"attributes": {"x": {"kind": "numeric", "min": "5"}}},
         r'attribute \'x\': "min" must be a number, got \'5\''),
        ({"attributes": {"x": {"kind": "numeric", "min": 9, "max": 3}}},
         r'attribute \'x\': "min" \(9\) is above "max" \(3\)'),
    ],
)
def test_bad_schema_kind_and_shape(doc, message):
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict(doc)


def test_load_schema_reads_file_and_refuses_bad_json(tmp_path):
    good = tmp_path / "schema.json"
    good.write_text(json.dumps(_DOC), encoding="utf-8")
    assert load_schema(good) == Schema.from_dict(_DOC)
    bad = tmp_path / "bad.json"
    bad.write_text('{"attributes": {', encoding="utf-8")
    with pytest.raises(SchemaError, match=r"bad\.json: not valid JSON"):
        load_schema(bad)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"attributes": {"caf\xe9": {"kind": "text"}}}')
    with pytest.raises(SchemaError, match=r"latin\.json: not UTF-8 text"):
        load_schema(latin)


def test_shipped_schema_declares_every_idea_attribute():
    from engine.domain.catalog import default_catalog_dir

    schema = load_schema(default_catalog_dir() / "schema.json")
    assert list(schema.attributes) == [
        "category", "cost", "duration_min", "setting", "weather_dependent", "seasons", "time_of_day",
        "energy", "interactivity", "company", "kid_friendly", "accessibility", "planning", "pillars",
        "novelty", "tags", "intimacy",
    ]
    assert schema["intimacy"].order == ("affection", "romantic", "sensual")
    assert schema["pillars"].values == ("vulnerability", "appreciation", "physical-intimacy", "novelty")
    assert schema["cost"].order == ("0", "1", "2", "3")
    assert schema["novelty"].order == ("1", "2", "3", "4", "5")
    assert len(schema["category"].values) == 15
