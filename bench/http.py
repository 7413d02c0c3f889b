"""HTTP benchmark: tonight's suggestion vs a trivial JSON endpoint, under gunicorn with 2 workers.

    .venv/bin/python -m bench http [--ideas 1000] [--couples 300] [--seconds 20] [--rounds 3] [--concurrency 8]
                                  [--threads 1]
                                  [--pg postgresql+psycopg://root@127.0.0.1:5432/test]

1. Builds a synthetic catalog of ``--ideas`` ideas in the import format by
   sampling the shipped ideas and perturbing their attributes (seeded), under
   ``bench/out/catalog-<n>/``.
2. Simulates couples on it, loads them into a fresh SQLite store, fits and
   promotes a model (default parameters), gives every couple a token.
3. Starts ``dateideas serve --workers 2`` on a free loopback port with
   ``DATEIDEAS_CATALOG`` pointing at the synthetic catalog.
4. For each load runs a closed-loop load generator: ``--concurrency``
   threads, each with its own keep-alive ``http.client`` connection, for
   ``--seconds`` seconds after a warm-up; records requests/s and p50/p90/p99
   latency. The loads, in order:

   * ``healthz``: ``/healthz``;
   * ``tonight``: ``/v1/couples/{id}/tonight?<--query>`` cycling over
     ``--tokens`` couples, the same request again and again in one day, so
     after the warm-up every worker answers the ranked list from its cache
     (each request still checks the token and reads the couple's history,
     recent suggestions and today's keys; it writes nothing, since the list
     it serves is already logged for that request today);
   * ``tonight_distinct``: every request new: all ``--couples`` couples in
     turn, each time with a ``minutes`` value that couple has not asked with
     (``minutes=60``, ``61``, ...), so no ranked list is cached, and a couple
     comes back only after every other couple (more than the 64 couples
     whose scored ideas a worker keeps), so its features are computed again;
   * ``another``: ``tonight?<--query>&another=1``, all ``--couples`` couples
     in turn, as a couple pressing "Another idea" (each request counts the
     press in a write transaction and moves one place down the couple's list,
     a deeper list ranked when the cached one runs out). A closed loop of 8
     clients over 300 couples presses far faster than a couple can (~80 a
     minute each), so the server runs with the ``another`` limits lifted
     (``DATEIDEAS_ANOTHER_PER_DAY``, ``DATEIDEAS_RATELIMIT_ANOTHER``, as
     ``bench abuse`` lifts them); the other loads never send ``another``.

   Each load reports the workers' ``dateideas_tonight_cache_total`` hits and
   misses from ``/metrics`` (summed over both workers) during the load.
   The four loads run ``--rounds`` times, interleaved (healthz, tonight,
   distinct, another, healthz, ...), so a slow spell of a shared machine falls on all
   of them; each round gives its own ratios, the result reports each load's
   median-throughput round and the median of the rounds' ratios (every
   round under ``rounds``). Round ``r``'s distinct load uses ``minutes``
   from ``60 + 100 r`` on, so no round repeats another's requests.
5. Writes ``bench/results/http.json`` (``--pg SERVER_URL``: the store is a
   throwaway database created on that PostgreSQL server and dropped
   afterwards; results in ``bench/results/http_postgresql.json``).

The load generator runs on the same machine as the server (loopback), so the
figures include its own CPU use; they are comparable with each other, not
with a dedicated load machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # this file is bench/http.py: keep it from shadowing the standard library's http

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import threading
import time

import numpy as np

from bench.catalogs import large_catalog
from bench.databases import throwaway_postgres

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results" / "http.json"


def prepare(catalog_dir: Path, n_couples: int, n_tokens: int, seed: int,
            db_url: str | None = None) -> tuple[str, Path, list[tuple[str, str]]]:
    """Store + model for the run; returns (database url, model dir, [(couple id, token)]).

    ``db_url``: an empty database to use (default: a fresh SQLite file).
    """
    from engine.domain.catalog import load_catalog
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel
    from engine.learning.registry import Registry
    from engine.store import open_store

    work = OUT / "http"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    catalog = load_catalog(catalog_dir)
    world = simulate(n_couples, seed=seed, catalog=catalog)
    db_url = db_url or f"sqlite:///{work / 'bench.sqlite3'}"
    store = open_store(db_url)
    store.migrate()
    store.bulk_load([{"id": str(c)} for c in world.couples["id"]], world.dates, source="demo")
    t0 = time.perf_counter()
    model = EnjoymentModel().fit(world.dates, catalog)
    print(f"fitted the model on {len(world.dates)} dates x {len(catalog)} ideas in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    registry = Registry(work / "models")
    registry.promote(registry.save(model), catalog=catalog)
    couples = [(str(c), store.rotate_token(str(c))) for c in world.couples["id"][:n_tokens]]
    store.close()
    return db_url, work / "models", couples


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, model_dir: Path, catalog_dir: Path, workers: int,
                 threads: int = 1) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = dict(os.environ, DATEIDEAS_DATABASE_URL=db_url, DATEIDEAS_MODEL_DIR=str(model_dir),
               DATEIDEAS_CATALOG=str(catalog_dir), DATEIDEAS_RETRAIN_AFTER_DATES="0",
               # the `another` load presses faster than a couple may (see the module notes)
               DATEIDEAS_ANOTHER_PER_DAY=str(10 ** 7), DATEIDEAS_RATELIMIT_ANOTHER="1000000 per minute")
    log = (OUT / "http" / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                                "--workers", str(workers), "--threads", str(threads)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return process, port
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the server exited ({process.returncode}); see {log.name}") from None
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not become ready in 180 s")


def load(port: int, paths: list[tuple[str, dict]], seconds: float, concurrency: int,
         warmup: float = 2.0) -> dict:
    """Closed-loop load: ``concurrency`` keep-alive clients cycling through ``paths``."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            path, headers = paths[i % len(paths)]
            i += concurrency
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            elapsed = time.perf_counter() - t0
            if now >= start_at:
                latencies[n].append(elapsed)
                errors[n] += not ok
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ms = np.array([x for xs in latencies for x in xs]) * 1000
    return {
        "requests": int(all_ms.size), "errors": int(sum(errors)), "seconds": seconds,
        "rps": round(all_ms.size / seconds, 1),
        "p50_ms": round(float(np.percentile(all_ms, 50)), 2) if all_ms.size else None,
        "p90_ms": round(float(np.percentile(all_ms, 90)), 2) if all_ms.size else None,
        "p99_ms": round(float(np.percentile(all_ms, 99)), 2) if all_ms.size else None,
    }


