"""MovieLens ratings (GroupLens) into the import format.

Both layouts GroupLens publishes are read: ``ratings.csv`` + ``movies.csv``
(``userId,movieId,rating,timestamp`` and ``movieId,title,genres``: ml-latest,
ml-20m, ml-25m and later, UTF-8, ratings 0.5-5 in half stars) and
``ratings.dat`` + ``movies.dat`` (``UserID::MovieID::Rating::Timestamp`` and
``MovieID::Title::Genres``: ml-1m and ml-10m, whole or half stars; ml-1m's
titles are Latin-1). Each rated film becomes an idea (its genres a ``multi``
attribute, its year from the title an optional ``numeric`` one), each user a
couple (``u<id>``), each rating a date on the day of its timestamp (UTC)::

    dateideas convert movielens ml-1m/ /tmp/ml1m
    dateideas evaluate --data /tmp/ml1m --relevant 4

The files are not shipped (the MovieLens licence forbids redistribution).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pandas as pd

from .convert import ConvertError, write_converted

__all__ = ["convert_movielens"]

logger = logging.getLogger(__name__)

_YEAR = re.compile(r"\((\d{4})\)\s*$")
_NO_GENRES = "(no genres listed)"


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """One MovieLens file as strings: ``.csv`` with a header, ``.dat`` ``::``-separated without one."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConvertError(f"{path.name}: missing column(s) {', '.join(missing)}; "
                               f"expected {','.join(columns)}")
        return frame[list(columns)]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # ml-1m's titles are Latin-1
        text = raw.decode("latin-1")
    lines = pd.Series(text.splitlines(), dtype=object)
    lines = lines[lines.str.strip() != ""]
    fields = lines.str.count("::").to_numpy() + 1
    bad = (fields != len(columns)).nonzero()[0]
    if len(bad):
        raise ConvertError(f"{path.name}:{lines.index[bad[0]] + 1}: expected {len(columns)} fields separated by "
                           f"'::' ({'::'.join(columns)}), found {fields[bad[0]]}")
    # every record has its fields: pandas' C parser on a one-character separator (ml-10m has 10M lines)
    return pd.read_csv(io.StringIO("\n".join(lines).replace("::", "\x1f")), sep="\x1f", header=None,
                       names=list(columns), dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)


def _files(src: Path) -> tuple[Path, Path]:
    for suffix in (".csv", ".dat"):
        ratings, movies = src / f"ratings{suffix}", src / f"movies{suffix}"
        if ratings.is_file() and movies.is_file():
            return ratings, movies
    raise ConvertError(f"{src}: expected ratings.csv and movies.csv (ml-latest, ml-25m) or ratings.dat "
                       "and movies.dat (ml-1m, ml-10m), the files of a MovieLens download")


def convert_movielens(src: str | Path, dest: str | Path) -> dict[str, int]:
    """Convert a MovieLens folder ``src`` into the import format in ``dest``.

    Writes ``ideas.csv`` (the rated films: id = movieId, title, ``genres``
    ``|``-joined, ``year`` from the title or empty), ``schema.json`` (genres
    ``multi``, year ``numeric`` and optional, ratings from the lowest to the
    highest rating in the file: 0.5-5 or 1-5) and ``dates.csv`` (couple_id =
    ``u<userId>``, idea_id, ``done_on`` the timestamp's UTC day, rating),
    all together or nothing (:func:`~engine.lab.convert.write_converted`).

    Returns
    -------
    dict
        Counts: ``ideas``, ``dates``, ``couples``.

    Raises
    ------
    ConvertError
        If the files are missing or not in a MovieLens layout, naming what.
    """
    src, dest = Path(src), Path(dest)
    ratings_path, movies_path = _files(src)
    ratings = _read(ratings_path, ("userId", "movieId", "rating", "timestamp"))
    movies = _read(movies_path, ("movieId", "title", "genres")).drop_duplicates("movieId")
    stars = pd.to_numeric(ratings["rating"], errors="coerce")
    seconds = pd.to_numeric(ratings["timestamp"], errors="coerce")
    bad = ratings.index[stars.isna() | seconds.isna()]
    if len(bad):
        row = ratings.loc[bad[0]]
        raise ConvertError(f"{ratings_path.name}: rating {row['rating']!r} or timestamp {row['timestamp']!r} "
                           f"is not a number (record {bad[0] + 1}, {len(bad)} such)")
    rated = pd.unique(ratings["movieId"])
    unknown = sorted(set(rated) - set(movies["movieId"]))
    if unknown:
        raise ConvertError(f"{ratings_path.name}: movieId(s) {', '.join(unknown[:5])} not in {movies_path.name}")
    films = movies.set_index("movieId").loc[rated].reset_index()
    title = films["title"].str.strip()
    genres = films["genres"].where(films["genres"] != _NO_GENRES, "")
    ideas = pd.DataFrame({
        "id": films["movieId"],
        "title": title.where(title != "", "Film " + films["movieId"]),
        "genres": genres,
        "year": title.str.extract(_YEAR, expand=False).fillna(""),
    })
    dates = pd.DataFrame({
        "couple_id": "u" + ratings["userId"],
        "idea_id": ratings["movieId"],
        "done_on": pd.to_datetime(seconds, unit="s", utc=True).dt.strftime("%Y-%m-%d"),
        "rating": stars,
    })
    schema = {
        "attributes": {
            "genres": {"kind": "multi", "description": "the film's genres (MovieLens)"},
            "year": {"kind": "numeric", "optional": True, "description": "release year, from the title"},
        },
        "ratings": {"min": float(stars.min()), "max": float(stars.max())},
    }
    write_converted(dest, schema, ideas, dates)
    counts = {"ideas": len(ideas), "dates": len(dates), "couples": int(dates["couple_id"].nunique())}
    logger.info("converted MovieLens data: %s", counts)
    return counts
