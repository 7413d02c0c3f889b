"""Latency of scoring one couple, beside a bare numpy dot product of the same shape.

    python -m bench scoring [--ideas 1000] [--past 200] [--repeats 200]

Writes bench/results/scoring.json. The model is fitted on simulated couples
over a catalog of ``--ideas`` ideas (the shipped ideas, resampled and
perturbed); the measured couple has ``--past`` past dates, held as the store
reads them for a request (a ``CoupleDates``), and every answer is computed
afresh (the recommender's caches are off). BLAS runs on one
thread, as the server pins it (``serve`` sets ``OMP_NUM_THREADS=1`` and the
like), and every figure is recorded with the load average and core count of
the moment it was measured.

For each context (no constraints, ``minutes=60``, ``budget=2 & setting=out``):
``fresh_rank``, the one scoring path for a fresh answer (``EnjoymentModel.rank``:
features and enjoyment of every idea, then the ranking policy), and
``score_candidates``, featurising and scoring only the ideas the context allows
(``EnjoymentModel.enjoyment(..., ideas=...)``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.app.recommender import Recommender
from engine.domain.constraints import allowed_for_couples
from engine.domain.context import Context
from engine.domain.dates import CoupleDates, as_dates_frame
from engine.lab.simulator import simulate
from engine.learning.model import EnjoymentModel

from .catalogs import large_catalog

RESULTS = Path(__file__).parent / "results"

#: the contexts measured, by name (tonight's day is added)
CONTEXTS = {"none": {}, "minutes=60": {"minutes": 60}, "budget=2&setting=out": {"budget": 2, "setting": "out"}}


def _median_ms(fn, repeats: int, clock=time.perf_counter) -> float:
    """Median milliseconds of ``fn``; ``clock=time.thread_time`` counts this thread's CPU only
    (steadier than wall time when other processes share the cores)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1000)
    return statistics.median(times)


def _couple_dates(couple_id: str, frame: pd.DataFrame) -> CoupleDates:
    """One couple's dates as the store reads them for a request (:class:`CoupleDates`: day numbers,
    float ratings), so the bench scores the history shape the server scores."""
    days = frame["done_on"].to_numpy().astype("datetime64[D]").astype(np.int64)
    return CoupleDates(couple_id, tuple(
        (str(i), int(d), float(a), float(b))
        for i, d, a, b in zip(frame["idea_id"], days, frame["rating_a"], frame["rating_b"])))


def _figure(fn, repeats: int) -> dict:
    """Median wall and CPU milliseconds of ``fn``, with the load average and cores when measured."""
    wall = _median_ms(fn, repeats)
    cpu = _median_ms(fn, repeats, time.thread_time)
    return {"median_ms": round(wall, 3), "cpu_median_ms": round(cpu, 3),
            "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}


def _contexts(model: EnjoymentModel, history: CoupleDates, day: dt.date, repeats: int) -> dict:
    """Per context: how many ideas it allows, the fresh answer and the candidates' scoring."""
    as_of = (day - dt.date(1970, 1, 1)).days
    out = {}
    for name, constraints in CONTEXTS.items():
        ctx = Context(day=day, **constraints)
        ideas = np.flatnonzero(allowed_for_couples(model.catalog_, ctx, [None])[0])
        out[name] = {
            "candidates": int(len(ideas)),
            "fresh_rank": _figure(lambda c=ctx: model.rank(history, ["bench"], 3, context=c, as_of_day=as_of),
                                  repeats),
            "score_candidates": _figure(
                lambda i=ideas: model.enjoyment(history, ["bench"], as_of_day=as_of, ideas=i), repeats),
        }
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ideas", type=int, default=1000)
    ap.add_argument("--past", type=int, default=200)
    ap.add_argument("--couples", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = large_catalog(args.ideas, Path(tmp) / "catalog")
    world = simulate(args.couples, seed=1, catalog=catalog)
    model = EnjoymentModel().fit(world.dates, catalog)
    rng = np.random.default_rng(0)
    start = dt.date(2020, 1, 1)
    history = _couple_dates("bench", as_dates_frame(pd.DataFrame({
        "couple_id": "bench",
        "idea_id": rng.choice(catalog.ids, args.past),
        "done_on": [start + dt.timedelta(days=7 * i) for i in range(args.past)],
        "rating_a": rng.integers(1, 6, args.past), "rating_b": rng.integers(1, 6, args.past),
    })))
    rec = Recommender(model, "bench", cache_couples=0, cache_lists=0)  # every answer fresh
    day = dt.date(2024, 6, 1)
    ctx = Context(day=day)
    n_features = len(model.feature_names_)
    X = rng.random((args.ideas, n_features)).astype(np.float32)
    w = rng.random(n_features).astype(np.float32)
    with threadpool_limits(1, user_api="blas"):  # as served
        numpy_ms = _median_ms(lambda: np.argsort(-(X @ w))[:3], args.repeats)
        score_ms = _median_ms(lambda: model.enjoyment(history, ["bench"]), args.repeats)
        tonight_ms = _median_ms(lambda: rec.tonight("bench", history, ctx, k=3), args.repeats)
        score_cpu_ms = _median_ms(lambda: model.enjoyment(history, ["bench"]), args.repeats, time.thread_time)
        tonight_cpu_ms = _median_ms(lambda: rec.tonight("bench", history, ctx, k=3), args.repeats, time.thread_time)
        numpy_cpu_ms = _median_ms(lambda: np.argsort(-(X @ w))[:3], args.repeats, time.thread_time)
        load = os.getloadavg()[0]
        contexts = _contexts(model, history, day, args.repeats)
    result = {
        "ideas": args.ideas, "past_dates": args.past, "features": n_features, "learner": model.learner_name_,
        "blas_threads": 1,
        "numpy_dot_topk_ms": round(numpy_ms, 4),
        "score_all_ideas_ms": round(score_ms, 3),
        "tonight_with_reasons_ms": round(tonight_ms, 3),
        "ratio_score_to_numpy": round(score_ms / numpy_ms, 1),
        "cpu_numpy_dot_topk_ms": round(numpy_cpu_ms, 4),
        "cpu_score_all_ideas_ms": round(score_cpu_ms, 3),
        "cpu_tonight_with_reasons_ms": round(tonight_cpu_ms, 3),
        "load_average_1min": round(load, 2),
        "cpu_count": os.cpu_count(),
        "contexts": contexts,
        "goal_ms": {"none": 1.5, "minutes=60": 0.5},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
