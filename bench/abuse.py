"""Abuse benchmark: one couple hammering ``another`` on PostgreSQL, and what it does to everyone else.

    .venv/bin/python -m bench abuse [--pg postgresql+psycopg://root@127.0.0.1:5432/test] [--calls 1100]
                                    [--abusers 4] [--seconds 15] [--couples 200] [--workers 2] [--threads 2]

Issue 16 measured, before the fix: a ``?another=true`` request cost 24 ms at
first and 2.4 s after 1,100 of them by one couple (today's request keys were
found by a ``COLLATE "C"`` comparison no index served), and four such clients
pushed another couple's tonight from 5 ms to 3.4 s. This benchmark repeats
both, bounded (about two minutes on the shared 2-core machine):

1. Prepares a store in a throwaway database on the PostgreSQL server
   ``--pg`` (simulated couples on the shipped catalog, a fitted and promoted
   model, a token per couple: :func:`bench.http.prepare`) and starts
   ``dateideas serve`` on it (:func:`bench.http.start_server`) with the
   per-couple daily ``another`` limit raised to allow the run
   (``DATEIDEAS_ANOTHER_PER_DAY``).
2. **Series**: one couple, one keep-alive connection: its plain tonight
   request, then ``--calls`` ``another=true`` requests one after the other.
   Reports the per-call latency of the first and the last ``--window``
   calls (median and p90) and ``ratio_last_to_first`` (medians; goal <= 2).
3. **Victim**: another couple's plain tonight request, one client in a
   closed loop for ``--seconds`` (:func:`bench.http.load`): alone, then while
   ``--abusers`` clients (each its own couple) send ``another=true`` in closed
   loops. Reports the victim's p99 both times and ``ratio_p99_abused_to_alone``
   (goal <= 3), with the abusers' request count.
4. Writes ``bench/results/abuse.json``.

The load generator shares the machine with the server (loopback), as in
``bench http``: the figures compare with each other, not with a dedicated
load machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.databases import throwaway_postgres
from bench.http import ROOT, cache_counts, load, prepare, start_server

RESULTS = ROOT / "bench" / "results" / "abuse.json"
_QUERY = "budget=3&k=3"


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values) * 1000, q)), 2) if values else None


def series(port: int, couple: str, token: str, calls: int) -> tuple[list[float], int]:
    """The couple's plain request, then ``calls`` ``another`` requests in a row: (latencies in s, non-200s)."""
    headers = {"Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/v1/couples/{couple}/tonight?{_QUERY}", headers=headers)
    conn.getresponse().read()
    latencies, errors = [], 0
    for _ in range(calls):
        t0 = time.perf_counter()
        conn.request("GET", f"/v1/couples/{couple}/tonight?{_QUERY}&another=true", headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t0)
        errors += response.status != 200
    conn.close()
    return latencies, errors


def abusers(port: int, couples: list[tuple[str, str]], stop: threading.Event, counts: list[int]) -> list[threading.Thread]:
    """One thread per couple sending ``another=true`` in a closed loop until ``stop``; ``counts[i]`` = its requests."""
    def run(i: int, couple: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            try:
                conn.request("GET", f"/v1/couples/{couple}/tonight?{_QUERY}&another=true", headers=headers)
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i, c, t), daemon=True) for i, (c, t) in enumerate(couples)]
    for thread in threads:
        thread.start()
    return threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://root@127.0.0.1:5432/test",
                        help="PostgreSQL server URL; the store is a throwaway database created there")
    parser.add_argument("--calls", type=int, default=1100, help="another requests in the series")
    parser.add_argument("--window", type=int, default=100, help="first/last calls compared")
    parser.add_argument("--abusers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0, help="each victim load")
    parser.add_argument("--couples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.couples < args.abusers + 2 or args.calls < 2 * args.window:
        parser.error("need --couples >= --abusers + 2 and --calls >= 2 * --window")
    catalog_dir = ROOT / "data"
    with throwaway_postgres(args.pg, prefix="bench_abuse") as empty_db:
        result = _run(args, catalog_dir, empty_db)
        # written before the database is dropped: the figures survive a failing clean-up
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2), flush=True)


def _run(args, catalog_dir: Path, empty_db: str) -> dict:
    db_url, model_dir, couples = prepare(catalog_dir, args.couples, args.couples, args.seed, empty_db)
    # the daily limit is raised for the run: the abusers must do real work, not collect cheap 429s
    os.environ["DATEIDEAS_ANOTHER_PER_DAY"] = str(10 ** 7)
    started = time.monotonic()
    process, port = start_server(db_url, model_dir, catalog_dir, args.workers, args.threads)
    load_before = os.getloadavg()[0]
    try:
        victim, *others = couples
        auth = {"Authorization": f"Bearer {victim[1]}"}
        victim_paths = [(f"/v1/couples/{victim[0]}/tonight?{_QUERY}", auth)]
        load(port, victim_paths, 2.0, 1, warmup=0.0)  # warm the workers
        latencies, errors = series(port, *others[0], args.calls)
        first, last = latencies[:args.window], latencies[-args.window:]
        alone = load(port, victim_paths, args.seconds, 1)
        stop, counts = threading.Event(), [0] * args.abusers
        threads = abusers(port, others[1:1 + args.abusers], stop, counts)
        time.sleep(1.0)  # the abuse under way before the victim is measured
        before, cache_before = sum(counts), cache_counts(port)
        abused = load(port, victim_paths, args.seconds, 1)
        abuse_requests, cache_after = sum(counts) - before, cache_counts(port)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    ratio_series = round(float(np.median(last) / np.median(first)), 3)
    ratio_victim = round(abused["p99_ms"] / alone["p99_ms"], 3) if alone["p99_ms"] else None
    return {
        "setup": {"database": "postgresql", "couples": args.couples, "catalog": str(catalog_dir.relative_to(ROOT)),
                  "calls": args.calls, "window": args.window, "abusers": args.abusers, "seconds": args.seconds,
                  "workers": args.workers, "threads_per_worker": args.threads, "query": _QUERY,
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                  "client": "Python threads with keep-alive http.client on the same machine (loopback)",
                  "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                  "wall_seconds": round(time.monotonic() - started, 1)},
        "series": {"errors": errors,
                   "first": {"median_ms": _ms(first, 50), "p90_ms": _ms(first, 90)},
                   "last": {"median_ms": _ms(last, 50), "p90_ms": _ms(last, 90)},
                   "ratio_last_to_first": ratio_series},
        "victim": {"alone": alone, "abused": abused, "abuser_requests": abuse_requests,
                   "ranked_list_cache_while_abused": {k: int(cache_after[k] - cache_before[k]) for k in ("hit", "miss")},
                   "abuser_rps": round(abuse_requests / args.seconds, 1),
                   "ratio_p99_abused_to_alone": ratio_victim},
        "goal": {"series_ratio_at_most": 2, "victim_p99_ratio_at_most": 3,
                 "met": bool(ratio_series <= 2 and ratio_victim is not None and ratio_victim <= 3)},
    }


if __name__ == "__main__":
    main(sys.argv[1:])
