"""The ranking policy: from scored ideas to the list a couple sees.

The model (:class:`~engine.learning.model.EnjoymentModel`) says how much each
partner would enjoy each idea; :class:`RankingPolicy` decides what to show. It
puts first the idea the couple would enjoy most, trades enjoyment against
breaking the couple's routine for the two alternatives that complete tonight's
answer (``routine_weight``) and, for a couple stuck in a routine it does not
love, on all three (``routine_push``, :mod:`engine.ranking.routine`), penalises
repeats, keeps the list diverse (MMR, and optionally one idea per category),
reaches past the most popular ideas in the second half of a longer list
(``breadth``) and can explore with a seed. It never returns an idea the constraints rule out.

The policy knows no features or learners: it is handed :class:`Candidates`
(the enjoyment and the plain facts it needs, per couple and idea) and returns
catalog positions. The model's parameters of the same names configure it
(:meth:`EnjoymentModel.ranking_policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Candidates", "RankingPolicy", "Ranked", "SCALES", "together"]

#: list positions (0-based) where ``routine_weight`` trades enjoyment for breaking the routine:
#: the two alternatives that complete tonight's default answer of three
_ROUTINE_SLOTS = range(1, 3)
#: list positions the couple's own push out of the routine (``routine_push``) reaches: tonight's three
_PUSH_SLOTS = range(0, 3)
#: the first list position (0-based) where ``breadth`` penalises popularity: the second half of a top 10,
#: which NDCG@10 discounts to 0.39-0.29 of the first position, and never tonight's three
_TAIL_FROM = 5
#: what ``scale`` may be: the couple's best idea over the whole catalog, or over the ideas allowed tonight
SCALES = ("catalog", "allowed")


def together(enjoyment: np.ndarray, gap_penalty: float) -> np.ndarray:
    """What a couple's list is ranked by: both partners' enjoyment, protecting the less keen one.

    ``mean(a, b) - gap_penalty * |a - b|``: 0 ranks by the mean, 0.5 by the
    less keen partner's enjoyment alone (least misery); in between, an idea
    one partner would love and the other would not loses to one both
    would enjoy a little less on average.

    Parameters
    ----------
    enjoyment : ndarray (..., 2)
        Partner a's and partner b's enjoyment (:meth:`EnjoymentModel.enjoyment`).
    gap_penalty : float in [0, 0.5]

    Returns
    -------
    ndarray (...)
    """
    a, b = enjoyment[..., 0], enjoyment[..., 1]
    return (a + b) / 2.0 - gap_penalty * np.abs(a - b)


@dataclass(frozen=True)
class Candidates:
    """What the policy ranks, per couple (rows) and catalog idea (columns).

    Attributes
    ----------
    enjoyment : ndarray (n_couples, n_ideas, 2)
        Each partner's predicted probability of a relevant rating.
    outside_routine : ndarray (n_couples, n_ideas)
        1 where the idea's kind is not one of the three the couple does most
        (less where it is one of them).
    days_since, times_done : ndarray (n_couples, n_ideas)
        Days since the couple last did the idea, and how often they did it.
    rated : ndarray (n_couples, n_ideas)
        The couple's own rating of the idea on the [0, 1] scale; NaN where unrated.
    n_dates : ndarray (n_couples,)
        Dates in each couple's history (exploration shrinks as it grows).
    push : ndarray (n_couples,)
        How stuck each couple is, in [0, 1] (:func:`engine.ranking.routine.routine_push`).
    allowed : ndarray of bool (n_couples, n_ideas)
        What the constraints and exclusions leave.
    suggested : ndarray (n_couples, n_ideas)
        Weight in [0, 1] of a recent suggestion of the idea (0: not suggested).
    popularity : ndarray (n_ideas,) or broadcastable to (n_couples, n_ideas), optional
        How many couples did each idea, in [0, 1] (``log1p(count) / log1p(max count)``, the
        model's ``popularity`` feature); only read when ``breadth`` > 0.
    columns : ndarray of int (n_ideas,), optional
        The catalog positions of the columns, ascending, when they are only some of the
        catalog's ideas (the candidates the constraints allow, scored alone); default: the
        whole catalog in order.
    """

    enjoyment: np.ndarray
    outside_routine: np.ndarray
    days_since: np.ndarray
    times_done: np.ndarray
    rated: np.ndarray
    n_dates: np.ndarray
    push: np.ndarray
    allowed: np.ndarray
    suggested: np.ndarray
    popularity: np.ndarray | None = None
    columns: np.ndarray | None = None


@dataclass
class Ranked:
    """Ranked ideas for a batch of couples.

    Attributes
    ----------
    couple_ids : ndarray (n_couples,)
    positions : ndarray (n_couples, k) of int
        Catalog row positions, best first; -1 pads when fewer ideas qualify.
    scores : ndarray (n_couples, k)
        Final ranking score of each pick.
    enjoyment : ndarray (n_couples, k)
        Predicted probability that the couple rates it relevant (the mean
        of the partners').
    partners : ndarray (n_couples, k, 2)
        Each partner's predicted probability (a, b).
    favourite : ndarray (n_couples, 2)
        The partners' predicted probability of the allowed idea not done yet
        with the highest mean (NaN when none): what a ranking by the mean
        would lead with (for the reason "picked so neither of you is left out").
    routine_distance : ndarray (n_couples, k)
        Cosine distance of the pick from the couple's recent routine (0-1).
    cold_start : ndarray (n_couples,) of bool
        True where the couple had no usable history.
    features : ndarray (n_couples, k, n_features)
        The pair features of each pick (for reasons).
    histories : engine.learning.histories.Histories
        The couples' histories the ranking was computed from.
    routine : engine.ranking.routine.RoutineState, optional
        Each couple's routine (its push out of it, its most done kinds), as the ranking used it
        (for reasons).
    """

    couple_ids: np.ndarray
    positions: np.ndarray
    scores: np.ndarray
    enjoyment: np.ndarray
    partners: np.ndarray
    favourite: np.ndarray
    routine_distance: np.ndarray
    cold_start: np.ndarray
    features: np.ndarray = field(repr=False)
    histories: Any = field(default=None, repr=False)
    routine: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class RankingPolicy:
    """How scored ideas become a couple's list.

    Parameters
    ----------
    routine_weight : float in [0, 1], default=0.24
        How much tonight's alternatives break the routine. The first idea
        (tonight's suggestion) is the one the couple would enjoy most; the
        next two (the alternatives that complete the default answer of
        three) are chosen by (1 - w) * enjoyment (scaled to the couple's
        best) + w * [the idea's kind is not one of the three the couple does
        most]; every later idea goes by enjoyment again. 0 ranks by
        enjoyment alone. Chosen from the evaluation's trade-off curve.
    routine_push : float in [0, 1], default=0.6
        The most that a stuck couple is pushed out of its routine, on all
        three of tonight's ideas including the first: at each of those steps
        the weight above is raised to ``routine_push * P_c``, where ``P_c`` in
        [0, 1] grows with how concentrated the couple's recent dates are and
        how flat or low they rated those kinds (:mod:`engine.ranking.routine`).
        A varied history, or a routine rated 4 of 5 or better, has ``P_c`` near
        0 and is barely pushed. 0 switches the adaptive push off. Chosen on
        the loop and the one-shot evaluation (docs, "Weeks of dates").
    diversity : float >= 0, default=0.05
        MMR penalty on similarity to ideas already in the list.
    repeat_penalty : float >= 0, default=0.5
        Subtracted from ideas done in the last ``repeat_days`` or suggested
        recently (scaled by recency). An idea the couple rated below
        relevant also loses 1, which puts it below every idea they have not
        disliked.
    repeat_days : int, default=90
    exploration : float >= 0, default=0.0
        Thompson-style noise scale on the enjoyment, larger for couples with
        little history. Seeded per call; 0 switches it off.
    gap_penalty : float in [0, 0.5], default=0.4
        How much the ranking protects the less keen partner (:func:`together`):
        0 = the partners' mean, 0.5 = least misery. Chosen on the synthetic
        evaluation scored with the simulator's per-partner truth
        (``python -m bench partners``): from 0 to 0.4 the top 3's true
        enjoyment rises for the less happy partner (4.071 -> 4.080) and for
        the couple (4.286 -> 4.289), the partners' gap falls (0.430 ->
        0.417), for 0.004 of NDCG@10; 0.5 is worse on both.
    breadth : float >= 0, default=0.0
        From the sixth idea of the list on (never tonight's three), subtracted
        times the idea's popularity (``Candidates.popularity``, in [0, 1]): the
        first five follow enjoyment, the rest reach into the long tail for
        ideas the couple would enjoy that fewer couples did. 0 switches it
        off. The model's ``breadth="auto"`` sets 0.5 on a long-tailed catalog
        (0.25 without idea attributes) and 0 otherwise; chosen on the curve
        in docs/results/breadth-tradeoff.md.
    scale : {"catalog", "allowed"}, default="catalog"
        What a couple's enjoyment is scaled by before the routine trade-off
        and the penalties: ``catalog`` divides by the couple's best idea over
        the whole catalog, ``allowed`` by their best idea among those
        ``Candidates.allowed`` leaves (which lets a caller score only the
        allowed ideas). Measured on the weekly loop and the one-shot
        evaluation in docs/evaluation-results.md (issue 19).
    """

    routine_weight: float = 0.24
    routine_push: float = 0.6
    diversity: float = 0.05
    repeat_penalty: float = 0.5
    repeat_days: int = 90
    exploration: float = 0.0
    gap_penalty: float = 0.4
    breadth: float = 0.0
    scale: str = "catalog"

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(repr(s) for s in SCALES)}, got {self.scale!r}")

    def rank(self, candidates: Candidates, k: int, *, relevant_z: float, similarity: Any,
             groups: np.ndarray | None = None, seed: int | np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The top ``k`` allowed ideas per couple, best first.

        Parameters
        ----------
        candidates : Candidates
        k : int >= 1
        relevant_z : float
            A rating (on the [0, 1] scale) below this is a dislike.
        similarity : ndarray (n_catalog, n_catalog) or RowSimilarity
            Idea x idea cosine over the catalog, as a matrix or computed from the ideas' unit
            vectors (:class:`~engine.learning.similarity.RowSimilarity`, a large catalog).
        groups : ndarray of int (n_catalog,), optional
            Each catalog idea's category: at most one idea per category when given.
        seed : int or array of int (n_couples,), optional
            Exploration seed(s); ignored when ``exploration`` is 0.

        Returns
        -------
        positions : ndarray (n_couples, k) of int, -1 where fewer ideas qualify
            Catalog positions (also when ``candidates.columns`` holds only some ideas).
        scores : ndarray (n_couples, k), -inf where fewer ideas qualify
        favourite : ndarray (n_couples, 2)
            Each partner's enjoyment of the allowed idea not done yet with
            the highest mean (NaN when none).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        c = candidates
        P = c.enjoyment
        enj = together(P, self.gap_penalty)
        n_c, n_i = enj.shape
        cols = c.columns
        if cols is not None:  # catalog-wide groups, read at the candidates' positions
            groups = None if groups is None else groups[cols]
        # diversity needs each pick's similarity to the ideas that may still be picked, no others
        reach = np.flatnonzero(c.allowed.any(axis=0))
        similar = _Reachable(similarity, reach if cols is None else cols[reach])
        if self.exploration > 0:
            seeds = np.broadcast_to(np.asarray(0 if seed is None else seed), (n_c,))
            # each idea gets the noise it gets when the whole catalog is scored (a draw's prefix is
            # the shorter draw)
            n_draw = n_i if cols is None else (int(cols[-1]) + 1 if len(cols) else 0)
            for r in range(n_c):
                noise = np.random.default_rng(int(seeds[r])).standard_normal(n_draw)
                enj[r] += self.exploration * (noise if cols is None else noise[cols]) / np.sqrt(1.0 + c.n_dates[r])
        if self.scale == "allowed":  # the best allowed idea; a couple with none has no finite score anyway
            top = np.where(c.allowed, enj, -np.inf).max(axis=1, keepdims=True, initial=-np.inf)
            top = np.maximum(np.where(np.isfinite(top), top, 1.0), 1e-9)
        else:
            top = np.maximum(enj.max(axis=1, keepdims=True), 1e-9)
        score = enj / top
        # tonight's ideas: (1 - w) * enjoyment + w * [a kind of date the couple does not do most], as a
        # shift added to the enjoyment at those steps; w is routine_weight on the two alternatives,
        # raised on all three to the couple's own push (routine_push * how stuck they are)
        base = float(self.routine_weight)
        pushed = float(self.routine_push) * c.push
        routine_shift = c.outside_routine - score if (base or pushed.any()) else None
        # repeats: done recently and suggested recently
        since, times = c.days_since, c.times_done
        recent = (times > 0) & (since < self.repeat_days)
        score -= self.repeat_penalty * recent * (1.0 - since / max(self.repeat_days, 1))
        score -= 0.3 * self.repeat_penalty * (times > 0) + 0.1 * self.repeat_penalty * times
        # an idea the couple rated below "relevant" drops below every idea they have not disliked
        score -= np.nan_to_num(c.rated, nan=1.0) < relevant_z
        score -= self.repeat_penalty * c.suggested
        score = np.where(c.allowed, score, -np.inf)
        positions = np.full((n_c, k), -1, dtype=np.int64)
        final = np.full((n_c, k), -np.inf)
        max_sim = np.zeros((n_c, n_i))
        rows = np.arange(n_c)
        tail = None
        if self.breadth > 0 and k > _TAIL_FROM:
            if c.popularity is None:
                raise ValueError("breadth > 0 needs the ideas' popularity (Candidates.popularity)")
            tail = self.breadth * np.broadcast_to(c.popularity, (n_c, n_i))
        for step in range(k):
            adjusted = score - self.diversity * max_sim
            if tail is not None and step >= _TAIL_FROM:
                adjusted = adjusted - tail
            if routine_shift is not None and step in _PUSH_SLOTS:
                w = np.maximum(base if step in _ROUTINE_SLOTS else 0.0, pushed)
                adjusted = adjusted + w[:, None] * routine_shift
            best = np.argmax(adjusted, axis=1)
            val = adjusted[rows, best]
            ok = np.isfinite(val)
            positions[ok, step] = best[ok]
            final[ok, step] = val[ok]
            score[rows[ok], best[ok]] = -np.inf
            picked = best[ok] if cols is None else cols[best[ok]]
            at = np.ix_(rows[ok], reach)
            max_sim[at] = np.maximum(max_sim[at], similar.rows(picked))
            if groups is not None:
                same = groups[None, :] == groups[best][:, None]
                score[ok] = np.where(same[ok], -np.inf, score[ok])
        # the idea the couple would enjoy most on average among the allowed ones not done yet (for reasons)
        fav_scores = np.where(c.allowed & (times == 0), P.mean(axis=-1), -np.inf)
        fav = np.argmax(fav_scores, axis=1)
        favourite = np.where(np.isfinite(fav_scores[rows, fav])[:, None], P[rows, fav], np.nan)
        if cols is not None:
            positions = np.where(positions >= 0, cols[np.clip(positions, 0, None)], -1)
        return positions, final, favourite


class _Reachable:
    """Rows of a catalog-wide idea x idea similarity over some of its columns (the ideas a list may
    still take): ``rows(positions)`` is ``similarity[positions][:, columns]``.

    A dense matrix is indexed; a :class:`~engine.learning.similarity.RowSimilarity` (a large
    catalog) computes the rows from the picks' vectors and the columns' vectors, gathered once,
    so each step of a list reads only the ideas it may take.
    """

    def __init__(self, similarity: Any, columns: np.ndarray):
        self.similarity = similarity
        self.columns = columns
        if isinstance(similarity, np.ndarray):
            self._over = None
        else:  # every idea reachable: the vectors as they are, no copy
            vectors = similarity.vectors
            self._over = vectors.T if len(columns) == len(vectors) else vectors[columns].T

    def rows(self, positions: np.ndarray) -> np.ndarray:
        if self._over is None:
            return self.similarity[np.ix_(positions, self.columns)]
        return self.similarity.vectors[positions] @ self._over
