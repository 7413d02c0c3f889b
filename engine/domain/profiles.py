"""Couples' stated profiles: what a couple told us at onboarding, as the model uses it.

Three profile fields shape the scores (see the ``interest``, ``interest_novel``,
``interest_cold``, ``over_budget``, ``distance`` and ``nearby`` features in
:mod:`engine.learning.features`):

* **interests** — free labels ("outdoors", "Mexican") that the model matches,
  case-insensitively, against the values of each idea's categorical and
  multi-valued attributes;
* **budget ceiling** — the cost tier (0 free … 3 splurge) the couple usually
  spends up to; ideas whose ``cost`` is above it are marked;
* **home** — where the couple lives (``"latitude,longitude"``, see
  :mod:`engine.domain.geo`); ideas with a ``location`` are scored by how far away
  they are (without a stated home, the middle of the places the couple has
  been to stands in for it).

A fourth field is a hard constraint, not a score: **intimacy**, the most
physical level of idea the couple opted into (:data:`INTIMACY_LEVELS`:
``affection`` only, the default; ``romantic``; ``sensual``). An idea whose
catalog ``intimacy`` is above it is never suggested
(:func:`engine.domain.constraints.intimacy_rows`).

The profile also keeps each partner's first name (``name_a``, ``name_b``: what the
pages call them instead of "Partner A" / "Partner B"); the model never reads them.

The store keeps them with the couple (``profile.interests``,
``profile.budget_ceiling``, ``profile.home``), the import format in
``couples.csv`` (``interests`` ``|``-joined), and scoring code passes them around as a
:data:`Profiles` mapping from couple id to :class:`Profile`. A couple
without a profile is scored exactly as before profiles were used: those
features are 0 for every idea.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .geo import ALLOWED as _LOCATION_ALLOWED
from .geo import format_location, parse_location

__all__ = ["DEFAULT_INTIMACY", "INTIMACY_LEVELS", "NAME_MAX", "NO_PROFILE", "PROFILE_FIELDS", "Profile", "ProfileError",
           "Profiles", "budget_ceiling", "check_profile", "from_couples", "from_record", "intimacy_level", "labels"]

#: the highest cost tier a budget ceiling may name (0 free … 3 splurge)
_MAX_TIER = 3

#: physical-intimacy levels, lowest first: what a couple opts into and what an idea's ``intimacy`` says
INTIMACY_LEVELS = ("affection", "romantic", "sensual")
#: the level of a couple that did not say, and of an idea in a catalog without an ``intimacy`` column
DEFAULT_INTIMACY = INTIMACY_LEVELS[0]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


@dataclass(frozen=True)
class Profile:
    """One couple's stated profile, normalised on construction.

    Attributes
    ----------
    interests : tuple of str
        Sorted, distinct, lower-cased labels; given as anything :func:`labels` accepts.
    budget_ceiling : int or None
        Cost tier 0-3, or None when the couple did not say; given as anything
        :func:`budget_ceiling` accepts (a ``ValueError`` otherwise).
    home : tuple (latitude, longitude) or None
        Where the couple lives; given as anything
        :func:`engine.domain.geo.parse_location` accepts (a ``ValueError`` otherwise).
    kids : bool or None
        The couple has kids (hard constraint: tonight's ideas are kid-friendly
        unless the request says ``kids=false``; :func:`engine.domain.constraints.with_profile`).
    accessibility_needs : str or None
        Stated needs (hard constraint: no idea whose accessibility note names a
        barrier such as stairs or climbing). Neither changes the model's scores.
    intimacy : str
        One of :data:`INTIMACY_LEVELS` (default ``"affection"``; given as anything
        :func:`intimacy_level` accepts): hard constraint, no idea above it is suggested.
        Not a score either.
    """

    interests: tuple[str, ...] = ()
    budget_ceiling: int | None = None
    home: tuple[float, float] | None = None
    # hard constraints, not scores: left out of equality and truth, so two profiles the model scores
    # alike compare equal (caches, "stated a profile"); tonight's context carries them (with_profile)
    kids: bool | None = field(default=None, compare=False)
    accessibility_needs: str | None = field(default=None, compare=False)
    intimacy: str = field(default=DEFAULT_INTIMACY, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "interests", labels(self.interests))
        object.__setattr__(self, "budget_ceiling", budget_ceiling(self.budget_ceiling))
        object.__setattr__(self, "home", parse_location(self.home))
        kids = None if _missing(self.kids) else self.kids
        if kids is not None and not isinstance(kids, bool):
            kids = str(kids).strip().lower() in ("true", "1", "yes")
        object.__setattr__(self, "kids", kids)
        needs = None if _missing(self.accessibility_needs) else str(self.accessibility_needs).strip()
        object.__setattr__(self, "accessibility_needs", needs or None)
        object.__setattr__(self, "intimacy", intimacy_level(self.intimacy))

    def __bool__(self) -> bool:
        return bool(self.interests) or self.budget_ceiling is not None or self.home is not None


def labels(values: Any) -> tuple[str, ...]:
    """One couple's interests as sorted, distinct, lower-cased labels.

    Accepts a list or tuple of strings, a ``|``-joined string (the import
    format), or None / NaN (no interests).
    """
    if _missing(values):
        return ()
    if isinstance(values, str):
        values = values.split("|")
    return tuple(sorted({str(v).strip().lower() for v in values if str(v).strip()}))


def budget_ceiling(value: Any) -> int | None:
    """A budget ceiling as a cost tier 0-3, or None (missing, NaN or empty).

    Raises
    ------
    ValueError
        When the value is not a whole number from 0 to 3.
    """
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        tier = float(value)
    except (TypeError, ValueError):
        tier = float("nan")
    if isinstance(value, bool) or tier != tier or tier != int(tier) or not 0 <= tier <= _MAX_TIER:
        raise ValueError(f"budget_ceiling must be a whole cost tier from 0 to {_MAX_TIER}, got {value!r}")
    return int(tier)


def intimacy_level(value: Any) -> str:
    """A physical-intimacy level: one of :data:`INTIMACY_LEVELS`, :data:`DEFAULT_INTIMACY` when missing or empty.

    Raises
    ------
    ValueError
        When the value is not one of the levels (the message lists them).
    """
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return DEFAULT_INTIMACY
    level = value.strip().lower() if isinstance(value, str) else value
    if level not in INTIMACY_LEVELS:
        raise ValueError(f"intimacy must be one of {', '.join(INTIMACY_LEVELS)}, got {value!r}")
    return level


#: the profile of a couple that stated nothing
NO_PROFILE = Profile()

#: couple id -> that couple's profile
Profiles = Mapping[str, Profile]


def from_record(record: Mapping[str, Any] | None) -> Profile:
    """The :class:`Profile` in a stored profile or a couples-table row (other keys are ignored)."""
    if not record:
        return NO_PROFILE
    return Profile(record.get("interests"), record.get("budget_ceiling"), record.get("home"),
                   record.get("kids"), record.get("accessibility_needs"), record.get("intimacy"))


def from_couples(couples: pd.DataFrame | None) -> dict[str, Profile]:
    """The profiles in a couples table (``id`` plus ``interests`` / ``budget_ceiling`` / ``home`` /
    ``kids`` / ``accessibility_needs`` / ``intimacy`` columns), by id.

    Couples that stated none of them (or only the default intimacy) are left out; a table without
    those columns gives ``{}``.
    """
    if couples is None or "id" not in couples.columns:
        return {}
    columns = [c for c in ("interests", "budget_ceiling", "home", "kids", "accessibility_needs", "intimacy")
               if c in couples.columns]
    if not columns:
        return {}
    out = {str(c): from_record(dict(zip(columns, values)))
           for c, *values in zip(couples["id"], *(couples[col] for col in columns))}
    return {c: p for c, p in out.items() if p or p.intimacy != DEFAULT_INTIMACY}


#: longest partner's first name (``name_a`` / ``name_b``), in characters
NAME_MAX = 40

#: Profile keys a couple may carry, with a description of what is allowed.
PROFILE_FIELDS = {
    "budget_ceiling": "an integer cost tier from 0 (free) to 3 (splurge)",
    "kids": "true or false",
    "accessibility_needs": "a string",
    "interests": "a list of strings",
    "home": "where the couple lives, " + _LOCATION_ALLOWED,
    "intimacy": "one of " + ", ".join(INTIMACY_LEVELS) + f" (default {DEFAULT_INTIMACY}: affection only)",
    # what the pages call each partner instead of "Partner A" / "Partner B"; never a score or a constraint
    "name_a": f"partner A's first name, 1 to {NAME_MAX} characters without line breaks or control characters",
    "name_b": f"partner B's first name, 1 to {NAME_MAX} characters without line breaks or control characters",
}


class ProfileError(ValueError):
    """A stated profile is not allowed; ``field`` names the key, the message says what is allowed.

    Attributes
    ----------
    field : str
        ``"profile"`` or ``"profile.<key>"``.
    message : str
        What is wrong and what is allowed (without the field).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _checked_tier(value: Any) -> int:
    """A stated budget ceiling: an integer (not a bool), in the range :func:`budget_ceiling` allows."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(value)
    return budget_ceiling(value)


def _checked_home(value: Any) -> str:
    place = format_location(value) if isinstance(value, str) else None
    if place is None:
        raise ValueError(value)
    return place


def _checked_kids(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(value)
    return bool(value)


def _checked_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _checked_intimacy(value: Any) -> str:
    if not isinstance(value, str) or value not in INTIMACY_LEVELS:
        raise ValueError(value)
    return value


def _checked_name(value: Any) -> str:
    """A partner's first name: trimmed, 1 to :data:`NAME_MAX` characters, no control characters."""
    if not isinstance(value, str):
        raise ValueError(value)
    name = " ".join(value.split())  # trimmed, inner runs of spaces as one
    if not 1 <= len(name) <= NAME_MAX or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        raise ValueError(value)
    return name


