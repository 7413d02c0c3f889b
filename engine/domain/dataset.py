"""Datasets in the import format: read with full validation, write atomically.

A dataset is a folder of UTF-8 CSV files with a header row (DESIGN.md, "The
import format"):

``ideas.csv`` + ``schema.json``
    The catalog, read with :func:`engine.domain.catalog.load_catalog`.
    ``schema.json`` may carry ``"ratings": {"min": 1, "max": 5}``, the rating
    scale of ``dates.csv`` (default 1-5; the UCI restaurant data uses 0-2),
    and in it ``"relevant": R``, the rating counted as relevant (default: the
    top of the scale in ``evaluate``).
``dates.csv``
    ``couple_id``, ``idea_id``, optional ``done_on`` (YYYY-MM-DD, empty =
    unknown), and one of ``rating``, ``rating_a``/``rating_b`` (empty = not
    rated) or ``count`` (usage data: how often the couple used the idea, a
    number > 0; see :func:`ratings_from_counts`). Every further column is the
    date's context and must be named ``ctx_<name>``. Context values are text;
    a column holding only ``true`` and ``false`` (and empty cells) is read as
    booleans.
``couples.csv`` (optional)
    ``id``, then free profile columns. A column of integers becomes int, one
    of ``true``/``false`` becomes bool, anything else text. Without the file
    the couples are the distinct ``couple_id`` values of ``dates.csv``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .catalog import Catalog, CatalogError, load_catalog
from .datafiles import CsvRecords, Problem, ProblemsError
from .dataset_writer import write_dataset
from .dates import as_dates_frame, implausible_days
from .geo import parse_location
from .profiles import budget_ceiling
from .schema import DEFAULT_RATING_SCALE, RatingSpec, SchemaError, rating_spec

__all__ = ["Dataset", "DatasetError", "DEFAULT_RATING_SCALE", "ratings_from_counts", "read_dataset",
           "write_dataset"]

logger = logging.getLogger(__name__)
#: at most this many problems of one kind are listed (then a summary line)
_MAX_PER_CHECK = 200
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE, _FALSE = "true", "false"


@dataclass(frozen=True)
class Dataset:
    """A validated dataset.

    Attributes
    ----------
    catalog : Catalog
        The ideas.
    dates : pandas.DataFrame
        The dates frame (:mod:`engine.domain.dates`), rows in file order.
    couples : pandas.DataFrame
        ``id`` then profile columns, one row per couple.
    rating_scale : tuple of (float, float)
        Lowest and highest rating, from ``schema.json`` (default 1-5).
    relevant_rating : float or None
        The rating counted as relevant, from ``schema.json``
        (``"ratings": {"relevant": R}``); None when it does not say.
    counts : bool
        True when ``dates.csv`` carried usage ``count`` instead of ratings
        (the ratings are then :func:`ratings_from_counts`).
    """

    catalog: Catalog
    dates: pd.DataFrame
    couples: pd.DataFrame
    rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE
    relevant_rating: float | None = None
    counts: bool = False


class DatasetError(ProblemsError):
    """A dataset failed validation; ``problems`` lists every problem, each with file, line and field."""

    subject = "the dataset"


def _rating_spec(folder: Path, problems: list[Problem]) -> RatingSpec:
    path = folder / "schema.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RatingSpec()  # the catalog check reports it
    try:
        return rating_spec(doc.get("ratings") if isinstance(doc, dict) else None)
    except SchemaError as exc:
        problems.append(Problem(str(path), None, "ratings", str(exc)))
        return RatingSpec()


def ratings_from_counts(couple_ids: np.ndarray | pd.Series, counts: np.ndarray | pd.Series,
                        scale: tuple[float, float] = DEFAULT_RATING_SCALE) -> np.ndarray:
    """Usage counts to ratings: each count's quantile among the couple's own counts.

    A couple's rows are ranked by count (ties share their average rank) and
    the midpoint quantile ``q = (rank - 0.5) / n`` in (0, 1) is cut into the
    scale's levels: on 1-5 the couple's top fifth by count is rated 5, the
    next fifth 4, and so on; equal counts, and a couple's only row, get the
    middle level (nothing to prefer them over). A scale whose ends are not
    whole numbers is filled continuously, ``min + q (max - min)``. So the preference is relative to the couple's
    own usage (heavy and light users alike have their favourites rated top)
    and ``evaluate``'s default relevance (the top of the scale) is "among
    the couple's most used fifth". Every count row is one date for the
    engine's implicit signals (confidence 1, whatever the count).

    Parameters
    ----------
    couple_ids : array-like of shape (n,)
    counts : array-like of shape (n,)
        Numbers > 0; NaN = unknown (the row stays unrated).
    scale : (float, float), default (1, 5)

    Returns
    -------
    ndarray of shape (n,), float; NaN where the count is NaN.
    """
    values = pd.Series(np.asarray(counts, dtype=float))
    groups = np.asarray(couple_ids)
    rank = values.groupby(groups).rank(method="average").to_numpy()
    size = values.notna().groupby(groups).transform("sum").to_numpy(dtype=float)
    share = (rank - 0.5) / np.maximum(size, 1.0)  # the midpoint quantile of each count
    lo, hi = (float(v) for v in scale)
    if lo.is_integer() and hi.is_integer():
        levels = int(hi - lo) + 1
        return lo + np.clip(np.ceil(share * levels - 1e-9), 1, levels) - 1
    return lo + share * (hi - lo)


def _read_csv(path: Path, problems: list[Problem]) -> tuple[list[str], pd.DataFrame, np.ndarray] | None:
    """Header, string cells (one row per record) and each record's line number."""
    fname = str(path)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        records = CsvRecords(fh)
        for _, line, row in records:  # a record is numbered by the line it ends on
            if header is None:
                header = [h.strip() for h in row]
                continue
            if len(row) != len(header):
                if not any(cell.strip() for cell in row):
                    continue
                problems.append(Problem(fname, line, None, f"expected {len(header)} fields, found {len(row)}"))
                continue
            rows.append(row)
            lines.append(line)
    if records.error is not None:
        problems.append(Problem(fname, None, None, f"cannot read the file as UTF-8 CSV: {records.reason}"))
        return None
    if header is None:
        problems.append(Problem(fname, 1, None, "the file is empty; a header row is required"))
        return None
    counts = pd.Series(header).value_counts()
    for name, n in counts[counts > 1].items():
        problems.append(Problem(fname, 1, name, f"column {name!r} appears {n} times"))
    if (counts > 1).any():
        return None
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    return header, frame, np.asarray(lines, dtype=np.int64)


