"""The simulated world: the data a simulation produced and the truth (the oracle) behind it."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from ...domain.catalog import Catalog
from ...domain.context import BAD_WEATHER, SEASONS, Context, season_of
from .parameters import CONTEXT_PENALTY, N_COMFORT, RECENT
from .tastes import _Couples, _Ideas

__all__ = ["SimulatedWorld"]


class SimulatedWorld:
    """The result of :func:`simulate`: data plus the truth behind it.

    Attributes
    ----------
    catalog : Catalog
        The ideas the couples chose from.
    dates : pandas.DataFrame
        The dates frame (:mod:`engine.domain.dates`), sorted by couple then day, with
        ``ctx_weekday``, ``ctx_season``, ``ctx_weather`` (str) and ``ctx_kids`` (bool).
    couples : pandas.DataFrame
        One row per couple: ``id``, ``budget_ceiling`` (int 0-3), ``kids`` (bool),
        ``interests`` (``|``-joined categories), ``created`` (YYYY-MM-DD str).
    n_couples, seed : int
        What the world was built from.
    """

    def __init__(self, catalog: Catalog, dates: pd.DataFrame, couples: pd.DataFrame,
                 n_couples: int, seed: int, ideas: _Ideas, quality: np.ndarray, state: _Couples):
        self.catalog = catalog
        self.dates = dates
        self.couples = couples
        self.n_couples = n_couples
        self.seed = seed
        self._ideas = ideas
        self._quality = quality
        self._state = state
        self._index = pd.Index(couples["id"])

    @property
    def couple_ids(self) -> np.ndarray:
        """Couple ids in simulation order, shape (n_couples,)."""
        return self._index.to_numpy()

    def truth(self) -> tuple[_Couples, _Ideas, np.ndarray]:
        """The simulator's hidden truth, for the weekly loop (:mod:`engine.lab.weekly`) to go on from:
        the couples' taste and state, the ideas' encoded attributes, and each idea's quality. Read only."""
        return self._state, self._ideas, self._quality

    def rows(self, couple_ids) -> np.ndarray:
        """Each couple id's row in simulation order (-1 for an id not in the world)."""
        return self._index.get_indexer(pd.Index(couple_ids))

    @property
    def categories(self) -> list[str]:
        """The routine categories of the catalog (values of its category attribute)."""
        return list(self._ideas.categories)

    def recent_categories(self) -> list[deque]:
        """Each couple's familiarity window: the categories of its last 20 dates, oldest first.

        Returns
        -------
        list of deque of int, one per couple in :attr:`couple_ids` order
            Positions in :attr:`categories` (``maxlen`` 20), to pass to :meth:`record_date`.
        """
        cat_idx = self._ideas.cat_idx
        pos = self.catalog.position(self.dates["idea_id"].to_numpy())
        by_couple = pd.Series(cat_idx[pos]).groupby(self.dates["couple_id"].to_numpy(), sort=False)
        last = {c: list(v)[-RECENT:] for c, v in by_couple}
        return [deque(last.get(c, []), maxlen=RECENT) for c in self.couple_ids]

    def record_date(self, row: int, position: int, window: deque) -> None:
        """One more date in the truth: the couple's repeat count of the idea and its familiarity.

        What :meth:`expected_enjoyment` reads afterwards counts the date (the
        oracle of the next week); the dates frame is not changed.

        Parameters
        ----------
        row : int
            The couple's position in :attr:`couple_ids`.
        position : int
            The idea's catalog position.
        window : deque of int
            The couple's window from :meth:`recent_categories`; the idea's category is appended.
        """
        state = self._state
        state.counts[row, position] += 1
        window.append(int(self._ideas.cat_idx[position]))
        state.recent[row] = np.bincount(np.fromiter(window, dtype=np.int64), minlength=state.recent.shape[1])
        state.recent_len[row] = len(window)

    def _rows(self, couple_ids) -> np.ndarray:
        ids = [couple_ids] if isinstance(couple_ids, str) else list(couple_ids)
        rows = self._index.get_indexer(pd.Index(ids))
        if (rows < 0).any():
            unknown = [c for c, r in zip(ids, rows) if r < 0][:5]
            raise KeyError(f"unknown couple id(s) {', '.join(map(repr, unknown))}; "
                           f"this world has {self.n_couples} couples")
        return rows

    def _cols(self, idea_ids) -> np.ndarray:
        if idea_ids is None:
            return np.arange(len(self.catalog))
        ids = [idea_ids] if isinstance(idea_ids, str) else list(idea_ids)
        cols = self.catalog.position(ids)
        if (cols < 0).any():
            unknown = [c for c, r in zip(ids, cols) if r < 0][:5]
            raise KeyError(f"unknown idea id(s) {', '.join(map(repr, unknown))}")
        return cols

    def expected_enjoyment(self, couple_ids, idea_ids=None, context: Context | None = None) -> np.ndarray:
        """The oracle: true expected mean partner rating of each idea, now.

        Parameters
        ----------
        couple_ids : sequence of str, length n
            Couples of this world.
        idea_ids : sequence of str, length m, optional
            Ideas of the catalog; default all, in catalog order.
        context : Context, optional
            Applies the season penalty (``context.season``, else the season of
            ``context.day`` if given) and the bad-weather penalty
            (``context.weather``). Hard constraints (budget, kids, minutes,
            setting) are not applied: they decide what may be suggested, not
            how much it is enjoyed. Default None: no context penalties.

        Returns
        -------
        ndarray of shape (n, m), float64
            ``clip(u + novelty bonus - repeat wear + context + mean partner
            offset, 1, 5)`` given the couple's whole simulated history; no noise.

        Raises
        ------
        KeyError
            For an unknown couple or idea id.
        """
        return np.clip(self._unclipped(self._rows(couple_ids), self._cols(idea_ids), context), 1.0, 5.0)

    def _unclipped(self, rows: np.ndarray, cols: np.ndarray, context: Context | None) -> np.ndarray:
        """:meth:`expected_enjoyment` before the clipping to [1, 5]."""
        ideas, st = self._ideas, self._state
        value = (self._intrinsic(rows, cols) + self._bonus(rows, cols)
                 - st.rho[rows, None] * np.log1p(st.counts[rows][:, cols]))
        if context is not None:
            season = context.season or (season_of(context.day) if context.day else None)
            if season is not None:
                value = value - CONTEXT_PENALTY * ~ideas.season_ok[cols, SEASONS.index(season)][None, :]
            if context.weather in BAD_WEATHER:
                value = value - CONTEXT_PENALTY * ideas.weather_dep[cols][None, :]
        return value.astype(np.float64)

    def partner_enjoyment(self, couple_ids, idea_ids=None, context: Context | None = None) -> np.ndarray:
        """Each partner's true expected rating: :meth:`expected_enjoyment` with the partner's own offset.

        ``clip(u + bonus - wear + context + delta_p . x_i, 1, 5)`` for ``p``
        in (a, b); float array of shape (n, m, 2), partner a first.
        """
        rows, cols = self._rows(couple_ids), self._cols(idea_ids)
        raw_gap = self._state.half_gap[rows].astype(np.float64) @ self._ideas.X[cols].T
        value = self._unclipped(rows, cols, context)
        out = np.stack([value + raw_gap, value - raw_gap], axis=-1)
        return np.clip(out, 1.0, 5.0)

    def novelty_bonus(self, couple_ids, idea_ids=None) -> np.ndarray:
        """The novelty response now: ``nu * n_i * (1 - familiarity of the idea's category)``.

        Familiarity is the category's share of the couple's last 20 dates;
        no repeat wear, no clipping. Float array of shape (n, m).
        """
        return self._bonus(self._rows(couple_ids), self._cols(idea_ids)).astype(np.float64)

    def _bonus(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        ideas, st = self._ideas, self._state
        familiarity = st.recent[rows][:, ideas.cat_idx[cols]] / np.maximum(st.recent_len[rows], 1)[:, None]
        return st.nu[rows, None] * ideas.novelty[None, cols] * (1.0 - familiarity)

    def affordable(self, couple_ids, idea_ids=None) -> np.ndarray:
        """Whether each idea's cost is within each couple's budget ceiling; bool array (n, m)."""
        rows, cols = self._rows(couple_ids), self._cols(idea_ids)
        ceiling = self.couples["budget_ceiling"].to_numpy()[rows]
        return self._ideas.cost[None, cols] <= ceiling[:, None]

    def intrinsic_enjoyment(self, couple_ids, idea_ids=None) -> np.ndarray:
        """How much each couple likes each idea in itself: ``b + q + (w + delta) . x``.

        No novelty bonus, no repeat wear, no context and no clipping: the
        couple's stable taste, the part a well-matched idea is matched on.

        Returns
        -------
        ndarray of shape (n, m), float64
        """
        return self._intrinsic(self._rows(couple_ids), self._cols(idea_ids))

    def _intrinsic(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        st = self._state
        return (st.b[rows, None].astype(np.float64) + self._quality[None, cols]
                + (st.w[rows] + st.delta[rows]).astype(np.float64) @ self._ideas.X[cols].T)

    def times_done(self, couple_ids, idea_ids=None) -> np.ndarray:
        """How often each couple did each idea in its history; int array of shape (n, m)."""
        return self._state.counts[self._rows(couple_ids)][:, self._cols(idea_ids)].astype(np.int64)

    def routine_categories(self, couple_ids) -> list[list[str]]:
        """Each couple's top-3 categories in its whole history, most frequent first.

        Ties are broken by catalog category order; categories never done are
        left out (so a list may be shorter than 3).
        """
        rows = self._rows(couple_ids)
        ideas = self._ideas
        onehot = np.zeros((len(ideas.cat_idx), len(ideas.categories)), dtype=np.int64)
        onehot[np.arange(len(ideas.cat_idx)), ideas.cat_idx] = 1
        per_cat = self._state.counts[rows].astype(np.int64) @ onehot
        order = np.argsort(-per_cat, axis=1, kind="stable")[:, :N_COMFORT]
        return [[ideas.categories[k] for k in order[r] if per_cat[r, k] > 0] for r in range(len(rows))]
