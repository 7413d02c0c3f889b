"""Simulated couples with a known truth: tastes, a routine, a novelty response.

The simulator is the evaluation's ground truth. It draws couples, lets them
go on dates for a year or so, records what they did and how each partner
rated it, and keeps every latent variable so that :meth:`SimulatedWorld.expected_enjoyment`
can say how much a couple would *truly* enjoy any idea now (the oracle).

Generative model
----------------
Ideas (from the catalog, :mod:`engine.domain.catalog`)
    Each idea ``i`` becomes a vector ``x_i`` of encoded attributes. With the
    shipped catalog these are: ``category`` one-hot, ``setting`` one-hot,
    ``cost`` (0-3 scaled to 0-1), ``energy`` (1-3 scaled to 0-1),
    ``interactivity`` one-hot, ``company`` one-hot, ``pillars`` multi-hot and
    ``novelty`` (1-5 scaled to 0-1). Another catalog that has fewer than two
    of those attributes is encoded generically: every categorical as
    one-hot, ordinal as its scaled level, boolean as 0/1, numeric min-max
    scaled, multi as multi-hot (declared values or the 30 most frequent);
    text is ignored. The *category* used by the routine is the ``category``
    attribute, else the first categorical attribute with 2-50 values, else
    one category ``all``. Every idea has a quality ``q_i ~ N(0, 0.35^2)``
    shared by all couples.

Couples
    Taste ``w_c ~ N(0, s^2)`` per encoded feature (``s = 0.7`` on the category
    one-hot, ``0.3`` elsewhere), baseline ``b_c ~ N(2.6, 0.3^2)``. Latent
    utility ``u_ci = b_c + q_i + w_c . x_i``. Profile: budget ceiling 0-3
    (probabilities .1/.3/.4/.2), kids with probability 0.35, 2-3 *interests*
    (the categories they like most, with noise), ``created`` a little before
    their first date.

Novelty response (Aron et al. 2000)
    ``bonus_ci = nu_c * n_i * (1 - f_c(cat_i))`` with ``nu_c ~ U(0.8, 1.6)``,
    ``n_i = 0.5 (novelty-1)/4 + 0.25 [interactive] + 0.25 (energy-1)/2`` (only
    the parts the catalog has; 0.5 for a catalog with none of them) and
    ``f_c(k)`` the share of the couple's last 20 dates in category ``k``.
    Repeats wear off: ``- rho_c log(1 + times done)``, ``rho_c ~ U(0.3, 0.6)``.

Context
    Out of season (idea's ``seasons`` does not list the date's season): -1.0.
    Bad weather (rain, snow, storm) on a ``weather_dependent`` idea: -1.0.
    ``u_total = u + bonus - wear + context``.

Routine (the plateau)
    Each couple has 3 comfort categories, drawn without replacement with
    probability ``softmax(mean utility of the category / 0.3)`` among the
    categories they can afford, and 3-6 go-to ideas there (the affordable
    ones with the highest ``u``). Each date is a routine date with probability
    ``p_c ~ U(0.65, 0.85)``: a go-to idea drawn with ``softmax(u_total / 0.3)``
    among the feasible go-tos (else a feasible idea of a comfort category,
    else an exploratory date). Otherwise it is exploratory: a feasible idea
    drawn with ``softmax(u_total / 0.5)``.

Feasibility
    Cost at most the budget ceiling (5% of dates allow one tier more);
    on a date with kids only ``kid_friendly`` ideas. If nothing is feasible
    the budget is relaxed, then the kids rule.

Dates and context
    ``10 + Poisson(18)`` dates per couple, from a start day uniform over
    2024-2025, every ``cadence_c ~ U(7, 14)`` days (gap ``~ N(cadence, (0.3
    cadence)^2)``, at least 1). Context columns: ``ctx_weekday`` (monday ...),
    ``ctx_season`` (from the day, :func:`engine.domain.context.season_of`),
    ``ctx_weather`` (season-dependent probabilities over
    :data:`engine.domain.context.WEATHERS`), ``ctx_kids`` (couples with kids bring
    them on half their dates).

Ratings
    Partner ``p`` in ``{a, b}`` has an offset ``delta_p ~ N(0, 0.2^2)`` per
    feature. Rating ``= clip(round(u_total + delta_p . x_i + eps), 1, 5)``,
    ``eps ~ N(0, 0.5^2)``; each partner's rating is missing with probability
    0.08.

The oracle
    ``expected_enjoyment = clip(u + bonus - wear + context + (delta_a +
    delta_b)/2 . x_i, 1, 5)`` with familiarity and repeat counts from the
    couple's whole simulated history: the noise-free mean partner rating of
    the idea if they did it next.

Refinements of the original design, measured on a 300-idea catalog: the
baseline is 2.6 rather than 3.2 because couples mostly do what they like
and enjoy the novelty bonus, which already lifts observed ratings to a mean
of about 4.0 (3.2 put half of all ratings at 5); the partner offsets have
sd 0.2 rather than 0.25 so partners correlate at about 0.57 rather than
0.50; nu and rho are a little larger (0.8-1.6 and 0.3-0.6 rather than
0.6-1.4 and 0.2-0.5) so the novelty effect survives the clipping at 5 (a
well-matched new idea beats the most repeated one for about 70% of couples,
rather than 55%).

Couples are simulated in blocks of 10,000 (one vectorised pass per date
step, over all couples of the block), each block with a random generator
seeded by ``(seed, block)``, so the world is a function of ``(n_couples,
seed, catalog)`` and memory stays bounded per block.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..domain.catalog import Catalog, load_catalog
from ..domain.context import BAD_WEATHER, SEASONS, WEATHERS, Context, season_of
from ..domain.context import WEEKDAYS as _WEEKDAYS
from ..domain.dates import as_dates_frame

__all__ = ["SimulatedWorld", "simulate", "BLOCK_SIZE", "generate_catalog", "usage_counts",
           "without_attributes"]

logger = logging.getLogger(__name__)

#: couples simulated together (one random generator per block)
BLOCK_SIZE = 10_000

_TASTE_ATTRIBUTES = ("category", "setting", "cost", "energy", "interactivity", "company",
                     "pillars", "novelty")
_CATEGORY_SD = 0.7
_OTHER_SD = 0.3
_QUALITY_SD = 0.35
_BASELINE = (2.6, 0.3)
_PARTNER_SD = 0.2
_NOISE_SD = 0.5
_MISSING = 0.08
_RECENT = 20
_N_COMFORT = 3
_TAU_EXPLORE = 0.5
_TAU_ROUTINE = 0.3
_TAU_COMFORT = 0.3
_CONTEXT_PENALTY = 1.0
_NU_RANGE = (0.8, 1.6)
_RHO_RANGE = (0.3, 0.6)
_KIDS_SHARE = 0.35
_KIDS_ALONG = 0.5
_SPLURGE = 0.05
_BUDGET_P = (0.1, 0.3, 0.4, 0.2)
_EPOCH = np.datetime64("2024-01-01", "D")
_START_SPAN_DAYS = 731
#: P(weather | season), rows in SEASONS order, columns in WEATHERS order
#: (clear, cloudy, hot, cold, rain, snow, storm)
_WEATHER_P = np.array([
    [0.35, 0.30, 0.05, 0.05, 0.20, 0.00, 0.05],  # spring
    [0.45, 0.15, 0.25, 0.00, 0.10, 0.00, 0.05],  # summer
    [0.30, 0.30, 0.00, 0.10, 0.25, 0.02, 0.03],  # autumn
    [0.25, 0.25, 0.00, 0.25, 0.10, 0.13, 0.02],  # winter
])


@dataclass
class _Ideas:
    """The catalog as arrays the simulator works with."""

    X: np.ndarray            # (n_ideas, n_features) float32
    scales: np.ndarray       # (n_features,) taste sd
    feature_names: list[str]
    categories: list[str]
    cat_idx: np.ndarray      # (n_ideas,) int
    novelty: np.ndarray      # (n_ideas,) float32, n_i
    cost: np.ndarray         # (n_ideas,) int (0 when the catalog has no cost)
    kid_ok: np.ndarray       # (n_ideas,) bool
    weather_dep: np.ndarray  # (n_ideas,) bool
    season_ok: np.ndarray    # (n_ideas, 4) bool, SEASONS order


def _levels(spec, column: pd.Series) -> list[str]:
    if spec.kind == "multi":
        if spec.values:
            return list(spec.values)
        counts = Counter(v for vals in column for v in vals)
        return [v for v, _ in counts.most_common(30)]
    if spec.values:
        return list(spec.values)
    return sorted({str(v) for v in column if v is not None and v != ""})


def _encode(catalog: Catalog) -> _Ideas:
    frame, schema = catalog.frame, catalog.schema
    n = len(frame)
    if n == 0:
        raise ValueError("the catalog has no ideas; the simulator needs at least one")
    present = [a for a in _TASTE_ATTRIBUTES if a in schema]
    if len(present) >= 2:
        names = present
    else:
        names = [a for a in schema.names() if schema[a].kind != "text"]
    blocks: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    feature_names: list[str] = []

    if "category" in schema and schema["category"].kind == "categorical":
        cat_attr = "category"
    else:
        cat_attr = next((a for a in schema.names("categorical")
                         if 2 <= len(_levels(schema[a], frame[a])) <= 50), None)

    for name in names:
        spec, col = schema[name], frame[name]
        sd = _CATEGORY_SD if name == cat_attr else _OTHER_SD
        if spec.kind in ("categorical", "multi"):
            levels = _levels(spec, col)
            if not levels:
                continue
            pos = {v: j for j, v in enumerate(levels)}
            block = np.zeros((n, len(levels)), dtype=np.float32)
            for i, value in enumerate(col):
                values = value if spec.kind == "multi" else (value,)
                for v in values:
                    j = pos.get(str(v))
                    if j is not None:
                        block[i, j] = 1.0
            feature_names += [f"{name}={v}" for v in levels]
        elif spec.kind == "ordinal":
            order = list(spec.order)
            denom = max(len(order) - 1, 1)
            block = np.array([[order.index(str(v)) / denom] for v in col], dtype=np.float32)
            feature_names.append(name)
        elif spec.kind == "boolean":
            block = col.astype(bool).to_numpy(dtype=np.float32).reshape(-1, 1)
            feature_names.append(name)
        elif spec.kind == "numeric":
            vals = col.astype(float).to_numpy()
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            block = ((vals - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32).reshape(-1, 1)
            feature_names.append(name)
        else:
            continue
        blocks.append(block)
        scales.append(np.full(block.shape[1], sd, dtype=np.float32))
    X = np.hstack(blocks) if blocks else np.zeros((n, 0), dtype=np.float32)
    scale = np.concatenate(scales) if scales else np.zeros(0, dtype=np.float32)

    if cat_attr is not None:
        categories = _levels(schema[cat_attr], frame[cat_attr])
        pos = {v: j for j, v in enumerate(categories)}
        cat_idx = np.array([pos[str(v)] for v in frame[cat_attr]], dtype=np.int64)
    else:
        categories, cat_idx = ["all"], np.zeros(n, dtype=np.int64)

    parts = []
    if "novelty" in schema and schema["novelty"].kind == "ordinal":
        order = list(schema["novelty"].order)
        parts.append(0.5 * np.array([order.index(str(v)) for v in frame["novelty"]]) / max(len(order) - 1, 1))
    if "interactivity" in schema:
        parts.append(0.25 * (frame["interactivity"].astype(str) == "interactive").to_numpy(dtype=float))
    if "energy" in schema and schema["energy"].kind == "ordinal":
        order = list(schema["energy"].order)
        parts.append(0.25 * np.array([order.index(str(v)) for v in frame["energy"]]) / max(len(order) - 1, 1))
    novelty = (np.sum(parts, axis=0) if parts else np.full(n, 0.5)).astype(np.float32)

    if "cost" in schema and schema["cost"].kind in ("ordinal", "numeric"):
        if schema["cost"].kind == "ordinal":
            cost = np.array([schema["cost"].order.index(str(v)) for v in frame["cost"]], dtype=np.int64)
        else:
            cost = frame["cost"].astype(float).round().to_numpy(dtype=np.int64)
    else:
        cost = np.zeros(n, dtype=np.int64)
    kid_ok = (frame["kid_friendly"].astype(bool).to_numpy() if "kid_friendly" in schema
              and schema["kid_friendly"].kind == "boolean" else np.ones(n, dtype=bool))
    weather_dep = (frame["weather_dependent"].astype(bool).to_numpy() if "weather_dependent" in schema
                   and schema["weather_dependent"].kind == "boolean" else np.zeros(n, dtype=bool))
    season_ok = np.ones((n, len(SEASONS)), dtype=bool)
    if "seasons" in schema and schema["seasons"].kind == "multi":
        for i, vals in enumerate(frame["seasons"]):
            if vals:
                season_ok[i] = [s in vals for s in SEASONS]
    return _Ideas(X=X, scales=scale, feature_names=feature_names, categories=categories,
                  cat_idx=cat_idx, novelty=novelty, cost=cost, kid_ok=kid_ok,
                  weather_dep=weather_dep, season_ok=season_ok)


@dataclass
class _Couples:
    """Latent variables and final state of the simulated couples (all arrays, one row per couple)."""

    b: np.ndarray          # (n,)
    w: np.ndarray          # (n, n_features)
    delta: np.ndarray      # (n, n_features) mean partner offset (delta_a + delta_b) / 2
    delta_a: np.ndarray    # (n, n_features) partner a's own offset
    delta_b: np.ndarray    # (n, n_features) partner b's own offset
    nu: np.ndarray         # (n,)
    rho: np.ndarray        # (n,)
    counts: np.ndarray     # (n, n_ideas) int16, times each idea was done
    recent: np.ndarray     # (n, n_categories) int16, category counts over the last 20 dates
    recent_len: np.ndarray  # (n,) int

    @property
    def half_gap(self) -> np.ndarray:
        """(n, n_features) (delta_a - delta_b) / 2: partner a = delta + half_gap, b = delta - half_gap."""
        return (self.delta_a - self.delta_b) / 2.0


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
    b = rng.normal(*_BASELINE, size=n).astype(np.float32)
    w = (rng.normal(size=(n, n_feat)) * ideas.scales).astype(np.float32)
    delta_a = rng.normal(0.0, _PARTNER_SD, size=(n, n_feat)).astype(np.float32)
    delta_b = rng.normal(0.0, _PARTNER_SD, size=(n, n_feat)).astype(np.float32)
    nu = rng.uniform(*_NU_RANGE, size=n).astype(np.float32)
    rho = rng.uniform(*_RHO_RANGE, size=n).astype(np.float32)
    p_routine = rng.uniform(0.65, 0.85, size=n)
    ceiling = rng.choice(4, size=n, p=_BUDGET_P)
    kids = rng.random(n) < _KIDS_SHARE
    if dates_per_couple is None:
        n_dates = 10 + rng.poisson(18, size=n)
    else:  # short histories: mean dates_per_couple, at least one
        n_dates = 1 + rng.poisson(max(dates_per_couple - 1.0, 0.0), size=n)
    # log exposure of each idea (how widely it is known), added to every choice, never to enjoyment
    log_exposure = np.zeros(n_ideas, dtype=np.float32) if exposure is None else exposure
    start = rng.integers(0, _START_SPAN_DAYS, size=n)
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
    k_comfort = min(_N_COMFORT, n_cat)
    comfort = _gumbel_top(cat_taste / _TAU_COMFORT, cat_affordable, k_comfort, rng)  # (n, k)
    in_comfort_cat = np.zeros((n, n_cat), dtype=bool)
    np.put_along_axis(in_comfort_cat, comfort, True, axis=1)
    comfort_idea = in_comfort_cat[:, ideas.cat_idx]  # (n, n_ideas)
    candidates = comfort_idea & affordable
    candidates |= comfort_idea & ~candidates.any(axis=1, keepdims=True)
    n_goto = rng.integers(3, 7, size=n)
    goto_score = u if exposure is None else u / _TAU_ROUTINE + log_exposure
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
    season_penalty = (_CONTEXT_PENALTY * ~ideas.season_ok.T).astype(np.float32)  # (4, n_ideas)
    weather_penalty = (_CONTEXT_PENALTY * ideas.weather_dep).astype(np.float32)[None, :]
    recent = np.zeros((n, n_cat), dtype=np.int16)
    ring = np.full((n, _RECENT), -1, dtype=np.int64)
    day = start.copy()
    log_keys = ("couple", "idea", "day", "rating_a", "rating_b", "weather", "kids")
    log: dict[str, list[np.ndarray]] = {k: [] for k in log_keys}
    weather_cum = np.cumsum(_WEATHER_P, axis=1)
    bad = np.array([w_ in BAD_WEATHER for w_ in WEATHERS])

    for t in range(int(n_dates.max())):
        act = np.flatnonzero(n_dates > t)
        m = len(act)
        days = _EPOCH + day[act].astype("timedelta64[D]")
        months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        season = ((months % 12) // 3 + 3) % 4
        weather = (rng.random(m)[:, None] > weather_cum[season]).sum(axis=1)
        weather = np.minimum(weather, len(WEATHERS) - 1)
        kids_now = kids[act] & (rng.random(m) < _KIDS_ALONG)
        splurge = rng.random(m) < _SPLURGE
        budget = ceiling[act] + splurge
        kid_rule = ~kids_now[:, None] | ideas.kid_ok[None, :]
        feasible = (ideas.cost[None, :] <= budget[:, None]) & kid_rule
        empty = ~feasible.any(axis=1)
        if empty.any():
            feasible[empty] = kid_rule[empty]
            feasible[~feasible.any(axis=1)] = True

        familiarity = recent[act][:, ideas.cat_idx] * np.float32(1.0 / max(min(t, _RECENT), 1))
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
        for rows, mask, tau in ((use_go, go, _TAU_ROUTINE), (use_cf, cf, _TAU_ROUTINE),
                                (use_ex, feasible, _TAU_EXPLORE)):
            if rows.any():
                chosen[rows] = _softmax_sample(U[rows] / tau + log_exposure, mask[rows], rng)

        u_total = U[np.arange(m), chosen]
        xi = X[chosen]
        ratings = []
        for delta in (delta_a, delta_b):
            r = u_total + np.einsum("ij,ij->i", delta[act], xi) + rng.normal(0.0, _NOISE_SD, size=m)
            r = np.clip(np.round(r), 1.0, 5.0)
            r[rng.random(m) < _MISSING] = np.nan
            ratings.append(r)

        counts[act, chosen] += 1
        wear[act, chosen] = np.log1p(counts[act, chosen])
        slot = t % _RECENT
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
    state.recent_len[sl] = np.minimum(n_dates, _RECENT)
    records = {k: np.concatenate(v) for k, v in log.items()}
    profile = {
        "budget_ceiling": ceiling.astype(np.int64),
        "kids": kids,
        "interests": np.array(interests, dtype=object),
        "created": (_EPOCH + created.astype("timedelta64[D]")),
    }
    return records, profile


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

    @property
    def categories(self) -> list[str]:
        """The routine categories of the catalog (values of its category attribute)."""
        return list(self._ideas.categories)

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
                value = value - _CONTEXT_PENALTY * ~ideas.season_ok[cols, SEASONS.index(season)][None, :]
            if context.weather in BAD_WEATHER:
                value = value - _CONTEXT_PENALTY * ideas.weather_dep[cols][None, :]
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
        order = np.argsort(-per_cat, axis=1, kind="stable")[:, :_N_COMFORT]
        return [[ideas.categories[k] for k in order[r] if per_cat[r, k] > 0] for r in range(len(rows))]


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
    quality = np.random.default_rng([seed, 0]).normal(0.0, _QUALITY_SD, size=n_ideas).astype(np.float32)
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
    days = _EPOCH + rec["day"].astype("timedelta64[D]")
    weekday = (rec["day"] + 0) % 7  # 2024-01-01 is a Monday
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    season = ((months % 12) // 3 + 3) % 4
    dates = pd.DataFrame({
        "couple_id": pd.Categorical.from_codes(rec["couple"], categories=ids).astype(object),
        "idea_id": catalog.ids[rec["idea"]],
        "done_on": days.astype("datetime64[ns]"),
        "rating_a": rec["rating_a"],
        "rating_b": rec["rating_b"],
        "ctx_weekday": np.array(_WEEKDAYS, dtype=object)[weekday],
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


# --------------------------------------------------------------------------- generation options

#: share of a generated idea's attributes redrawn from another idea (the rest copy its template)
_GENERATED_MIX = 0.3


def generate_catalog(n_ideas: int, seed: int = 0, base: Catalog | None = None) -> Catalog:
    """A catalog of ``n_ideas`` generated ideas with the schema of ``base``.

    Each idea copies the attributes of a random ``base`` idea (its template)
    and redraws each attribute, with probability 0.3, from another random
    idea, so the attribute combinations are realistic but new. Ids are
    ``g00000``, ``g00001``, ...; the title is the template's with a number,
    the description the template's; ``text`` attributes and ``location`` are empty.

    Parameters
    ----------
    n_ideas : int >= 1
    seed : int, default 0
    base : Catalog, optional
        Default: the shipped catalog.
    """
    if isinstance(n_ideas, bool) or not isinstance(n_ideas, (int, np.integer)) or n_ideas < 1:
        raise ValueError(f"n_ideas must be a positive integer, got {n_ideas!r}; try 2000")
    base = base if base is not None else load_catalog()
    rng = np.random.default_rng([seed, 3])
    frame = base.frame
    template = rng.integers(0, len(frame), size=n_ideas)
    out = {"title": [f"{t} #{i}" for i, t in enumerate(frame["title"].to_numpy()[template])],
           "description": list(frame["description"].to_numpy()[template])}
    for name in base.schema.names():
        kind = base.schema[name].kind
        if kind == "text":
            out[name] = [""] * n_ideas
        elif kind == "location":
            out[name] = [None] * n_ideas
        else:
            other = rng.integers(0, len(frame), size=n_ideas)
            pick = np.where(rng.random(n_ideas) < _GENERATED_MIX, other, template)
            out[name] = list(frame[name].to_numpy()[pick])
    ids = pd.Index([f"g{i:05d}" for i in range(n_ideas)], name=frame.index.name or "id")
    return Catalog(pd.DataFrame(out, index=ids)[list(frame.columns)], base.schema)


def without_attributes(catalog: Catalog) -> Catalog:
    """The same ideas with ids and titles only (an empty schema): a purely collaborative catalog."""
    from ..domain.schema import Schema

    return Catalog(catalog.frame[["title", "description"]].copy(),
                   Schema(attributes={}, extra=dict(catalog.schema.extra)))


def usage_counts(dates: pd.DataFrame) -> pd.DataFrame:
    """Dates turned into usage data: one row per (couple, idea) with a ``count``.

    ``count`` = the sum, over the couple's dates of the idea, of the date's
    mean partner rating rounded (3 when neither rated): an engagement count
    that grows both with doing an idea again and with enjoying it. Undated
    (no ``done_on``), in couple then idea order.
    """
    from ..domain.dates import mean_rating

    rating = np.nan_to_num(mean_rating(dates), nan=3.0)
    frame = pd.DataFrame({"couple_id": dates["couple_id"].astype(str).to_numpy(),
                          "idea_id": dates["idea_id"].astype(str).to_numpy(),
                          "count": np.maximum(np.round(rating), 1.0)})
    out = frame.groupby(["couple_id", "idea_id"], sort=True)["count"].sum().reset_index()
    out["count"] = out["count"].astype(np.int64)
    return out


def dataset_variant(world: SimulatedWorld, *, no_attributes: bool = False,
                    counts: bool = False) -> SimulatedWorld:
    """The same world seen through another dataset shape (the truth is unchanged).

    ``no_attributes``: the catalog keeps ids and titles only
    (:func:`without_attributes`); the couples still chose by the hidden
    attributes. ``counts``: the dates become usage data (:func:`usage_counts`)
    read back as the import format reads ``count``
    (:func:`engine.domain.dataset.ratings_from_counts`, on 1-5). Returns a new world
    sharing the latent state; ``expected_enjoyment`` is the same oracle.
    """
    import copy

    from ..domain.dataset import ratings_from_counts

    out = copy.copy(world)
    if no_attributes:
        out.catalog = without_attributes(world.catalog)
    if counts:
        usage = usage_counts(world.dates)
        rating = ratings_from_counts(usage["couple_id"].to_numpy(), usage["count"].to_numpy(dtype=float))
        out.dates = as_dates_frame(pd.DataFrame({"couple_id": usage["couple_id"],
                                                 "idea_id": usage["idea_id"], "rating": rating}))
        out.usage = usage
    return out
