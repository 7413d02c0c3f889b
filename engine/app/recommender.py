"""The recommender facade: what the service, the CLI and the newsletter call.

They never reach into features or model internals; every suggestion, single
or batch, goes through :meth:`EnjoymentModel.rank` - one scoring path.

Caches (per :class:`Recommender`, so per loaded model and per process)
----------------------------------------------------------------------
When tonight's history comes as :class:`~engine.domain.dates.CoupleDates` (what the
store reads for a request), two small LRU maps skip work already done:

* the couple's scored ideas (enjoyment, pair features, history summary), keyed
  by couple and day and valid only while the couple's ``CoupleDates`` (rows and
  stated profile) compare equal to the ones they were computed from;
* tonight's ranked list, keyed by couple, resolved context, list length,
  exclusions, recent-suggestion weights and seed, again valid only for an equal
  ``CoupleDates``.

Both are pure memoisation: every input of the computation is in the key or
compared, so an answer from the cache is the answer the model would compute.
A new date changes the rows (a miss), a new day is a new key, and a promoted
model is a new ``Recommender`` with empty caches. Callers pass the rows they
just read; nothing here reads the database.
"""

from __future__ import annotations

import datetime as _dt
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..domain.catalog import Catalog, load_catalog
from ..domain.context import Context
from ..domain.dates import CoupleDates, as_dates_frame, empty_dates
from ..domain.memo import Memo
from ..domain.profiles import NO_PROFILE, Profiles
from ..learning.registry import Registry
from .reasons import explain

__all__ = ["Recommender", "Suggestion"]

_EPOCH = _dt.date(1970, 1, 1)
#: couples x ideas scored together in one pass of a large batch. A block's pair features (58
#: float32 values a cell, 23 MB) stay under glibc's largest mmap threshold (32 MiB), so each block
#: reuses the memory the last one freed instead of faulting in fresh pages, and its planes stay
#: nearer the cache: a 2,000-couple newsletter chunk at 367 ideas took 0.68-0.77 ms of CPU a couple
#: in one pass, 0.46 in blocks (the same picks: every couple is scored on its own rows)
_BLOCK_CELLS = 100_000


