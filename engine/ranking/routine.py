"""How stuck a couple is: the strength of the push out of their routine.

The ranking (:meth:`engine.learning.model.EnjoymentModel.rank`) pushes a couple out
of its routine as hard as its own history says it needs, and the reasons
(:mod:`engine.app.reasons`) say why; both read :func:`routine_push`.

For couple ``c``, with ``G_c`` its three most done kinds (the featurizer's
group, e.g. the category; the same kinds the ranking's "outside the
routine" is measured against):

* **concentration** ``K_c = clip((s_c - 0.4) / 0.5, 0, 1)`` where ``s_c`` is the
  recency-weighted share of its dates in ``G_c`` (a couple whose recent
  dates are all of two or three kinds has ``s_c`` near 1; one spread evenly
  over 15 kinds about 0.2), times a confidence ``clip((n_c - 2) / 8, 0, 1)``
  in its number of dates ``n_c`` (three dates are not a routine yet);
* **love** ``L_c = clip((z_c - 0.5) / 0.25, 0, 1)`` where ``z_c`` is the
  couple's mean rating of its dates in ``G_c`` on the [0, 1] scale, shrunk
  towards 0.6 with the weight of two dates (4 of 5 or better: 1; a flat 3 of 5
  or lower: 0; unrated: 0.4);
* **push** ``P_c = K_c (1 - L_c)``: a concentrated, lukewarm or disliked
  routine gets the full push, a concentrated routine rated 4 of 5 or better
  none, a varied history almost none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RoutineState", "routine_push"]

#: the routine is the couple's this many most done kinds
TOP_KINDS = 3
_SHARE_FROM, _SHARE_SPAN = 0.4, 0.5
_LOVE_FROM, _LOVE_SPAN = 0.5, 0.25
_PRIOR_Z, _PRIOR_DATES = 0.6, 2.0
_MIN_DATES, _FULL_DATES = 2.0, 10.0
#: how much a fully loved routine lowers the push (all of it: a routine rated 4 of 5 or better is
#: not pushed; on the one-shot evaluation a half relief cost NDCG@10 0.342 -> 0.268, README)
_LOVE_RELIEF = 1.0


@dataclass
class RoutineState:
    """Per couple: the push and what it was made of (arrays of shape (n,)).

    Attributes
    ----------
    push, concentration, love : ndarray of float in [0, 1]
    share : ndarray
        Recency-weighted share of the dates in the top kinds.
    top_kinds : ndarray of int, shape (n, TOP_KINDS)
        Group indices, most done first (-1 where fewer kinds were done).
    kind_counts : ndarray (n, n_groups)
        Times each kind was done.
    """

    push: np.ndarray
    concentration: np.ndarray
    love: np.ndarray
    share: np.ndarray
    top_kinds: np.ndarray
    kind_counts: np.ndarray


def _unit(x: np.ndarray) -> np.ndarray:
    """``np.clip(x, 0.0, 1.0)`` as its definition, ``minimum(maximum(x, 0), 1)``, without np.clip's
    dispatch (the same values: NaN stays NaN; x here is a difference of unequal numbers or +0.0, never -0.0)."""
    return np.minimum(np.maximum(x, 0.0), 1.0)


def routine_push(group_of: np.ndarray, n_groups: int, done: np.ndarray, recent: np.ndarray,
                 rated: np.ndarray, n_dates: np.ndarray) -> RoutineState:
    """The push out of the routine for each couple (module notes).

    Parameters
    ----------
    group_of : ndarray of int, shape (n_ideas,)
        Each idea's kind (group index).
    n_groups : int
    done, recent, rated : ndarray of shape (n, n_ideas)
        Times done, recency weights and the couple's mean rating on [0, 1]
        (NaN = not rated), as in :class:`engine.learning.features.Histories`.
    n_dates : ndarray of shape (n,)

    Returns
    -------
    RoutineState
    """
    onehot = np.zeros((len(group_of), n_groups))
    onehot[np.arange(len(group_of)), group_of] = 1.0
    counts = done @ onehot
    ranked = np.argsort(-counts, axis=1, kind="stable")
    order = ranked[:, :TOP_KINDS]
    top = np.where(counts[np.arange(len(counts))[:, None], order] > 0, order, -1)
    # the kinds in ``top``: among the first TOP_KINDS of the order (place: the inverse permutation) and done
    in_top = (np.argsort(ranked, axis=1) < TOP_KINDS) & (counts > 0)
    by_kind = recent @ onehot
    share = (by_kind * in_top).sum(axis=1) / np.maximum(by_kind.sum(axis=1), 1e-12)
    confidence = _unit((n_dates - _MIN_DATES) / (_FULL_DATES - _MIN_DATES))
    concentration = _unit((share - _SHARE_FROM) / _SHARE_SPAN) * confidence
    idea_in_top = in_top[:, group_of]
    has = ~np.isnan(rated) & idea_in_top
    weight = np.where(has, done, 0.0)
    z = (np.sum(np.where(has, rated, 0.0) * weight, axis=1) + _PRIOR_Z * _PRIOR_DATES) / \
        (weight.sum(axis=1) + _PRIOR_DATES)
    love = _unit((z - _LOVE_FROM) / _LOVE_SPAN)
    push = concentration * (1.0 - _LOVE_RELIEF * love)
    return RoutineState(push=push, concentration=concentration, love=love, share=share,
                        top_kinds=top, kind_counts=counts)
