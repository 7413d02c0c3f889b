"""The catalog-scale bench's pure helpers (``bench/catalog.py``), on tiny sizes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pandas as pd
import pytest

from bench.catalog import (
    GOALS,
    another_paths,
    chunk_sizes,
    distinct_paths,
    goals_met,
    parse_sizes,
    simulated_dates,
    status_mib,
    worker_pids,
)
from engine import load_catalog
from engine.lab.simulator import simulate


def test_parse_sizes_reads_comma_separated_positive_integers():
    assert parse_sizes("1000,10000, 50000") == [1000, 10000, 50000]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_sizes("1000,0")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_sizes(",")


@pytest.mark.parametrize(("couples", "ideas", "cells"), [(3000, 1000, 50_000_000), (3000, 50_000, 50_000_000),
                                                          (7, 10, 30), (5, 100, 1)])
def test_chunk_sizes_cover_every_couple_within_the_cell_bound(couples, ideas, cells):
    sizes = chunk_sizes(couples, ideas, cells)
    assert sum(sizes) == couples
    assert max(sizes) - min(sizes) <= 1
    assert all(size * ideas <= max(cells, ideas) for size in sizes)


def test_one_chunk_is_the_simulator_world_itself():
    catalog = load_catalog()
    dates = simulated_dates(catalog, 6, seed=3, max_cells=10**9)
    pd.testing.assert_frame_equal(dates, simulate(6, seed=3, catalog=catalog).dates)


def test_chunks_keep_couples_distinct_and_add_up():
    catalog = load_catalog()
    dates = simulated_dates(catalog, 6, seed=3, max_cells=2 * len(catalog))  # three chunks of two couples
    assert dates["couple_id"].nunique() == 6
    assert dates["couple_id"].str.endswith(("-0", "-1", "-2")).all()
    first = simulate(2, seed=3, catalog=catalog).dates
    assert dates.loc[dates["couple_id"].str.endswith("-0"), "idea_id"].tolist() == first["idea_id"].tolist()


def test_distinct_paths_never_repeat_a_request_and_carry_the_couples_token():
    couples = [("c1", "t1"), ("c2", "t2"), ("c3", "t3")]
    paths = distinct_paths(couples, "k=3", 10)
    assert len({path for path, _ in paths}) == 10
    assert paths[0] == ("/v1/couples/c1/tonight?k=3&minutes=60", {"Authorization": "Bearer t1"})
    assert paths[4] == ("/v1/couples/c2/tonight?k=3&minutes=61", {"Authorization": "Bearer t2"})


def test_another_paths_ask_each_couple_in_turn_with_its_token():
    couples = [("c1", "t1"), ("c2", "t2")]
    paths = another_paths(couples, "k=3", 5)
    assert [p for p, _ in paths] == [f"/v1/couples/{c}/tonight?k=3&another=true" for c in "c1 c2 c1 c2 c1".split()]
    assert paths[1][1] == {"Authorization": "Bearer t2"}


def test_status_and_workers_read_proc():
    if not os.path.exists(f"/proc/{os.getpid()}/status"):
        pytest.skip("no /proc here: bench catalog reads memory and worker processes from Linux's /proc")
    assert status_mib(os.getpid(), "VmRSS") > 1
    assert status_mib(os.getpid(), "NoSuchKey") is None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in worker_pids(os.getpid())
    finally:
        child.kill()
        child.wait()


def _size(fit_seconds=10.0, peak=500.0, rss=(200.0, 210.0), p99=30.0, errors=0):
    return {"training": {"fit_seconds": fit_seconds, "peak_rss_mib": peak},
            "worker_rss_mib": list(rss), "fresh_tonight": {"p99_ms": p99, "errors": errors}}


def test_goals_met_judges_each_goal_against_its_bound():
    assert goals_met(_size()) == {"training_seconds": True, "training_peak_mib": True, "worker_rss_mib": True,
                                  "fresh_p99_ms": True}
    over = goals_met(_size(fit_seconds=GOALS["training_seconds_at_most"] + 1, peak=5000.0, rss=(100.0, 401.0),
                           p99=61.0))
    assert not any(over.values())
    assert goals_met(_size(errors=3))["fresh_p99_ms"] is None


def test_own_peak_is_the_childs_not_its_parents():
    """A child of a large parent reports its own peak (``ru_maxrss`` would report the parent's)."""
    if not os.path.exists(f"/proc/{os.getpid()}/status"):
        pytest.skip("no /proc here: bench catalog reads memory and worker processes from Linux's /proc")
    code = ("import numpy as np, subprocess, sys; big = np.ones(300 * 2**20 // 8); "
            "print(subprocess.run([sys.executable, '-c', 'from bench.catalog import own_peak_mib; "
            "print(own_peak_mib())'], capture_output=True, text=True, check=True).stdout)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(done.stdout.strip()) < 250
