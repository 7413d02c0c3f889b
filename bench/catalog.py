"""Catalog scale: training time and memory, worker memory and fresh tonight latency, per catalog size.

    python -m bench catalog [--ideas 1000,10000,50000] [--couples 3000] [--seconds 20] [--concurrency 1]
                            [--workers 2] [--als-dates 1000000] [--seed 0]

For each size in ``--ideas``:

1. Builds a catalog of that many ideas (:func:`bench.catalogs.large_catalog`:
   the shipped ideas resampled with perturbed attributes) under
   ``bench/out/catalog-scale/catalog-<n>/``.
2. Simulates ``--couples`` couples on it (:func:`engine.lab.simulator.simulate`,
   about 28 dates each: 3,000 couples give about 84,000 dates). On a large
   catalog the simulator's per-block arrays are couples x ideas, so the
   couples are simulated in chunks of at most ``--sim-cells`` couple-idea
   cells (chunk ``k`` seeded ``seed + k``, its couple ids suffixed ``-k``);
   below that bound it is one ``simulate`` call.
3. Trains in a child process: ``EnjoymentModel().fit(dates, catalog)``
   with one BLAS/OpenMP thread, then saves and promotes the artifact in a
   fresh registry (:class:`engine.learning.registry.Registry`). The child
   reports the wall and CPU seconds of ``fit``, the seconds to save and
   promote, and its own peak resident set (``VmHWM``, which includes the
   dates and catalog it loaded; the peak before ``fit`` is beside it. Not
   ``ru_maxrss``: Linux carries that over ``exec`` from the forked copy of
   the parent, which here holds the simulation).
4. Serves: loads the couples into a fresh SQLite store, gives every couple
   a token, starts ``dateideas serve --workers 2`` on it
   (:func:`bench.http.start_server`) and runs the *fresh* tonight load: every
   request new, all couples in turn, each time with a ``minutes`` value that
   couple has not asked with, so no cache answers it (as ``bench http``'s
   ``tonight_distinct``). ``--concurrency`` keep-alive clients (default 1:
   the latency of a request that queues behind no other; the kernel deals
   connections to workers by a hash of the port, so two clients can land on
   one worker and wait for each other) for ``--seconds`` after a warm-up.
   Records p50/p90/p99 and each worker's resident set (``VmRSS``) and peak
   (``VmHWM``) after the load. Then the *another* load as long: every couple in
   turn asks for ``another=true`` (the page's "Another idea"; the server runs
   with the ``another`` limits lifted, as ``bench http``'s), each couple's
   first of the day, so a list deeper than the fresh one is ranked
   (``engine.app.serving._list_depth``). The RSS goal is judged on the largest
   after both loads; ``worker_rss_growth_mib`` is each worker's growth from
   the warm-up to the end (what a fresh answer leaves behind: a list cache
   that kept each answer's histories grew a 50,000-idea worker ~5 MB a
   request, to 1.6 GB in 20 s, on 2026-12-07).

Then the training-time ratio: the engine and implicit ALS each fitted in a
fresh single-threaded child on ``--als-dates`` simulated dates of the
shipped catalog (:func:`bench.peers.training_time`; ``--als-dates 0``
skips it).

Every figure is written with the 1-minute load average and the core count
of the moment it was measured, to ``bench/results/catalog.json`` (rewritten
after each size, so a long run keeps what it has measured). Progress lines
go to stderr. Goals at 50,000 ideas (issue 19): training <= 10 minutes and
<= 4 GiB peak, worker RSS <= 400 MiB, fresh tonight p99 <= 60 ms, and
training at 1M dates <= 3x implicit ALS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "catalog-scale"
RESULTS = ROOT / "bench" / "results" / "catalog.json"

#: one BLAS / OpenMP thread, as ``dateideas serve`` pins its workers
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: issue 19's goals at 50,000 ideas
GOALS = {"training_seconds_at_most": 600, "training_peak_mib_at_most": 4096, "worker_rss_mib_at_most": 400,
         "fresh_p99_ms_at_most": 60, "training_over_implicit_als_at_most": 3.0}

#: the tonight query of the fresh load (``minutes`` is added per request)
QUERY = "budget=2&setting=out&k=3"


def parse_sizes(text: str) -> list[int]:
    """``"1000,10000"`` -> ``[1000, 10000]``; every size a positive integer."""
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive integers separated by commas, got {text!r}")
    return sizes


def chunk_sizes(n_couples: int, n_ideas: int, max_cells: int) -> list[int]:
    """Couples per simulator call so that couples x ideas stays within ``max_cells`` (one call if it fits)."""
    per_chunk = max(1, max_cells // max(n_ideas, 1))
    n_chunks = math.ceil(n_couples / per_chunk)
    base, extra = divmod(n_couples, n_chunks)
    return [base + (k < extra) for k in range(n_chunks)]


def simulated_dates(catalog, n_couples: int, seed: int, max_cells: int) -> pd.DataFrame:
    """Dates of ``n_couples`` simulated couples on ``catalog``, simulated in chunks (:func:`chunk_sizes`).

    One chunk is exactly ``simulate(n_couples, seed=seed, catalog=catalog).dates``; with several,
    chunk ``k`` is seeded ``seed + k`` and its couple ids get the suffix ``-k`` (kept distinct).
    """
    from engine.lab.simulator import simulate

    sizes = chunk_sizes(n_couples, len(catalog), max_cells)
    parts = []
    for k, size in enumerate(sizes):
        dates = simulate(size, seed=seed + k, catalog=catalog).dates
        if len(sizes) > 1:
            dates = dates.assign(couple_id=dates["couple_id"].astype(str) + f"-{k}")
        parts.append(dates)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _progress(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _moment() -> dict:
    """The 1-minute load average and core count now (beside every figure)."""
    return {"load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}


# --------------------------------------------------------------------------- training (child process)

def own_peak_mib() -> float:
    """This process's peak resident set in MiB: ``VmHWM`` (its own address space since ``exec``).

    Not ``ru_maxrss``: Linux carries a process's ``ru_maxrss`` over ``execve`` from the
    forked copy of its parent, so a child of a large parent reports the parent's peak.
    ``ru_maxrss`` only where ``/proc`` is missing.
    """
    peak = status_mib(os.getpid(), "VmHWM")
    return peak if peak is not None else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def train_child(dates_path: str, catalog_dir: str, model_dir: str) -> None:
    """Child process: fit on the pickled dates, save and promote; print its figures as JSON on stdout."""
    from engine.domain.catalog import load_catalog
    from engine.learning.model import EnjoymentModel
    from engine.learning.registry import Registry

    catalog = load_catalog(catalog_dir)
    dates = pd.read_pickle(dates_path)
    peak_before = own_peak_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    model = EnjoymentModel().fit(dates, catalog)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_fit = own_peak_mib()
    saving = time.perf_counter()
    registry = Registry(model_dir)
    version = registry.save(model)
    registry.promote(version, catalog=catalog)
    saving = time.perf_counter() - saving
    artifact = Path(model_dir) / version / "model.joblib"
    sys.stdout.write(json.dumps({
        "fit_seconds": round(wall, 2), "fit_cpu_seconds": round(cpu, 2),
        "save_and_promote_seconds": round(saving, 2),
        "peak_rss_mib": peak_fit, "peak_rss_before_fit_mib": peak_before,
        "peak_rss_with_save_mib": own_peak_mib(),
        "artifact_mib": round(artifact.stat().st_size / 2**20, 1), "version": version,
    }) + "\n")


def train(dates_path: Path, catalog_dir: Path, model_dir: Path) -> dict:
    """Run :func:`train_child` in a fresh single-threaded process; its figures plus the load when it started."""
    env = {**os.environ, **SINGLE_THREAD,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    moment = _moment()
    code = f"from bench.catalog import train_child; train_child({str(dates_path)!r}, {str(catalog_dir)!r}, " \
           f"{str(model_dir)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env=env, cwd=str(ROOT))
    if done.returncode != 0:
        raise RuntimeError(f"training on {catalog_dir.name} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **moment}


# --------------------------------------------------------------------------- serving

def prepare_store(dates: pd.DataFrame, db_path: Path) -> tuple[str, list[tuple[str, str]]]:
    """A fresh SQLite store with every couple and its dates; returns (url, [(couple id, token)])."""
    from engine.store import open_store

    db_path.unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    store = open_store(url)
    try:
        store.migrate()
        couples = [str(c) for c in pd.unique(dates["couple_id"])]
        store.bulk_load([{"id": c} for c in couples], dates, source="demo")
        return url, [(c, store.rotate_token(c)) for c in couples]
    finally:
        store.close()


def distinct_paths(couples: list[tuple[str, str]], query: str, requests: int) -> list[tuple[str, dict]]:
    """Tonight requests no cache can answer: request ``i`` is couple ``i mod n`` with ``minutes=60 + i // n``."""
    n = len(couples)
    return [(f"/v1/couples/{couples[i % n][0]}/tonight?{query}&minutes={60 + i // n}",
             {"Authorization": f"Bearer {couples[i % n][1]}"}) for i in range(requests)]


