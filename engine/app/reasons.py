"""Plain-language reasons for a suggestion, from what drove its score.

Partners: an idea both partners rated relevant is "you both loved ...";
and a pick the ranking chose over the couple's favourite on average because
the favourite would leave one partner out (:func:`left_out`) says "picked so
neither of you is left out".
"""

from __future__ import annotations

import numpy as np

from ..domain.geo import distances_km
from ..learning.features import FEATURE_NAMES, Histories
from ..learning.histories import last_day_scale
from ..ranking.routine import RoutineState, routine_push

__all__ = ["explain", "left_out"]

_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
#: an idea with a place at most this far from the couple's home says so
_NEAR_KM = 3.0
#: "picked so neither of you is left out": the favourite's gap between the partners' predicted
#: enjoyment exceeds the pick's by at least this much, and the less keen partner gains
_LEFT_OUT_GAP = 0.15


def left_out(pick: np.ndarray, favourite: np.ndarray) -> bool:
    """Whether a pick spares a partner what the couple's favourite on average would cost them.

    ``pick`` and ``favourite`` are the two partners' predicted enjoyment (a, b)
    of the pick and of the idea with the highest mean enjoyment: True when
    the favourite's gap between the partners is larger than the pick's by
    :data:`_LEFT_OUT_GAP` and the less keen partner enjoys the pick more.
    """
    if pick is None or favourite is None or np.isnan(favourite).any():
        return False
    gap_pick, gap_fav = abs(pick[0] - pick[1]), abs(favourite[0] - favourite[1])
    return bool(gap_fav - gap_pick >= _LEFT_OUT_GAP and pick.min() > favourite.min())


#: a couple pushed at least this hard out of its routine (engine.ranking.routine) is told why
_PUSH_SAYS = 0.5


