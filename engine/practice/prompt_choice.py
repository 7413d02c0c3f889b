"""The one choice of a prompt per suggestion (tonight's and the newsletter's).

The prompts are those of the catalog (:mod:`.prompt_catalog`). Every
suggestion - tonight (HTTP, CLI, page) and the newsletter - carries one prompt
chosen here by :func:`choose_prompts`; tonight's path stores it with
:func:`.prompts.attach_prompts`, the newsletter with ``Store.record_prompts``.

How a prompt is chosen
----------------------
* **Depth.** A couple starts at depth 1. Every :data:`.prompt_depth.STEP` prompts at (or
  deeper than) their depth that they mark as talked about take them one level
  deeper (at most 3); a skip resets that count, and :data:`.prompt_depth.STEP_BACK` skips in
  a row of prompts at their depth take them one level lighter (at least 1).
  See :func:`.prompt_depth.couple_depth`.
* **Fit.** Among the prompts not shown to the couple in the last
  :data:`NO_REPEAT_DAYS` days and no deeper than their depth, the best is the
  one at their depth, of a pillar the idea serves, sharing the most tags with
  the idea (its tags and category words); ties are broken by a seed stable per
  couple, day and idea.
* **Stable within a day.** A prompt already given to an idea for that couple
  and day is given again (the same request twice shows the same prompt).
* **No repeats.** A prompt shown to a couple is not shown again within
  :data:`NO_REPEAT_DAYS` days; when every fitting prompt is used, a suggestion
  goes without one rather than repeat.
"""

from __future__ import annotations

import datetime as _dt
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .prompt_catalog import DEPTHS, Prompt, PromptCatalog
from .prompt_depth import _marks, couple_depth

__all__ = ["NO_REPEAT_DAYS", "choose_many", "choose_prompts", "idea_words"]

#: a prompt shown to a couple is not shown to them again within this many days (12 weeks)
NO_REPEAT_DAYS = 84


def idea_words(idea: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(pillars, words) of an idea: its pillars, and its tags plus the words of its category."""
    if "fit" in idea:  # computed once per catalog by _ideas
        return idea["fit"]
    pillars = frozenset(idea.get("pillars") or ())
    words = set(idea.get("tags") or ())
    category = idea.get("category")
    if isinstance(category, str):
        words.update(w for w in category.replace("-and-", "-").split("-") if w)
    return pillars, frozenset(words)


def _as_day(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(str(value)[:10])


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def choose_prompts(prompts: PromptCatalog, ideas: Mapping[str, Mapping[str, Any]], couple_id: str,
                   day: _dt.date, history: Sequence[Mapping[str, Any]] = ()) -> tuple[dict[str, Prompt | None],
                                                                                   list[dict[str, Any]]]:
    """The prompt for each idea served to a couple on a day (the one choice, see the module notes).

    Parameters
    ----------
    prompts : PromptCatalog
    ideas : mapping idea id -> idea (``pillars``, ``tags``, ``category``)
        The ideas served, in rank order.
    couple_id : str
    day : date
        The serving day (the newsletter's: its Saturday).
    history : sequence of mapping
        The couple's stored prompt rows (``Store.prompt_history``): ``prompt_id``,
        ``idea_id``, ``depth``, ``served_on``, ``status``, ``marked_at``.

    Returns
    -------
    (chosen, new_rows)
        ``chosen`` maps every idea id to its Prompt (or None when every prompt
        that fits was shown in the last :data:`NO_REPEAT_DAYS` days);
        ``new_rows`` are the rows to store for prompts not stored yet
        (``couple_id``, ``prompt_id``, ``idea_id``, ``depth``, ``served_on``).
    """
    return choose_many(prompts, [(couple_id, ideas, history)], day)[0]


def choose_many(prompts: PromptCatalog, couples: Sequence[tuple[str, Mapping[str, Mapping[str, Any]],
                                                               Sequence[Mapping[str, Any]]]],
                day: _dt.date) -> list[tuple[dict[str, Prompt | None], list[dict[str, Any]]]]:
    """:func:`choose_prompts` for many couples at once (the newsletter's chunks), vectorised.

    Each idea's fit (:meth:`PromptCatalog.fits`, cached per idea and depth) plus a
    tie-break seeded per couple, day and idea (a permutation of the prompts,
    ``(40503 i + seed) mod 65521``, distinct for each) is one row of a
    matrix; prompts deeper than the couple's or shown in the last
    :data:`NO_REPEAT_DAYS` days are ruled out; each row takes its best, and a
    couple's later idea whose best an earlier idea took takes its next best,
    exactly as choosing the ideas one after the other.

    Parameters
    ----------
    couples : sequence of (couple id, ideas in rank order, history)
    day : date

    Returns
    -------
    list of (chosen, new_rows), one per couple, as :func:`choose_prompts`.
    """
    since = day - _dt.timedelta(days=NO_REPEAT_DAYS)
    out: list[tuple[dict[str, Prompt | None], list[dict[str, Any]]]] = []
    rows: list[tuple[int, str]] = []  # (couple position, idea id) needing a choice
    bases: list[np.ndarray] = []
    seeds: list[int] = []
    used_by: dict[int, list[int]] = {}
    day_text = day.isoformat()
    for c, (couple_id, ideas, history) in enumerate(couples):
        depth = couple_depth(_marks(history)) if history else DEPTHS[0]
        given: dict[str, str] = {}
        used: set[str] = set()
        for row in history:
            served = _as_day(row["served_on"])
            if served > since:
                used.add(str(row["prompt_id"]))
            if served == day:
                given[str(row["idea_id"])] = str(row["prompt_id"])
        if used:
            used_by[c] = prompts.positions(used)
        chosen: dict[str, Prompt | None] = {}
        for idea_id, idea in ideas.items():
            if idea_id in given:
                chosen[idea_id] = prompts.get(given[idea_id])  # None if it left the catalog
                continue
            chosen[idea_id] = None
            pillars, words = idea_words(idea)
            rows.append((c, idea_id))
            bases.append(prompts.fits(pillars, words, depth))
            seeds.append(_seed(couple_id, day_text, idea_id) % 65521)
        out.append((chosen, []))
    if not rows or not len(prompts):
        return out
    keys = np.stack(bases) + ((prompts.tie_order[None, :] + np.asarray(seeds)[:, None]) % 65521) / 65521.0
    owner = np.fromiter((c for c, _ in rows), dtype=np.int64, count=len(rows))
    for c, columns in used_by.items():
        if columns:
            keys[np.ix_(np.flatnonzero(owner == c), columns)] = -1.0
    best = keys.argmax(axis=1)
    fits = (keys[np.arange(len(rows)), best] >= 0).tolist()
    best = best.tolist()
    taken: dict[int, list[int]] = {}
    for r, (c, idea_id) in enumerate(rows):
        mine = taken.setdefault(c, [])
        pick, fit = best[r], fits[r]
        if pick in mine:  # an earlier idea of this couple took it: the next best
            keys[r, mine] = -1.0
            pick = int(keys[r].argmax())
            fit = bool(keys[r, pick] >= 0)
        if not fit:
            continue
        mine.append(pick)
        prompt = prompts.prompts[pick]
        chosen, new_rows = out[c]
        chosen[idea_id] = prompt
        new_rows.append({"couple_id": couples[c][0], "prompt_id": prompt.id, "idea_id": idea_id,
                         "depth": prompt.depth, "served_on": day})
    return out
