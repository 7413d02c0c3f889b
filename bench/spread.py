"""How keep-alive connections spread over gunicorn workers, with and without ``reuse_port``.

    .venv/bin/python -m bench spread [--connections 20] [--workers 2] [--rounds 3]

For each setting (``DATEIDEAS_REUSE_PORT=0``: one listening socket shared by
the workers, gunicorn's default; ``=1``: one ``SO_REUSEPORT`` socket per
worker, what ``service/gunicorn_conf.py`` uses) and each round, starts
``dateideas serve`` on a loopback port (an empty SQLite store; only
``/healthz`` is asked), opens ``--connections`` keep-alive connections at
once (one request each, kept open), and asks ``ss`` which worker process
holds each accepted connection. Prints and writes
``bench/results/spread.json``: per round the connections per worker, and the
largest share one worker got (1/workers is a perfect spread).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "spread.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server on port {port} was not healthy within {seconds} s")


def holders(port: int) -> dict[int, int]:
    """Worker pid -> established connections it holds on ``port`` (from ``ss -tnp``)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def one_round(root: Path, n_connections: int, workers: int, reuse: bool) -> dict:
    port = free_port()
    env = dict(os.environ, DATEIDEAS_DATABASE_URL=f"sqlite:///{root / 'spread.sqlite3'}",
               DATEIDEAS_MODEL_DIR=str(root / "models"), DATEIDEAS_REUSE_PORT="1" if reuse else "0",
               DATEIDEAS_RATELIMIT_ENABLED="0", PYTHONPATH=str(ROOT))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with (root / "server.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                                    "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(port, process)
        time.sleep(1.0)  # every worker booted and polling
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(n_connections)]
        for conn in conns:  # connect all at once, as a pool of clients starting together does
            conn.connect()
        for conn in conns:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        by_worker = sorted(holders(port).values(), reverse=True)
        for conn in conns:
            conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return {"per_worker": by_worker, "largest_share": round(by_worker[0] / max(1, sum(by_worker)), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench spread", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result: dict = {"connections": args.connections, "workers": args.workers, "settings": {}}
    with tempfile.TemporaryDirectory(prefix="dateideas-spread-") as folder:
        root = Path(folder)
        (root / "models").mkdir()
        for name, reuse in (("shared_socket", False), ("reuse_port", True)):
            rounds = [one_round(root, args.connections, args.workers, reuse) for _ in range(args.rounds)]
            result["settings"][name] = {"rounds": rounds,
                                        "worst_largest_share": max(r["largest_share"] for r in rounds)}
            print(f"{name:14s} " + "  ".join("/".join(map(str, r["per_worker"])) for r in rounds), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
