"""``python -m bench writes``: what a fresh tonight request's writes cost, one transaction against two.

A fresh request (a couple's first of the day, or the first after a date) stores the prompts
chosen for its suggestions and logs the list it served. ``serve_tonight`` writes both in one
transaction (``Store.record_served``); the reference, in the same run, is the way it was done
before issue 19: the prompts in one transaction (``Store.assign_prompts``), then the log in a
second (``Store.log_suggestions``). On SQLite every write transaction is a ``BEGIN IMMEDIATE``
that all workers queue on.

Set-up (not timed): 80 simulated couples bulk-loaded into a SQLite file, a small model fitted
on them, and ``--couples`` new couples with no history per round and mode, so every measured
request is a couple's first: three new prompts and a log each. Then ``--rounds`` rounds, the
two modes interleaved (one, two, one, two, ...), each with ``--procs`` processes serving
their share of the round's couples at once on the same file (two gunicorn workers). Per mode
the medians over the rounds of: wall time per request, CPU per request, wall time inside the
store's write methods (waiting for the lock included), write transactions per request
(``BEGIN IMMEDIATE`` counted by SQLite's statement trace), and the round's wall time. The
ratios two / one are in the same run, so a slow spell of a shared machine falls on both.
Results: ``bench/results/writes.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

_DAY = _dt.date(2026, 3, 2)
_TIMED = ("record_served", "assign_prompts", "log_suggestions")


def _two_transactions(store_class):
    """A ``Store`` whose ``record_served`` is the pre-issue-19 path: prompts, then the log, apart."""

    class TwoTransactions(store_class):
        def record_served(self, couple_id, since, choose, rows):
            if choose is None:
                return None, self.log_suggestions(rows)
            # Store.assign_prompts is this, one transaction without the log (it calls record_served)
            chosen, _ = store_class.record_served(self, couple_id, since, choose, ())
            return chosen, self.log_suggestions(rows)

    return TwoTransactions


def _serve(url: str, model, couples: list[str], warm: list[str], mode: str, queue) -> None:
    """Serve each couple's first tonight on ``url``; put the per-request figures on ``queue``."""
    import sqlalchemy as sa

    from engine.app.recommender import Recommender
    from engine.app.serving import serve_tonight
    from engine.domain.context import Context
    from engine.store import Store, open_store

    store = open_store(url)
    if mode == "two":
        store.__class__ = _two_transactions(type(store))
    rec = Recommender(model, "bench")
    in_writes, depth, begins = [0.0], [0], [0]
    for name in _TIMED:  # the write methods' wall time, outermost call only (one calls another)
        setattr(Store, name, _timed_method(getattr(Store, name), in_writes, depth))
    if mode == "two":  # the subclass's own method is the outermost call there
        sub = type(store)
        sub.record_served = _timed_method(sub.record_served, in_writes, depth)

    def trace(conn, *_):
        conn.set_trace_callback(lambda sql: begins.__setitem__(0, begins[0] + (sql == "BEGIN IMMEDIATE")))

    sa.event.listen(store.engine, "checkout", trace)
    for couple in warm:  # the model's caches and the connections, outside the timing
        serve_tonight(store, rec, couple, Context(day=_DAY), k=3, today=_DAY)
    rows = []
    for couple in couples:
        in_writes[0], begins[0] = 0.0, 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        serve_tonight(store, rec, couple, Context(day=_DAY), k=3, today=_DAY)
        rows.append(((time.perf_counter() - wall0) * 1e3, (time.process_time() - cpu0) * 1e3,
                     in_writes[0] * 1e3, begins[0]))
    store.close()
    queue.put(rows)


def _timed_method(method, in_writes: list[float], depth: list[int]):
    """``method`` adding its wall time to ``in_writes[0]`` when it is the outermost write call."""

    def timed(self, *args, **kwargs):
        depth[0] += 1
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                in_writes[0] += time.perf_counter() - start
    return timed


def _prepare(folder: Path, n_new: int):
    from engine.domain.catalog import load_catalog
    from engine.domain.profiles import from_couples
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel
    from engine.store import open_store

    world = simulate(80, seed=3, catalog=load_catalog(), progress=False)
    url = f"sqlite:///{folder / 'writes.sqlite3'}"
    store = open_store(url)
    store.migrate()
    store.bulk_load([{"id": str(c)} for c in world.couples["id"]], world.dates, source="bench")
    couples = [store.create_couple(couple_id=f"fresh{i:05d}")[0] for i in range(n_new)]
    store.close()
    model = EnjoymentModel(max_iter=30, random_state=0).fit(world.dates, world.catalog,
                                                            from_couples(world.couples))
    return url, model, couples


def _round(url: str, model, couples: list[str], warm: list[str], procs: int, mode: str) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_serve, args=(url, model, couples[i::procs], warm[i::procs], mode, queue))
               for i in range(procs)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    rows = [row for _ in workers for row in queue.get()]
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    wall, cpu, writes, begins = zip(*rows)
    return {"requests": len(rows), "seconds": round(seconds, 3),
            "wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu),
            "writes_ms": statistics.median(writes), "transactions": statistics.fmean(begins)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench writes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--couples", type=int, default=300, help="new couples per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2, help="processes serving at once (workers)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "writes.json"))
    args = parser.parse_args(argv)
    if args.couples < 1 or args.rounds < 1 or args.procs < 1:
        parser.error("--couples, --rounds and --procs must be >= 1")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as tmp:
        warm_n = 5 * args.procs
        per = args.couples + warm_n
        url, model, couples = _prepare(Path(tmp), 2 * args.rounds * per)
        runs: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}
        for r in range(args.rounds):
            for j, mode in enumerate(("one", "two")):
                block = couples[(2 * r + j) * per:(2 * r + j + 1) * per]
                runs[mode].append(_round(url, model, block[warm_n:], block[:warm_n], args.procs, mode))
                print(f"round {r + 1} {mode}: {runs[mode][-1]}", flush=True)
    summary = {mode: {key: round(statistics.median(run[key] for run in rs), 3)
                      for key in ("wall_ms", "cpu_ms", "writes_ms", "transactions", "seconds")}
               for mode, rs in runs.items()}
    result = {
        "benchmark": "writes", "when": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_1min_before_after": [round(load_before, 2),
                                                                               round(os.getloadavg()[0], 2)]},
        "couples_per_round": args.couples, "rounds": args.rounds, "procs": args.procs,
        "median": summary,
        "ratio_two_over_one": {key: round(summary["two"][key] / max(summary["one"][key], 1e-9), 2)
                               for key in ("wall_ms", "cpu_ms", "writes_ms", "seconds")},
        "runs": runs,
    }
    if args.out != "-":
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("median", "ratio_two_over_one", "machine")}, indent=1))
