"""Benchmark the newsletter: couples per second at 10k, 100k and 1M simulated couples.

Usage::

    python -m bench.newsletter                       # 10k, 100k, 1M; 90 s cap per measurement
    python -m bench.newsletter --sizes 10000 --max-seconds 0   # no cap

Each size runs in its own subprocess (so peak memory is that size's alone):
it simulates the couples (not timed), then measures, on the same data,

* ``numpy_reference`` - only the matrix scoring and top-k: random couple
  and idea factors (32 dims), one matmul per chunk, an exclusion mask and
  ``argpartition`` top-k; the floor any scorer over this catalog pays;
* ``in_process`` - the newsletter's planning path (``plan_chunks``: the
  90-day exclusions, ``Recommender.batch`` with distinct categories, and
  rendering both emails) in this process;
* ``dask_2_workers`` - the same on a 2-worker local ``distributed``
  cluster (processes, one thread each), model scattered once.

The store and the file writes are bypassed (the frames go straight into
``plan_chunks``, the function ``run_newsletter`` uses). A measurement stops
taking new chunks after ``--max-seconds``; couples/s is measured over the
chunks done and the full-size time is projected from it (``projected``:
true). Sizes above 100k tile a simulated 100k world under new couple
ids (simulating 1M couples alone takes longer than the measurement). CPU
seconds (driver + workers) are recorded beside wall time because the
machine may be shared (load average recorded). Peak memory is the peak RSS sampled during the measurement (driver),
plus each Dask worker's RSS after the work. A per-stage breakdown of one chunk
(scoring / reasons / rendering) shows what limits speed.

``end_to_end`` (``--end-to-end N``, default 100k couples) is the whole
operator's job through ``run_newsletter``: the simulated dates bulk-loaded
into a fresh SQLite database (not timed), then one week in-process and the
next on the 2-worker cluster, each reading the store, writing every email
and part file and recording the sends; its 1M figure is projected linearly,
and the numpy reference is run on the same number of couples in the same
process (``numpy_reference_over_this``: how many times the reference's
speed the job's is, comparable between hours of a VM whose speed varies).
Results go to
``bench/results/newsletter.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

__all__ = ["main"]

_RESULTS = Path(__file__).resolve().parent / "results" / "newsletter.json"
_REPO = Path(__file__).resolve().parents[1]
_SIMULATE_MAX = 100_000  # larger sizes tile a simulated 100k world under new couple ids


# --------------------------------------------------------------------------- setup

def _cluster_cpu(client) -> float:
    """CPU seconds the Dask workers have used so far (0 without a cluster)."""
    if client is None:
        return 0.0
    usage = client.run(lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2]))
    return float(sum(usage.values()))


class _PeakRss:
    """Samples this process's resident memory every 50 ms; ``peak`` in MiB."""

    def __init__(self) -> None:
        self.peak = self.start = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


# --------------------------------------------------------------------------- one size (child)

def _bounds(dates: pd.DataFrame, couple_ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Dates ordered like ``couple_ids`` and each couple's [start, end) row range (untimed setup)."""
    codes = pd.Categorical(dates["couple_id"], categories=couple_ids).codes
    if np.any(np.diff(codes) < 0):
        order = np.argsort(codes, kind="stable")
        dates, codes = dates.iloc[order].reset_index(drop=True), codes[order]
    ends = np.cumsum(np.bincount(codes[codes >= 0], minlength=len(couple_ids)))
    return dates, np.r_[0, ends]


def _chunks(dates: pd.DataFrame, couple_ids: np.ndarray, bounds: np.ndarray, chunk_size: int,
            deadline: list[float]):
    from engine.newsletter import ChunkInput

    for index, start in enumerate(range(0, len(couple_ids), chunk_size)):
        if index and deadline and time.perf_counter() > deadline[0]:
            return
        end = min(start + chunk_size, len(couple_ids))
        ids = [str(c) for c in couple_ids[start:end]]
        yield ChunkInput(index, ids, dates.iloc[bounds[start]:bounds[end]], {})


def _numpy_reference(n: int, n_ideas: int, chunk_size: int, k: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n_ideas, 32)).astype(np.float32)
    start = time.perf_counter()
    with _PeakRss() as mem:
        for lo in range(0, n, chunk_size):
            m = min(chunk_size, n - lo)
            U = rng.standard_normal((m, 32)).astype(np.float32)
            S = U @ V.T
            S[rng.random(S.shape) < 0.05] = -np.inf  # exclusions
            top = np.argpartition(-S, k, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(S, top, axis=1), axis=1)
            np.take_along_axis(top, order, axis=1)
    seconds = time.perf_counter() - start
    return {"couples": n, "seconds": round(seconds, 3), "couples_per_second": round(n / seconds, 1),
            "peak_rss_mib": round(mem.peak, 1)}


