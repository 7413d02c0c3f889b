"""Simulated couples week by week: the truth side of the closed loop (``evaluate --loop``).

A :class:`Weeks` starts from where a :class:`~engine.lab.simulator.SimulatedWorld`'s
history ends and lets every couple go on one date a week, chosen from what
a policy suggests. It keeps the world's latent variables (tastes, each
partner's own offset, the novelty response, repeat wear) and adds a
relationship-satisfaction state. The equations (docs/simulator.md, "Weeks
of dates"):

Partner ``p``'s true enjoyment of idea ``i`` at week ``t``
    ``E_p = clip(b_c + q_i + (w_c + delta_p) . x_i + nu_c n_i (1 - f_c(cat_i))
    - rho_c log(1 + times done) - context, 1, 5)`` (the simulator's
    utility with the partner's own offset instead of the mean one).

Choice among the suggestions (the simulator's exploratory choice)
    ``P(j) = softmax(U_j / 0.5)`` over the ideas shown, ``U`` the unclipped
    mean of the two partners' utilities.

Ratings
    ``r_p = clip(round(E_p* + eps), 1, 5)``, ``eps ~ N(0, 0.5^2)``, missing
    with probability 0.08 (``E_p*`` unclipped), as in the simulator.

Satisfaction (self-expansion, Aron et al. 2000)
    ``S_0 = 0`` and ``S_{t+1} = S_t + alpha * x_t * max(J_t, 0)
    + gamma * min(J_t, 0) - beta * f_c(cat_i)``, where
    ``J_t = (min(E_a, E_b) - 3) / 2`` (both enjoyed it: the less happy
    partner's view, in [-1, 1]), ``x_t = n_i (1 - f_c(cat_i)) / (1 + times
    done before)`` (novel, exciting, interactive and new to them) and
    ``f_c(cat_i)`` the share of the couple's last 20 dates in the idea's
    category (repetition). ``alpha = 1``, ``gamma = 0.5``, ``beta = 0.2``.

This module reads the world's private state (it is the world's own
dynamics, kept apart only to keep :mod:`engine.lab.simulator` readable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..domain.context import SEASONS, TIMES_OF_DAY, TONIGHT, WEATHERS
from .simulator import SimulatedWorld
from .simulator.parameters import (
    CONTEXT_PENALTY,
    KIDS_ALONG,
    MISSING,
    NOISE_SD,
    RECENT,
    SPLURGE,
    TAU_EXPLORE,
    WEATHER_P,
    WEEKDAYS,
)

__all__ = ["SAT_ALPHA", "SAT_BETA", "SAT_GAMMA", "WeekContext", "Weeks"]

SAT_ALPHA, SAT_GAMMA, SAT_BETA = 1.0, 0.5, 0.2
#: P(setting asked for): none, home, out
_SETTING_P = (0.5, 0.3, 0.2)
#: P(minutes available): any, 90, 120, 180
_MINUTES = (np.nan, 90.0, 120.0, 180.0)
_MINUTES_P = (0.6, 0.1, 0.15, 0.15)
_BAD = np.array([w in ("rain", "snow", "storm") for w in WEATHERS])


@dataclass
class WeekContext:
    """One week's context for every couple (arrays of length n).

    ``day`` is datetime64[D]; ``budget`` the highest cost tier; ``minutes``
    (NaN = any); ``home`` (1 home, 0 out, NaN either); ``weather`` index
    into :data:`engine.domain.context.WEATHERS`; ``kids`` along; ``season`` index
    into :data:`SEASONS`; ``times`` (n, 4) over :data:`TIMES_OF_DAY`.
    """

    day: np.ndarray
    budget: np.ndarray
    minutes: np.ndarray
    home: np.ndarray
    weather: np.ndarray
    kids: np.ndarray
    season: np.ndarray
    times: np.ndarray

    def allowed(self, catalog) -> np.ndarray:
        """(n, n_ideas) bool: what each couple's context allows (:func:`engine.domain.constraints.allowed_rows`).

        A couple whose constraints leave nothing gets its minutes and setting dropped, then its budget;
        no idea above the default intimacy level (``affection``) is ever allowed.
        """
        from ..domain.constraints import allowed_rows

        # simulated couples are at the default intimacy level (affection): every policy sees the same ideas
        kw = dict(bad_weather=_BAD[self.weather], kids=self.kids, season=self.season, times=self.times,
                  intimacy=np.zeros(len(self.kids), dtype=int))
        mask = allowed_rows(catalog, budget=self.budget, minutes=self.minutes, home=self.home, **kw)
        empty = ~mask.any(axis=1)
        if empty.any():
            mask[empty] = allowed_rows(catalog, budget=self.budget[empty],
                                       **{k: v[empty] for k, v in kw.items()})
            empty = ~mask.any(axis=1)
            if empty.any():
                mask[empty] = allowed_rows(catalog, **{k: v[empty] for k, v in kw.items()})
                still = empty & ~mask.any(axis=1)
                mask[still] = allowed_rows(catalog, intimacy=kw["intimacy"][still])
        return mask

    def frame_columns(self) -> dict[str, np.ndarray]:
        """The date context columns the simulator writes (``ctx_weekday`` ...)."""
        weekday = (self.day - np.datetime64("1970-01-05", "D")).astype(np.int64) % 7  # 1970-01-05: Monday
        return {"ctx_weekday": np.array(WEEKDAYS, dtype=object)[weekday],
                "ctx_season": np.array(SEASONS, dtype=object)[self.season],
                "ctx_weather": np.array(WEATHERS, dtype=object)[self.weather],
                "ctx_kids": self.kids.astype(bool)}


class Weeks:
    """The couples of ``world`` from the end of their history on, one date a week.

    Parameters
    ----------
    world : SimulatedWorld

    Attributes
    ----------
    counts : ndarray (n, n_ideas) int
        Times each idea was done (history and loop).
    satisfaction : ndarray (n,)
        ``S_t`` (0 at the start).
    day : ndarray (n,) datetime64[D]
        The next date's day (a week after the couple's last).
    """

    def __init__(self, world: SimulatedWorld):
        st, ideas, quality = world.truth()
        self.world = world
        self.n = world.n_couples
        rows = np.arange(self.n)
        cols = np.arange(len(world.catalog))
        base = (st.b[:, None].astype(np.float64) + quality[None, :]
                + st.w.astype(np.float64) @ ideas.X.T)
        self.u_a = (base + st.delta_a.astype(np.float64) @ ideas.X.T).astype(np.float32)
        self.u_b = (base + st.delta_b.astype(np.float64) @ ideas.X.T).astype(np.float32)
        self.nu, self.rho = st.nu.astype(np.float64), st.rho.astype(np.float64)
        self.novelty, self.cat = ideas.novelty.astype(np.float64), ideas.cat_idx
        self.n_cat = len(ideas.categories)
        self.season_ok, self.weather_dep = ideas.season_ok, ideas.weather_dep
        self.counts = st.counts.astype(np.int32).copy()
        dates = world.dates
        couple_row = world.rows(dates["couple_id"].astype(str))
        idea_col = world.catalog.position(dates["idea_id"].astype(str).tolist())
        order = np.lexsort((dates["done_on"].to_numpy(), couple_row))
        couple_row, idea_col = couple_row[order], idea_col[order]
        n_dates = np.bincount(couple_row, minlength=self.n)
        end = np.cumsum(n_dates)
        from_end = end[couple_row] - np.arange(len(couple_row))  # 1 = the couple's last date
        self.ring = np.full((self.n, RECENT), -1, dtype=np.int64)
        keep = from_end <= RECENT
        length = np.minimum(n_dates, RECENT)
        slot = length[couple_row[keep]] - from_end[keep]  # oldest kept date in slot 0
        self.ring[couple_row[keep], slot] = self.cat[idea_col[keep]]
        self.ptr = length % RECENT
        self.recent = np.zeros((self.n, self.n_cat), dtype=np.float64)
        filled = self.ring >= 0
        np.add.at(self.recent, (np.broadcast_to(rows[:, None], self.ring.shape)[filled], self.ring[filled]), 1)
        self.recent_len = length.astype(np.float64)
        last = dates["done_on"].to_numpy().astype("datetime64[D]")[order]
        last_day = np.full(self.n, np.datetime64("2024-01-01", "D"))
        has = n_dates > 0
        last_day[has] = last[end[has] - 1]
        self.day = last_day + np.timedelta64(7, "D")
        self.last_done = np.full((self.n, len(cols)), np.datetime64("1900-01-01", "D"))
        self.last_done[couple_row, idea_col] = last  # sorted by day: the latest wins
        self.satisfaction = np.zeros(self.n)
        profile = world.couples
        self.ceiling = profile["budget_ceiling"].to_numpy(dtype=np.int64)
        self.kids = profile["kids"].to_numpy(dtype=bool)
        self.routine = world.routine_categories(world.couple_ids)

    def copy(self) -> Weeks:
        """An independent copy (for another policy on the same couples)."""
        other = object.__new__(Weeks)
        other.__dict__.update(self.__dict__)
        for name in ("counts", "ring", "ptr", "recent", "recent_len", "day", "last_done", "satisfaction"):
            setattr(other, name, getattr(self, name).copy())
        return other

    # ------------------------------------------------------------------ context
    def draw_context(self, rng: np.random.Generator) -> WeekContext:
        """Tonight's context for every couple, as real couples would have it.

        The couple's next date day and its season; weather drawn by season;
        the kids along on half the dates of couples with kids; the budget
        ceiling (one tier more on 5% of dates); a setting asked for on half
        the requests (home 30%, out 20%); a time limit on 40% (90, 120 or 180
        minutes); tonight's time (evening or night).
        """
        n = self.n
        months = self.day.astype("datetime64[M]").astype(np.int64) % 12 + 1
        season = ((months % 12) // 3 + 3) % 4
        cum = np.cumsum(WEATHER_P, axis=1)
        weather = np.minimum((rng.random(n)[:, None] > cum[season]).sum(axis=1), len(WEATHERS) - 1)
        kids = self.kids & (rng.random(n) < KIDS_ALONG)
        budget = np.minimum(self.ceiling + (rng.random(n) < SPLURGE), 3).astype(float)
        setting = rng.choice(3, size=n, p=_SETTING_P)
        home = np.where(setting == 0, np.nan, (setting == 1).astype(float))
        minutes = np.asarray(_MINUTES)[rng.choice(len(_MINUTES), size=n, p=_MINUTES_P)]
        times = np.broadcast_to(np.array([t in TONIGHT for t in TIMES_OF_DAY]), (n, len(TIMES_OF_DAY))).copy()
        return WeekContext(day=self.day.copy(), budget=budget, minutes=minutes, home=home, weather=weather,
                           kids=kids, season=season, times=times)

    # ------------------------------------------------------------------ truth
    def utilities(self, ctx: WeekContext) -> tuple[np.ndarray, np.ndarray]:
        """Each partner's unclipped utility of every idea now, two (n, n_ideas) arrays."""
        familiarity = self.recent[:, self.cat] / np.maximum(self.recent_len, 1.0)[:, None]
        shared = (self.nu[:, None] * self.novelty[None, :] * (1.0 - familiarity)
                  - self.rho[:, None] * np.log1p(self.counts)
                  - CONTEXT_PENALTY * ~self.season_ok[:, ctx.season].T
                  - CONTEXT_PENALTY * (_BAD[ctx.weather][:, None] & self.weather_dep[None, :]))
        return self.u_a + shared, self.u_b + shared

    @staticmethod
    def enjoyment(u_a: np.ndarray, u_b: np.ndarray) -> np.ndarray:
        """The oracle's target: true mean enjoyment of the two partners (clipped to 1-5)."""
        return (np.clip(u_a, 1.0, 5.0) + np.clip(u_b, 1.0, 5.0)) / 2.0

    def choose(self, picks: np.ndarray, u_a: np.ndarray, u_b: np.ndarray, rng: np.random.Generator,
               allowed: np.ndarray | None = None) -> np.ndarray:
        """The idea each couple does among its suggestions (``picks`` (n, k), -1 = none).

        ``softmax(mean utility / 0.5)`` over the ideas shown; a couple shown nothing chooses
        the same way among the ideas its context allows (``allowed`` (n, n_ideas), default
        all). Returns (n,) catalog positions.
        """
        rows = np.arange(self.n)[:, None]
        empty = (picks < 0).all(axis=1)
        if empty.any():
            picks = picks.copy()
            mask = np.ones_like(u_a, dtype=bool) if allowed is None else allowed
            fallback = np.where(mask[empty], (u_a[empty] + u_b[empty]) / 2.0, -np.inf)
            picks[empty] = -1
            picks[empty, 0] = np.argmax(fallback / TAU_EXPLORE + rng.gumbel(size=fallback.shape), axis=1)
        safe = np.maximum(picks, 0)
        util = (u_a[rows, safe] + u_b[rows, safe]) / 2.0
        score = np.where(picks >= 0, util / TAU_EXPLORE, -np.inf)
        score -= score.max(axis=1, keepdims=True)
        cum = np.cumsum(np.exp(score), axis=1)
        draw = rng.random(self.n) * cum[:, -1]
        j = np.minimum((cum <= draw[:, None]).sum(axis=1), picks.shape[1] - 1)
        return picks[np.arange(self.n), j]

    def step(self, chosen: np.ndarray, u_a: np.ndarray, u_b: np.ndarray,
             rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Do the chosen dates: rate them, update satisfaction, history and the day.

        Returns the week's record: ``enjoyment_a``, ``enjoyment_b`` (true, clipped), ``rating_a``,
        ``rating_b`` (1-5, NaN = missing), ``outside`` (category not among the couple's top 3 before
        the loop), ``satisfaction`` (after the date), ``day``.
        """
        n = self.n
        rows = np.arange(n)
        ua, ub = u_a[rows, chosen].astype(np.float64), u_b[rows, chosen].astype(np.float64)
        ea, eb = np.clip(ua, 1.0, 5.0), np.clip(ub, 1.0, 5.0)
        ratings = []
        for u in (ua, ub):
            r = np.clip(np.round(u + rng.normal(0.0, NOISE_SD, size=n)), 1.0, 5.0)
            r[rng.random(n) < MISSING] = np.nan
            ratings.append(r)
        cat = self.cat[chosen]
        familiarity = self.recent[rows, cat] / np.maximum(self.recent_len, 1.0)
        joint = (np.minimum(ea, eb) - 3.0) / 2.0
        expansion = self.novelty[chosen] * (1.0 - familiarity) / (1.0 + self.counts[rows, chosen])
        self.satisfaction += (SAT_ALPHA * expansion * np.maximum(joint, 0.0)
                              + SAT_GAMMA * np.minimum(joint, 0.0) - SAT_BETA * familiarity)
        self.counts[rows, chosen] += 1
        old = self.ring[rows, self.ptr]
        had = old >= 0
        np.subtract.at(self.recent, (rows[had], old[had]), 1)
        np.add.at(self.recent, (rows, cat), 1)
        self.ring[rows, self.ptr] = cat
        self.ptr = (self.ptr + 1) % RECENT
        self.recent_len = np.minimum(self.recent_len + 1, RECENT)
        day = self.day.copy()
        self.last_done[rows, chosen] = day
        self.day = self.day + np.timedelta64(7, "D")
        categories = self.world.categories
        outside = np.array([categories[c] not in top for c, top in zip(cat, self.routine)])
        return {"enjoyment_a": ea, "enjoyment_b": eb, "rating_a": ratings[0], "rating_b": ratings[1],
                "outside": outside, "satisfaction": self.satisfaction.copy(), "day": day}

    def dates_frame(self, chosen: np.ndarray, record: dict, ctx: WeekContext) -> pd.DataFrame:
        """The week's dates in the dates-frame layout (one row per couple)."""
        from ..domain.dates import as_dates_frame

        return as_dates_frame(pd.DataFrame({
            "couple_id": self.world.couple_ids,
            "idea_id": self.world.catalog.ids[chosen],
            "done_on": record["day"].astype("datetime64[ns]"),
            "rating_a": record["rating_a"], "rating_b": record["rating_b"],
            **ctx.frame_columns(),
        }))

