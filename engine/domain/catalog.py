"""The idea catalog: loading and checking ``ideas.csv`` against ``schema.json``.

The shipped catalog lives in ``data/`` (see ``data/README.md``); any other
catalog in the import format loads the same way.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .datafiles import Problem, ProblemsError, checked_rows
from .profiles import DEFAULT_INTIMACY, INTIMACY_LEVELS
from .schema import Schema, SchemaError, load_schema

__all__ = [
    "Catalog",
    "CatalogError",
    "Problem",
    "CheckReport",
    "default_catalog_dir",
    "load_catalog",
    "check_catalog",
    "per_catalog",
]

_T = TypeVar("_T")

_REQUIRED = ("id", "title")
_OPTIONAL = ("description",)
#: attributes that may be empty in a valid catalog
_MAY_BE_EMPTY = ("text", "multi", "location")
#: attributes the hard constraints read (engine.domain.constraints): an unknown value there could
#: offer an idea that breaks a couple's budget, time or limits, so the schema cannot make them optional
_NEVER_OPTIONAL = ("cost", "duration_min", "setting", "weather_dependent", "kid_friendly", "intimacy")


def default_catalog_dir() -> Path:
    """The catalog folder: ``$DATEIDEAS_CATALOG`` or the repository's ``data/``."""
    env = os.environ.get("DATEIDEAS_CATALOG")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data"


class CatalogError(ProblemsError):
    """A catalog failed validation; ``problems`` lists every problem found."""

    subject = "the catalog"


@dataclass
class CheckReport:
    """What ``catalog check`` found."""

    ideas: int
    by_category: dict[str, int]
    by_pillar: dict[str, int]
    errors: list[Problem] = field(default_factory=list)
    #: ideas per physical-intimacy level, lowest level first (every level listed; a catalog without an
    #: ``intimacy`` column counts every idea as ``affection``)
    by_intimacy: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ideas": self.ideas,
            "by_category": self.by_category,
            "by_pillar": self.by_pillar,
            "by_intimacy": self.by_intimacy,
            "errors": [p.to_dict() for p in self.errors],
        }


def per_catalog(build: Callable[[Catalog], _T]) -> Callable[[Catalog], _T]:
    """``build(catalog)`` computed once per catalog object and kept while that catalog lives (the
    tables the constraints, prompts, pillars and newsletter read from a catalog's columns). Read
    only: every caller shares the one value."""
    built: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @functools.wraps(build)
    def once(catalog: Catalog) -> _T:
        value = built.get(catalog)
        if value is None:
            value = built[catalog] = build(catalog)
        return value

    return once


class Catalog:
    """A validated idea catalog.

    Attributes
    ----------
    schema : Schema
        The attribute schema.
    frame : pandas.DataFrame of shape (n_ideas, n_columns)
        One row per idea, indexed by idea id, with typed values: numbers as
        float, booleans as bool, ordinals as their level string, multi-valued
        attributes as tuples of str, missing text as "".
    """

    def __init__(self, frame: pd.DataFrame, schema: Schema):
        self.frame = frame
        self.schema = schema

    @property
    def ids(self) -> np.ndarray:
        """Idea ids in catalog order, shape (n_ideas,)."""
        return self.frame.index.to_numpy()

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, idea_id: object) -> bool:
        return idea_id in self.frame.index

    def position(self, idea_ids) -> np.ndarray:
        """Row positions of ``idea_ids`` (-1 for unknown ids)."""
        return self.frame.index.get_indexer(pd.Index(idea_ids))

    def couple_planes(self, couple_ids, ideas_of: dict | None) -> np.ndarray:
        """(n_couples, n_ideas): each couple's ``{idea id: weight}`` (a set: weight 1) in catalog
        columns, 0 elsewhere; couples and ideas not known are left out."""
        out = np.zeros((len(couple_ids), len(self)))
        row = {c: r for r, c in enumerate(couple_ids)}
        rows: list[int] = []
        ideas: list = []
        weights: list[float] = []
        for c, held in (ideas_of or {}).items():
            r = row.get(c)
            if r is not None and held:
                ideas.extend(held)
                weights.extend(held.values() if isinstance(held, dict) else [1.0] * len(held))
                rows.extend([r] * len(held))
        if ideas:  # every couple's ideas looked up at once (one index lookup, not one per couple)
            pos = self.position(ideas)
            known = pos >= 0
            out[np.asarray(rows)[known], pos[known]] = np.asarray(weights, dtype=float)[known]
        return out

    def idea(self, idea_id: str) -> dict[str, Any]:
        """One idea as a plain dict (``id`` included); ``KeyError`` if unknown."""
        row = self.frame.loc[idea_id]
        out = {"id": idea_id}
        for name, value in row.items():
            out[name] = list(value) if isinstance(value, tuple) else _plain(value)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _resolve(path: str | Path | None) -> tuple[Path, Path]:
    path = Path(path) if path is not None else default_catalog_dir()
    if path.is_dir():
        return path / "ideas.csv", path / "schema.json"
    return path, path.with_name("schema.json")


