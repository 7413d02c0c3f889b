"""The recommender facade: what the service, the CLI and the newsletter call.

They never reach into features or model internals; every suggestion, single
or batch, goes through :meth:`EnjoymentModel.rank` - one scoring path.
"""

from __future__ import annotations

import datetime as _dt
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .catalog import Catalog, load_catalog
from .context import Context
from .dates import as_dates_frame, empty_dates
from .reasons import explain
from .registry import Registry

__all__ = ["Recommender", "Suggestion"]

_EPOCH = _dt.date(1970, 1, 1)


@dataclass
class Suggestion:
    """One suggested idea.

    Attributes
    ----------
    idea_id, title : str
    rank : int
        1 = the suggestion, 2.. = alternatives.
    score : float
        Ranking score (enjoyment traded against routine distance).
    enjoyment : float
        Predicted probability the couple rates it relevant (0-1).
    routine_distance : float
        How far it is from the couple's recent routine (0-1).
    reasons : list of str
        One or two plain-language reasons.
    cold_start : bool
        True when the couple had no history and the suggestion comes from
        the priors alone.
    """

    idea_id: str
    title: str
    rank: int
    score: float
    enjoyment: float
    routine_distance: float
    reasons: list[str] = field(default_factory=list)
    cold_start: bool = False

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("score", "enjoyment", "routine_distance"):
            out[key] = round(float(out[key]), 4)
        return out


def _day_number(day: _dt.date) -> int:
    return (day - _EPOCH).days


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


class Recommender:
    """A fitted model, its version, and the catalog it ranks.

    Parameters
    ----------
    model : EnjoymentModel
        Fitted.
    version : str
        Registry version name (or any label).
    """

    def __init__(self, model, version: str):
        self.model = model
        self.version = version

    @classmethod
    def load(cls, model_dir: str | Path, catalog: Catalog | None = None,
             version: str | None = None) -> "Recommender":
        """Load the live (or given) version from a registry folder.

        Raises ``NoModelError`` / ``ArtifactError`` (see :mod:`engine.registry`).
        """
        catalog = catalog if catalog is not None else load_catalog()
        model, card = Registry(model_dir).load(version, catalog=catalog)
        return cls(model, card["version"])

    @property
    def catalog(self) -> Catalog:
        return self.model.catalog_

    def tonight(self, couple_id: str, history: pd.DataFrame, context: Context, k: int = 3, *,
                exclude: Iterable[str] = (), recently_suggested: Mapping[str, float] | None = None,
                offset: int = 0, seed: int | None = None) -> list[Suggestion]:
        """Tonight's suggestion and alternatives for one couple.

        Parameters
        ----------
        couple_id : str
        history : DataFrame
            The couple's dates (dates frame; may be empty).
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
        ctx = context.resolved()
        if seed is None:
            seed = _stable_seed(couple_id, ctx.day.isoformat())
        out = self.batch(history, [couple_id], ctx, k=k + offset,
                         exclude={couple_id: set(exclude)},
                         recently_suggested={couple_id: dict(recently_suggested or {})},
                         distinct_categories=False, seeds=[seed])
        picks = out[couple_id][offset:]
        for i, s in enumerate(picks):
            s.rank = i + 1
        return picks

    def batch(self, dates: pd.DataFrame, couple_ids: Sequence[str], context: Context, k: int = 3, *,
              exclude: Mapping[str, set[str]] | None = None,
              recently_suggested: Mapping[str, Mapping[str, float]] | None = None,
              distinct_categories: bool = True,
              seeds: Sequence[int] | None = None) -> dict[str, list[Suggestion]]:
        """Suggestions for many couples at once (vectorised; used by the newsletter).

        Parameters
        ----------
        dates : DataFrame
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

        Returns
        -------
        dict couple id -> list of Suggestion (best first; may be shorter than
        ``k`` when the constraints leave fewer ideas).
        """
        ctx = context.resolved()
        couple_ids = [str(c) for c in couple_ids]
        dates = as_dates_frame(dates) if "couple_id" in dates else empty_dates()
        day = _day_number(ctx.day)
        if seeds is None:
            seeds = [_stable_seed(c, ctx.day.isoformat()) for c in couple_ids]
        model = self.model
        ranked = model.rank(dates, couple_ids, k, context=ctx, exclude=dict(exclude or {}),
                            recently_suggested={c: dict(v) for c, v in (recently_suggested or {}).items()},
                            distinct_groups=distinct_categories, seed=np.asarray(seeds), as_of_day=day)
        hist = ranked.histories
        titles = self.catalog.frame["title"].to_numpy()
        ids = self.catalog.ids
        result: dict[str, list[Suggestion]] = {}
        for r, c in enumerate(couple_ids):
            picks = []
            for j in range(k):
                p = int(ranked.positions[r, j])
                if p < 0:
                    break
                picks.append(Suggestion(
                    idea_id=str(ids[p]), title=str(titles[p]), rank=j + 1,
                    score=float(ranked.scores[r, j]), enjoyment=float(ranked.enjoyment[r, j]),
                    routine_distance=float(ranked.routine_distance[r, j]),
                    reasons=explain(model, hist, r, p, ranked.features[r, j], as_of_day=day),
                    cold_start=bool(ranked.cold_start[r]),
                ))
            result[c] = picks
        return result
