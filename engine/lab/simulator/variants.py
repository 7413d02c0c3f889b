"""Generation options: generated catalogs and other dataset shapes of the same world."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...domain.catalog import Catalog, load_catalog
from ...domain.dates import as_dates_frame
from .world import SimulatedWorld

__all__ = ["dataset_variant", "generate_catalog", "usage_counts", "without_attributes"]

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
    from ...domain.schema import Schema

    return Catalog(catalog.frame[["title", "description"]].copy(),
                   Schema(attributes={}, extra=dict(catalog.schema.extra)))


def usage_counts(dates: pd.DataFrame) -> pd.DataFrame:
    """Dates turned into usage data: one row per (couple, idea) with a ``count``.

    ``count`` = the sum, over the couple's dates of the idea, of the date's
    mean partner rating rounded (3 when neither rated): an engagement count
    that grows both with doing an idea again and with enjoying it. Undated
    (no ``done_on``), in couple then idea order.
    """
    from ...domain.dates import mean_rating

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

    from ...domain.dataset import ratings_from_counts

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
