"""Pillars in balance: what four weekly newsletters give each couple.

Usage::

    python -m bench pillars --demo                  # the demo world (dateideas init --demo: 50 couples, seed 7)
    python -m bench pillars --couples 10000         # simulated couples
    python -m bench pillars --couples 10000 --baseline   # the same without balancing (picks by score alone)

Builds the world in a throwaway SQLite store (the demo: ``build_demo``, its
own trained model; simulated: ``simulate`` + ``EnjoymentModel`` fitted on
it), then runs ``run_newsletter`` for ``--weeks`` consecutive weeks starting
the Monday after the last simulated date, in-process, exactly as the operator
would. From the sends recorded it reports:

* ``weeks_with_2_pillars``: share of (couple, week) whose picks cover at least two pillars;
* ``couples_all_4``: share of couples whose picks over the weeks cover all four;
* ``couples_with_vulnerability``: share with at least one vulnerability pick;
* ``couples_missing_a_pillar``: how many couples missed at least one pillar;
* seconds per week.

Results go to ``bench/results/pillars[_baseline]_<demo|N>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

__all__ = ["main", "measure"]

_RESULTS = Path(__file__).resolve().parent / "results"


def _world(store, folder: Path, demo: bool, couples: int, seed: int):
    from engine.app.recommender import Recommender
    from engine.domain.catalog import load_catalog

    catalog = load_catalog()
    if demo:
        from engine.app.demo import build_demo

        class _Settings:
            model_dir = folder / "models"

        build_demo(store, _Settings())
        return Recommender.load(folder / "models", catalog=catalog)
    from engine.domain.profiles import from_couples
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel

    world = simulate(couples, seed=seed, catalog=catalog)
    store.bulk_load([{"id": str(c)} for c in world.couples["id"]], world.dates, source="demo")
    model = EnjoymentModel().fit(world.dates, catalog, from_couples(world.couples))
    return Recommender(model, "bench")


def measure(demo: bool = False, couples: int = 10000, seed: int = 0, weeks: int = 4, k: int = 3,
            baseline: bool = False) -> dict:
    """Run the weeks and count pillars per couple (see the module notes)."""
    from engine.newsletter import planning, run_newsletter
    from engine.practice.pillars import PILLARS, idea_pillars
    from engine.store import open_store, tbl_newsletter_sends

    if baseline:  # picks by score alone, as before pillars were balanced
        planning.candidates_for = lambda k: k
        planning.balance_picks = lambda candidates, k, *args, **kwargs: dict(candidates)
    with tempfile.TemporaryDirectory(prefix="pillars-") as tmp:
        folder = Path(tmp)
        store = open_store(f"sqlite:///{folder / 'db.sqlite3'}")
        store.migrate()
        recommender = _world(store, folder, demo, couples, seed)
        with store.engine.connect() as conn:
            last = conn.execute(sa.text("SELECT MAX(done_on) FROM dates")).scalar()
        last = _dt.date.fromisoformat(str(last)[:10])
        first = last + _dt.timedelta(days=7 - last.weekday())
        seconds = []
        for w in range(weeks):
            start = time.perf_counter()
            run_newsletter(store, recommender, first + _dt.timedelta(weeks=w), folder / f"week{w}", k=k,
                           progress=False)
            seconds.append(round(time.perf_counter() - start, 2))
        with store.engine.connect() as conn:
            sends = conn.execute(sa.select(tbl_newsletter_sends.c.couple_id, tbl_newsletter_sends.c.week,
                                           tbl_newsletter_sends.c.idea_id)).all()
        n_couples = store.count_couples()
        store.close()
    pillar_of = idea_pillars(recommender.catalog)
    by_week: dict[tuple[str, object], set[str]] = defaultdict(set)
    by_couple: dict[str, set[str]] = defaultdict(set)
    for couple, week, idea in sends:
        by_week[(couple, week)].update(pillar_of.get(idea, ()))
        by_couple[couple].update(pillar_of.get(idea, ()))
    all_four = sum(1 for p in by_couple.values() if set(PILLARS) <= p)
    return {
        "benchmark": "pillars", "world": "demo" if demo else f"simulated {couples} couples (seed {seed})",
        "balanced": not baseline, "couples": n_couples, "weeks": weeks, "k": k,
        "first_week": first.isoformat(),
        "weeks_with_2_pillars": round(sum(len(p) >= 2 for p in by_week.values()) / max(1, len(by_week)), 4),
        "couples_all_4": round(all_four / max(1, n_couples), 4),
        "couples_missing_a_pillar": n_couples - all_four,
        "couples_with_vulnerability": round(sum("vulnerability" in p for p in by_couple.values())
                                            / max(1, n_couples), 4),
        "seconds_per_week": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="the demo world instead of simulated couples")
    parser.add_argument("--couples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="without balancing the pillars")
    parser.add_argument("--weight", type=float, help="engine.practice.pillars.WEIGHT for this run")
    parser.add_argument("--candidates", type=int, help="engine.practice.pillars.CANDIDATES for this run")
    args = parser.parse_args(argv)
    import engine.practice.pillars

    if args.weight is not None:
        engine.practice.pillars.WEIGHT = args.weight
    if args.candidates is not None:
        engine.practice.pillars.CANDIDATES = args.candidates
    logging.basicConfig(level=logging.WARNING)
    result = measure(args.demo, args.couples, args.seed, args.weeks, args.k, args.baseline)
    result.update(weight=engine.practice.pillars.WEIGHT, candidates_per_pick=engine.practice.pillars.CANDIDATES)
    name = f"pillars{'_baseline' if args.baseline else ''}_{'demo' if args.demo else args.couples}.json"
    _RESULTS.mkdir(exist_ok=True)
    (_RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
