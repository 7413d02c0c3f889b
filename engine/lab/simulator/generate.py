"""Generating a simulated world: couples, their routine and a year or so of dates.

:func:`simulate` draws the idea qualities and, block by block
(:data:`~engine.lab.simulator.parameters.BLOCK_SIZE` couples, one seeded
generator each), the couples and their dates (:func:`_simulate_block`); the
model is described in :mod:`engine.lab.simulator`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ...domain.catalog import Catalog, load_catalog
from ...domain.context import BAD_WEATHER, SEASONS, WEATHERS
from ...domain.dates import as_dates_frame
from .parameters import (
    BASELINE,
    BLOCK_SIZE,
    BUDGET_P,
    CONTEXT_PENALTY,
    EPOCH,
    KIDS_ALONG,
    KIDS_SHARE,
    MISSING,
    N_COMFORT,
    NOISE_SD,
    NU_RANGE,
    PARTNER_SD,
    QUALITY_SD,
    RECENT,
    RHO_RANGE,
    SPLURGE,
    START_SPAN_DAYS,
    TAU_COMFORT,
    TAU_EXPLORE,
    TAU_ROUTINE,
    WEATHER_P,
    WEEKDAYS,
)
from .tastes import _Couples, _encode, _Ideas
from .world import SimulatedWorld

__all__ = ["simulate"]

logger = logging.getLogger(__package__)


def _softmax_sample(scores: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column per row with probability softmax(scores) within ``mask`` (every row has one)."""
    masked = np.where(mask, scores, -np.inf)
    masked -= masked.max(axis=1, keepdims=True)
    cum = np.cumsum(np.exp(masked), axis=1)
    draw = rng.random(len(cum)) * cum[:, -1]
    return np.minimum((cum <= draw[:, None]).sum(axis=1), cum.shape[1] - 1)