def another_paths(couples: list[tuple[str, str]], query: str, requests: int) -> list[tuple[str, dict]]:
    """Tonight requests with ``another=true``: request ``i`` is couple ``i mod n``'s."""
    n = len(couples)
    return [(f"/v1/couples/{couples[i % n][0]}/tonight?{query}&another=true",
             {"Authorization": f"Bearer {couples[i % n][1]}"}) for i in range(requests)]


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's child processes (its workers)."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def status_mib(pid: int, key: str) -> float | None:
    """``key`` (``VmRSS``, ``VmHWM``) of process ``pid`` from ``/proc/<pid>/status``, in MiB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def serve_and_measure(db_url: str, model_dir: Path, catalog_dir: Path, couples: list[tuple[str, str]],
                      args) -> dict:
    """Start the server on the store, warm it, run the fresh load; latency and the workers' memory."""
    from bench.http import OUT as HTTP_OUT
    from bench.http import load, measured, start_server

    (HTTP_OUT / "http").mkdir(parents=True, exist_ok=True)  # start_server writes its log there
    started = time.perf_counter()
    process, port = start_server(db_url, model_dir, catalog_dir, args.workers)
    ready_seconds = time.perf_counter() - started
    try:
        paths = distinct_paths(couples, QUERY, len(couples) * 200)
        warm = 4 * max(args.workers, args.concurrency)  # connections enough that every worker gets some
        load(port, paths[-warm:], 3.0, warm, warmup=0.0)  # every worker loads its model
        workers = worker_pids(process.pid)
        rss_warm = [status_mib(pid, "VmRSS") for pid in workers]
        moment = _moment()
        fresh = measured(port, paths[:-warm], args.seconds, args.concurrency)
        fresh.update(load_average_1min_after=round(os.getloadavg()[0], 2))
        rss_fresh = [status_mib(pid, "VmRSS") for pid in workers]
        _progress(f"fresh tonight p99 {fresh['p99_ms']} ms, worker RSS {rss_fresh} MiB; the another load")
        moment_another = _moment()
        another = measured(port, another_paths(couples, QUERY, len(couples)), args.seconds, args.concurrency)
        rss = [status_mib(pid, "VmRSS") for pid in workers]
        hwm = [status_mib(pid, "VmHWM") for pid in workers]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    growth = [None if a is None or b is None else round(b - a, 1) for a, b in zip(rss_warm, rss)]
    return {"fresh_tonight": {**fresh, "concurrency": args.concurrency, **moment},
            "another_tonight": {**another, "concurrency": args.concurrency, **moment_another,
                                "load_average_1min_after": round(os.getloadavg()[0], 2)},
            "ready_seconds": round(ready_seconds, 1),
            "worker_rss_mib_after_warmup": rss_warm, "worker_rss_mib_after_fresh": rss_fresh,
            "worker_rss_mib": rss, "worker_peak_rss_mib": hwm, "worker_rss_growth_mib": growth}


