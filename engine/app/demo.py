"""The demo database: simulated couples with history, and a first trained model."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..domain.catalog import load_catalog
from ..lab.simulator import simulate
from ..learning.registry import Registry
from .ports import StorePort
from .training import train_and_maybe_promote

__all__ = ["DemoResult", "build_demo"]

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What :func:`build_demo` created: counts, the model version and one couple to try."""

    couples: int
    dates: int
    version: str | None
    couple_id: str
    token: str


def build_demo(store: StorePort, settings, couples: int = 50, seed: int = 7, progress: bool = False) -> DemoResult:
    """Fill an empty store with ``couples`` simulated couples and train + promote the first model.

    The first simulated couple gets a fresh API token, returned so the
    caller can print a working curl line. Re-running on a store that already
    holds the demo couples replaces them (same seed, same data).
    """
    catalog = load_catalog()
    world = simulate(couples, seed=seed, catalog=catalog, progress=progress)
    rows = [{"id": str(cid), "profile": _profile(p)} for cid, p in
            zip(world.couples["id"], world.couples.to_dict("records"))]
    n_couples, n_dates = store.bulk_load(rows, world.dates, replace=True, source="demo", progress=progress)
    logger.info("demo: loaded %d couples and %d dates", n_couples, n_dates)
    result = train_and_maybe_promote(store.dates_frame(), catalog, Registry(settings.model_dir),
                                     profiles=store.profiles())
    first = str(world.couples["id"].iloc[0])
    token = store.rotate_token(first)
    return DemoResult(couples=n_couples, dates=n_dates, version=result.version if result.promoted else None,
                      couple_id=first, token=token)


def _profile(record: dict) -> dict:
    out = {}
    if "budget_ceiling" in record and record["budget_ceiling"] == record["budget_ceiling"]:
        out["budget_ceiling"] = int(record["budget_ceiling"])
    if "kids" in record:
        out["kids"] = str(record["kids"]).lower() in ("true", "1")
    if isinstance(record.get("interests"), str) and record["interests"]:
        out["interests"] = record["interests"].split("|")
    return out