def _checked_labels(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(value)
    return list(value)


_CHECKS = {"budget_ceiling": _checked_tier, "kids": _checked_kids, "accessibility_needs": _checked_text,
           "interests": _checked_labels, "home": _checked_home, "intimacy": _checked_intimacy,
           "name_a": _checked_name, "name_b": _checked_name}


def check_profile(record: Any) -> dict[str, Any]:
    """A couple's profile as given (onboarding, an import) checked: the one validation of a stated profile.

    Parameters
    ----------
    record : dict or None
        Keys from :data:`PROFILE_FIELDS`; None values are dropped.

    Returns
    -------
    dict
        A normalised copy: ``budget_ceiling`` an int (the tier rule of
        :func:`budget_ceiling`), ``kids`` a bool, ``interests`` a list,
        ``home`` normalised by :func:`engine.domain.geo.format_location`, ``intimacy`` one of
        :data:`INTIMACY_LEVELS` (exactly, lower case). None gives ``{}``.

    Raises
    ------
    ProfileError
        Not a dict, an unknown key, or a value that is not allowed (the message says what is).
    """
    if record is None:
        return {}
    if not isinstance(record, dict):
        raise ProfileError("profile", f"must be an object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(PROFILE_FIELDS))
    if unknown:
        raise ProfileError(f"profile.{unknown[0]}",
                           f"unknown profile field(s) {unknown}; allowed: {sorted(PROFILE_FIELDS)}")
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None:
            continue
        try:
            out[key] = _CHECKS[key](value)
        except ValueError:
            raise ProfileError(f"profile.{key}", f"must be {PROFILE_FIELDS[key]}, got {value!r}") from None
    return out