def _report(problems: list[Problem], fname: str, lines: np.ndarray, bad: np.ndarray, field: str,
            message) -> None:
    """Add one problem per row where ``bad`` is true; ``message(i)`` words it for row ``i``."""
    where = np.flatnonzero(bad)
    for i in where[:_MAX_PER_CHECK]:
        problems.append(Problem(fname, int(lines[i]), field, message(i)))
    if len(where) > _MAX_PER_CHECK:
        problems.append(Problem(fname, None, field,
                                f"... and {len(where) - _MAX_PER_CHECK} more rows with this problem"))


def _typed_column(values: pd.Series) -> pd.Series:
    filled = values[values != ""]
    low = filled.str.lower()
    if len(filled) and low.isin([_TRUE, _FALSE]).all():
        if len(filled) == len(values):
            return values.str.lower() == _TRUE
        return values.str.lower().map({_TRUE: True, _FALSE: False}).astype(object)
    return values.astype("str").where(values != "", np.nan)


#: couples.csv profile columns the model reads, checked as the model will parse them
#: (engine.domain.profiles), with what is allowed (None: the parser's own message says it)
_PROFILE_CHECKS = {
    "budget_ceiling": (budget_ceiling, "must be a whole cost tier from 0 (free) to 3 (splurge)"),
    "home": (parse_location, None),
}


def _parse_error(value: str, check) -> str | None:
    parse, allowed = check
    try:
        parse(value)
    except ValueError as exc:
        return f"{allowed}, got {value!r}" if allowed else str(exc)
    return None


def _unparsable(values: pd.Series, check) -> np.ndarray:
    return np.array([_parse_error(v, check) is not None for v in values], dtype=bool)


