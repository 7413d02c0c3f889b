"""Writing a dataset folder in the import format, atomically (:func:`write_dataset`).

The format is described in :mod:`engine.domain.dataset`, which reads it
back with full validation and re-exports :func:`write_dataset`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .catalog import Catalog
from .dates import as_dates_frame

__all__ = ["write_dataset"]

#: rows formatted and written at a time (bounds the memory of writing a big dates.csv)
_WRITE_CHUNK = 250_000
#: how booleans are written (the words the reader, engine.domain.dataset, takes as booleans)
_TRUE, _FALSE = "true", "false"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return _TRUE if value else _FALSE
    if isinstance(value, tuple | list):
        return "|".join(str(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[col] = series.dt.strftime("%Y-%m-%d").fillna("")
        elif pd.api.types.is_bool_dtype(series):
            out[col] = np.where(series.to_numpy(dtype=bool), _TRUE, _FALSE)
        elif pd.api.types.is_float_dtype(series):
            values = series.to_numpy(dtype=float)
            finite = values[~np.isnan(values)]
            missing = np.isnan(values)
            if np.all(finite == np.round(finite)):
                text = np.nan_to_num(values).astype(np.int64).astype(str)
            else:
                text = np.array([repr(float(v)) for v in values])
            out[col] = np.where(missing, "", text)
        elif pd.api.types.is_integer_dtype(series):
            out[col] = series.astype(str).to_numpy()
        elif isinstance(series.dtype, pd.StringDtype):
            out[col] = series.fillna("").to_numpy(dtype=object)
        else:
            out[col] = series.map(_cell).to_numpy()
    return pd.DataFrame(out, columns=list(frame.columns))


def write_dataset(path: str | Path, catalog: Catalog, dates: pd.DataFrame,
                  couples: pd.DataFrame | None = None, *,
                  rating_scale: tuple[float, float] | None = None) -> None:
    """Write a dataset folder in the import format.

    Each file is written to a temporary name and moved into place only
    after all files are written, so a failure leaves no half-written file.

    Parameters
    ----------
    path : str or Path
        The folder (created if missing). Existing dataset files are replaced.
    catalog : Catalog
        Written as ``ideas.csv`` (``id``, ``title``, ``description``, then the
        schema's attributes) and ``schema.json``.
    dates : pandas.DataFrame
        A dates frame (:mod:`engine.domain.dates`); written as ``dates.csv`` with
        ``done_on`` as YYYY-MM-DD, ratings as integers when they all are,
        booleans as ``true``/``false``. Usage data instead: a frame with
        ``couple_id``, ``idea_id`` and ``count`` (optional ``done_on`` and
        ``ctx_`` columns), written with ``count`` in place of ratings.
    couples : pandas.DataFrame, optional
        ``id`` then profile columns, written as ``couples.csv``; default: no
        ``couples.csv`` (an existing one is removed).
    rating_scale : (float, float), optional
        Recorded in ``schema.json`` as ``"ratings"``; default: keep what the
        catalog's schema says (nothing = 1-5).

    Raises
    ------
    ValueError
        If ``couples`` has no ``id`` column or ``dates`` is not a dates frame.
    """
    folder = Path(path)
    if "count" in dates.columns:
        missing = [c for c in ("couple_id", "idea_id") if c not in dates.columns]
        extra = [c for c in dates.columns
                 if c not in ("couple_id", "idea_id", "done_on", "count") and not c.startswith("ctx_")]
        if missing or extra:
            raise ValueError(f"usage data needs columns couple_id, idea_id and count (optional done_on "
                             f"and ctx_ columns); missing {missing}, not allowed {extra}")
    else:
        dates = as_dates_frame(dates)
    if couples is not None and "id" not in couples.columns:
        raise ValueError(f"couples needs an 'id' column; found {list(couples.columns)}")
    folder.mkdir(parents=True, exist_ok=True)

    schema_doc = catalog.schema.to_dict()
    if rating_scale is not None:
        lo, hi = (float(v) for v in rating_scale)
        if not lo < hi:
            raise ValueError(f"rating_scale must be (min, max) with min < max, got {rating_scale!r}")
        schema_doc["ratings"] = {"min": int(lo) if lo.is_integer() else lo,
                                 "max": int(hi) if hi.is_integer() else hi}
    ideas = catalog.frame.reset_index()
    ideas = ideas[["id", "title", "description"] + catalog.schema.names()]
    outputs: dict[str, pd.DataFrame | str] = {
        "schema.json": json.dumps(schema_doc, indent=2, ensure_ascii=False) + "\n",
        "ideas.csv": ideas,
        "dates.csv": dates,
    }
    if couples is not None:
        outputs["couples.csv"] = couples.reset_index(drop=True)
    temps: list[tuple[Path, Path]] = []
    try:
        for name, content in outputs.items():
            tmp = folder / f".{name}.tmp"
            temps.append((tmp, folder / name))
            if isinstance(content, str):
                tmp.write_text(content, encoding="utf-8")
                continue
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                for start in range(0, max(len(content), 1), _WRITE_CHUNK):
                    part = _text_frame(content.iloc[start:start + _WRITE_CHUNK])
                    part.to_csv(fh, index=False, header=start == 0, lineterminator="\n")
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    if couples is None:
        (folder / "couples.csv").unlink(missing_ok=True)
