"""CPU per ``GET /v1/couples/{id}/tonight`` in process, through the Flask test client.

    python -m bench service_cpu [--ideas 1000] [--past 200] [--couples 40] [--rounds 3] [--profile FILE]

The same data shape as ``bench http`` (a ``--ideas`` catalog from
:func:`bench.catalogs.large_catalog`, 300 simulated couples, a model with
default parameters, SQLite) plus ``--couples`` couples with ``--past`` past
rated dates each, who make the requests. Every request is a fresh
``budget=2&setting=out&k=3`` for a couple (a distinct couple each time in a
round; the first round warms the process). It reports the median and mean
CPU time of this process per request (``time.process_time``: every thread,
not wall time, so other load on the machine barely moves it), for:

* ``tonight``: a couple's request as ``bench http`` sends it (no cache can
  answer it: each couple is asked once per round and a date is posted for
  it between rounds, so its history changed);
* ``tonight_repeat``: the identical request again in the same day (a
  response cache, if any, may answer it, and the list it serves is already
  in the suggestion log, so nothing is written);
* ``healthz``: the trivial endpoint, for scale.

``--profile FILE`` writes a cProfile of the ``tonight`` requests (of the
``tonight_repeat`` ones with ``--profile-load tonight_repeat``). Writes
``bench/results/service_cpu.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import logging
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogs import large_catalog

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "service_cpu"
RESULTS = ROOT / "bench" / "results" / "service_cpu.json"
QUERY = "budget=2&setting=out&k=3"


def prepare(ideas: int, past: int, n_couples: int, seed: int = 0):
    """Store, model and ``n_couples`` couples with ``past`` dates; returns (db url, model dir, catalog dir, couples)."""
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel
    from engine.learning.registry import Registry
    from engine.store import open_store

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    catalog_dir = OUT / f"catalog-{ideas}"
    large_catalog(ideas, catalog_dir, seed=seed)
    catalog = load_catalog(catalog_dir)
    world = simulate(300, seed=seed, catalog=catalog)
    db_url = f"sqlite:///{OUT / 'bench.sqlite3'}"
    store = open_store(db_url)
    store.migrate()
    rng = np.random.default_rng(seed)
    ids = [f"heavy{i:03d}" for i in range(n_couples)]
    start = dt.date.today() - dt.timedelta(days=3 * past + 1)
    heavy = pd.DataFrame({
        "couple_id": np.repeat(ids, past),
        "idea_id": rng.choice(catalog.ids, past * n_couples),
        "done_on": np.tile([start + dt.timedelta(days=3 * i) for i in range(past)], n_couples),
        "rating_a": rng.integers(1, 6, past * n_couples).astype(float),
        "rating_b": rng.integers(1, 6, past * n_couples).astype(float),
    })
    store.bulk_load([{"id": str(c)} for c in world.couples["id"]] + [{"id": c} for c in ids],
                    pd.concat([world.dates, heavy], ignore_index=True), source="demo")
    model = EnjoymentModel().fit(world.dates, catalog)
    registry = Registry(OUT / "models")
    registry.promote(registry.save(model), catalog=catalog)
    couples = [(c, store.rotate_token(c)) for c in ids]
    store.close()
    return db_url, OUT / "models", catalog_dir, couples


def _cpu_ms(fn) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1000


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ideas", type=int, default=1000)
    ap.add_argument("--past", type=int, default=200)
    ap.add_argument("--couples", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", help="write a cProfile of the tonight requests here")
    ap.add_argument("--profile-load", choices=["tonight", "tonight_repeat"], default="tonight",
                    help="which requests --profile records (default: tonight)")
    ap.add_argument("--label", default="", help="stored with the result")
    args = ap.parse_args(argv)

    db_url, model_dir, catalog_dir, couples = prepare(args.ideas, args.past, args.couples)
    os.environ["DATEIDEAS_CATALOG"] = str(catalog_dir)
    from service import create_app

    app = create_app({"DATABASE_URL": db_url, "MODEL_DIR": str(model_dir), "CATALOG_DIR": str(catalog_dir),
                      "RETRAIN_AFTER_DATES": 0, "LOG_REQUESTS": True})
    logging.getLogger("service.access").disabled = True  # keep the JSON lines off the console, not the work
    client = app.test_client()
    headers = {c: {"Authorization": f"Bearer {t}"} for c, t in couples}
    idea = app.extensions["dateideas.models"].catalog.ids[0]

    def tonight(c):
        response = client.get(f"/v1/couples/{c}/tonight?{QUERY}", headers=headers[c])
        assert response.status_code == 200, response.get_data(as_text=True)

    def rate(c):
        response = client.post(f"/v1/couples/{c}/dates", headers=headers[c],
                               json={"idea_id": str(idea), "ratings": {"a": 4, "b": 5}})
        assert response.status_code == 201, response.get_data(as_text=True)

    fresh, repeat, health = [], [], []
    profiler = cProfile.Profile() if args.profile else None

    def measured(fn, load: str, round_: int) -> float:
        profiling = profiler is not None and round_ and load == args.profile_load
        if profiling:
            profiler.enable()
        ms = _cpu_ms(fn)
        if profiling:
            profiler.disable()
        return ms

    for round_ in range(args.rounds + 1):
        for c, _ in couples:
            rate(c)  # the history changed: no cache may answer the next request from before
        for c, _ in couples:
            ms = measured(lambda c=c: tonight(c), "tonight", round_)
            if round_:
                fresh.append(ms)
        for c, _ in couples:
            ms = measured(lambda c=c: tonight(c), "tonight_repeat", round_)
            if round_:
                repeat.append(ms)
        for _ in couples:
            ms = _cpu_ms(lambda: client.get("/healthz"))
            if round_:
                health.append(ms)
    if profiler is not None:
        profiler.dump_stats(args.profile)

    def summary(xs):
        return {"n": len(xs), "median_cpu_ms": round(statistics.median(xs), 2),
                "mean_cpu_ms": round(statistics.fmean(xs), 2)}

    result = {"label": args.label, "ideas": args.ideas, "past_dates": args.past, "couples": args.couples,
              "query": QUERY, "load_average_1min": round(os.getloadavg()[0], 2),
              "tonight": summary(fresh), "tonight_repeat": summary(repeat), "healthz": summary(health)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
