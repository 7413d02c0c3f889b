"""Couples' stated interests: the labels a couple picked at onboarding.

An interest is a free label ("outdoors", "Mexican") that the model matches,
case-insensitively, against the values of each idea's categorical and
multi-valued attributes (see the ``interest`` feature in
:mod:`engine.features`). Interests are a profile field: the store keeps them
with the couple (``profile.interests``), the import format in
``couples.csv`` (``|``-joined), and scoring code passes them around as an
:data:`Interests` mapping from couple id to labels.

A couple without interests is scored exactly as before they existed: the
feature is 0 for every idea.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

__all__ = ["Interests", "from_couples", "labels"]

#: couple id -> that couple's interests
Interests = Mapping[str, Iterable[str]]


def labels(values: Any) -> tuple[str, ...]:
    """One couple's interests as sorted, distinct, lower-cased labels.

    Accepts a list or tuple of strings, a ``|``-joined string (the import
    format), or None / NaN (no interests).
    """
    if values is None or (isinstance(values, float) and values != values):
        return ()
    if isinstance(values, str):
        values = values.split("|")
    return tuple(sorted({str(v).strip().lower() for v in values if str(v).strip()}))


def from_couples(couples: pd.DataFrame | None) -> dict[str, tuple[str, ...]]:
    """The interests in a couples table (``id`` and an ``interests`` column), by couple id.

    Couples without interests are left out; a table without the column gives ``{}``.
    """
    if couples is None or "interests" not in couples.columns or "id" not in couples.columns:
        return {}
    out = {str(c): labels(v) for c, v in zip(couples["id"], couples["interests"])}
    return {c: v for c, v in out.items() if v}