# --------------------------------------------------------------------------- one size

def measure_size(n_ideas: int, args) -> dict:
    """Catalog, simulated dates, training in a child, then serving: the figures of one size."""
    from bench.catalogs import large_catalog

    work = OUT / f"ideas-{n_ideas}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    catalog_dir = work / "catalog"
    catalog = large_catalog(n_ideas, catalog_dir, seed=args.seed)
    t0 = time.perf_counter()
    dates = simulated_dates(catalog, args.couples, args.seed, args.sim_cells)
    simulated_seconds = time.perf_counter() - t0
    n_dates, n_done = int(len(dates)), int(dates["idea_id"].nunique())
    _progress(f"{n_ideas:,} ideas: simulated {len(dates):,} dates of {args.couples:,} couples "
              f"({n_done:,} ideas done at least once) in {simulated_seconds:.0f} s")
    dates_path = work / "dates.pkl"
    dates.to_pickle(dates_path)
    training = train(dates_path, catalog_dir, work / "models")
    _progress(f"{n_ideas:,} ideas: fit {training['fit_seconds']:.1f} s, peak RSS {training['peak_rss_mib']:.0f} MiB, "
              f"saved in {training['save_and_promote_seconds']:.1f} s ({training['artifact_mib']} MiB)")
    db_url, couples = prepare_store(dates, work / "bench.sqlite3")
    del dates
    serving = serve_and_measure(db_url, work / "models", catalog_dir, couples, args)
    fresh = serving["fresh_tonight"]
    _progress(f"{n_ideas:,} ideas: fresh tonight p50 {fresh['p50_ms']} ms, p99 {fresh['p99_ms']} ms "
              f"({fresh['requests']} requests, {fresh['errors']} errors); another p99 "
              f"{serving['another_tonight']['p99_ms']} ms; worker RSS {serving['worker_rss_mib']} MiB "
              f"(grew {serving['worker_rss_growth_mib']} MiB)")
    return {"ideas": n_ideas, "couples": args.couples, "dates": n_dates,
            "ideas_done_at_least_once": n_done, "simulated_seconds": round(simulated_seconds, 1),
            "training": training, **serving}


