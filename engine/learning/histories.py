"""Couples' histories summarised per (couple, idea): what the pair features are computed from.

:class:`Histories` holds the dense per-couple summaries (times done, liked,
disliked, centred ratings, recency, last day, stated profile...).
:class:`HistoryMixin` gives :class:`~engine.learning.features.HistoryFeaturizer`
the methods that build them from a dates frame (or one couple's
:class:`~engine.domain.dates.CoupleDates`): :meth:`HistoryMixin.histories`,
:meth:`HistoryMixin.partner_histories`, and the rating scale and idea-position
helpers the model's training sampler shares (:meth:`HistoryMixin.scale_ratings`,
:meth:`HistoryMixin.relevant_z`, :meth:`HistoryMixin.positions`).

The mixin reads the featurizer's fitted state: ``catalog_ids_``, ``scale_``,
``relevant_rating_``, ``recency_half_life``, ``label_ideas_``, ``cost_``,
``locations_`` and ``global_z_``.

Days are day numbers (days since 1970-01-01), :data:`~engine.domain.dates.UNDATED`
for a date without a day. :attr:`Histories.last_day` counts from that
sentinel instead (:func:`last_day_scale`), so that 0 is "never or undated"
and every accepted day, 1900-01-01 on, is at least 1; a moment predicted
(``as_of_day``) is put on the same scale with :func:`last_day_scale`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pandas as pd

from ..domain.dates import UNDATED, CoupleDates, stated_profiles
from ..domain.profiles import NO_PROFILE, Profiles

__all__ = ["Histories", "HistoryMixin", "last_day_scale", "same_ratings"]


def _nan_to_zero(x: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(x)`` for float ``x``: NaN -> 0 (and +-inf -> the largest finite), with fewer passes
    when there is no infinity (a rating never is)."""
    if np.isinf(x).any():
        return np.nan_to_num(x)
    return np.where(np.isnan(x), 0.0, x)


def last_day_scale(day: np.ndarray | int) -> np.ndarray | float:
    """Day numbers (days since 1970-01-01) on the scale of :attr:`Histories.last_day`: days since
    :data:`~engine.domain.dates.UNDATED` (floats), so ``UNDATED`` is 0 and 1900-01-01 is 1.

    Differences of two days are the same on both scales.
    """
    return np.asarray(day, dtype=float) - UNDATED