def _read_schema(schema_path: Path) -> tuple[Schema | None, list[Problem]]:
    fname = str(schema_path)
    try:
        schema = load_schema(schema_path)
    except FileNotFoundError:
        return None, [Problem(fname, None, None,
                              "schema file not found; a catalog needs schema.json beside ideas.csv")]
    except IsADirectoryError:
        return None, [Problem(fname, None, None, "is a folder, expected the schema.json file")]
    except SchemaError as exc:
        msg = str(exc)
        if msg.startswith(fname + ": "):
            msg = msg[len(fname) + 2:]
        return None, [Problem(fname, None, None, f"bad schema: {msg}")]
    except OSError as exc:
        return None, [Problem(fname, None, None, f"cannot read the schema: {exc.strerror or exc}")]
    clash = [name for name in schema.attributes if name in _REQUIRED + _OPTIONAL]
    if clash:
        return None, [Problem(fname, None, name,
                              f"bad schema: attribute {name!r} clashes with a reserved column "
                              f"({', '.join(_REQUIRED + _OPTIONAL)}); rename it")
                      for name in clash]
    unknowable = [name for name in _NEVER_OPTIONAL if name in schema.attributes and schema[name].optional]
    if unknowable:
        return None, [Problem(fname, None, name,
                              f"bad schema: attribute {name!r} decides what may be offered (a hard "
                              "constraint), so it cannot be optional; give every idea a value")
                      for name in unknowable]
    spec = schema.attributes.get("intimacy")
    if spec is not None and (spec.kind != "ordinal" or tuple(spec.order) != INTIMACY_LEVELS):
        # the constraint that keeps an idea above a couple's level out of every list reads this column
        return None, [Problem(fname, None, "intimacy",
                              f"bad schema: attribute 'intimacy' must be ordinal with order "
                              f"{list(INTIMACY_LEVELS)} (the couples' levels, lowest first); rename a "
                              f"different attribute")]
    return schema, []


#: the one schema attribute an ideas file may leave out: without it every idea is ``affection``, the
#: default intimacy level (catalogs written before the levels, with the shipped schema, keep loading)
_OPTIONAL_ATTRIBUTE = "intimacy"


def _check_header(fname: str, header: list[str], schema: Schema) -> list[Problem]:
    problems: list[Problem] = []
    for col in _REQUIRED:
        if col not in header:
            problems.append(Problem(fname, 1, col, f"missing column {col!r}"))
    for name in schema.attributes:
        if name not in header and name != _OPTIONAL_ATTRIBUTE:
            problems.append(Problem(fname, 1, name, f"missing column {name!r} declared in schema.json"))
    known = set(_REQUIRED) | set(_OPTIONAL) | set(schema.attributes)
    for pos, name in enumerate(header, start=1):
        if name == "":
            problems.append(Problem(fname, 1, None, f"column {pos} has an empty name"))
        elif name not in known:
            problems.append(Problem(fname, 1, name,
                                    f"unknown column {name!r}; every attribute column must be "
                                    "declared in schema.json"))
    for name, n in Counter(h for h in header if h).items():
        if n > 1:
            problems.append(Problem(fname, 1, name, f"column {name!r} appears {n} times"))
    return problems


def _check_row(fname: str, line: int, cells: dict[str, str], schema: Schema,
               seen: dict[str, int], shared: dict) -> tuple[dict[str, Any], list[Problem]]:
    """One data row parsed and checked: (record, problems). ``shared`` maps each attribute value read
    so far to its first copy: ideas repeat the same levels, kinds and tag sets, and one copy each
    keeps a large catalog's frame small (50,000 ideas: 118 -> 57 MiB resident)."""
    problems: list[Problem] = []
    rec: dict[str, Any] = {}
    idea_id = cells.get("id", "").strip()
    if "id" in cells:
        if not idea_id:
            problems.append(Problem(fname, line, "id", "empty id; every idea needs a unique id"))
        elif idea_id in seen:
            problems.append(Problem(fname, line, "id",
                                    f"duplicate id {idea_id!r} (first on line {seen[idea_id]})"))
        else:
            seen[idea_id] = line
    rec["id"] = idea_id
    for col in ("title", "description"):
        if col in cells:
            text = cells[col].strip()
            if not text:
                problems.append(Problem(fname, line, col, f"empty {col}"))
            rec[col] = text
    for name, spec in schema.attributes.items():
        if name not in cells:
            continue
        try:
            value = spec.parse(cells[name])
        except ValueError as exc:
            hint = f"; expected {spec.allowed()}" if spec.kind in ("numeric", "boolean") else ""
            problems.append(Problem(fname, line, name, f"{exc}{hint}"))
            continue
        if value is None and spec.kind not in _MAY_BE_EMPTY and not spec.optional:
            hint = "" if name in _NEVER_OPTIONAL else ', or mark it "optional": true in schema.json'
            problems.append(Problem(fname, line, name,
                                    f"empty value; {name} is required ({spec.allowed()}{hint})"))
        if value is None and spec.kind == "text":
            value = ""
        rec[name] = shared.setdefault(value, value) if isinstance(value, (str, tuple)) else value
    return rec, problems


