"""Daily appreciation: one small, specific nudge per partner per day, and a kind streak.

``data/nudges.csv`` holds the nudges (``id``, ``text``, ``kind``
appreciation/gesture, ``needs``). A text may name the other partner as
``{partner}`` (their name when the profile has one, else "your partner") and a
recent date as ``{date}`` (only nudges that need ``recent_date``: a date done
in the last :data:`RECENT_DATE_DAYS` days).

:func:`today_for` is what ``GET /v1/couples/{id}/today`` and the Today page
call. The first request of a day picks each partner's nudge with
:func:`pick_nudge` (seeded per couple, partner and day; not one shown to that
partner in the last :data:`NO_REPEAT_DAYS` days, nor yesterday's, nor the
other partner's of the day) and stores it, so the day's nudge stays the same
all day. The streak counts days in a row a partner marked their nudge done
and is worded without guilt: a gap is never mentioned.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import re
import string
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..domain.catalog import CatalogError, Problem, default_catalog_dir

__all__ = [
    "KINDS",
    "NEEDS",
    "NO_REPEAT_DAYS",
    "Nudge",
    "PARTNERS",
    "RECENT_DATE_DAYS",
    "check_nudges",
    "default_nudges",
    "load_nudges",
    "mark_done",
    "nudges_path",
    "pick_nudge",
    "streak",
    "today_for",
]

PARTNERS = ("a", "b")
KINDS = ("appreciation", "gesture")
NEEDS = ("", "recent_date")
#: a nudge shown to a partner is not shown to them again within this many days
NO_REPEAT_DAYS = 14
#: a date done this many days back (or fewer) counts as recent for ``{date}``
RECENT_DATE_DAYS = 14
_COLUMNS = ("id", "text", "kind", "needs")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_FIELDS = {"partner", "date"}
_HISTORY_DAYS = 60  # rows read back: streaks and repeats


@dataclass(frozen=True)
class Nudge:
    """One appreciation nudge or micro-gesture."""

    id: str
    text: str
    kind: str
    needs: str = ""


def nudges_path(path: str | Path | None = None) -> Path:
    """``nudges.csv`` of a catalog folder (or beside an ideas CSV); a ``nudges*.csv`` file is itself."""
    path = Path(path) if path is not None else default_catalog_dir()
    if path.is_dir():
        return path / "nudges.csv"
    return path if path.name.startswith("nudges") else path.with_name("nudges.csv")


def _check(path: Path) -> tuple[list[Nudge], int, list[Problem]]:
    fname = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh, strict=True))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], 0, [Problem(fname, None, None, f"cannot read the nudges file: {exc}")]
    if not rows or tuple(h.strip() for h in rows[0]) != _COLUMNS:
        return [], 0, [Problem(fname, 1, None, f"the header must be {','.join(_COLUMNS)}")]
    nudges, problems, seen, count = [], [], {}, 0
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        count += 1
        if len(row) != len(_COLUMNS):
            problems.append(Problem(fname, line, None, f"expected {len(_COLUMNS)} fields, found {len(row)}; "
                                                       "quote a text that contains commas"))
            continue
        nid, text, kind, needs = (c.strip() for c in row)
        found = []
        if not _ID_RE.match(nid):
            found.append(Problem(fname, line, "id", f"id must be lowercase letters, digits and hyphens, got {nid!r}"))
        elif nid in seen:
            found.append(Problem(fname, line, "id", f"duplicate id {nid!r} (first on line {seen[nid]})"))
        else:
            seen[nid] = line
        if kind not in KINDS:
            found.append(Problem(fname, line, "kind", f"kind must be one of {', '.join(KINDS)}, got {kind!r}"))
        if needs not in NEEDS:
            found.append(Problem(fname, line, "needs", f"needs must be empty or recent_date, got {needs!r}"))
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            names = set()
            found.append(Problem(fname, line, "text", f"bad braces in the text: {exc}"))
        if not text:
            found.append(Problem(fname, line, "text", "empty text"))
        if names - _FIELDS:
            found.append(Problem(fname, line, "text", f"unknown placeholder {{{sorted(names - _FIELDS)[0]}}}; "
                                                      "allowed: {partner}, {date}"))
        if "date" in names and needs != "recent_date":
            found.append(Problem(fname, line, "needs", "a text with {date} needs recent_date"))
        problems.extend(found)
        if not found:
            nudges.append(Nudge(nid, text, kind, needs))
    return nudges, count, problems


def check_nudges(path: str | Path | None = None) -> tuple[int, list[Problem]]:
    """(nudges read, problems) of a nudge catalog; never raises."""
    _, count, problems = _check(nudges_path(path))
    return count, problems


def load_nudges(path: str | Path | None = None) -> tuple[Nudge, ...]:
    """Load and validate a nudge catalog; ``CatalogError`` lists every problem."""
    nudges, _, problems = _check(nudges_path(path))
    if problems:
        raise CatalogError(problems)
    return tuple(nudges)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> tuple[Nudge, ...]:
    return load_nudges(path)


def default_nudges(path: str | Path | None = None) -> tuple[Nudge, ...]:
    """The shipped (or ``$DATEIDEAS_CATALOG``) nudges, cached per file."""
    file = nudges_path(path)
    return _cached(str(file), file.stat().st_mtime)


# --------------------------------------------------------------------------- choosing


def pick_nudge(nudges: Sequence[Nudge], couple_id: str, partner: str, day: _dt.date, *,
               avoid: set[str] = frozenset(), recent_date: bool = False) -> Nudge:
    """One partner's nudge for a day: seeded per couple, partner and day.

    Parameters
    ----------
    nudges : sequence of Nudge
    couple_id, partner : str
    day : date
    avoid : set of str
        Nudge ids not to give (recently shown, yesterday's, the other partner's
        today); ignored when nothing else is left.
    recent_date : bool
        Whether nudges about a recent date may be chosen.
    """
    fits = [n for n in nudges if recent_date or n.needs != "recent_date"]
    fresh = [n for n in fits if n.id not in avoid] or fits
    rng = np.random.default_rng(zlib.crc32(f"{couple_id}|{partner}|{day.isoformat()}".encode()))
    return fresh[int(rng.integers(len(fresh)))]


def streak(rows: Sequence[Mapping[str, Any]], partner: str, day: _dt.date) -> dict[str, Any]:
    """A partner's streak as ``{"days", "total", "text"}``.

    ``days`` counts days in a row ending today (or yesterday, while today's is
    still open) with the nudge done; ``total`` all done days in the rows; the
    text never mentions a gap.
    """
    done = {_dt.date.fromisoformat(r["day"]) for r in rows if r["partner"] == partner and r.get("done_at")}
    start = day if day in done else day - _dt.timedelta(days=1)
    days = 0
    while start - _dt.timedelta(days=days) in done:
        days += 1
    total = len(done)
    if day in done:
        text = f"Done today. {days} days in a row." if days > 1 else "Done today. Nice one."
    elif days > 1:
        text = f"{days} days in a row so far; today's is here whenever it fits."
    elif total:
        text = f"{total} kind thing{'s' if total != 1 else ''} done lately. Today's is here whenever it fits."
    else:
        text = "A small one for today, whenever it fits."
    return {"days": days, "total": total, "text": text}


def _names(profile: Mapping[str, Any]) -> dict[str, str]:
    """Partner names from a profile, when it has them (``names: {a, b}`` or ``name_a``/``name_b``)."""
    names = profile.get("names") if isinstance(profile.get("names"), Mapping) else {}
    out = {}
    for partner in PARTNERS:
        value = names.get(partner) or profile.get(f"name_{partner}") or profile.get(f"partner_{partner}_name")
        if isinstance(value, str) and value.strip():
            out[partner] = value.strip()
    return out


def _recent_date(store, couple_id: str, day: _dt.date, catalog) -> str | None:
    """Title of the couple's latest date done in the last RECENT_DATE_DAYS days (before or on ``day``)."""
    since = day - _dt.timedelta(days=RECENT_DATE_DAYS)
    recent = [d for d in store.list_dates(couple_id)
              if d.get("done_on") and since <= _dt.date.fromisoformat(d["done_on"]) <= day]
    if not recent:
        return None
    latest = max(recent, key=lambda d: (d["done_on"], d.get("id") or 0))
    idea = latest["idea_id"]
    if catalog is not None and idea in catalog:
        return str(catalog.frame.at[idea, "title"])
    return None