@dataclass
class Histories:
    """Dense per-couple summaries of history, rows = couples, columns = ideas.

    Attributes
    ----------
    couple_ids : ndarray of shape (n_couples,)
    done : ndarray (n_couples, n_ideas)
        Times each idea was done.
    liked, disliked : ndarray (n_couples, n_ideas)
        1 where the couple's mean rating of the idea is relevant / low.
    centered : ndarray (n_couples, n_ideas)
        Rating minus the couple's shrunk mean, scaled to [-1, 1] (0 = not rated).
    recent : ndarray (n_couples, n_ideas)
        Recency weights (exponential decay over the couple's own date order).
    last_day : ndarray (n_couples, n_ideas)
        The latest time done, as :func:`last_day_scale` of its day number
        (days since 1899-12-31); 0 = never or undated, every accepted day >= 1.
    rated : ndarray (n_couples, n_ideas)
        The couple's own mean rating of the idea on the [0, 1] scale; NaN = never rated.
    n_dates : ndarray (n_couples,)
    mean_z : ndarray (n_couples,)
        Shrunk mean of the couple's ratings on the [0, 1] scale.
    interest : ndarray (n_couples, n_ideas)
        1 where the idea has an attribute value among the couple's stated interests.
    over_budget : ndarray (n_couples, n_ideas)
        1 where the idea's ``cost`` is above the couple's stated budget ceiling.
    interests : list of tuple of str, length n_couples
        Each couple's stated interests (:func:`engine.domain.profiles.labels`).
    homes : ndarray (n_couples, 2)
        Latitude and longitude of each couple's home: the stated one, else the
        median of the places of the ideas they did; NaN when neither is known.
    partner : {None, "a", "b"}
        Whose ratings the rating summaries are (None: the couple's, the mean
        of the partners who rated; see :meth:`HistoryFeaturizer.histories`).
    liked_by : ndarray (2, n_couples, n_ideas) or None
        1 where partner a (row 0) / b (row 1) themselves rated the idea
        relevant on average (the couple's histories only; None for a partner's).
    """

    couple_ids: np.ndarray
    done: np.ndarray
    liked: np.ndarray
    disliked: np.ndarray
    centered: np.ndarray
    recent: np.ndarray
    last_day: np.ndarray
    rated: np.ndarray
    n_dates: np.ndarray
    mean_z: np.ndarray
    interest: np.ndarray
    over_budget: np.ndarray
    interests: list[tuple[str, ...]]
    homes: np.ndarray
    partner: str | None = None
    liked_by: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Histories:
        """The same summaries for the couples at ``rows`` only (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        picked = {name: (value[rows] if isinstance(value, np.ndarray) else value)
                  for name, value in vars(self).items() if name not in ("interests", "liked_by")}
        liked_by = None if self.liked_by is None else self.liked_by[:, rows]
        return Histories(**picked, interests=[self.interests[r] for r in rows], liked_by=liked_by)


class HistoryMixin:
    """History summaries for a fitted :class:`~engine.learning.features.HistoryFeaturizer`."""

    def _stated(self, couple_ids: np.ndarray, profiles: Profiles | None, dates: pd.DataFrame | CoupleDates
                ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]], np.ndarray]:
        """From the couples' stated profiles: (n_couples, n_ideas) planes, 1 where the idea matches
        one of the couple's interests and 1 where its cost is above the couple's budget ceiling;
        each couple's interests; and (n_couples, 2) stated homes (NaN = not stated)."""
        interest = np.zeros((len(couple_ids), len(self.catalog_ids_)))
        over_budget = np.zeros_like(interest)
        homes = np.full((len(couple_ids), 2), np.nan)
        found = stated_profiles(couple_ids, profiles, dates)
        if all(p is None for p in found):
            return interest, over_budget, [()] * len(couple_ids), homes
        stated = [NO_PROFILE if p is None else p for p in found]
        for r, profile in enumerate(stated):
            for label in profile.interests:
                interest[r, self.label_ideas_.get(label, [])] = 1.0
            if profile.budget_ceiling is not None and self.cost_ is not None:
                over_budget[r] = self.cost_ > profile.budget_ceiling
            if profile.home is not None:
                homes[r] = profile.home
        return interest, over_budget, [p.interests for p in stated], homes

    def interest_matches(self, stated: Sequence[str], position: int) -> list[str]:
        """The labels among ``stated`` (a couple's interests) that idea ``position`` carries."""
        return [label for label in stated if position in self.label_ideas_.get(label, ())]

    def scale_ratings(self, ratings: np.ndarray) -> np.ndarray:
        """Ratings on the fitted scale mapped to [0, 1] (``scale_``: min to 0, max to 1)."""
        lo, hi = self.scale_
        return (ratings - lo) / (hi - lo)

    def relevant_z(self) -> float:
        """``relevant_rating_`` on the [0, 1] scale, less 1e-9 (so ``z >= relevant_z()`` is "liked")."""
        lo, hi = self.scale_
        return (self.relevant_rating_ - lo) / (hi - lo) - 1e-9

    def positions(self, idea_ids: np.ndarray) -> np.ndarray:
        """Catalog position of each idea id (-1 when unknown)."""
        if len(idea_ids) < 4096:  # measured: a dict lookup each is faster below a few thousand ids
            pos = self.__dict__.get("_idea_pos")
            if pos is None:  # (derived from catalog_ids_, keyed by its strings: not pickled)
                pos = self._idea_pos = {idea: i for i, idea in enumerate(self.catalog_ids_)}
            return np.fromiter(map(pos.get, idea_ids, repeat(-1)), dtype=np.int64, count=len(idea_ids))
        index = self.__dict__.get("_idea_index")
        if index is None:
            index = self._idea_index = pd.Index(self.catalog_ids_, dtype=object)
        return index.get_indexer(np.asarray(idea_ids, dtype=object)).astype(np.int64)

    def _pairs(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None = None) -> dict:
        """Row (couple), column (idea), day number (:data:`~engine.domain.dates.UNDATED`: undated)
        and ratings on [0, 1] of each usable date.

        ``z`` is the mean of the partners who rated (NaN: neither), ``z_by``
        each partner's own (NaN: not rated).
        """
        if couple_ids is None and isinstance(dates, CoupleDates):
            couple_ids = np.array([dates.couple_id], dtype=object)
        elif couple_ids is None:
            couple_ids = np.array(sorted(pd.unique(dates["couple_id"].astype(str))), dtype=object)
        else:
            couple_ids = np.asarray(list(couple_ids), dtype=object)
        if len(dates) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return {"couple_ids": couple_ids, "rows": empty, "cols": empty, "z": np.zeros(0),
                    "day": empty, "z_by": (np.zeros(0), np.zeros(0))}
        if isinstance(dates, CoupleDates):  # one couple's rows, read for one request: no DataFrame
            ideas, day, a, b = dates.arrays()
            row = next((i for i, c in enumerate(couple_ids) if c == dates.couple_id), -1)
            rows = np.full(len(ideas), row, dtype=np.int64)
            cols = self.positions(ideas)
        else:
            if len(couple_ids) == 1:
                rows = np.where(dates["couple_id"].to_numpy() == couple_ids[0], 0, -1)
            else:
                rows = pd.Index(couple_ids).get_indexer(dates["couple_id"].to_numpy())
            cols = self.positions(dates["idea_id"].to_numpy())
            a = dates["rating_a"].to_numpy(dtype=float)
            b = dates["rating_b"].to_numpy(dtype=float)
            days = dates["done_on"].to_numpy().astype("datetime64[D]")
            day = np.where(np.isnat(days), UNDATED, days.astype("int64"))
        keep = (rows >= 0) & (cols >= 0)
        a, b, day = a[keep], b[keep], day[keep]
        counts = (~np.isnan(a)).astype(float) + (~np.isnan(b))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, (_nan_to_zero(a) + _nan_to_zero(b)) / np.maximum(counts, 1), np.nan)
        return {"couple_ids": couple_ids, "rows": rows[keep].astype(np.int64), "cols": cols[keep],
                "z": self.scale_ratings(mean), "day": day, "z_by": (self.scale_ratings(a), self.scale_ratings(b))}

    def histories(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None = None,
                  profiles: Profiles | None = None, partner: str | None = None) -> Histories:
        """Summarise ``dates`` per couple (rows in ``couple_ids`` order; default: sorted ids present).

        Ideas not in the fitted catalog are ignored. ``profiles`` maps couple
        ids to their stated :class:`~engine.domain.profiles.Profile` (default: none,
        or a :class:`~engine.domain.dates.CoupleDates`' own ``profile``).

        ``partner`` says whose ratings summarise taste (liked, disliked,
        centered, rated, mean): None (default) the couple's, the mean of the
        partners who rated each date; ``"a"`` or ``"b"`` that partner's own,
        and on a date only the other partner rated, the other's (so a
        partner who never rates inherits the couple's taste). What was done,
        when, and the profile are the same for both partners.
        """
        if partner not in (None, "a", "b"):
            raise ValueError(f"partner must be None, 'a' or 'b', got {partner!r}")
        return self._summaries(dates, couple_ids, profiles, (partner,))[0]

    def partner_histories(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None = None,
                          profiles: Profiles | None = None) -> tuple[Histories, Histories, Histories]:
        """The couple's, partner a's and partner b's :meth:`histories`, from one pass over ``dates``.

        The three share the arrays that do not depend on ratings (what was
        done, when, the profile): read them, do not change them.
        """
        return tuple(self._summaries(dates, couple_ids, profiles, (None, "a", "b")))

    def _summaries(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str] | None,
                   profiles: Profiles | None, whose: Sequence[str | None]) -> list[Histories]:
        """:meth:`histories` for each partner in ``whose`` (None: the couple)."""
        pairs = self._pairs(dates, couple_ids)
        couple_ids = pairs["couple_ids"]
        rows, cols, day = pairs["rows"], pairs["cols"], pairs["day"]
        n_c, n_i = len(couple_ids), len(self.catalog_ids_)
        flat = rows * n_i + cols
        size = n_c * n_i

        def _sum(weights) -> np.ndarray:
            return np.bincount(flat, weights=weights, minlength=size).astype(float, copy=False).reshape(n_c, n_i)

        # recency rank within couple: by day (undated first: UNDATED is below every day), then input order
        order = np.lexsort((np.arange(len(rows)), day, rows))
        n_dates = np.bincount(rows, minlength=n_c).astype(float)
        starts = np.concatenate([[0], np.cumsum(n_dates)[:-1]]).astype(np.int64)
        rank_from_end = np.empty(len(rows), dtype=float)
        if len(rows):
            rows_o = rows[order]
            rank_from_end[order] = n_dates[rows_o] - 1 - (np.arange(len(rows)) - starts[rows_o])
        done = _sum(None)
        recent = _sum(0.5 ** (rank_from_end / self.recency_half_life))
        last_day = np.zeros(size)
        np.maximum.at(last_day, flat, last_day_scale(day))  # undated: 0, as never
        last_day = last_day.reshape(n_c, n_i)
        interest, over_budget, stated, homes = self._stated(couple_ids, profiles, dates)
        self._homes_from_history(homes, done)
        prior = getattr(self, "global_z_", 0.5)
        relevant = self.relevant_z()
        out = []
        for partner in whose:
            if partner is None:
                z = pairs["z"]
            else:  # that partner's rating, the other's where they did not rate
                own, other = pairs["z_by"] if partner == "a" else pairs["z_by"][::-1]
                z = np.where(np.isnan(own), other, own)
            rated = ~np.isnan(z)
            zr = np.where(rated, z, 0.0)
            c_zsum = np.bincount(rows, weights=zr, minlength=n_c)  # (weighted: float already)
            counted = rated.astype(float)
            c_zcnt = np.bincount(rows, weights=counted, minlength=n_c)
            mean_z = (c_zsum + 3.0 * prior) / (c_zcnt + 3.0)
            zsum, zcnt = _sum(zr), _sum(counted)
            has = zcnt > 0
            # zsum / zcnt where rated, else 0: where zcnt is 0, zsum is 0 too (0 / 1 = +0.0, as the masked
            # divide's zeros), elsewhere zcnt >= 1 is its own maximum with 1 (the same quotient)
            zmean = zsum / np.maximum(zcnt, 1.0)
            liked = (has & (zmean >= relevant)).astype(float)
            liked_by = None
            if partner is None:  # each partner's own ratings (no fallback), for "you both loved"
                liked_by = np.zeros((2, n_c, n_i))
                for j, zp in enumerate(pairs["z_by"]):
                    mine = ~np.isnan(zp)
                    total, n = _sum(np.where(mine, zp, 0.0)), _sum(mine.astype(float))
                    liked_by[j] = (n > 0) & (total >= relevant * np.maximum(n, 1))
            disliked = (has & (zmean < 0.5)).astype(float)
            # np.clip(x, -1, 1) as np.minimum(np.maximum(x, -1), 1): its definition, without np.clip's dispatch
            centered = np.where(has, np.minimum(np.maximum(2 * (zmean - mean_z[:, None]), -1), 1), 0.0)
            out.append(Histories(couple_ids=couple_ids, done=done, liked=liked, disliked=disliked,
                                 centered=centered, recent=recent, last_day=last_day,
                                 rated=np.where(has, zmean, np.nan), n_dates=n_dates, mean_z=mean_z,
                                 interest=interest, over_budget=over_budget, interests=stated, homes=homes,
                                 partner=partner, liked_by=liked_by))
        return out

    def _homes_from_history(self, homes: np.ndarray, done: np.ndarray) -> None:
        """Fill, in place, the unknown homes of couples who did located ideas: the median
        latitude and longitude of those ideas' places."""
        locations = getattr(self, "locations_", None)
        if locations is None:
            return
        located = ~np.isnan(locations[:, 0])
        missing = np.flatnonzero(np.isnan(homes[:, 0]) & ((done[:, located] > 0).sum(axis=1) > 0))
        if len(missing):
            went = (done[missing] > 0) & located[None, :]
            for axis in (0, 1):
                homes[missing, axis] = np.nanmedian(np.where(went, locations[None, :, axis], np.nan), axis=1)


def same_ratings(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two partners' ratings (``Histories.rated``) agree: ``np.isclose(a, b, equal_nan=True)`` at
    its default tolerances, spelt out as numpy computes it (the same answers without its dispatch, a
    few tens of microseconds a request)."""
    with np.errstate(invalid="ignore"):
        close = (np.abs(a - b) <= 1e-08 + 1e-05 * np.abs(b)) & np.isfinite(b) | (a == b)
        return close | (np.isnan(a) & np.isnan(b))