def _read_couples(folder: Path, problems: list[Problem]) -> pd.DataFrame | None:
    path = folder / "couples.csv"
    if not path.exists():
        return None
    fname = str(path)
    read = _read_csv(path, problems)
    if read is None:
        return None
    header, frame, lines = read
    if "id" not in header:
        problems.append(Problem(fname, 1, "id", f"missing column 'id'; found {', '.join(header)}"))
        return None
    ids = frame["id"]
    _report(problems, fname, lines, (ids == "").to_numpy(), "id", lambda i: "empty couple id")
    dup = ids.duplicated(keep="first") & (ids != "")
    first = dict(zip(ids[~dup].to_numpy(), lines[~dup.to_numpy()]))
    _report(problems, fname, lines, dup.to_numpy(), "id",
            lambda i: f"duplicate couple id {ids.iat[i]!r} (first on line {first[ids.iat[i]]})")
    for col, check in _PROFILE_CHECKS.items():
        if col in header:
            _report(problems, fname, lines, _unparsable(frame[col], check), col,
                    lambda i, col=col, check=check: _parse_error(frame[col].iat[i], check))
    out = pd.DataFrame({"id": ids.astype("str")})
    for col in header:
        if col == "id":
            continue
        values = frame[col]
        if len(values) and (values != "").all() and values.str.fullmatch(r"-?\d+").all():
            out[col] = values.astype(np.int64)
        else:
            out[col] = _typed_column(values)
    return out.reset_index(drop=True)


def _warn_copies(fname: str, frame: pd.DataFrame, lines: np.ndarray) -> None:
    """Log a warning when lines repeat an earlier line field for field (a file exported or pasted
    twice, most likely): each is kept as another date, as the format says, but the user should know."""
    again = frame.duplicated().to_numpy()
    if not again.any():
        return
    originals = frame.duplicated(keep=False).to_numpy() & ~again  # the lines the copies repeat
    first = dict(zip(map(tuple, frame[originals].itertuples(index=False)), lines[originals]))
    pairs = [f"line {line} repeats line {first[tuple(row)]}"
             for row, line in zip(frame[again].itertuples(index=False), lines[again])]
    logger.warning("%s: %d line(s) repeat an earlier line exactly (%s%s); each is kept as another date "
                   "of that couple: remove the copies if the file was exported or pasted twice",
                   fname, len(pairs), "; ".join(pairs[:3]), "; ..." if len(pairs) > 3 else "")