def _couple_blocks(dates: pd.DataFrame, couple_ids: list[str], size: int
                   ) -> Iterable[tuple[pd.DataFrame, slice]]:
    """``dates`` split into the rows of ``couple_ids[block]`` for consecutive blocks of ``size``
    couples (each couple's rows in their input order; rows of other couples dropped)."""
    codes = pd.Index(couple_ids).get_indexer(dates["couple_id"].astype(str))  # -1: not asked for
    block = np.where(codes >= 0, codes // size, -1)
    order = np.argsort(block, kind="stable")
    bounds = np.searchsorted(block[order], np.arange(-(-len(couple_ids) // size) + 1))
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        yield dates.iloc[order[lo:hi]], slice(b * size, (b + 1) * size)


@dataclass
class Suggestion:
    """One suggested idea.

    Attributes
    ----------
    idea_id, title : str
    rank : int
        1 = the suggestion, 2.. = alternatives.
    score : float
        The ranking score at the idea's place: enjoyment (scaled to the
        couple's best) less repeat and diversity penalties; for tonight's two
        alternatives also traded against breaking the routine
        (``routine_weight``), so it need not fall along the list.
    enjoyment : float
        Predicted probability the couple rates it relevant (0-1).
    routine_distance : float
        How far it is from the couple's recent routine (0-1).
    reasons : list of str
        One or two plain-language reasons.
    cold_start : bool
        True when the couple had no history and the suggestion comes from
        the priors alone.
    prompt : dict, optional
        ``{"id", "text", "depth", "pillar"}``: something to talk about on the
        date (set by :func:`engine.practice.prompts.attach_prompts`); in ``to_dict``
        only when set.
    """

    idea_id: str
    title: str
    rank: int
    score: float
    enjoyment: float
    routine_distance: float
    reasons: list[str] = field(default_factory=list)
    cold_start: bool = False
    prompt: dict | None = None

    def to_dict(self) -> dict:
        out = {"idea_id": self.idea_id, "title": self.title, "rank": self.rank,
               "score": round(float(self.score), 4), "enjoyment": round(float(self.enjoyment), 4),
               "routine_distance": round(float(self.routine_distance), 4),
               "reasons": list(self.reasons), "cold_start": self.cold_start}
        if self.prompt is not None:
            out["prompt"] = dict(self.prompt)
        return out

    def copy(self) -> Suggestion:
        """An independent copy (its own reasons list)."""
        return replace(self, reasons=list(self.reasons))


#: the most memory one worker's cache of couples' scored ideas takes (bytes): 64 couples at 1,000
#: ideas fit (21 MB), one at 50,000 (17 MB; 64 MiB kept 3 there, a third of the worker's goal of 400)
SCORED_CACHE_BYTES = 24 * 2**20
#: a couple's Histories keep this many float64 values per idea (done, liked, ..., each partner's liked)
_HISTORY_PLANES = 11


def _couples_in_budget(model, cache_couples: int) -> int:
    """How many couples' scored ideas to keep: ``cache_couples``, fewer when they would not fit
    in :data:`SCORED_CACHE_BYTES` (never fewer than one while the cache is on)."""
    if cache_couples <= 0:
        return cache_couples
    n_ideas, n_features = len(model.featurizer_.group_of_), len(model.feature_names_)
    # both partners' enjoyment (float64), the features (float32), the history's planes (11 float64)
    per_couple = n_ideas * (2 * 8 + n_features * 4 + _HISTORY_PLANES * 8)
    return max(1, min(cache_couples, SCORED_CACHE_BYTES // per_couple))


def _day_number(day: _dt.date) -> int:
    return (day - _EPOCH).days


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


class _Reasons:
    """Reasons for a ranked block's suggestions, worked out for the ones a caller keeps.

    It holds the block's :class:`Ranked` (each couple's histories: arrays as long as the catalog), so
    it lives only while a block is being explained and is never cached: a cached tonight list holds
    its suggestions, explained. (Kept lazily in the list cache, it made a 50,000-idea worker grow by
    ~5 MB a fresh request, to 1.6 GB in 250 requests.)
    """

    def __init__(self, model, ranked, day: int, where: dict[tuple[str, str], tuple[int, int, int]]):
        self._model, self._ranked, self._day, self._where = model, ranked, day, where

    def fill(self, couple_id: str, s: Suggestion) -> None:
        """Add ``s``'s reasons (a suggestion of this block for ``couple_id``) after any it has, two in all."""
        r, j, p = self._where[couple_id, s.idea_id]
        ranked = self._ranked
        s.reasons = (list(s.reasons) + explain(
            self._model, ranked.histories, r, p, ranked.features[r, j], as_of_day=self._day,
            partners=ranked.partners[r, j], favourite=ranked.favourite[r], routine=ranked.routine))[:2]


class Recommender:
    """A fitted model, its version, and the catalog it ranks.

    Parameters
    ----------
    model : EnjoymentModel
        Fitted.
    version : str
        Registry version name (or any label).
    cache_couples : int, default=64
        Couples whose scored ideas are kept, at most: as many as fit in
        :data:`SCORED_CACHE_BYTES` (a couple's scores take about 0.34 MB with
        1,000 ideas, 17 MB with 50,000: 64 couples, or 1); 0 switches both
        caches off.
    cache_lists : int, default=1024
        Tonight's ranked lists kept.
    """

    def __init__(self, model, version: str, cache_couples: int = 64, cache_lists: int = 1024):
        self.model = model
        self.version = version
        self.cache_couples = cache_couples
        self.cache_lists = cache_lists
        self._scored = Memo(_couples_in_budget(model, cache_couples))
        self._ranked = Memo(cache_lists)

    def cache_info(self) -> dict[str, int]:
        """Hits and misses of this recommender's caches (this process)."""
        return {"lists_hits": self._ranked.hits, "lists_misses": self._ranked.misses,
                "scored_hits": self._scored.hits, "scored_misses": self._scored.misses}

    @classmethod
    def load(cls, model_dir: str | Path, catalog: Catalog | None = None,
             version: str | None = None) -> Recommender:
        """Load the live (or given) version from a registry folder.

        Raises ``NoModelError`` / ``ArtifactError`` (see :mod:`engine.learning.registry`).
        """
        catalog = catalog if catalog is not None else load_catalog()
        model, card = Registry(model_dir).load(version, catalog=catalog)
        return cls(model, card["version"])

    @property
    def catalog(self) -> Catalog:
        return self.model.catalog_

    def tonight(self, couple_id: str, history: pd.DataFrame | CoupleDates, context: Context, k: int = 3, *,
                exclude: Iterable[str] = (), recently_suggested: Mapping[str, float] | None = None,
                offset: int = 0, seed: int | None = None) -> list[Suggestion]:
        """Tonight's suggestion and alternatives for one couple.

        Parameters
        ----------
        couple_id : str
        history : DataFrame or CoupleDates
            The couple's dates (dates frame, may be empty; or the rows the
            store read, which lets the caches answer - see the module notes).
        context : Context
            Tonight's constraints.
        k : int, default=3
            How many ideas (the suggestion plus ``k - 1`` alternatives).
        exclude : iterable of str
            Ideas never to suggest.
        recently_suggested : mapping idea id -> weight in [0, 1], optional
            Served recently; penalised so they are not repeated by accident.
        offset : int, default=0
            Skip this many top ideas ("another idea").
        seed : int, optional
            Exploration seed; default is stable per couple and day, so the
            same request twice in a day gives the same answer.
        """
        return self.tonight_cached(couple_id, history, context, k, exclude=exclude,
                                   recently_suggested=recently_suggested, offset=offset, seed=seed)[0]

    def tonight_cached(self, couple_id: str, history: pd.DataFrame | CoupleDates, context: Context,
                       k: int = 3, *, exclude: Iterable[str] = (),
                       recently_suggested: Mapping[str, float] | None = None,
                       offset: int = 0, seed: int | None = None) -> tuple[list[Suggestion], bool]:
        """:meth:`tonight`, and whether the ranked list came from the cache.

        Only a :class:`~engine.domain.dates.CoupleDates` history can be answered
        from the cache (equal to the one the list was ranked from).
        The suggestions returned are the caller's own (never the cached
        objects), free to modify.
        """
        ranked, cached = self._ranked_list(couple_id, history, context, k, exclude, recently_suggested, offset, seed)
        return [s.copy() for s in ranked], cached

    def tonight_window(self, couple_id: str, history: pd.DataFrame | CoupleDates, context: Context,
                       depth: int, n: int, k: int, *, exclude: Iterable[str] = (),
                       recently_suggested: Mapping[str, float] | None = None) -> tuple[list[Suggestion], int, bool]:
        """``k`` ideas from position ``n`` (wrapping round) of the top-``depth`` list: ``(picks, offset, cached)``.

        The list is :meth:`tonight_cached`'s (cached alike, every pick explained when it is ranked:
        the serving path asks for lists only a power of two past the window,
        :func:`engine.app.serving._list_depth`), but only the ``k`` picks are copied for the caller;
        ``offset = n % len(list)`` (0 for an empty list). The picks keep their rank in the list.
        ``exclude``: ideas never to suggest (the couple's "not for us"), part of the cache key.
        """
        ranked, cached = self._ranked_list(couple_id, history, context, depth, exclude, recently_suggested, 0, None)
        offset = n % len(ranked) if ranked else 0
        return [s.copy() for s in ranked[offset:offset + k]], offset, cached

    def _ranked_list(self, couple_id: str, history: pd.DataFrame | CoupleDates, context: Context, k: int,
                     exclude: Iterable[str], recently_suggested: Mapping[str, float] | None, offset: int,
                     seed: int | None) -> tuple[list[Suggestion], bool]:
        """The ranked list, explained (the cached objects themselves: callers copy what they hand out),
        and whether it came from the cache. The cache keeps the suggestions only, nothing as long as
        the catalog."""
        ctx = context.resolved()
        if seed is None:
            seed = _stable_seed(couple_id, ctx.day.isoformat())
        exclude = frozenset(exclude)
        weights = dict(recently_suggested or {})
        cacheable = self.cache_lists > 0 and isinstance(history, CoupleDates) and history.couple_id == couple_id
        if cacheable:
            key = (couple_id, ctx, int(k), int(offset), exclude, tuple(sorted(weights.items())), int(seed))
            found = self._ranked.get(key, history)
            if found is not None:
                return found, True
        day = _day_number(ctx.day)
        dates, scored, profiles = self._prepared(history, [couple_id], day, None)
        out, reasons = self._ranked_batch(dates, [couple_id], ctx, day, k + offset, {couple_id: set(exclude)},
                                          {couple_id: weights}, False, [seed], scored, profiles)
        picks = out[couple_id][offset:]
        for i, s in enumerate(picks):
            reasons.fill(couple_id, s)
            s.rank = i + 1
        if cacheable:
            self._ranked.put(key, history, picks)
        return picks, False

    def batch(self, dates: pd.DataFrame | CoupleDates, couple_ids: Sequence[str], context: Context, k: int = 3, *,
              exclude: Mapping[str, set[str]] | None = None,
              recently_suggested: Mapping[str, Mapping[str, float]] | None = None,
              distinct_categories: bool = True,
              seeds: Sequence[int] | None = None,
              profiles: Profiles | None = None,
              keep: Callable[[dict[str, list[Suggestion]]], dict[str, list[Suggestion]]] | None = None
              ) -> dict[str, list[Suggestion]]:
        """Suggestions for many couples at once (vectorised; used by the newsletter).

        Parameters
        ----------
        dates : DataFrame or CoupleDates
            Dates of these couples (others are ignored).
        couple_ids : sequence of str
        context : Context
            Shared by all couples (e.g. the coming weekend evening).
        k : int
        exclude : mapping couple -> set of idea ids, optional
        recently_suggested : mapping couple -> {idea id: weight}, optional
        distinct_categories : bool, default=True
            No two picks of the same category.
        seeds : sequence of int, optional
            One exploration seed per couple (default: stable per couple and day).
        profiles : mapping couple id -> Profile, optional
            Stated profiles (default: none, or a CoupleDates' own).
        keep : callable, optional
            Given every couple's ranked suggestions before they are explained, returns the ones
            to keep (couple id -> list, e.g. :func:`engine.practice.pillars.balance_picks`); only
            those are explained, after any reason ``keep`` gave them (two in all). Default: all.

        Returns
        -------
        dict couple id -> list of Suggestion (best first; may be shorter than
        ``k`` when the constraints leave fewer ideas).
        """
        ctx = context.resolved()
        couple_ids = [str(c) for c in couple_ids]
        day = _day_number(ctx.day)
        dates, scored, profiles = self._prepared(dates, couple_ids, day, profiles)
        if seeds is None:
            seeds = [_stable_seed(c, ctx.day.isoformat()) for c in couple_ids]
        size = max(1, _BLOCK_CELLS // max(1, len(self.catalog.ids)))
        if isinstance(dates, pd.DataFrame) and len(couple_ids) > size and len(set(couple_ids)) == len(couple_ids):
            result: dict[str, list[Suggestion]] = {}
            seeds = list(seeds)
            for rows, block in _couple_blocks(dates, couple_ids, size):
                result.update(self.batch(rows, couple_ids[block], context, k, exclude=exclude,
                                         recently_suggested=recently_suggested,
                                         distinct_categories=distinct_categories, seeds=seeds[block],
                                         profiles=profiles, keep=keep))
            return result
        result, reasons = self._ranked_batch(dates, couple_ids, ctx, day, k, exclude, recently_suggested,
                                             distinct_categories, seeds, scored, profiles)
        if keep is not None:
            result = keep(result)
        for c, picks in result.items():
            for s in picks:
                reasons.fill(c, s)
        return result

    def _prepared(self, dates: pd.DataFrame | CoupleDates, couple_ids: list[str], day: int,
                  profiles: Profiles | None) -> tuple[pd.DataFrame | CoupleDates, Any, Profiles | None]:
        """The dates to rank from, the couple's scored ideas when the cache has (or now keeps) them,
        and the profiles still to apply: a :class:`CoupleDates` carries its couple's profile."""
        if not isinstance(dates, CoupleDates):
            return (as_dates_frame(dates) if "couple_id" in dates else empty_dates()), None, profiles
        if profiles is not None:  # the mapping wins; carried by the CoupleDates, so the cache keys on it
            dates = replace(dates, profile=profiles.get(dates.couple_id, NO_PROFILE))
            profiles = None
        scored = None
        # every idea's scores serve every context of the day; a model that scores only the
        # candidates tonight allows (scale "allowed": constraint-first) scores each context afresh
        if couple_ids == [dates.couple_id] and self.cache_couples > 0 and self.model.scale == "catalog":
            key = (dates.couple_id, day)
            scored = self._scored.get(key, dates)
            if scored is None:
                scored = self.model.enjoyment(dates, couple_ids, as_of_day=day)
                self._scored.put(key, dates, scored)
        return dates, scored, profiles

    def _ranked_batch(self, dates, couple_ids: list[str], ctx: Context, day: int, k: int, exclude,
                      recently_suggested, distinct_categories: bool, seeds, scored, profiles
                      ) -> tuple[dict[str, list[Suggestion]], _Reasons]:
        """:meth:`batch`'s ranking of one block of couples: their suggestions, not yet explained, and
        what explains them (:class:`_Reasons`)."""
        model = self.model
        ranked = model.rank(dates, couple_ids, k, context=ctx, exclude=dict(exclude or {}),
                            recently_suggested={c: dict(v) for c, v in (recently_suggested or {}).items()},
                            distinct_groups=distinct_categories, seed=np.asarray(seeds), as_of_day=day,
                            scored=scored, profiles=profiles)
        titles = model.idea_titles()
        ids = self.catalog.ids
        result: dict[str, list[Suggestion]] = {}
        where: dict[tuple[str, str], tuple[int, int, int]] = {}  # (couple, idea) -> row, list place, position
        # Python numbers row by row (tolist: the same values as float()/int() of each entry, one call)
        rows = zip(ranked.positions.tolist(), ranked.scores.tolist(), ranked.enjoyment.tolist(),
                   ranked.routine_distance.tolist(), ranked.cold_start.tolist())
        for r, (c, (places, scores, joys, distances, cold)) in enumerate(zip(couple_ids, rows)):
            picks = []
            for j, p in enumerate(places[:k]):
                if p < 0:
                    break
                picks.append(Suggestion(
                    idea_id=str(ids[p]), title=str(titles[p]), rank=j + 1, score=scores[j],
                    enjoyment=joys[j], routine_distance=distances[j], reasons=[], cold_start=bool(cold),
                ))
                where[c, picks[-1].idea_id] = (r, j, p)
            result[c] = picks
        return result, _Reasons(model, ranked, day, where)