def _pick_day(store, couple_id: str, day: _dt.date, rows: list[dict[str, Any]], nudges: Sequence[Nudge],
              catalog) -> list[dict[str, Any]]:
    couple = store.get_couple(couple_id) or {}
    names = _names(couple.get("profile") or {})
    date_title = _recent_date(store, couple_id, day, catalog)
    cutoff = (day - _dt.timedelta(days=NO_REPEAT_DAYS)).isoformat()
    yesterday = (day - _dt.timedelta(days=1)).isoformat()
    taken: set[str] = set()
    picks = []
    for partner, other in (("a", "b"), ("b", "a")):
        avoid = {r["nudge_id"] for r in rows
                 if (r["partner"] == partner and r["day"] >= cutoff) or r["day"] == yesterday} | taken
        nudge = pick_nudge(nudges, couple_id, partner, day, avoid=avoid, recent_date=date_title is not None)
        taken.add(nudge.id)
        text = nudge.text.format(partner=names.get(other, "your partner"), date=date_title or "")
        text = text[:1].upper() + text[1:]
        picks.append({"partner": partner, "nudge_id": nudge.id, "text": text})
    return picks


def today_for(store, couple_id: str, day: _dt.date | None = None, *, nudges: Sequence[Nudge] | None = None,
              catalog=None) -> dict[str, Any]:
    """Each partner's nudge for the day (stored on the first call of the day) and streak.

    Parameters
    ----------
    store : Store
    couple_id : str
    day : date, optional
        Default today.
    nudges : sequence of Nudge, optional
        Default :func:`default_nudges`.
    catalog : Catalog, optional
        For the title of a recent date (without it no nudge names a date).

    Returns
    -------
    dict
        ``{"day", "partners": {"a": {"id", "text", "kind", "done", "streak"}, "b": {...}}}``.
    """
    day = day or _dt.date.today()
    nudges = nudges if nudges is not None else default_nudges()
    since = day - _dt.timedelta(days=_HISTORY_DAYS)
    rows = store.nudge_rows(couple_id, since)
    todays = {r["partner"]: r for r in rows if r["day"] == day.isoformat()}
    if set(todays) != set(PARTNERS):
        picks = [p for p in _pick_day(store, couple_id, day, rows, nudges, catalog) if p["partner"] not in todays]
        store.save_nudges(couple_id, day, picks)
        rows = store.nudge_rows(couple_id, since)
        todays = {r["partner"]: r for r in rows if r["day"] == day.isoformat()}
    kinds = {n.id: n.kind for n in nudges}
    partners = {}
    for partner in PARTNERS:
        row = todays[partner]
        partners[partner] = {"id": row["nudge_id"], "text": row["text"], "kind": kinds.get(row["nudge_id"], "gesture"),
                             "done": bool(row["done_at"]), "streak": streak(rows, partner, day)}
    return {"day": day.isoformat(), "partners": partners}


def mark_done(store, couple_id: str, partner: str, day: _dt.date | None = None, **kwargs) -> dict[str, Any]:
    """Mark a partner's nudge of the day done and return :func:`today_for` after it.

    Raises
    ------
    ValueError
        If ``partner`` is not ``"a"`` or ``"b"``.
    """
    if partner not in PARTNERS:
        raise ValueError(f"partner must be a or b, got {partner!r}")
    day = day or _dt.date.today()
    today_for(store, couple_id, day, **kwargs)  # the day's nudges exist before one is marked
    store.mark_nudge_done(couple_id, day, partner)
    return today_for(store, couple_id, day, **kwargs)