def cache_counts(port: int) -> dict[str, float]:
    """``dateideas_tonight_cache_total`` by result, summed over the workers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("dateideas_tonight_cache_total{"):
            labels, value = line.rsplit(" ", 1)
            result = labels.split('result="', 1)[1].split('"', 1)[0]
            out[result] = out.get(result, 0.0) + float(value)
    return out


def measured(port: int, paths: list[tuple[str, dict]], seconds: float, concurrency: int) -> dict:
    """:func:`load` plus the cache hits and misses the workers counted meanwhile."""
    before = cache_counts(port)
    result = load(port, paths, seconds, concurrency)
    after = cache_counts(port)
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    result["cache"] = {"hits": int(hits), "misses": int(misses),
                       "hit_share": round(hits / (hits + misses), 3) if hits + misses else None}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ideas", type=int, default=1000)
    parser.add_argument("--couples", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=50, help="couples the load cycles through")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="the four loads, interleaved, this many times; medians are reported")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (serve's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--query", default="budget=2&setting=out&k=3", help="tonight's query string")
    parser.add_argument("--pg", help="PostgreSQL server URL (e.g. postgresql+psycopg://root@127.0.0.1:5432/test): "
                                     "serve from a throwaway database created there instead of SQLite")
    args = parser.parse_args()
    if "minutes=" in args.query:
        parser.error("--query must not set minutes: the distinct load sets it per request")

    catalog_dir = OUT / f"catalog-{args.ideas}"
    large_catalog(args.ideas, catalog_dir, seed=args.seed)
    with _database(args.pg) as empty_db:
        result = _run(args, catalog_dir, empty_db)
    results = RESULTS if not args.pg else RESULTS.with_name("http_postgresql.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


@contextlib.contextmanager
def _database(server_url: str | None):
    """None (SQLite), or a throwaway PostgreSQL database on ``server_url``."""
    if not server_url:
        yield None
        return
    with throwaway_postgres(server_url, prefix="bench_http") as url:
        yield url


def _run(args, catalog_dir: Path, empty_db: str | None) -> dict:
    db_url, model_dir, couples = prepare(catalog_dir, args.couples, args.couples, args.seed, empty_db)
    process, port = start_server(db_url, model_dir, catalog_dir, args.workers, args.threads)
    load_before = os.getloadavg()[0]
    try:
        auth = {c: {"Authorization": f"Bearer {t}"} for c, t in couples}
        tonight = [(f"/v1/couples/{c}/tonight?{args.query}", auth[c]) for c, _ in couples[:args.tokens]]
        # request i: couple i mod n with minutes 60 + i // n - never the same request twice
        # (each round starts 100 minutes further on, so no round repeats another's requests)
        def distinct(round_: int) -> list[tuple[str, dict]]:
            return [(f"/v1/couples/{c}/tonight?{args.query}&minutes={60 + 100 * round_ + i // len(couples)}",
                     auth[c]) for i in range(len(couples) * 100) for c in [couples[i % len(couples)][0]]]

        another = [(f"/v1/couples/{c}/tonight?{args.query}&another=1", auth[c]) for c, _ in couples]
        load(port, tonight, 3.0, args.concurrency, warmup=0.0)  # warm every worker's model and caches
        rounds = []
        for round_ in range(args.rounds):  # the loads interleaved, so a slow spell of the machine hits all three
            rounds.append({"healthz": load(port, [("/healthz", {})], args.seconds, args.concurrency),
                           "tonight": measured(port, tonight, args.seconds, args.concurrency),
                           "tonight_distinct": measured(port, distinct(round_), args.seconds, args.concurrency),
                           "another": measured(port, another, args.seconds, args.concurrency)})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    for run in rounds:
        run["ratio_tonight_to_trivial_rps"] = _ratio(run["tonight"], run["healthz"])
        run["ratio_tonight_distinct_to_trivial_rps"] = _ratio(run["tonight_distinct"], run["healthz"])
        run["ratio_another_to_trivial_rps"] = _ratio(run["another"], run["healthz"])
    trivial, suggest, fresh, moved = (_median_run([run[name] for run in rounds])
                                      for name in ("healthz", "tonight", "tonight_distinct", "another"))
    result = {
        "setup": {"ideas": args.ideas, "couples": args.couples, "couples_in_load": len(couples[:args.tokens]),
                  "couples_in_distinct_load": len(couples),
                  "workers": args.workers, "threads_per_worker": args.threads, "concurrency": args.concurrency,
                  "seconds": args.seconds, "rounds": args.rounds, "tonight_query": args.query,
                  "database": "postgresql" if empty_db else "sqlite",
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                  "client": "Python threads with keep-alive http.client on the same machine (loopback)",
                  "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
        "healthz": trivial,
        "tonight": suggest,
        "tonight_distinct": fresh,
        "another": moved,
        "ratio_tonight_to_trivial_rps": _median([run["ratio_tonight_to_trivial_rps"] for run in rounds]),
        "ratio_tonight_distinct_to_trivial_rps": _median([run["ratio_tonight_distinct_to_trivial_rps"]
                                                          for run in rounds]),
        "ratio_another_to_trivial_rps": _median([run["ratio_another_to_trivial_rps"] for run in rounds]),
        "rounds": rounds,
        "goal": {"ratio_at_least": 0.5, "tonight_p99_ms_at_most": 25},
    }

    def met(ratio, run):
        return bool(ratio and ratio >= 0.5 and run["p99_ms"] is not None and run["p99_ms"] <= 25)

    result["goal"]["met"] = met(result["ratio_tonight_to_trivial_rps"], suggest)
    result["goal"]["met_distinct"] = met(result["ratio_tonight_distinct_to_trivial_rps"], fresh)
    return result


def _ratio(run: dict, reference: dict) -> float | None:
    return round(run["rps"] / reference["rps"], 3) if reference["rps"] else None


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def _median_run(runs: list[dict]) -> dict:
    """The run with the median requests/s (the upper one of two)."""
    return sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]


if __name__ == "__main__":
    main()
