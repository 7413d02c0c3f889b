"""Depth progression: how deep a couple's prompts go, from what they marked.

A couple starts at depth 1. Every :data:`STEP` prompts at (or deeper than)
their depth that they mark as talked about take them one level deeper (at
most 3); a skip resets that count, and :data:`STEP_BACK` skips in a row of
prompts at their depth take them one level lighter (at least 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .prompt_catalog import DEPTHS

__all__ = ["STATUSES", "STEP", "STEP_BACK", "couple_depth", "depth_of"]

#: prompts at their depth a couple marks as talked about to go one level deeper
STEP = 3
#: prompts at their depth skipped in a row that take a couple one level lighter
STEP_BACK = 2
#: what a couple can say about a prompt
STATUSES = ("talked", "skipped")


def couple_depth(marks: Iterable[tuple[int, str]]) -> int:
    """A couple's current depth from their marks, oldest first.

    Parameters
    ----------
    marks : iterable of (prompt depth, status)
        ``status`` is ``"talked"`` or ``"skipped"`` (other values are ignored).

    Returns
    -------
    int from 1 to 3
        Start at 1; :data:`STEP` talked-about prompts at or deeper than the
        current depth go one deeper; a skip resets that count, and
        :data:`STEP_BACK` skips in a row at or deeper than the current depth
        go one lighter. Talking about a lighter prompt counts for nothing.
    """
    depth, talked, skipped = 1, 0, 0
    for prompt_depth, status in marks:
        if prompt_depth < depth:
            continue
        if status == "talked":
            talked, skipped = talked + 1, 0
            if talked >= STEP and depth < DEPTHS[-1]:
                depth, talked = depth + 1, 0
        elif status == "skipped":
            talked, skipped = 0, skipped + 1
            if skipped >= STEP_BACK and depth > DEPTHS[0]:
                depth, skipped = depth - 1, 0
    return depth


def _marks(history: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    marked = [row for row in history if row.get("status")]
    marked.sort(key=lambda row: (str(row.get("marked_at") or ""), int(row.get("id") or 0)))
    return [(int(row["depth"]), str(row["status"])) for row in marked]


def depth_of(history: Sequence[Mapping[str, Any]]) -> int:
    """The couple's current depth from their stored prompt rows."""
    return couple_depth(_marks(history))