def _weeks(days: float) -> str:
    weeks = int(days // 7)
    if weeks <= 1:
        return "a couple of weeks"
    if weeks >= 52:
        return "over a year"
    return f"{weeks} weeks"


def explain(model, hist: Histories, row: int, position: int, features: np.ndarray,
            as_of_day: int | None = None, limit: int = 2, partners: np.ndarray | None = None,
            favourite: np.ndarray | None = None, routine: RoutineState | None = None) -> list[str]:
    """One or two reasons for idea ``position`` suggested to couple ``row`` of ``hist``.

    Parameters
    ----------
    model : EnjoymentModel (fitted)
    hist : Histories
        The histories the suggestion was ranked from.
    row : int
        The couple's row in ``hist``.
    position : int
        The idea's catalog position.
    features : ndarray of shape (n_features,)
        The pair features of this (couple, idea).
    as_of_day : int, optional
        Day number of the suggestion (for "N weeks since").
    partners, favourite : ndarray of shape (2,), optional
        The partners' predicted enjoyment of this idea and of the couple's
        favourite on average (:func:`left_out`).
    routine : RoutineState, optional
        The routine of ``hist``'s couples as the ranking computed it (:attr:`Ranked.routine`);
        default: computed here for this couple.
    """
    feat = model.featurizer_
    titles = model.idea_titles()
    lo, hi = feat.scale_
    reasons: list[tuple[float, str]] = []
    liked = np.flatnonzero(hist.liked[row])
    matched = feat.interest_matches(hist.interests[row], position) if features[_F["interest"]] > 0 else []
    if matched:
        # first for a new couple (it is the only personal thing known), after "you loved ..." otherwise
        said = " and ".join(label.replace("-", " ") for label in matched[:2])
        reasons.append((2.5 if hist.n_dates[row] == 0 else 0.9, f"you said you are into {said}"))
    near = _near_reason(feat, hist, row, position)
    if near:
        reasons.append((1.2 if hist.n_dates[row] == 0 else 0.8, near))
    if hist.n_dates[row] == 0:
        stars = lo + feat.quality_[position] * (hi - lo)
        if feat.idea_counts_[position] == 0:
            reasons.append((2.0, "new in the catalog, chosen for what it offers rather than its track record"))
        else:
            reasons.append((2.0, f"a well-loved idea to start with: couples rate it {stars:.1f} of {hi:g}"))
    else:
        if left_out(partners, favourite):
            reasons.append((2.6, "picked so neither of you is left out"))
        if hist.liked[row, position]:
            reasons.append((3.0, f"{_who_loved(hist, row, position)} it last time"))
        others = liked[liked != position]
        if len(others):
            sims = model.idea_similarity_[position, others] + feat.similarity_to(position)[others]
            best = int(np.argmax(sims))
            if sims[best] > 0.45:
                reasons.append((float(sims[best]), f"{_who_loved(hist, row, others[best])} {titles[others[best]]}"))
        # capped: an unbounded score must not outrank "you loved it last time" (3) or "you loved X" (< 2)
        if features[_F["cf_liked"]] > 0.15:
            reasons.append((0.5 + min(float(features[_F["cf_liked"]]), 1.0),
                            "couples who love what you love rated it highly"))
        if features[_F["taste"]] > 0.05:
            reasons.append((0.4 + min(float(features[_F["taste"]]), 1.0), "it fits what you rate highest"))
        if not reasons:
            stars = lo + feat.quality_[position] * (hi - lo)
            reasons.append((0.1, f"couples rate it {stars:.1f} of {hi:g} on average"))
    reasons.sort(key=lambda r: -r[0])
    out = [reasons[0][1]]
    routine = _push_reason(model, hist, row, position, routine) or \
        _routine_reason(model, hist, row, position, features, as_of_day)
    if routine:
        out.append(routine)
    elif len(reasons) > 1:
        out.append(reasons[1][1])
    return out[:limit]


def _who_loved(hist: Histories, row: int, position: int) -> str:
    """"you both loved" when each partner rated the idea relevant, else "you loved" (the couple, on average)."""
    both = hist.liked_by is not None and bool(hist.liked_by[:, row, position].all())
    return "you both loved" if both else "you loved"


def _near_reason(feat, hist: Histories, row: int, position: int) -> str | None:
    """"1.2 km from home" for an idea with a place within :data:`_NEAR_KM` of the couple's home."""
    locations = getattr(feat, "locations_", None)
    if locations is None or np.isnan(locations[position, 0]) or np.isnan(hist.homes[row, 0]):
        return None
    km = float(distances_km(hist.homes[row:row + 1], locations[position:position + 1])[0, 0])
    if km > _NEAR_KM:
        return None
    return "under a kilometre from home" if km < 1 else f"{km:.1f} km from home"


def _push_reason(model, hist: Histories, row: int, position: int,
                 routine: RoutineState | None = None) -> str | None:
    """Why a stuck couple gets an idea outside its routine: "you have done X 18 times; try something new".

    Said when the couple's push out of the routine (:func:`engine.ranking.routine.routine_push`) is at least
    :data:`_PUSH_SAYS` and the idea is not of one of its most done kinds. X is the couple's most done
    idea when it is at least a third of their dates, else their most done kinds.
    """
    if float(getattr(model, "routine_push", 0.0) or 0.0) == 0.0 or hist.n_dates[row] == 0:
        return None
    feat = model.featurizer_
    at = row  # the couple's row in routine
    if routine is None:
        sl = slice(row, row + 1)
        routine, at = routine_push(feat.group_of_, len(feat.group_labels_), hist.done[sl], hist.recent[sl],
                                   hist.rated[sl], hist.n_dates[sl]), 0
    top = [int(g) for g in routine.top_kinds[at] if g >= 0]
    if routine.push[at] < _PUSH_SAYS or feat.group_of_[position] in top:
        return None
    done = hist.done[row]
    best = int(np.argmax(done))
    if done[best] * 3 >= hist.n_dates[row]:
        return f"you have done {model.idea_titles()[best]} {int(done[best])} times; try something new"
    labels = [str(feat.group_labels_[g]).replace("-", " ") for g in top[:2]]
    times = int(sum(routine.kind_counts[at, g] for g in top[:2]))
    return f"you have done {' and '.join(labels)} {times} times; try something new"


def _routine_reason(model, hist: Histories, row: int, position: int, features: np.ndarray,
                    as_of_day: int | None) -> str | None:
    feat = model.featurizer_
    if hist.n_dates[row] == 0 or features[_F["routine_distance"]] < 0.35:
        return None
    group = feat.group_of_[position]
    label = str(feat.group_labels_[group]).replace("-", " ")
    done = np.flatnonzero(hist.done[row])
    in_group = done[feat.group_of_[done] == group]
    if len(in_group) == 0:
        return f"something new for you: you have not had a {label} date yet"
    days = [d for d in hist.last_day[row, in_group] if d > 0]  # last_day 0: never or undated
    if days and as_of_day is not None:
        gap = last_day_scale(as_of_day) - max(days)
        if gap >= 21:
            return f"it has been {_weeks(gap)} since your last {label} date"
    return "a break from your usual routine"
