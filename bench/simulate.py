"""Benchmark ``dateideas simulate``: wall time and peak memory of one run.

Usage::

    python -m bench.simulate --couples 100000 --seed 1

The command runs as a subprocess so that its peak resident memory
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and CPU time are that run's
alone. CPU time is reported beside wall time because wall time suffers when
other work shares the machine (the load average is recorded too). Results
are written to ``bench/results/simulate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main", "run"]

_RESULTS = Path(__file__).resolve().parent / "results" / "simulate.json"


def _command() -> list[str]:
    script = Path(sys.executable).with_name("dateideas")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from engine.cli import main; main()"]


def run(n_couples: int, seed: int) -> dict:
    """Run ``dateideas simulate`` once; return its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        out = Path(tmp) / "out"
        cmd = _command() + ["simulate", "--couples", str(n_couples), "--seed", str(seed),
                            "--out", str(out), "--no-progress"]
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"simulate failed ({done.returncode}):\n{done.stderr}")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_kib = usage.ru_maxrss
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
        with (out / "dates.csv").open(encoding="utf-8") as fh:
            n_dates = sum(1 for _ in fh) - 1
    return {
        "command": " ".join(["dateideas"] + cmd[len(_command()):]),
        "couples": n_couples,
        "seed": seed,
        "dates": n_dates,
        "wall_seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "output_mib": round(sum(sizes.values()) / 2**20, 1),
        "files": sizes,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--couples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=_RESULTS, help="where to write the JSON result")
    args = parser.parse_args(argv)
    result = run(args.couples, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
