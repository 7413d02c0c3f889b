"""Pillars in balance: over a rolling four weeks, every couple's newsletter covers all four practices.

The four pillars (vulnerability, appreciation, physical intimacy, novelty)
are attributes of the ideas (``pillars`` in the catalog). Left to enjoyment
alone a couple's picks drift to the pillars they already do (novelty, mostly)
and vulnerability comes up rarely. :func:`balance_picks` re-ranks each
couple's candidates greedily, as calibrated recommendation does (Steck 2018,
"Calibrated recommendations"): the best idea stays first; each later slot
takes the candidate with the best ``score + weight x (pillars it adds that
the last :data:`WINDOW_WEEKS` - 1 weeks of picks and this week's earlier
picks have not had)``, and a week never covers fewer than
:data:`MIN_PILLARS` pillars when a candidate can add one. A pick chosen for a
neglected pillar says so ("you have not had a vulnerability date in a month"
when the couple's dates of the last four weeks had none).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..domain.catalog import per_catalog

__all__ = [
    "CANDIDATES",
    "MIN_PILLARS",
    "PILLARS",
    "WEIGHT",
    "WINDOW_WEEKS",
    "TONIGHT_EXTRA",
    "balance_picks",
    "balance_tonight",
    "candidates_for",
    "dated_pillars",
    "idea_pillars",
]

PILLARS = ("vulnerability", "appreciation", "physical-intimacy", "novelty")
#: the rolling window, in weeks (this week and the three before it)
WINDOW_WEEKS = 4
#: a week's picks cover at least this many pillars when the candidates allow it
MIN_PILLARS = 2
#: what one neglected pillar is worth against the ranking score (the couple's best idea scores about 1)
WEIGHT = 1.0
#: candidates ranked per couple to choose the week's picks from, per pick
CANDIDATES = 4


def candidates_for(k: int) -> int:
    """How many candidates to rank for ``k`` balanced picks."""
    return max(k, CANDIDATES * k)


@per_catalog
def idea_pillars(catalog) -> dict[str, frozenset[str]]:
    """idea id -> its pillars (empty when the catalog has no ``pillars`` column); read once per catalog.
    Ideas with the same pillars share one set (at most 16 sets of the four pillars, not one per idea:
    50,000 sets at 50,000 ideas were a fifth of what the collector walks)."""
    frame = catalog.frame
    shared: dict[tuple, frozenset[str]] = {}
    return {} if "pillars" not in frame else {
        str(i): shared.setdefault(p, frozenset(p))
        for i, p in zip(frame.index, (tuple(p or ()) for p in frame["pillars"]))}


def dated_pillars(dates: pd.DataFrame, pillars: Mapping[str, frozenset[str]], day: _dt.date,
                  weeks: int = WINDOW_WEEKS) -> dict[str, set[str]]:
    """The pillars of each couple's dates done in the ``weeks`` weeks before ``day``.

    Returns
    -------
    dict couple id -> set of pillars (couples with no such dates are absent)
    """
    if not len(dates):
        return {}
    start = pd.Timestamp(day - _dt.timedelta(weeks=weeks))
    done = dates["done_on"]
    recent = ((done >= start) & (done <= pd.Timestamp(day))).to_numpy()
    out: dict[str, set[str]] = {}
    for couple, idea in zip(dates["couple_id"].to_numpy()[recent], dates["idea_id"].to_numpy()[recent]):
        out.setdefault(str(couple), set()).update(pillars.get(str(idea), ()))
    return out


def _reason(pillar: str, dated: set[str]) -> str:
    article = "an" if pillar[0] in "aeiou" else "a"
    if pillar not in dated:
        return f"you have not had {article} {pillar} date in a month"
    return f"{article} {pillar} idea: it has not come up in your recent newsletters"


def balance_picks(candidates: Mapping[str, Sequence[Any]], k: int, pillars: Mapping[str, frozenset[str]],
                  sent: Mapping[str, set[str]] | None = None, dated: Mapping[str, set[str]] | None = None,
                  weight: float | None = None) -> dict[str, list[Any]]:
    """Choose ``k`` of each couple's ranked candidates so the pillars stay in balance.

    Parameters
    ----------
    candidates : mapping couple id -> list of Suggestion
        Best first (``Recommender.batch`` with :func:`candidates_for` ``(k)``).
    k : int
    pillars : mapping idea id -> pillars
        :func:`idea_pillars`.
    sent : mapping couple id -> set of pillars, optional
        Pillars the couple's picks had in the previous ``WINDOW_WEEKS - 1`` weeks.
    dated : mapping couple id -> set of pillars, optional
        Pillars of the couple's dates in the last four weeks (for the reason only).
    weight : float, optional
        Default :data:`WEIGHT`.

    Returns
    -------
    dict couple id -> list of Suggestion
        ``k`` (or fewer) picks, ranks renumbered 1.., the first always the
        best candidate; a pick chosen for a pillar the window lacked gets
        the reason first.
    """
    sent = sent or {}
    dated = dated or {}
    weight = WEIGHT if weight is None else weight
    out: dict[str, list[Any]] = {}
    for couple, ranked in candidates.items():
        ranked = list(ranked)
        if not ranked:
            out[couple] = []
            continue
        have = set(sent.get(couple, ()))
        chosen = [ranked[0]]
        week = set(pillars.get(ranked[0].idea_id, ()))
        rest = ranked[1:]
        while rest and len(chosen) < k:
            missing = set(PILLARS) - have - week
            last = len(chosen) == k - 1

            # the week's values bound now (ruff B023): the key is used at once, by max below
            def value(s, week=week, missing=missing, last=last) -> tuple[float, float]:
                adds = len(pillars.get(s.idea_id, frozenset()) - week)
                need = 1.0 if last and len(week) < MIN_PILLARS and adds else 0.0
                return need, s.score + weight * len(pillars.get(s.idea_id, frozenset()) & missing)

            best = max(rest, key=value)
            moved = best is not rest[0]  # chosen over a better-scored idea: for its pillar
            rest.remove(best)
            gained = sorted(pillars.get(best.idea_id, frozenset()) & missing, key=PILLARS.index)
            if gained and moved:  # say so
                best.reasons = [_reason(gained[0], set(dated.get(couple, ())))] + list(best.reasons[:1])
            week |= pillars.get(best.idea_id, frozenset())
            chosen.append(best)
        for i, s in enumerate(chosen):
            s.rank = i + 1
        out[couple] = chosen
    return out


#: tonight ranks this many ideas more than it shows, to choose from for balance
TONIGHT_EXTRA = 3
_EPOCH = _dt.date(1970, 1, 1)


def balance_tonight(window: Sequence[Any], k: int, catalog, history, day: _dt.date) -> list[Any]:
    """Tonight's ``k`` picks from ``window`` (ranked, best first), favouring pillars the couple's
    dates of the last four weeks lacked.

    The best idea stays first. Only a couple with at least one dated date in
    the last :data:`WINDOW_WEEKS` weeks is balanced (a cold start has nothing
    to balance against); otherwise the first ``k`` of ``window`` are returned.

    Parameters
    ----------
    window : sequence of Suggestion
        ``k`` + :data:`TONIGHT_EXTRA` ranked ideas (fewer when fewer fit).
    k : int
    catalog : Catalog
    history : CoupleDates or DataFrame
        The couple's dates (as tonight's request read them).
    day : date
        Today.
    """
    window = list(window)
    if not window or not hasattr(history, "rows"):
        return window[:k]
    today = (day - _EPOCH).days
    start = today - 7 * WINDOW_WEEKS
    recent = [idea for idea, when, _a, _b in history.rows if when is not None and start <= when <= today]
    if not recent:
        return window[:k]
    pillars = idea_pillars(catalog)
    dated = set().union(*(pillars.get(str(i), ()) for i in recent))
    return balance_picks({"c": window}, k, pillars, sent={"c": dated}, dated={"c": dated})["c"]