def goals_met(size: dict) -> dict:
    """Which of issue 19's per-size goals ``size`` meets (each a bool; None where not measured)."""
    fresh = size.get("fresh_tonight") or {}
    rss = [r for r in size.get("worker_rss_mib") or [] if r is not None]
    training = size["training"]
    return {
        "training_seconds": training["fit_seconds"] <= GOALS["training_seconds_at_most"],
        "training_peak_mib": training["peak_rss_mib"] <= GOALS["training_peak_mib_at_most"],
        "worker_rss_mib": max(rss) <= GOALS["worker_rss_mib_at_most"] if rss else None,
        "fresh_p99_ms": (fresh["p99_ms"] <= GOALS["fresh_p99_ms_at_most"]
                         if fresh.get("p99_ms") is not None and not fresh.get("errors") else None),
    }


def als_ratio(n_dates: int, seed: int) -> dict:
    """Engine vs implicit ALS fit time on ``n_dates`` simulated dates (:func:`bench.peers.training_time`)."""
    from bench.peers import training_time

    result = training_time([n_dates], seed=seed)
    ratio = result["engine_over_implicit_als"].get(str(n_dates))
    return {"dates": n_dates, "catalog": "shipped", "engine_over_implicit_als": ratio,
            "met": ratio is not None and ratio <= GOALS["training_over_implicit_als_at_most"],
            "runs": result["runs"], "cpu_count": os.cpu_count(),
            "note": "the runs' max_rss figures are ru_maxrss (bench.peers), which Linux carries over exec from "
                    "the parent: only their times are used here"}


def _write(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> dict:
    """``python -m bench catalog``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", type=parse_sizes, default=[1000, 10000, 50000],
                        help="catalog sizes, comma-separated")
    parser.add_argument("--couples", type=int, default=3000, help="simulated couples (about 28 dates each)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the fresh tonight load")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="load clients (default 1: no request waits behind another)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sim-cells", type=int, default=50_000_000,
                        help="couples x ideas per simulator call (bounds the simulator's memory)")
    parser.add_argument("--als-dates", type=int, default=1_000_000,
                        help="dates for the engine / implicit ALS training-time ratio (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    result = {"setup": {"couples": args.couples, "workers": args.workers, "threads_per_worker": 1,
                        "concurrency": args.concurrency, "seconds": args.seconds, "tonight_query": QUERY,
                        "database": "sqlite", "blas_threads": 1, "seed": args.seed,
                        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
              "goals": GOALS, "sizes": []}
    for n_ideas in args.ideas:
        _progress(f"{n_ideas:,} ideas: start")
        size = measure_size(n_ideas, args)
        size["goals_met"] = goals_met(size)
        result["sizes"].append(size)
        _write(result, args.out)
    if args.als_dates:
        _progress(f"training time: engine vs implicit ALS on {args.als_dates:,} dates")
        result["training_vs_implicit_als"] = als_ratio(args.als_dates, args.seed)
        _progress(f"engine / implicit ALS = {result['training_vs_implicit_als']['engine_over_implicit_als']}x")
    _write(result, args.out)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
