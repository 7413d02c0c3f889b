"""HTTP benchmark: tonight's suggestion vs a trivial JSON endpoint, under gunicorn with 2 workers.

    .venv/bin/python bench/http.py [--ideas 1000] [--couples 300] [--seconds 20] [--concurrency 8]

1. Builds a synthetic catalog of ``--ideas`` ideas in the import format by
   sampling the shipped ideas and perturbing their attributes (seeded), under
   ``bench/out/catalog-<n>/``.
2. Simulates couples on it, loads them into a fresh SQLite store, fits and
   promotes a model (default parameters), gives ``--tokens`` couples a token.
3. Starts ``dateideas serve --workers 2`` on a free loopback port with
   ``DATEIDEAS_CATALOG`` pointing at the synthetic catalog.
4. For each endpoint (``/healthz``, then ``/v1/couples/{id}/tonight``) runs a
   closed-loop load generator: ``--concurrency`` threads, each with its own
   keep-alive ``http.client`` connection, for ``--seconds`` seconds after a
   warm-up; records requests/s and p50/p90/p99 latency.
5. Writes ``bench/results/http.json``.

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

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results" / "http.json"


def prepare(catalog_dir: Path, n_couples: int, n_tokens: int, seed: int) -> tuple[str, Path, list[tuple[str, str]]]:
    """Store + model for the run; returns (database url, model dir, [(couple id, token)])."""
    from engine.catalog import load_catalog
    from engine.model import EnjoymentModel
    from engine.registry import Registry
    from engine.simulator import simulate
    from engine.store import open_store

    work = OUT / "http"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    catalog = load_catalog(catalog_dir)
    world = simulate(n_couples, seed=seed, catalog=catalog)
    db_url = f"sqlite:///{work / 'bench.sqlite3'}"
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


def start_server(db_url: str, model_dir: Path, catalog_dir: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = dict(os.environ, DATEIDEAS_DATABASE_URL=db_url, DATEIDEAS_MODEL_DIR=str(model_dir),
               DATEIDEAS_CATALOG=str(catalog_dir), DATEIDEAS_RETRAIN_AFTER_DATES="0")
    log = (OUT / "http" / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                                "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
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
                raise SystemExit(f"the server exited ({process.returncode}); see {log.name}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ideas", type=int, default=1000)
    parser.add_argument("--couples", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=50, help="couples the load cycles through")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--query", default="budget=2&setting=out&k=3", help="tonight's query string")
    args = parser.parse_args()

    catalog_dir = OUT / f"catalog-{args.ideas}"
    large_catalog(args.ideas, catalog_dir, seed=args.seed)
    db_url, model_dir, couples = prepare(catalog_dir, args.couples, args.tokens, args.seed)
    process, port = start_server(db_url, model_dir, catalog_dir, args.workers)
    load_before = os.getloadavg()[0]
    try:
        tonight = [(f"/v1/couples/{c}/tonight?{args.query}", {"Authorization": f"Bearer {t}"}) for c, t in couples]
        load(port, tonight, 3.0, args.concurrency, warmup=0.0)  # warm every worker's model and caches
        trivial = load(port, [("/healthz", {})], args.seconds, args.concurrency)
        suggest = load(port, tonight, args.seconds, args.concurrency)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    result = {
        "setup": {"ideas": args.ideas, "couples": args.couples, "couples_in_load": len(couples),
                  "workers": args.workers, "threads_per_worker": 4, "concurrency": args.concurrency,
                  "seconds": args.seconds, "tonight_query": args.query, "database": "sqlite",
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                  "client": "Python threads with keep-alive http.client on the same machine (loopback)",
                  "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
        "healthz": trivial,
        "tonight": suggest,
        "ratio_tonight_to_trivial_rps": round(suggest["rps"] / trivial["rps"], 3) if trivial["rps"] else None,
        "goal": {"ratio_at_least": 0.5, "tonight_p99_ms_at_most": 25},
    }
    result["goal"]["met"] = bool(result["ratio_tonight_to_trivial_rps"] and result["ratio_tonight_to_trivial_rps"] >= 0.5
                                 and suggest["p99_ms"] is not None and suggest["p99_ms"] <= 25)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
