"""``dateideas convert movielens``: both MovieLens layouts into the import format, all or nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.domain.dataset import read_dataset
from engine.lab.convert import ConvertError, convert

_MOVIES = [("1", "Toy Story (1995)", "Animation|Children's|Comedy"),
           ("2", "Café Society (2016)", "Comedy|Drama|Romance"),
           ("3", "Untitled short", "(no genres listed)"),
           ("4", "Never rated (1990)", "Drama")]
# 978300760 is 2000-12-31 22:12:40 UTC; 978300760 + 7200 is 2001-01-01
_RATINGS = [("1", "1", "5", "978300760"), ("1", "2", "3", "978307960"), ("2", "1", "4", "978300760"),
            ("2", "3", "1", "978300760"), ("2", "2", "2", "978300760")]


def _dat(folder, movies=_MOVIES, ratings=_RATINGS):
    folder.mkdir(exist_ok=True)
    (folder / "movies.dat").write_bytes("\n".join("::".join(m) for m in movies).encode("latin-1"))
    (folder / "ratings.dat").write_text("\n".join("::".join(r) for r in ratings) + "\n")
    return folder


def _csv(folder, half_stars=True):
    folder.mkdir(exist_ok=True)
    pd.DataFrame(_MOVIES, columns=["movieId", "title", "genres"]).to_csv(folder / "movies.csv", index=False)
    rows = [(u, m, str(float(r) - 0.5) if half_stars and r == "5" else r, t) for u, m, r, t in _RATINGS]
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(folder / "ratings.csv",
                                                                                  index=False)
    return folder


def test_ml1m_layout_latin1_titles_genres_years_and_days(tmp_path):
    counts = convert("movielens", _dat(tmp_path / "ml-1m"), tmp_path / "out")
    assert counts == {"ideas": 3, "dates": 5, "couples": 2}  # film 4 was never rated: not an idea
    data = read_dataset(tmp_path / "out")
    frame = data.catalog.frame
    assert list(frame.index) == ["1", "2", "3"]
    assert frame.loc["2", "title"] == "Café Society (2016)"  # decoded from Latin-1
    assert frame.loc["1", "genres"] == ("Animation", "Children's", "Comedy")
    assert frame.loc["3", "genres"] == () and pd.isna(frame.loc["3", "year"])  # no genres, no year
    assert frame.loc["1", "year"] == 1995
    dates = data.dates.sort_values(["couple_id", "idea_id"]).reset_index(drop=True)
    assert dates["couple_id"].tolist() == ["u1", "u1", "u2", "u2", "u2"]
    assert dates["done_on"].dt.strftime("%Y-%m-%d").tolist()[:2] == ["2000-12-31", "2001-01-01"]
    assert data.rating_scale == (1.0, 5.0)
    assert not (tmp_path / "out" / "couples.csv").exists()


def test_csv_layout_keeps_half_stars_on_its_own_scale(tmp_path):
    convert("movielens", _csv(tmp_path / "ml-latest"), tmp_path / "out")
    schema = json.loads((tmp_path / "out" / "schema.json").read_text())
    assert schema["ratings"] == {"min": 1.0, "max": 4.5}
    assert schema["attributes"]["year"] == {"kind": "numeric", "optional": True,
                                            "description": "release year, from the title"}
    assert sorted(read_dataset(tmp_path / "out").dates["rating_a"].tolist()) == [1, 2, 3, 4, 4.5]


def test_what_is_not_movielens_is_refused_naming_it_and_nothing_is_written(tmp_path):
    with pytest.raises(ConvertError, match="expected ratings.csv and movies.csv .* or ratings.dat"):
        convert("movielens", tmp_path, tmp_path / "out")
    src = _dat(tmp_path / "broken", ratings=[*_RATINGS, ("3", "1", "4")])
    with pytest.raises(ConvertError, match=r"ratings.dat:6: expected 4 fields separated by '::'"):
        convert("movielens", src, tmp_path / "out")
    src = _dat(tmp_path / "orphan", ratings=[*_RATINGS, ("3", "99", "4", "978300760")])
    with pytest.raises(ConvertError, match=r"movieId\(s\) 99 not in movies.dat"):
        convert("movielens", src, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_cli_converts_and_says_what_it_wrote(tmp_path):
    result = CliRunner().invoke(main, ["convert", "movielens", str(_dat(tmp_path / "ml")), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "wrote 3 ideas, 5 dates and 2 couples" in result.output
