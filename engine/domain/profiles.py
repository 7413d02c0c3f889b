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

The store keeps them with the couple (``profile.interests``,
``profile.budget_ceiling``, ``profile.home``), the import format in
``couples.csv`` (``interests`` ``|``-joined), and scoring code passes them around as a
:data:`Profiles` mapping from couple id to :class:`Profile`. A couple
without a profile is scored exactly as before profiles were used: those
features are 0 for every idea.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from .geo import parse_location

__all__ = ["NO_PROFILE", "Profile", "Profiles", "budget_ceiling", "from_couples", "from_record", "labels"]

#: the highest cost tier a budget ceiling may name (0 free … 3 splurge)
_MAX_TIER = 3


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
    """

    interests: tuple[str, ...] = ()
    budget_ceiling: int | None = None
    home: tuple[float, float] | None = None
    # hard constraints, not scores: left out of equality and truth, so two profiles the model scores
    # alike compare equal (caches, "stated a profile"); tonight's context carries them (with_profile)
    kids: bool | None = field(default=None, compare=False)
    accessibility_needs: str | None = field(default=None, compare=False)

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


#: the profile of a couple that stated nothing
NO_PROFILE = Profile()

#: couple id -> that couple's profile
Profiles = Mapping[str, Profile]


def from_record(record: Mapping[str, Any] | None) -> Profile:
    """The :class:`Profile` in a stored profile or a couples-table row (other keys are ignored)."""
    if not record:
        return NO_PROFILE
    return Profile(record.get("interests"), record.get("budget_ceiling"), record.get("home"),
                   record.get("kids"), record.get("accessibility_needs"))


def from_couples(couples: pd.DataFrame | None) -> dict[str, Profile]:
    """The profiles in a couples table (``id`` plus ``interests`` / ``budget_ceiling`` / ``home`` /
    ``kids`` / ``accessibility_needs`` columns), by id.

    Couples that stated none of them are left out; a table without those columns gives ``{}``.
    """
    if couples is None or "id" not in couples.columns:
        return {}
    columns = [c for c in ("interests", "budget_ceiling", "home", "kids", "accessibility_needs")
               if c in couples.columns]
    if not columns:
        return {}
    out = {str(c): from_record(dict(zip(columns, values)))
           for c, *values in zip(couples["id"], *(couples[col] for col in columns))}
    return {c: p for c, p in out.items() if p}
