"""Time Store.bulk_load and Store.dates_frame on SQLite and PostgreSQL.

Usage::

    .venv/bin/python -m bench.store_bulk_load --rows 2000000 [--pg postgresql+psycopg://root@127.0.0.1:5432/test]

Creates a throwaway SQLite file and (if ``--pg`` is given) a throwaway
PostgreSQL database, loads ``--rows`` synthetic dates for ``rows/40`` couples
with two context columns, reads them back, prints one JSON line per backend.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.databases import throwaway_postgres
from engine.store import open_store


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_couples = max(1, rows // 40)
    ratings = rng.integers(1, 6, size=(rows, 2)).astype(float)
    ratings[rng.random((rows, 2)) < 0.3] = np.nan
    return pd.DataFrame({
        "couple_id": np.char.add("c_", rng.integers(0, n_couples, rows).astype(str)),
        "idea_id": np.char.add("idea-", rng.integers(0, 300, rows).astype(str)),
        "done_on": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, rows), unit="D"),
        "rating_a": ratings[:, 0],
        "rating_b": ratings[:, 1],
        "ctx_weather": rng.choice(["sun", "rain", "snow"], rows),
        "ctx_weekday": rng.integers(0, 7, rows),
    })


def _run(url: str, frame: pd.DataFrame) -> dict:
    store = open_store(url)
    try:
        store.migrate()
        start = time.perf_counter()
        n_couples, n_dates = store.bulk_load([], frame, progress=True)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        back = store.dates_frame()
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        store.dates_frame(context=True)
        read_ctx_s = time.perf_counter() - start
        assert len(back) == n_dates
        return {"dialect": store.dialect, "couples": n_couples, "dates": n_dates,
                "bulk_load_s": round(load_s, 1), "rows_per_s": round(n_dates / load_s),
                "dates_frame_s": round(read_s, 1), "dates_frame_context_s": round(read_ctx_s, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg", help="PostgreSQL server URL to create a throwaway database on")
    args = parser.parse_args()
    frame = _frame(args.rows, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(_run(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", frame)), flush=True)
    if args.pg:
        with throwaway_postgres(args.pg) as url:
            print(json.dumps(_run(url, frame)), flush=True)

if __name__ == "__main__":
    main()
