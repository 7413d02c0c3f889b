"""The UCI restaurant converter, on the copy shipped in data/uci-restaurant."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.domain.dataset import read_dataset
from engine.domain.profiles import from_couples
from engine.lab.convert import UCI_FILES, ConvertError, convert, convert_uci_restaurant

UCI = Path(__file__).resolve().parent.parent / "data" / "uci-restaurant"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uci")
    counts = convert_uci_restaurant(UCI, out)
    return out, counts


def test_copy_ships_with_attribution():
    assert (UCI / "SOURCE.md").is_file() and (UCI / "README").is_file()
    assert "CC BY 4.0" in (UCI / "SOURCE.md").read_text(encoding="utf-8")
    for name in UCI_FILES:
        assert (UCI / name).is_file(), name


def test_counts_and_round_trip(converted):
    out, counts = converted
    assert counts == {"ideas": 130, "dates": 1161, "couples": 138}
    data = read_dataset(out)
    assert len(data.catalog) == 130
    assert len(data.dates) == 1161
    assert data.dates["couple_id"].nunique() == 138
    assert len(data.couples) == 138
    assert data.rating_scale == (0.0, 2.0)
    assert set(data.dates["rating_a"].unique()) == {0.0, 1.0, 2.0}
    assert data.dates["done_on"].isna().all()


def test_schema_kinds(converted):
    out, _ = converted
    schema = json.loads((out / "schema.json").read_text(encoding="utf-8"))
    attrs = schema["attributes"]
    assert schema["ratings"] == {"min": 0, "max": 2}
    assert attrs["price"] == {"kind": "ordinal", "order": ["low", "medium", "high"],
                              "description": "price tier"}
    for name in ("alcohol", "smoking_area", "dress_code", "accessibility", "Rambience", "area",
                 "other_services"):
        assert attrs[name]["kind"] == "categorical", name
    for name in ("cuisines", "payments", "parking"):
        assert attrs[name]["kind"] == "multi", name
    assert attrs["franchise"]["kind"] == "boolean"
    assert attrs["location"]["kind"] == "location"


def test_known_restaurant(converted):
    out, _ = converted
    catalog = read_dataset(out).catalog
    tacos = catalog.idea("132825")
    assert tacos["title"] == "puesto de tacos"
    assert tacos["price"] == "low"
    assert tacos["area"] == "open"
    assert tacos["cuisines"] == ["Mexican"]
    assert tacos["franchise"] is False
    assert tacos["description"].startswith("Mexican restaurant, low prices")
    # geoplaces2.csv: 22.1473922,-100.983092, kept to 6 decimals
    assert tacos["location"] == "22.147392,-100.983092"
    assert catalog.frame["location"].notna().all()
    # "Internet" in the raw file is normalised to the declared value
    assert set(catalog.frame["other_services"]) <= {"none", "internet", "variety", "unknown"}
    # the raw geoplaces2.csv is UTF-8 (not latin-1): accents survive
    assert not any("Ã" in t for t in catalog.frame["title"])


def test_missing_profile_values_become_empty(converted):
    out, _ = converted
    couples = read_dataset(out).couples.set_index("id")
    assert couples.loc["U1024", "birth_year"] == 1930
    assert couples.loc["U1014", "drink_level"] == "abstemious"
    assert "?" not in set(couples["dress_preference"].astype(str))


def test_consumers_homes_become_stated_homes(converted):
    out, _ = converted
    data = read_dataset(out)
    couples = data.couples.set_index("id")
    assert couples.loc["U1001", "home"] == "22.139997,-100.978803"  # userprofile.csv latitude, longitude
    profiles = from_couples(data.couples)
    assert len(profiles) == 138 and profiles["U1001"].home == (22.139997, -100.978803)


def test_preferred_cuisines_are_kept_beside_the_profile_not_as_interests(converted):
    out, _ = converted
    data = read_dataset(out)
    couples = data.couples.set_index("id")
    assert "interests" not in couples.columns  # measured: as interests they lower NDCG (engine.lab.convert)
    assert couples.loc["U1001", "preferred_cuisines"] == "American"
    assert couples.loc["U1128", "preferred_cuisines"] == "Cafeteria|Hot_Dogs|Mexican|Pizzeria"
    # every consumer named some; 129 of the 138 name a cuisine some rated restaurant serves
    # (103 cuisines are named, 23 of them served)
    assert couples["preferred_cuisines"].astype(str).str.len().gt(0).all()
    served = {c.lower() for row in data.catalog.frame["cuisines"] for c in row}
    stated = [{c.lower() for c in row.split("|")} for row in couples["preferred_cuisines"]]
    assert sum(bool(s & served) for s in stated) == 129
    assert len(set().union(*stated)) == 103 and len(set().union(*stated) & served) == 23


def test_missing_file_is_named(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(UCI / "rating_final.csv", src)
    with pytest.raises(ConvertError, match=r"missing file\(s\) geoplaces2.csv"):
        convert_uci_restaurant(src, tmp_path / "out")


def test_failure_leaves_nothing_half_written(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(UCI, src)
    with (src / "rating_final.csv").open("a", encoding="utf-8") as fh:
        fh.write("U1001,999999,2,2,2\n")
    out = tmp_path / "out"
    with pytest.raises(ConvertError, match="placeID.*999999 not in geoplaces2.csv"):
        convert_uci_restaurant(src, out)
    assert not out.exists() or not any(out.iterdir())


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ConvertError, match="unknown dataset 'netflix'; known: uci-restaurant, movielens"):
        convert("netflix", UCI, tmp_path)


def test_cli_convert(tmp_path):
    result = CliRunner().invoke(main, ["convert", "uci-restaurant", str(UCI), str(tmp_path / "uci")])
    assert result.exit_code == 0, result.output
    assert "wrote 130 ideas, 1161 dates and 138 couples" in result.output
    assert len(read_dataset(tmp_path / "uci").dates) == 1161
