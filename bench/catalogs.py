"""A larger catalog for benchmarks: the shipped ideas, resampled with perturbed attributes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from engine import load_catalog
from engine.domain.catalog import default_catalog_dir
from engine.domain.dataset import write_dataset
from engine.domain.dates import empty_dates

__all__ = ["large_catalog"]


def large_catalog(n_ideas: int, out_dir: str | Path, seed: int = 0):
    """Write and return a catalog of ``n_ideas`` ideas in the import format.

    Each idea copies a shipped idea's attributes and then re-draws cost,
    energy, novelty and duration (within the schema's ranges), so ideas
    differ even when they share a template. Titles and descriptions end in
    the idea's number: unique, as a real catalog's are (a shared copy of a
    repeated text would understate a large catalog's memory).
    """
    base = load_catalog()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), size=n_ideas)
    frame = base.frame.iloc[pick].copy()
    frame.index = [f"{i}-v{k}" for k, i in enumerate(frame.index)]
    frame.index.name = "id"
    schema = base.schema
    for col in ("cost", "energy", "novelty"):
        frame[col] = rng.choice(schema[col].order, size=n_ideas)
    frame["duration_min"] = np.clip(frame["duration_min"] * rng.uniform(0.6, 1.4, n_ideas),
                                    schema["duration_min"].min, schema["duration_min"].max).round()
    number = pd.Series(range(n_ideas), index=frame.index).astype(str)
    frame["title"] = frame["title"] + " (" + number + ")"
    frame["description"] = frame["description"] + " (Variant " + number + ".)"
    out_dir = Path(out_dir)
    catalog = type(base)(frame, schema)
    write_dataset(out_dir, catalog, empty_dates())
    for extra in ("prompts.csv", "nudges.csv"):  # tonight's prompts and Today's nudges, as shipped
        source = default_catalog_dir() / extra
        if source.is_file():
            shutil.copyfile(source, out_dir / extra)
    return load_catalog(out_dir)