def _read(path: str | Path | None) -> tuple[dict[str, list], list[str], Schema | None, list[Problem]]:
    """Parse and validate a catalog: (columns, header, schema, problems).

    ``columns`` maps each field read (``id``, the header's ``title`` and
    ``description``, the schema's attributes in the header, and ``intimacy``
    when it is filled in) to its values, one per data row that had the right
    number of fields (None where a cell did not parse); the catalog is valid
    only if ``problems`` is empty. Column lists rather than a record per row:
    the rows' records, freed once the frame was built, left a 50,000-idea
    catalog's strings scattered over memory the process kept (56 -> 42 MiB
    resident).
    """
    ideas_path, schema_path = _resolve(path)
    if path is not None and not Path(path).exists():
        what = "file" if Path(path).suffix.lower() == ".csv" else "folder"
        return {}, [], None, [Problem(str(path), None, None,
                                      f"this {what} does not exist; give a catalog folder (ideas.csv + "
                                      "schema.json) or an ideas CSV with schema.json beside it")]
    schema, problems = _read_schema(schema_path)
    if schema is None:
        return {}, [], None, problems
    fname = str(ideas_path)
    try:
        fh = ideas_path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        return {}, [], schema, [Problem(fname, None, None, "ideas file not found")]
    except OSError as exc:
        return {}, [], schema, [Problem(fname, None, None, f"cannot read the ideas file: {exc.strerror or exc}")]
    with fh:
        read = checked_rows(fh, fname, problems)
        if read is None:
            return {}, [], schema, problems
        header, rows = read
        problems.extend(_check_header(fname, header, schema))
        seen: dict[str, int] = {}
        shared: dict = {}
        fields = ["id", *(c for c in ("title", "description") if c in header),
                  *(a for a in schema.attributes if a in header)]
        default_intimacy = _OPTIONAL_ATTRIBUTE in schema.attributes and _OPTIONAL_ATTRIBUTE not in header
        if default_intimacy:
            fields.append(_OPTIONAL_ATTRIBUTE)
        columns: dict[str, list] = {name: [] for name in fields}
        for line, row in rows:
            if len(row) != len(header):
                problems.append(Problem(fname, line, None,
                                        f"expected {len(header)} fields as in the header, found "
                                        f"{len(row)}; quote cells that contain commas"))
                continue
            rec, row_problems = _check_row(fname, line, dict(zip(header, row)), schema, seen, shared)
            if default_intimacy:
                rec[_OPTIONAL_ATTRIBUTE] = DEFAULT_INTIMACY  # a catalog from before intimacy levels
            problems.extend(row_problems)
            for name, values in columns.items():
                values.append(rec.get(name))
    return columns, header, schema, problems


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog.

    Parameters
    ----------
    path : str or Path, optional
        A folder holding ``ideas.csv`` and ``schema.json``, or the path of an
        ideas CSV with ``schema.json`` beside it. Default: the shipped catalog
        (:func:`default_catalog_dir`).

    Returns
    -------
    Catalog
        With ``frame`` of shape (n_ideas, 2 + n_attributes): ``title``,
        ``description`` ("" when the file has no such column), then the
        schema's attributes in schema order.

    Raises
    ------
    CatalogError
        Listing every problem found, each with file, line and field.
    """
    read, header, schema, problems = _read(path)
    if problems or schema is None:
        raise CatalogError(problems)
    n = len(read["id"])
    columns = ["id", "title", "description", *schema.attributes]
    frame = pd.DataFrame({c: read.get(c, [np.nan] * n) for c in columns}, columns=columns).set_index("id")
    if "description" not in header:
        frame["description"] = ""
    return Catalog(frame, schema)


def check_catalog(path: str | Path | None = None) -> CheckReport:
    """Validate a catalog and count its ideas by category and pillar.

    Parameters
    ----------
    path : str or Path, optional
        As for :func:`load_catalog`; default the shipped catalog.

    Returns
    -------
    CheckReport
        ``ideas`` is the number of data rows read (also when some are bad);
        ``by_category`` / ``by_pillar`` count the values of the ``category``
        and ``pillars`` columns when present (sorted by name); ``by_intimacy``
        counts every level of :data:`engine.domain.profiles.INTIMACY_LEVELS`
        (lowest first; in a catalog without the column every idea is
        ``affection``); ``errors``
        lists every problem. Never raises for a bad catalog.
    """
    read, _header, _schema, problems = _read(path)
    n = len(read.get("id", ()))
    categories = Counter(c for c in read.get("category", ()) if c)
    pillars = Counter(p for ps in read.get("pillars", ()) for p in ps or ())
    levels = Counter(level or DEFAULT_INTIMACY for level in read.get("intimacy", [None] * n))
    return CheckReport(
        ideas=n,
        by_category={str(k): int(v) for k, v in sorted(categories.items())},
        by_pillar={str(k): int(v) for k, v in sorted(pillars.items())},
        errors=problems,
        by_intimacy={level: int(levels.get(level, 0)) for level in INTIMACY_LEVELS},
    )