def _gumbel_top(scores: np.ndarray, mask: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sample ``k`` columns per row without replacement, probability softmax(scores) within mask."""
    g = scores + rng.gumbel(size=scores.shape)
    g = np.where(mask, g, -np.inf)
    return np.argsort(-g, axis=1, kind="stable")[:, :k]


def _simulate_block(ideas: _Ideas, q: np.ndarray, n: int, rng: np.random.Generator,
                    state: _Couples, lo: int, dates_per_couple: float | None = None,
                    exposure: np.ndarray | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n_ideas, n_feat = ideas.X.shape
    n_cat = len(ideas.categories)
    X = ideas.X
    # -- couples
    b = rng.normal(*BASELINE, size=n).astype(np.float32)
    w = (rng.normal(size=(n, n_feat)) * ideas.scales).astype(np.float32)
    delta_a = rng.normal(0.0, PARTNER_SD, size=(n, n_feat)).astype(np.float32)
    delta_b = rng.normal(0.0, PARTNER_SD, size=(n, n_feat)).astype(np.float32)
    nu = rng.uniform(*NU_RANGE, size=n).astype(np.float32)
    rho = rng.uniform(*RHO_RANGE, size=n).astype(np.float32)
    p_routine = rng.uniform(0.65, 0.85, size=n)
    ceiling = rng.choice(4, size=n, p=BUDGET_P)
    kids = rng.random(n) < KIDS_SHARE
    if dates_per_couple is None:
        n_dates = 10 + rng.poisson(18, size=n)
    else:  # short histories: mean dates_per_couple, at least one
        n_dates = 1 + rng.poisson(max(dates_per_couple - 1.0, 0.0), size=n)
    # log exposure of each idea (how widely it is known), added to every choice, never to enjoyment
    log_exposure = np.zeros(n_ideas, dtype=np.float32) if exposure is None else exposure
    start = rng.integers(0, START_SPAN_DAYS, size=n)
    cadence = rng.uniform(7.0, 14.0, size=n)
    created = start - rng.integers(0, 61, size=n)

    u = (b[:, None] + q[None, :] + w @ X.T).astype(np.float32)  # (n, n_ideas)
    cat_onehot = np.zeros((n_ideas, n_cat), dtype=np.float32)
    cat_onehot[np.arange(n_ideas), ideas.cat_idx] = 1.0
    cat_size = cat_onehot.sum(axis=0)
    cat_taste = (u @ cat_onehot) / np.maximum(cat_size, 1.0)  # (n, n_cat)
    affordable = ideas.cost[None, :] <= ceiling[:, None]       # (n, n_ideas)
    cat_affordable = (affordable.astype(np.float32) @ cat_onehot) > 0
    cat_affordable |= ~cat_affordable.any(axis=1, keepdims=True)
    k_comfort = min(N_COMFORT, n_cat)
    comfort = _gumbel_top(cat_taste / TAU_COMFORT, cat_affordable, k_comfort, rng)  # (n, k)
    in_comfort_cat = np.zeros((n, n_cat), dtype=bool)
    np.put_along_axis(in_comfort_cat, comfort, True, axis=1)
    comfort_idea = in_comfort_cat[:, ideas.cat_idx]  # (n, n_ideas)
    candidates = comfort_idea & affordable
    candidates |= comfort_idea & ~candidates.any(axis=1, keepdims=True)
    n_goto = rng.integers(3, 7, size=n)
    goto_score = u if exposure is None else u / TAU_ROUTINE + log_exposure
    ranked = np.argsort(-np.where(candidates, goto_score, -np.inf), axis=1, kind="stable")[:, :6]
    goto = np.zeros((n, n_ideas), dtype=bool)
    for j in range(ranked.shape[1]):
        take = (j < n_goto) & candidates[np.arange(n), ranked[:, j]]
        goto[np.arange(n)[take], ranked[take, j]] = True
    noisy = cat_taste + rng.normal(0.0, 0.2, size=cat_taste.shape)
    n_interests = rng.integers(2, 4, size=n)
    top_interest = np.argsort(-noisy, axis=1, kind="stable")[:, :3]
    interests = ["|".join(ideas.categories[k] for k in top_interest[c, : n_interests[c]])
                 for c in range(n)]

    counts = np.zeros((n, n_ideas), dtype=np.int16)
    wear = np.zeros((n, n_ideas), dtype=np.float32)  # log1p(counts)
    season_penalty = (CONTEXT_PENALTY * ~ideas.season_ok.T).astype(np.float32)  # (4, n_ideas)
    weather_penalty = (CONTEXT_PENALTY * ideas.weather_dep).astype(np.float32)[None, :]
    recent = np.zeros((n, n_cat), dtype=np.int16)
    ring = np.full((n, RECENT), -1, dtype=np.int64)
    day = start.copy()
    log_keys = ("couple", "idea", "day", "rating_a", "rating_b", "weather", "kids")
    log: dict[str, list[np.ndarray]] = {k: [] for k in log_keys}
    weather_cum = np.cumsum(WEATHER_P, axis=1)
    bad = np.array([w_ in BAD_WEATHER for w_ in WEATHERS])

    for t in range(int(n_dates.max())):
        act = np.flatnonzero(n_dates > t)
        m = len(act)
        days = EPOCH + day[act].astype("timedelta64[D]")
        months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        season = ((months % 12) // 3 + 3) % 4
        weather = (rng.random(m)[:, None] > weather_cum[season]).sum(axis=1)
        weather = np.minimum(weather, len(WEATHERS) - 1)
        kids_now = kids[act] & (rng.random(m) < KIDS_ALONG)
        splurge = rng.random(m) < SPLURGE
        budget = ceiling[act] + splurge
        kid_rule = (~kids_now[:, None] | ideas.kid_ok[None, :]) & ideas.level_ok[None, :]
        feasible = (ideas.cost[None, :] <= budget[:, None]) & kid_rule
        empty = ~feasible.any(axis=1)
        if empty.any():
            feasible[empty] = kid_rule[empty]
            feasible[~feasible.any(axis=1)] = ideas.level_ok

        familiarity = recent[act][:, ideas.cat_idx] * np.float32(1.0 / max(min(t, RECENT), 1))
        U = u[act] + nu[act, None] * ideas.novelty[None, :] * (1.0 - familiarity)
        U -= rho[act, None] * wear[act]
        U -= season_penalty[season]
        U -= weather_penalty * bad[weather][:, None]
        routine = rng.random(m) < p_routine[act]
        go = goto[act] & feasible
        cf = comfort_idea[act] & feasible
        use_go = routine & go.any(axis=1)
        use_cf = routine & ~use_go & cf.any(axis=1)
        use_ex = ~use_go & ~use_cf
        chosen = np.empty(m, dtype=np.int64)
        for rows, mask, tau in ((use_go, go, TAU_ROUTINE), (use_cf, cf, TAU_ROUTINE),
                                (use_ex, feasible, TAU_EXPLORE)):
            if rows.any():
                chosen[rows] = _softmax_sample(U[rows] / tau + log_exposure, mask[rows], rng)

        u_total = U[np.arange(m), chosen]
        xi = X[chosen]
        ratings = []
        for delta in (delta_a, delta_b):
            r = u_total + np.einsum("ij,ij->i", delta[act], xi) + rng.normal(0.0, NOISE_SD, size=m)
            r = np.clip(np.round(r), 1.0, 5.0)
            r[rng.random(m) < MISSING] = np.nan
            ratings.append(r)

        counts[act, chosen] += 1
        wear[act, chosen] = np.log1p(counts[act, chosen])
        slot = t % RECENT
        old = ring[act, slot]
        had = old >= 0
        np.subtract.at(recent, (act[had], old[had]), 1)
        new_cat = ideas.cat_idx[chosen]
        np.add.at(recent, (act, new_cat), 1)
        ring[act, slot] = new_cat

        log["couple"].append(act + lo)
        log["idea"].append(chosen)
        log["day"].append(day[act].copy())
        log["rating_a"].append(ratings[0])
        log["rating_b"].append(ratings[1])
        log["weather"].append(weather)
        log["kids"].append(kids_now)
        gap = np.maximum(1, np.round(rng.normal(cadence[act], 0.3 * cadence[act]))).astype(np.int64)
        day[act] += gap

    sl = slice(lo, lo + n)
    state.b[sl], state.w[sl] = b, w
    state.delta[sl] = (delta_a + delta_b) / 2.0
    state.delta_a[sl], state.delta_b[sl] = delta_a, delta_b
    state.nu[sl], state.rho[sl] = nu, rho
    state.counts[sl], state.recent[sl] = counts, recent
    state.recent_len[sl] = np.minimum(n_dates, RECENT)
    records = {k: np.concatenate(v) for k, v in log.items()}
    profile = {
        "budget_ceiling": ceiling.astype(np.int64),
        "kids": kids,
        "interests": np.array(interests, dtype=object),
        "created": (EPOCH + created.astype("timedelta64[D]")),
    }
    return records, profile



def simulate(n_couples: int, seed: int = 0, catalog: Catalog | None = None,
             progress: bool = False, *, dates_per_couple: float | None = None,
             popularity_skew: float = 0.0) -> SimulatedWorld:
    """Simulate ``n_couples`` couples and their dates.

    Parameters
    ----------
    n_couples : int
        Number of couples, at least 1. Ids are ``c000000``, ``c000001``, ...
    seed : int, default 0
        Seeds every random choice; the same ``(n_couples, seed, catalog)``
        gives an identical world.
    catalog : Catalog, optional
        The ideas; default the shipped catalog (:func:`engine.domain.catalog.load_catalog`).
    progress : bool, default False
        Show a tqdm progress bar (on stderr) over couples.
    dates_per_couple : float >= 1, optional
        Mean dates per couple, drawn as ``1 + Poisson(dates_per_couple - 1)``
        (short histories: 5 gives most couples 2-8 dates). Default: the
        standard ``10 + Poisson(18)``.
    popularity_skew : float >= 0, default 0
        A long tail of exposure: each idea gets an exposure ``r^-s``, ``r``
        its place in a seeded random order (1 = most known), and every choice
        (go-to ideas, routine and exploratory dates) is drawn with probability
        proportional to exposure times the usual softmax. Exposure never
        touches enjoyment or the oracle: popular ideas are done more, not
        enjoyed more. 1 gives a Zipf-like tail (2,000 ideas, 6 dates per
        couple: the 10% most done ideas take 84% of the dates, and 44% of
        the ideas are never done); 0 = no skew.

    Returns
    -------
    SimulatedWorld
        ``.dates`` has about 28 rows per couple (``dates_per_couple`` when given).

    Raises
    ------
    ValueError
        If ``n_couples`` is not a positive integer, ``seed`` is negative,
        ``dates_per_couple`` is below 1 or ``popularity_skew`` negative.
    """
    if isinstance(n_couples, bool) or not isinstance(n_couples, (int, np.integer)) or n_couples < 1:
        raise ValueError(f"n_couples must be a positive integer, got {n_couples!r}; pass e.g. 1000")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if dates_per_couple is not None and not (isinstance(dates_per_couple, (int, float))
                                             and dates_per_couple >= 1):
        raise ValueError(f"dates_per_couple must be a number >= 1 (mean dates per couple), "
                         f"got {dates_per_couple!r}; try 5 for short histories")
    if not (isinstance(popularity_skew, (int, float)) and 0 <= popularity_skew <= 10):
        raise ValueError(f"popularity_skew must be a number from 0 (none) to 10, got {popularity_skew!r}; "
                         "1 gives a Zipf-like long tail")
    n_couples, seed = int(n_couples), int(seed)
    catalog = catalog if catalog is not None else load_catalog()
    ideas = _encode(catalog)
    n_ideas, n_feat = ideas.X.shape
    quality = np.random.default_rng([seed, 0]).normal(0.0, QUALITY_SD, size=n_ideas).astype(np.float32)
    exposure = None
    if popularity_skew > 0:
        place = np.random.default_rng([seed, 2]).permutation(n_ideas) + 1
        exposure = (-float(popularity_skew) * np.log(place)).astype(np.float32)
    state = _Couples(
        b=np.zeros(n_couples, np.float32), w=np.zeros((n_couples, n_feat), np.float32),
        delta=np.zeros((n_couples, n_feat), np.float32), delta_a=np.zeros((n_couples, n_feat), np.float32),
        delta_b=np.zeros((n_couples, n_feat), np.float32), nu=np.zeros(n_couples, np.float32),
        rho=np.zeros(n_couples, np.float32), counts=np.zeros((n_couples, n_ideas), np.int16),
        recent=np.zeros((n_couples, len(ideas.categories)), np.int16),
        recent_len=np.zeros(n_couples, np.int64),
    )
    logger.info("simulating %d couples over %d ideas (seed %d)", n_couples, n_ideas, seed)
    parts: list[dict[str, np.ndarray]] = []
    profiles: list[dict[str, np.ndarray]] = []
    with tqdm(total=n_couples, disable=not progress, unit="couple", desc="simulate") as bar:
        for block, lo in enumerate(range(0, n_couples, BLOCK_SIZE)):
            n = min(BLOCK_SIZE, n_couples - lo)
            rng = np.random.default_rng([seed, 1, block])
            records, profile = _simulate_block(ideas, quality, n, rng, state, lo,
                                               dates_per_couple=dates_per_couple, exposure=exposure)
            parts.append(records)
            profiles.append(profile)
            bar.update(n)

    ids = np.array([f"c{i:06d}" for i in range(n_couples)], dtype=object)
    rec = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((rec["day"], rec["couple"]))
    rec = {k: v[order] for k, v in rec.items()}
    days = EPOCH + rec["day"].astype("timedelta64[D]")
    weekday = (rec["day"] + 0) % 7  # 2024-01-01 is a Monday
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    season = ((months % 12) // 3 + 3) % 4
    dates = pd.DataFrame({
        "couple_id": pd.Categorical.from_codes(rec["couple"], categories=ids).astype(object),
        "idea_id": catalog.ids[rec["idea"]],
        "done_on": days.astype("datetime64[ns]"),
        "rating_a": rec["rating_a"],
        "rating_b": rec["rating_b"],
        "ctx_weekday": np.array(WEEKDAYS, dtype=object)[weekday],
        "ctx_season": np.array(SEASONS, dtype=object)[season],
        "ctx_weather": np.array(WEATHERS, dtype=object)[rec["weather"]],
        "ctx_kids": rec["kids"].astype(bool),
    })
    dates = as_dates_frame(dates)
    prof = {k: np.concatenate([p[k] for p in profiles]) for k in profiles[0]}
    couples = pd.DataFrame({
        "id": pd.Series(ids, dtype="str"),
        "budget_ceiling": prof["budget_ceiling"],
        "kids": prof["kids"].astype(bool),
        "interests": pd.Series(prof["interests"], dtype="str"),
        "created": pd.Series(prof["created"]).dt.strftime("%Y-%m-%d").astype("str"),
    })
    logger.info("simulated %d dates", len(dates))
    return SimulatedWorld(catalog, dates, couples, n_couples, seed, ideas, quality, state)