def _measure(rec, dates, couple_ids, bounds, week, k, chunk_size, max_seconds, client=None) -> dict:
    from engine.newsletter import plan_chunks

    load = os.getloadavg()[0]
    cpu0, wcpu0 = time.process_time(), _cluster_cpu(client)
    start = time.perf_counter()
    deadline = [start + max_seconds] if max_seconds > 0 else []
    done = picks = 0
    mode = "dask" if client is not None else "in-process"
    shown = start
    with _PeakRss() as mem:
        for result in plan_chunks(rec, _chunks(dates, couple_ids, bounds, chunk_size, deadline), week, k,
                                  client=client, render=True):
            done += len(result.couple_ids)
            picks += len(result.picks)
            if time.perf_counter() - shown >= 30:  # a long run shows where it is
                shown = time.perf_counter()
                print(f"{mode}: {done:,} of {len(couple_ids):,} couples, {shown - start:.0f} s, "
                      f"{done / (shown - start):,.0f} couples/s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0 + _cluster_cpu(client) - wcpu0
    rate = done / seconds
    out = {"cpu_seconds": round(cpu, 1), "couples_per_cpu_second": round(done / cpu, 1),
           "driver_cpu_seconds": round(time.process_time() - cpu0, 1),
           "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
           "couples_measured": done, "picks": picks, "seconds_measured": round(seconds, 2),
           "couples_per_second": round(rate, 1), "projected": done < len(couple_ids),
           "seconds_full_size": round(len(couple_ids) / rate, 1),
           "driver_peak_rss_mib": round(mem.peak, 1), "driver_rss_at_start_mib": round(mem.start, 1)}
    if client is not None:
        # ru_maxrss survives fork+exec on Linux (it would report the driver's), so sample the
        # workers' current RSS after the work instead
        rss = client.run(_PeakRss._rss)
        out["worker_rss_after_mib"] = [round(v, 1) for v in rss.values()]
    return out


def _breakdown(rec, dates, couple_ids, week, k) -> dict:
    """Seconds per stage for one chunk: model scoring+ranking, reasons, rendering."""
    from engine.newsletter import plan_picks, recently_done, render_emails, week_context

    ctx = week_context(week)
    sub = dates[dates["couple_id"].isin(set(couple_ids))]
    exclude = recently_done(sub, ctx.day)
    t0 = time.perf_counter()
    rec.model.rank(sub, couple_ids, k, context=ctx, exclude=exclude, distinct_groups=True,
                   as_of_day=(ctx.day - _dt.date(1970, 1, 1)).days)
    t1 = time.perf_counter()
    picks = plan_picks(rec, sub, couple_ids, week, k)
    t2 = time.perf_counter()
    render_emails(picks, week, rec.catalog)
    t3 = time.perf_counter()
    n = len(couple_ids)
    return {"couples": n, "model_rank_ms_per_couple": round((t1 - t0) * 1e3 / n, 3),
            "batch_total_ms_per_couple": round((t2 - t1) * 1e3 / n, 3),
            "reasons_and_rest_ms_per_couple": round(((t2 - t1) - (t1 - t0)) * 1e3 / n, 3),
            "render_ms_per_couple": round((t3 - t2) * 1e3 / n, 3)}


def _end_to_end(args) -> dict:
    """``run_newsletter`` as the operator runs it: SQLite store in, files and sends out.

    The simulated dates are bulk-loaded into a fresh SQLite database (not
    timed); then one week runs in-process and the next week on a 2-worker
    local Dask cluster, each reading the store, writing every email and part
    file and recording the sends.
    """
    from engine.app.recommender import Recommender
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate
    from engine.newsletter import run_newsletter, week_start
    from engine.store import open_store

    catalog = load_catalog(args.catalog)
    rec = Recommender(joblib.load(args.model), "bench")
    world = simulate(args.e2e, seed=1, catalog=catalog)
    out: dict = {"couples": args.e2e, "dates": len(world.dates), "database": "sqlite"}
    with tempfile.TemporaryDirectory(prefix="bench-newsletter-e2e-") as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.sqlite")
        store.migrate()
        t = time.perf_counter()
        store.bulk_load([{"id": str(c)} for c in world.couples["id"]], world.dates, source="bench")
        out["bulk_load_seconds"] = round(time.perf_counter() - t, 1)
        week = week_start((world.dates["done_on"].max() + pd.Timedelta(days=10)).date())
        del world
        # the same machine's speed at the moment, for comparing runs on a VM whose speed varies by the hour
        out["numpy_reference"] = _numpy_reference(args.e2e, len(catalog), args.chunk_size, args.k)

        def _timed(label: str, week, client=None) -> None:
            load = os.getloadavg()[0]
            cpu0, wcpu0, start = time.process_time(), _cluster_cpu(client), time.perf_counter()
            with _PeakRss() as mem:
                result = run_newsletter(store, rec, week, Path(tmp) / label, k=args.k, client=client,
                                        chunk_size=args.chunk_size, progress=False)
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu0 + _cluster_cpu(client) - wcpu0
            out[label] = {"week": week.isoformat(), "couples": result.couples, "picks": result.picks,
                          "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                          "couples_per_second": round(result.couples / seconds, 1),
                          "couples_per_cpu_second": round(result.couples / cpu, 1),
                          "projected_seconds_1m": round(1_000_000 * seconds / result.couples, 1),
                          "numpy_reference_over_this": round(
                              out["numpy_reference"]["couples_per_second"] * seconds / result.couples, 1),
                          "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
                          "driver_peak_rss_mib": round(mem.peak, 1)}
            # the output stays until the end: deleting 200k files slows the next run's file creation

        _timed("in_process", week)
        if args.workers:
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster, Client(cluster) as client:
                client.run(lambda: __import__("engine.newsletter"))
                _timed(f"dask_{args.workers}_workers", week + _dt.timedelta(days=7), client)
        store.close()
    return out


def _one(args) -> dict:
    from engine.app.recommender import Recommender
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate
    from engine.newsletter import week_start

    catalog = load_catalog(args.catalog)
    model = joblib.load(args.model)
    rec = Recommender(model, "bench")
    t = time.perf_counter()
    base = min(args.one, _SIMULATE_MAX)
    world = simulate(base, seed=1, catalog=catalog)
    sim_seconds = time.perf_counter() - t
    dates = world.dates
    couple_ids = world.couples["id"].to_numpy().astype(str)
    copies = -(-args.one // base)
    if copies > 1:  # tile the simulated couples under new ids (same per-couple work, real memory)
        dates = pd.concat([dates.assign(couple_id=f"t{i}-" + dates["couple_id"]) for i in range(copies)],
                          ignore_index=True)
        couple_ids = np.concatenate([np.char.add(f"t{i}-", couple_ids) for i in range(copies)])[:args.one]
    couple_ids = np.sort(couple_ids)
    dates, bounds = _bounds(dates, couple_ids)
    week = week_start((dates["done_on"].max() + pd.Timedelta(days=10)).date())
    out = {"couples": args.one, "dates": len(dates), "simulated_couples": base, "tiled_copies": copies,
           "simulate_seconds": round(sim_seconds, 1),
           "week": week.isoformat(),
           "numpy_reference": _numpy_reference(args.one, len(catalog), args.chunk_size, args.k)}
    if "in_process" in args.modes:
        out["in_process"] = _measure(rec, dates, couple_ids, bounds, week, args.k, args.chunk_size,
                                     args.max_seconds)
    if args.workers and "dask" in args.modes:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            # warm the workers (imports) outside the timing, as a long-lived cluster would be
            client.run(lambda: __import__("engine.newsletter"))
            out[f"dask_{args.workers}_workers"] = _measure(rec, dates, couple_ids, bounds, week, args.k,
                                                           args.chunk_size, args.max_seconds, client=client)
    ref = out["numpy_reference"]["couples_per_second"]
    for key in ("in_process", f"dask_{args.workers}_workers"):
        if key in out:
            out[key]["numpy_reference_over_this"] = round(ref / out[key]["couples_per_second"], 1)
    if args.one <= 20000:
        out["breakdown"] = _breakdown(rec, dates, list(couple_ids[:args.chunk_size]), week, args.k)
    return out


# --------------------------------------------------------------------------- driver

def _run_child(cmd: list[str]) -> tuple[int, str, list[str]]:
    """Run one size's child process, passing its progress lines (stderr) through as they come.

    Returns its exit code, its stdout (the JSON row) and its last stderr lines.
    """
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_REPO) as child:
        stdout_lines: list[str] = []
        reader = threading.Thread(target=lambda: stdout_lines.extend(child.stdout), daemon=True)
        reader.start()
        for line in child.stderr:
            print(line, end="", file=sys.stderr, flush=True)
            tail[:] = [*tail[-9:], line.rstrip()]
        reader.join()
        returncode = child.wait()
    return returncode, "".join(stdout_lines), tail


_MODES = ("in_process", "dask")


def _modes(text: str) -> tuple[str, ...]:
    """``--modes``: a comma-separated subset of :data:`_MODES`."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in _MODES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(f"modes must be a comma-separated subset of {', '.join(_MODES)}, got {text!r}")
    return modes


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--max-seconds", type=float, default=90.0,
                        help="stop taking chunks after this long per measurement (0 = no cap)")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", type=_modes, default=("in_process", "dask"),
                        help="comma-separated: in_process, dask (default both), e.g. dask alone for an "
                             "uncapped 1M run")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--ideas", type=int,
                        help="a catalog of this many ideas (bench.catalogs.large_catalog) instead of the shipped one")
    parser.add_argument("--fit-couples", type=int, default=5000)
    parser.add_argument("--end-to-end", type=int, default=100_000,
                        help="couples for the end-to-end run through the store and files (0 = skip)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--e2e", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args)))
        return None
    if args.e2e:
        print(json.dumps(_end_to_end(args)))
        return None

    from bench.catalogs import large_catalog
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel

    with tempfile.TemporaryDirectory(prefix="bench-newsletter-") as tmp:
        if args.ideas:
            catalog_dir = Path(tmp) / "catalog"
            large_catalog(args.ideas, catalog_dir)
            catalog_note = f"{args.ideas} ideas varied from the shipped ones (bench.catalogs.large_catalog)"
        else:
            catalog_dir, catalog_note = _REPO / "data", "shipped catalog"
        catalog = load_catalog(catalog_dir)
        t = time.perf_counter()
        model = EnjoymentModel().fit(simulate(args.fit_couples, seed=0, catalog=catalog).dates, catalog)
        fit_seconds = time.perf_counter() - t
        model_path = Path(tmp) / "model.joblib"
        joblib.dump(model, model_path)
        results = {
            "benchmark": "newsletter", "when": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "load_average_1m_at_start": os.getloadavg()[0]},
            "catalog": catalog_note, "ideas": len(catalog),
            "model": {"params": {k: v for k, v in model.get_params().items() if not callable(v)},
                      "fitted_on_couples": args.fit_couples, "fit_seconds": round(fit_seconds, 1)},
            "k": args.k, "chunk_size": args.chunk_size, "max_seconds_per_measurement": args.max_seconds,
            "goal": "1,000,000 couples in <= 600 s on this machine", "sizes": [],
        }
        sizes = [int(x) for x in args.sizes.split(",") if x]
        if _RESULTS.exists():  # keep earlier rows of sizes not re-run now
            earlier = json.loads(_RESULTS.read_text(encoding="utf-8"))
            results["sizes"] = [r for r in earlier.get("sizes", []) if r["couples"] not in sizes]
            if not args.end_to_end and "end_to_end" in earlier:
                results["end_to_end"] = earlier["end_to_end"]
        for size in sizes:
            cmd = [sys.executable, "-m", "bench.newsletter", "--one", str(size), "--model", str(model_path),
                   "--catalog", str(catalog_dir), "--chunk-size", str(args.chunk_size), "--k", str(args.k),
                   "--workers", str(args.workers), "--max-seconds", str(args.max_seconds),
                   "--modes", ",".join(args.modes)]
            returncode, stdout, stderr_tail = _run_child(cmd)
            if returncode != 0:
                row = {"couples": size, "error": stderr_tail[-1:]}
            else:
                row = json.loads(stdout.strip().splitlines()[-1])
            results["sizes"] = sorted(results["sizes"] + [row], key=lambda r: r["couples"])
            print(json.dumps(row, indent=1), file=sys.stderr)
            _RESULTS.parent.mkdir(parents=True, exist_ok=True)
            _RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        if args.end_to_end:
            cmd = [sys.executable, "-m", "bench.newsletter", "--e2e", str(args.end_to_end), "--model",
                   str(model_path), "--catalog", str(catalog_dir), "--chunk-size", str(args.chunk_size),
                   "--k", str(args.k), "--workers", str(args.workers)]
            returncode, stdout, stderr_tail = _run_child(cmd)
            results["end_to_end"] = (json.loads(stdout.strip().splitlines()[-1]) if returncode == 0
                                     else {"couples": args.end_to_end, "error": stderr_tail[-1:]})
            print(json.dumps(results["end_to_end"], indent=1), file=sys.stderr)
    million = next((r for r in results["sizes"] if r["couples"] == 1_000_000), None)
    if million:
        done = [v["seconds_full_size"] for v in million.values()
                if isinstance(v, dict) and "seconds_full_size" in v]
        if done:
            results["best_seconds_for_1m"] = min(done)
            results["goal_met"] = min(done) <= 600
    _RESULTS.parent.mkdir(parents=True, exist_ok=True)
    _RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {_RESULTS}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
