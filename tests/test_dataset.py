"""The import format: write/read round trip, every kind of error, and ``dateideas import``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.domain.catalog import load_catalog
from engine.domain.dataset import DatasetError, read_dataset, write_dataset
from engine.lab.simulator import simulate
from engine.store import open_store


@pytest.fixture(scope="module")
def world():
    return simulate(12, seed=1)


@pytest.fixture
def folder(tmp_path, world) -> Path:
    out = tmp_path / "ds"
    write_dataset(out, world.catalog, world.dates, world.couples)
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _problems(folder: Path) -> list[tuple[str, int | None, str | None, str]]:
    with pytest.raises(DatasetError) as info:
        read_dataset(folder)
    return [(Path(p.file).name, p.line, p.field, p.message) for p in info.value.problems]


def test_round_trip(folder, world):
    data = read_dataset(folder)
    pd.testing.assert_frame_equal(data.dates, world.dates)
    pd.testing.assert_frame_equal(data.couples, world.couples)
    pd.testing.assert_frame_equal(data.catalog.frame, world.catalog.frame)
    assert data.rating_scale == (1.0, 5.0)
    header = _lines(folder / "dates.csv")[0]
    assert header == "couple_id,idea_id,done_on,rating_a,rating_b,ctx_weekday,ctx_season,ctx_weather,ctx_kids"
    first = _lines(folder / "dates.csv")[1].split(",")
    assert first[0] == "c000000" and len(first[2]) == 10 and first[-1] in ("true", "false")


def test_files_saved_by_a_spreadsheet_with_a_byte_order_mark_and_crlf_read_the_same(folder, world):
    # Excel's "CSV UTF-8" starts each file with a BOM and ends lines with CRLF; editors may add a BOM
    # to the JSON too
    for name in ("dates.csv", "couples.csv", "ideas.csv", "schema.json"):
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    data = read_dataset(folder)
    pd.testing.assert_frame_equal(data.dates, world.dates)
    pd.testing.assert_frame_equal(data.couples, world.couples)
    assert data.catalog.ids.tolist() == world.catalog.ids.tolist()


def test_a_file_in_another_encoding_is_refused_saying_to_save_it_as_utf8(folder):
    path = folder / "dates.csv"
    path.write_bytes(path.read_bytes().replace(b"c000001", "c\u00e9001".encode("latin-1")))
    [(name, _, _, message)] = _problems(folder)
    assert name == "dates.csv" and message.startswith("cannot read the file as UTF-8 CSV: 'utf-8' codec")
    assert message.endswith('the file is not UTF-8: save it as UTF-8 (in Excel: "CSV UTF-8")')


def test_round_trip_rating_scale_and_single_rating_column(tmp_path):
    catalog = load_catalog()
    ids = list(catalog.ids[:2])
    dates = pd.DataFrame({"couple_id": ["u1", "u1", "u2"], "idea_id": [ids[0], ids[1], ids[0]],
                          "rating": [0, 2, np.nan]})
    write_dataset(tmp_path, catalog, dates, rating_scale=(0, 2))
    assert json.loads((tmp_path / "schema.json").read_text())["ratings"] == {"min": 0, "max": 2}
    assert not (tmp_path / "couples.csv").exists()
    data = read_dataset(tmp_path)
    assert data.rating_scale == (0.0, 2.0)
    assert data.dates["rating_a"].tolist()[:2] == [0.0, 2.0] and np.isnan(data.dates["rating_a"][2])
    assert data.dates["rating_b"].isna().all() and data.dates["done_on"].isna().all()
    assert data.couples["id"].tolist() == ["u1", "u2"]


def test_rating_column_written_by_hand(folder):
    _write_lines(folder / "dates.csv", ["couple_id,idea_id,rating,ctx_mood",
                                        f"c000001,{_idea(folder)},4,happy", f"c000002,{_idea(folder)},,"])
    data = read_dataset(folder)
    assert data.dates["rating_a"].tolist()[0] == 4.0 and data.dates["rating_b"].isna().all()
    assert data.dates["ctx_mood"].tolist()[0] == "happy" and pd.isna(data.dates["ctx_mood"][1])


def test_a_line_copied_exactly_is_kept_and_named_in_a_warning(folder, caplog):
    idea = _idea(folder)
    row = f"c000001,{idea},2024-05-01,4,5"
    _write_lines(folder / "dates.csv", ["couple_id,idea_id,done_on,rating_a,rating_b",
                                        row, f"c000001,{idea},2024-05-08,4,5", row, row])
    with caplog.at_level("WARNING", logger="engine.domain.dataset"):
        data = read_dataset(folder)
    assert len(data.dates) == 4  # the format's rule: every line is a date
    [warning] = [r.getMessage() for r in caplog.records]
    assert "2 line(s) repeat an earlier line exactly (line 4 repeats line 2; line 5 repeats line 2)" in warning
    assert "remove the copies" in warning
    caplog.clear()
    _write_lines(folder / "dates.csv", ["couple_id,idea_id,done_on,rating_a,rating_b",
                                        row, f"c000001,{idea},2024-05-01,4,4"])  # one field differs: no copy
    with caplog.at_level("WARNING", logger="engine.domain.dataset"):
        read_dataset(folder)
    assert not caplog.records


def _idea(folder: Path) -> str:
    return _lines(folder / "ideas.csv")[1].split(",")[0]


def test_every_bad_row_is_reported_with_line_and_field(folder):
    idea = _idea(folder)
    header = "couple_id,idea_id,done_on,rating_a,rating_b,ctx_weather"
    _write_lines(folder / "dates.csv", [
        header,
        f"c000000,{idea},2024-05-01,4,5,clear",        # 2 fine
        "c000000,no-such-idea,2024-05-01,4,5,clear",   # 3 unknown idea
        f"c000000,{idea},01/05/2024,4,5,clear",         # 4 bad date format
        f"c000000,{idea},2024-02-30,4,5,clear",         # 5 impossible date
        f"c000000,{idea},2024-05-01,great,5,clear",     # 6 rating not a number
        f"c000000,{idea},2024-05-01,4,6,clear",         # 7 rating out of scale
        f"ghost,{idea},2024-05-01,4,5,clear",           # 8 couple not in couples.csv
        f",{idea},2024-05-01,4,5,clear",                # 9 empty couple id
        f"c000000,{idea},2024-05-01,4,5",               # 10 too few fields
    ])
    found = _problems(folder)
    assert ("dates.csv", 3, "idea_id", "unknown idea id 'no-such-idea'; it is not in ideas.csv") in found
    assert ("dates.csv", 4, "done_on", "'01/05/2024' is not a date; use YYYY-MM-DD (or leave it empty)") in found
    assert ("dates.csv", 5, "done_on", "'2024-02-30' is not a date; use YYYY-MM-DD (or leave it empty)") in found
    assert ("dates.csv", 6, "rating_a",
            "rating must be a number from 1 to 5 (empty = not rated), got 'great'") in found
    assert ("dates.csv", 7, "rating_b",
            "rating must be a number from 1 to 5 (empty = not rated), got '6'") in found
    assert ("dates.csv", 8, "couple_id", "couple id 'ghost' is not in couples.csv") in found
    assert ("dates.csv", 9, "couple_id", "empty couple id") in found
    assert ("dates.csv", 10, None, "expected 6 fields, found 5") in found
    assert len(found) == 8


def test_rating_outside_a_custom_scale(folder):
    schema = json.loads((folder / "schema.json").read_text())
    schema["ratings"] = {"min": 0, "max": 2}
    (folder / "schema.json").write_text(json.dumps(schema))
    _write_lines(folder / "dates.csv", ["couple_id,idea_id,rating", f"c000000,{_idea(folder)},0",
                                        f"c000000,{_idea(folder)},3"])
    assert _problems(folder) == [("dates.csv", 3, "rating",
                                  "rating must be a number from 0 to 2 (empty = not rated), got '3'")]


def test_bad_rating_scale_in_schema(folder):
    schema = json.loads((folder / "schema.json").read_text())
    schema["ratings"] = {"min": 5, "max": 1}
    (folder / "schema.json").write_text(json.dumps(schema))
    [(name, line, field, message)] = _problems(folder)
    assert (name, field) == ("schema.json", "ratings") and "min < max" in message


@pytest.mark.parametrize("header, field, message", [
    ("couple_id,idea_id,rating_a,notes", "notes", "unknown column(s) 'notes'"),
    ("idea_id,rating_a", "couple_id", "missing column 'couple_id'"),
    ("couple_id,rating_a", "idea_id", "missing column 'idea_id'"),
    ("couple_id,idea_id,done_on", "rating", "missing rating column: give either rating or rating_a/rating_b"),
    ("couple_id,idea_id,rating,rating_a", "rating", "give either rating or rating_a/rating_b, not both"),
    ("couple_id,idea_id,rating_a,rating_a", "rating_a", "column 'rating_a' appears 2 times"),
])
def test_bad_dates_header(folder, header, field, message):
    _write_lines(folder / "dates.csv", [header])
    found = _problems(folder)
    assert any(p[:3] == ("dates.csv", 1, field) and p[3].startswith(message) for p in found), found


def test_couples_file_errors(folder):
    lines = _lines(folder / "couples.csv")
    _write_lines(folder / "couples.csv", lines[:3] + [lines[1], "," + lines[2].split(",", 1)[1]] + lines[3:])
    found = _problems(folder)
    assert ("couples.csv", 4, "id", "duplicate couple id 'c000000' (first on line 2)") in found
    assert ("couples.csv", 5, "id", "empty couple id") in found
    _write_lines(folder / "couples.csv", ["name,kids", "x,true"])
    assert ("couples.csv", 1, "id", "missing column 'id'; found name, kids") in _problems(folder)


def test_catalog_problems_are_included(folder):
    lines = _lines(folder / "ideas.csv")
    lines[0] = lines[0].replace("novelty", "newness")
    _write_lines(folder / "ideas.csv", lines)
    found = _problems(folder)
    assert any(p[0] == "ideas.csv" and p[1] == 1 and "newness" in p[3] for p in found)


def test_missing_dates_file_and_not_a_folder(folder, tmp_path):
    (folder / "dates.csv").unlink()
    assert _problems(folder) == [("dates.csv", None, None, "dates file not found")]
    with pytest.raises(DatasetError, match="not a folder"):
        read_dataset(tmp_path / "nowhere")


def test_many_bad_rows_are_summarised(folder):
    rows = ["couple_id,idea_id,rating"] + [f"c000000,nope-{i},4" for i in range(250)]
    _write_lines(folder / "dates.csv", rows)
    found = _problems(folder)
    assert len(found) == 201 and found[-1][3] == "... and 50 more rows with this problem"
    with pytest.raises(DatasetError, match=r"201 problem\(s\) in the dataset"):
        read_dataset(folder)


# ---------------------------------------------------------------- dateideas import


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'import.sqlite3'}"
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", url)
    return url


def _counts(url: str) -> tuple[int, int]:
    store = open_store(url)
    try:
        store.migrate()
        return store.count_couples(), store.count_dates()
    finally:
        store.close()


def test_import_loads_couples_and_dates(folder, world, database):
    result = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"loaded 12 couples and {len(world.dates)} dates" in result.output
    assert _counts(database) == (12, len(world.dates))
    store = open_store(database)
    try:
        couple = store.get_couple("c000003")
        stored = store.dates_frame(["c000003"])
    finally:
        store.close()
    expected = world.couples.set_index("id").loc["c000003"]
    assert couple["profile"]["budget_ceiling"] == expected["budget_ceiling"]
    assert couple["profile"]["interests"] == expected["interests"].split("|")
    mine = world.dates[world.dates["couple_id"] == "c000003"]
    assert sorted(stored["idea_id"]) == sorted(mine["idea_id"])
    # a second import of the same couples is refused, and --replace reloads them
    again = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert again.exit_code == 1 and "already exist" in again.output
    assert _counts(database) == (12, len(world.dates))
    replaced = CliRunner().invoke(main, ["import", str(folder), "--replace", "--no-progress"])
    assert replaced.exit_code == 0, replaced.output
    assert _counts(database) == (12, len(world.dates))


def test_import_of_a_bad_file_loads_nothing(folder, database):
    lines = _lines(folder / "dates.csv")
    fields = lines[5].split(",")
    fields[3] = "9"
    lines[5] = ",".join(fields)
    _write_lines(folder / "dates.csv", lines)
    result = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert result.exit_code == 1
    assert "dates.csv:6: rating_a: rating must be a number from 1 to 5" in result.output
    assert "nothing was loaded" in result.output
    assert _counts(database) == (0, 0)


def test_import_reports_bad_profile_values(folder, database):
    lines = _lines(folder / "couples.csv")
    fields = lines[3].split(",")
    fields[1] = "7"
    lines[3] = ",".join(fields)
    _write_lines(folder / "couples.csv", lines)
    result = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert result.exit_code == 1
    assert "couples.csv:4: budget_ceiling: must be a whole cost tier from 0 (free) to 3 (splurge), got '7'" \
        in result.output
    assert _counts(database) == (0, 0)


def test_import_checks_and_keeps_stated_homes(folder, database):
    lines = _lines(folder / "couples.csv")
    homes = ["home", '"22.15,-100.98"', "", "somewhere"] + [""] * (len(lines) - 4)
    bad = [f"{line},{home}" for line, home in zip(lines, homes)]
    _write_lines(folder / "couples.csv", bad)
    result = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert result.exit_code == 1
    assert "couples.csv:4: home: 'somewhere' is not a location; expected \"latitude,longitude\"" in result.output
    assert _counts(database) == (0, 0)
    homes[3] = ""
    _write_lines(folder / "couples.csv", [f"{line},{home}" for line, home in zip(lines, homes)])
    result = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert result.exit_code == 0, result.output
    store = open_store(database)
    try:
        first = lines[1].split(",")[0]
        assert store.get_couple(first)["profile"]["home"] == "22.15,-100.98"
        assert store.profiles()[first].home == (22.15, -100.98)
    finally:
        store.close()


def test_read_dataset_names_the_line_of_a_bad_home_or_budget(folder):
    lines = _lines(folder / "couples.csv")
    header = lines[0].split(",")
    col = header.index("budget_ceiling")
    fields = lines[2].split(",")
    fields[col] = "lots"
    lines[2] = ",".join(fields)
    homes = ["home", "", '"95,10"'] + [""] * (len(lines) - 3)
    _write_lines(folder / "couples.csv", [f"{line},{home}" for line, home in zip(lines, homes)])
    found = _problems(folder)
    assert ("couples.csv", 3, "budget_ceiling",
            "must be a whole cost tier from 0 (free) to 3 (splurge), got 'lots'") in found
    assert any(f == "couples.csv" and line == 3 and field == "home" and "'95,10' is out of range" in message
               for f, line, field, message in found)