def _read_dates(folder: Path, catalog: Catalog | None, couples: pd.DataFrame | None,
                scale: tuple[float, float], problems: list[Problem]) -> pd.DataFrame | None:
    path = folder / "dates.csv"
    fname = str(path)
    if not path.exists():
        problems.append(Problem(fname, None, None, "dates file not found"))
        return None
    read = _read_csv(path, problems)
    if read is None:
        return None
    header, frame, lines = read
    for col in ("couple_id", "idea_id"):
        if col not in header:
            problems.append(Problem(fname, 1, col, f"missing column {col!r}"))
    rating_cols = [c for c in ("rating", "rating_a", "rating_b") if c in header]
    if not rating_cols and "count" not in header:
        problems.append(Problem(fname, 1, "rating",
                                "missing rating column: give either rating or rating_a/rating_b "
                                "(or count, for usage data)"))
    elif "rating" in rating_cols and len(rating_cols) > 1:
        problems.append(Problem(fname, 1, "rating",
                                "give either rating or rating_a/rating_b, not both"))
    elif rating_cols and "count" in header:
        problems.append(Problem(fname, 1, "count",
                                "give either ratings (rating or rating_a/rating_b) or count, not both"))
    known = {"couple_id", "idea_id", "done_on", "rating", "rating_a", "rating_b", "count"}
    unknown = [h for h in header if h not in known and not h.startswith("ctx_")]
    if unknown:
        problems.append(Problem(fname, 1, ", ".join(unknown),
                                f"unknown column(s) {', '.join(map(repr, unknown))}; allowed: "
                                "couple_id, idea_id, done_on, rating or rating_a/rating_b or count, "
                                "and context columns named ctx_<name>"))
    if any(p.file == fname and p.line == 1 for p in problems):
        return None

    cid = frame["couple_id"]
    _report(problems, fname, lines, (cid == "").to_numpy(), "couple_id", lambda i: "empty couple id")
    if couples is not None:
        bad = (~cid.isin(couples["id"]) & (cid != "")).to_numpy()
        _report(problems, fname, lines, bad, "couple_id",
                lambda i: f"couple id {cid.iat[i]!r} is not in couples.csv")
    iid = frame["idea_id"]
    _report(problems, fname, lines, (iid == "").to_numpy(), "idea_id", lambda i: "empty idea id")
    if catalog is not None:
        bad = (~iid.isin(catalog.frame.index) & (iid != "")).to_numpy()
        _report(problems, fname, lines, bad, "idea_id",
                lambda i: f"unknown idea id {iid.iat[i]!r}; it is not in ideas.csv")
    if "done_on" in header:
        day = frame["done_on"]
        parsed = pd.to_datetime(day.where(day.str.match(_DATE_RE.pattern), None),
                                format="%Y-%m-%d", errors="coerce")
        bad = ((day != "") & parsed.isna()).to_numpy()
        _report(problems, fname, lines, bad, "done_on",
                lambda i: f"{day.iat[i]!r} is not a date; use YYYY-MM-DD (or leave it empty)")
        # real dates outside the plausible range (engine.domain.dates.check_day, the rule of every date)
        far = implausible_days(day[parsed.notna().to_numpy()].unique())
        if far:
            _report(problems, fname, lines, day.isin(list(far)).to_numpy(), "done_on", lambda i: far[day.iat[i]])
    lo, hi = scale
    for col in rating_cols:
        raw = frame[col]
        num = pd.to_numeric(raw.where(raw != "", None), errors="coerce")
        bad = (((raw != "") & num.isna()) | (num < lo) | (num > hi)).to_numpy()
        _report(problems, fname, lines, bad, col,
                lambda i, raw=raw: f"rating must be a number from {lo:g} to {hi:g} "
                                   f"(empty = not rated), got {raw.iat[i]!r}")
    if "count" in header:
        raw = frame["count"]
        num = pd.to_numeric(raw.where(raw != "", None), errors="coerce")
        bad = (((raw != "") & num.isna()) | ~(num > 0) & num.notna() | np.isinf(num)).to_numpy()
        _report(problems, fname, lines, bad, "count",
                lambda i: f"count must be a number > 0, how often the couple used the idea "
                          f"(empty = unknown), got {raw.iat[i]!r}")
        # a count is the couple's total use of the idea: a second row for the pair would be ranked
        # against the first as another preference (and be a second date)
        key = cid + "\x1f" + frame["idea_id"]
        again = key.duplicated().to_numpy()
        first = dict(zip(key[~again], lines[~again]))
        _report(problems, fname, lines, again, "count",
                lambda i: f"couple {cid.iat[i]!r} and idea {frame['idea_id'].iat[i]!r} already have a count "
                          f"(line {first[key.iat[i]]}); usage data has one row per couple and idea: "
                          "add the counts together")
    if problems:
        return None
    if "count" not in header:
        _warn_copies(fname, frame[header], lines)

    data: dict[str, Any] = {"couple_id": cid, "idea_id": iid}
    if "done_on" in header:
        data["done_on"] = pd.to_datetime(frame["done_on"].where(frame["done_on"] != "", None),
                                         format="%Y-%m-%d")
    for col in rating_cols:
        data[col] = pd.to_numeric(frame[col].where(frame[col] != "", None), errors="coerce")
    if "count" in header:
        counts = pd.to_numeric(frame["count"].where(frame["count"] != "", None), errors="coerce")
        data["rating"] = ratings_from_counts(cid.to_numpy(), counts.to_numpy(dtype=float), scale)
    for col in header:
        if col.startswith("ctx_"):
            data[col] = _typed_column(frame[col])
    return as_dates_frame(pd.DataFrame(data))


def read_dataset(path: str | Path) -> Dataset:
    """Read and validate a dataset folder in the import format.

    Parameters
    ----------
    path : str or Path
        Folder with ``ideas.csv``, ``schema.json``, ``dates.csv`` and
        optionally ``couples.csv``.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Listing every problem found (catalog errors included), each with
        file, line and field: unknown idea or couple id, bad date, rating not
        a number or outside the scale, an unknown column, a missing column,
        a duplicate couple id, a row with the wrong number of fields.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError([Problem(str(folder), None, None,
                                    "not a folder; a dataset is a folder with ideas.csv, "
                                    "schema.json and dates.csv")])
    problems: list[Problem] = []
    try:
        catalog: Catalog | None = load_catalog(folder)
    except CatalogError as exc:
        problems.extend(exc.problems)
        catalog = None
    spec = _rating_spec(folder, problems)
    scale = spec.scale
    couples = _read_couples(folder, problems)
    dates = _read_dates(folder, catalog, couples, scale, problems)
    if problems or catalog is None or dates is None:
        raise DatasetError(problems)
    if couples is None:
        couples = pd.DataFrame({"id": pd.Series(pd.unique(dates["couple_id"]), dtype="str")})
    counted = _has_column(folder / "dates.csv", "count")
    return Dataset(catalog=catalog, dates=dates, couples=couples, rating_scale=scale,
                   relevant_rating=spec.relevant, counts=counted)


def _has_column(path: Path, name: str) -> bool:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return name in [h.strip() for h in next(csv.reader(fh), [])]
