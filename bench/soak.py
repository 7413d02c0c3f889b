"""Soak: mixed load on ``dateideas serve`` over PostgreSQL, with a worker killed and the database restarted.

    .venv/bin/python -m bench soak [--minutes 10] [--concurrency 4] [--couples 40] [--workers 2]
                                   [--pg postgresql+psycopg://root@127.0.0.1:5432/test]
                                   [--no-db-restart] [--no-kill]

Bounded and loopback only. Steps:

1. A throwaway PostgreSQL database on ``--pg`` (dropped afterwards) with
   ``--couples`` simulated couples and their history; a small model
   (``EnjoymentModel(max_iter=30)``) trained on them and promoted in a
   temporary registry; a token per couple.
2. ``dateideas serve --workers N`` on a free loopback port (rate limits on,
   set high enough for one load generator; no background retraining).
3. ``--concurrency`` client threads for ``--minutes`` minutes, each on its own
   keep-alive connection, choosing at random: ``tonight`` (55 %, one in ten
   with ``another=true``), ``date`` (25 %: ``POST .../dates`` with a fresh
   ``Idempotency-Key``, retried with the same key on a connection error or a
   5xx, as a client must), ``signin`` (20 %: the page form, then ``/tonight``
   with the cookie; one in three then signs out and checks that the saved
   cookie no longer opens ``/tonight``).
4. Meanwhile: the newsletter of week 1 at 15 % of the run (CLI, in a
   subprocess, chunks of 10 couples); one gunicorn worker killed with
   SIGKILL at 30 %; the newsletter of week 2 started at 55 % and, one second
   later, PostgreSQL restarted (``pg_ctlcluster --skip-systemctl-redirect
   <version> <--pg-cluster> restart``; ``main`` by default, the server other
   tests share, so the outage is a few seconds, once per soak: give a cluster
   of the soak's own with ``--pg`` and ``--pg-cluster`` to restart nothing
   else); when the week-2 run failed in the outage it
   is run again (the operator's retry), and week 1 is run again at 80 % (a
   cron overlap: it must add nothing).
5. Counts, in ``bench/results/soak.json``: requests by kind and status; 5xx
   outside the outage window (from the restart command to the first
   ``/readyz`` 200 after it; a request counts as inside when its time
   overlaps the window) — must be 0; acknowledged dates (201/200) missing
   from the database — must be 0; stored dates per idempotency key above
   one — must be 0; duplicate newsletter sends (a couple and rank twice in a
   week, in the database or in ``picks.csv``) — must be 0; revoked cookies
   that still opened ``/tonight`` — must be 0. Connection errors (the killed
   worker's connections) are counted apart; their requests were retried.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "soak.json"
PG_DEFAULT = "postgresql+psycopg://root@127.0.0.1:5432/test"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
_COOKIE_RE = re.compile(r"session=([^;]*)")


# --------------------------------------------------------------------------- set-up

def prepare(db_url: str, model_dir: Path, n_couples: int, seed: int = 7) -> list[tuple[str, str]]:
    """Load simulated couples into ``db_url``, train and promote a small model; return (couple id, token)s."""
    from engine import load_catalog
    from engine.domain.profiles import from_couples
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel
    from engine.learning.registry import Registry
    from engine.store import open_store

    world = simulate(n_couples, seed=seed, catalog=load_catalog())
    store = open_store(db_url)
    try:
        store.migrate()
        store.bulk_load([{"id": str(c)} for c in world.couples["id"]], world.dates, source="demo", progress=False)
        registry = Registry(model_dir)
        model = EnjoymentModel(max_iter=30).fit(world.dates, world.catalog, from_couples(world.couples))
        registry.promote(registry.save(model, data={"dates": len(world.dates)}), catalog=world.catalog)
        return [(str(c), store.rotate_token(str(c))) for c in world.couples["id"]]
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        conn.request("GET", "/readyz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's child processes (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


# --------------------------------------------------------------------------- the load

@dataclass
class Record:
    kind: str
    start: float
    end: float
    status: int | str  # HTTP status, or "conn" for a connection error


@dataclass
class Shared:
    port: int
    couples: list[tuple[str, str]]
    ideas: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: list[Record] = field(default_factory=list)
    acked: list[tuple[str, str, int]] = field(default_factory=list)  # (couple, key, stored id)
    unacked: int = 0
    revoked_still_open: int = 0
    signouts_checked: int = 0


class Client:
    """One keep-alive connection; every request is recorded."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.conn: http.client.HTTPConnection | None = None

    def request(self, kind: str, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int | str, dict, bytes]:
        start = time.time()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.shared.port, timeout=30)
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            status: int | str = response.status
            got = {k.lower(): v for k, v in response.getheaders()}
            if response.will_close:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            status, got, data = "conn", {}, b""
        with self.shared.lock:
            self.shared.records.append(Record(kind, start, time.time(), status))
        return status, got, data


def _tonight(client: Client, rng: random.Random) -> None:
    couple_id, token = rng.choice(client.shared.couples)
    query = f"k=3&budget={rng.randint(0, 3)}&setting={rng.choice(['home', 'out'])}"
    if rng.random() < 0.1:
        query += "&another=true"
    client.request("tonight", "GET", f"/v1/couples/{couple_id}/tonight?{query}",
                   headers={"Authorization": f"Bearer {token}"})


def _date(client: Client, rng: random.Random, key: str) -> None:
    couple_id, token = rng.choice(client.shared.couples)
    body = json.dumps({"idea_id": rng.choice(client.shared.ideas),
                       "ratings": {"a": rng.randint(1, 5), "b": rng.randint(1, 5)}}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key}
    for attempt in range(20):  # a client retries with the same key until it gets an answer
        status, _, data = client.request("date", "POST", f"/v1/couples/{couple_id}/dates", body, headers)
        if status in (200, 201):
            with client.shared.lock:
                client.shared.acked.append((couple_id, key, json.loads(data)["id"]))
            return
        if status != "conn" and status < 500:
            break
        time.sleep(min(2.0, 0.2 * (attempt + 1)))
    with client.shared.lock:
        client.shared.unacked += 1


def _signin(client: Client, rng: random.Random) -> None:
    couple_id, token = rng.choice(client.shared.couples)
    status, headers, page = client.request("signin", "GET", "/signin")
    found = _CSRF_RE.search(page.decode("utf-8", "replace")) if status == 200 else None
    cookie = _COOKIE_RE.search(headers.get("set-cookie", "")) if found else None
    if not cookie:
        return
    form = f"csrf_token={found.group(1)}&couple_id={couple_id}&token={token}".encode()
    status, headers, _ = client.request("signin", "POST", "/signin", form, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"session={cookie.group(1)}"})
    signed = _COOKIE_RE.search(headers.get("set-cookie", "")) if status == 303 else None
    if not signed:
        return
    saved = f"session={signed.group(1)}"
    status, headers, page = client.request("signin", "GET", "/tonight", headers={"Cookie": saved})
    if status != 200 or rng.random() > 1 / 3:
        return
    csrf = _CSRF_RE.search(page.decode("utf-8", "replace"))
    fresh = _COOKIE_RE.search(headers.get("set-cookie", ""))
    current = f"session={fresh.group(1)}" if fresh else saved
    status, _, _ = client.request("signout", "POST", "/signout", f"csrf_token={csrf.group(1)}".encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": current})
    if status != 303:
        return
    status, _, _ = client.request("signout", "GET", "/tonight", headers={"Cookie": saved})
    with client.shared.lock:
        client.shared.signouts_checked += 1
        if status == 200:
            client.shared.revoked_still_open += 1


def load_thread(shared: Shared, index: int, seed: int) -> None:
    rng = random.Random(seed * 1000 + index)
    client = Client(shared)
    n = 0
    while not shared.stop.is_set():
        roll = rng.random()
        if roll < 0.55:
            _tonight(client, rng)
        elif roll < 0.80:
            n += 1
            _date(client, rng, f"soak-{seed}-{index}-{n}")
        else:
            _signin(client, rng)


# --------------------------------------------------------------------------- events

def newsletter(env: dict[str, str], week: str, out: Path, log: Path) -> subprocess.Popen:
    with log.open("ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "engine", "newsletter", "--week", week, "--out", str(out),
                                 "--chunk-size", "10", "--no-progress"], env=env, stdout=handle,
                                stderr=subprocess.STDOUT)


def last_line(log: Path) -> str:
    """The newsletter log's last non-empty line (why a run exited non-zero)."""
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def restart_postgres(cluster: str = "main") -> None:
    """Restart the newest PostgreSQL version's ``cluster`` (``pg_ctlcluster``, as root)."""
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], cluster, "restart"], check=True,
                   capture_output=True, timeout=120)


def wait_until(predicate, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


# --------------------------------------------------------------------------- checks

def duplicates_in_picks(folder: Path) -> int:
    path = folder / "picks.csv"
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as handle:
        rows = [(row["couple_id"], row["rank"]) for row in csv.DictReader(handle)]
    return len(rows) - len(set(rows))


def database_counts(db_url: str, acked: list[tuple[str, str, int]]) -> dict:
    import sqlalchemy as sa

    from engine.store import open_store

    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            stored = {(c, k): n for c, k, n in conn.execute(sa.text(
                "SELECT couple_id, idempotency_key, COUNT(*) FROM dates WHERE idempotency_key LIKE 'soak-%' "
                "GROUP BY couple_id, idempotency_key"))}
            ids = {int(i) for (i,) in conn.execute(sa.text(
                "SELECT id FROM dates WHERE idempotency_key LIKE 'soak-%'"))}
            sends = {str(week): (total, distinct) for week, total, distinct in conn.execute(sa.text(
                "SELECT week, COUNT(*), COUNT(DISTINCT couple_id || ':' || rank) FROM newsletter_sends "
                "GROUP BY week ORDER BY week"))}  # the store keeps the Monday of the week asked for
    finally:
        store.close()
    lost = sum(1 for couple, key, ident in acked if (couple, key) not in stored or int(ident) not in ids)
    return {"acked_dates": len(acked), "acked_lost": lost,
            "keys_stored_more_than_once": sum(1 for n in stored.values() if n > 1),
            "newsletter_sends": {w: int(total) for w, (total, _) in sends.items()},
            "duplicate_sends_db": sum(int(total) - int(distinct) for total, distinct in sends.values())}


def summarise(shared: Shared, windows: dict[str, tuple[float, float]]) -> dict:
    outage = windows.get("db_outage")

    def inside(record: Record, window: tuple[float, float] | None) -> bool:
        return window is not None and record.start <= window[1] and record.end >= window[0]

    by_kind: dict[str, dict[str, int]] = {}
    for record in shared.records:
        counts = by_kind.setdefault(record.kind, {})
        counts[str(record.status)] = counts.get(str(record.status), 0) + 1
    errors_5xx = [r for r in shared.records if isinstance(r.status, int) and r.status >= 500]
    conn_errors = [r for r in shared.records if r.status == "conn"]
    latency = {}
    for kind in sorted(by_kind):
        ms = [1000 * (r.end - r.start) for r in shared.records
              if r.kind == kind and isinstance(r.status, int) and not inside(r, outage)]
        if ms:
            latency[kind] = {"p50_ms": round(float(np.percentile(ms, 50)), 1),
                             "p99_ms": round(float(np.percentile(ms, 99)), 1)}
    return {
        "requests": len(shared.records), "by_kind": by_kind, "latency_outside_outage": latency,
        "5xx_total": len(errors_5xx), "5xx_in_outage": sum(inside(r, outage) for r in errors_5xx),
        "5xx_outside_outage": sum(not inside(r, outage) for r in errors_5xx),
        "connection_errors": len(conn_errors),
        "connection_errors_in_kill_window": sum(inside(r, windows.get("worker_kill")) for r in conn_errors),
        "connection_errors_in_outage": sum(inside(r, outage) for r in conn_errors),
        "dates_given_up": shared.unacked,
        "signouts_checked": shared.signouts_checked, "revoked_cookie_still_opened_tonight": shared.revoked_still_open,
    }


# --------------------------------------------------------------------------- main

class _Events(list):
    """The run's events, printed as they happen."""

    def append(self, text: str) -> None:
        print(text, flush=True)
        super().append(text)


def run(args: argparse.Namespace) -> dict:
    from bench.databases import throwaway_postgres

    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="dateideas-soak-") as folder, \
            throwaway_postgres(args.pg, prefix="dateideas_soak") as db_url:
        root = Path(folder)
        model_dir = root / "models"
        print(f"preparing {args.couples} couples and a model ...", flush=True)
        couples = prepare(db_url, model_dir, args.couples)
        high = "100000 per minute"
        env = dict(os.environ, DATEIDEAS_DATABASE_URL=db_url, DATEIDEAS_MODEL_DIR=str(model_dir),
                   DATEIDEAS_RETRAIN_AFTER_DATES="0", PYTHONPATH=str(ROOT), DATEIDEAS_RATELIMIT_SIGNIN=high,
                   DATEIDEAS_RATELIMIT_SIGNUP=high, DATEIDEAS_RATELIMIT_COUPLES=high,
                   DATEIDEAS_RATELIMIT_ANOTHER=high)
        for name in ("PROMETHEUS_MULTIPROC_DIR", "DATEIDEAS_SECRET_KEY"):
            env.pop(name, None)
        port = free_port()
        log = root / "server.log"
        with log.open("ab") as handle:
            server = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                                       "--workers", str(args.workers)], env=env, stdout=handle,
                                      stderr=subprocess.STDOUT, cwd=root)
        windows: dict[str, tuple[float, float]] = {}
        events = _Events()
        shared = None
        try:
            if not wait_until(lambda: ready(port), 120):
                raise RuntimeError(f"the server did not become ready; see {log}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/v1/ideas?limit=100")
            ideas = [idea["id"] for idea in json.loads(conn.getresponse().read())["ideas"]]
            conn.close()
            shared = Shared(port, couples, ideas)
            threads = [threading.Thread(target=load_thread, args=(shared, i, args.seed), daemon=True)
                       for i in range(args.concurrency)]
            start = time.time()
            for thread in threads:
                thread.start()
            today = _dt.date.today()
            week1, week2 = (today + _dt.timedelta(days=7)).isoformat(), (today + _dt.timedelta(days=14)).isoformat()
            nl_log = root / "newsletter.log"

            def at(fraction: float) -> None:
                delay = start + fraction * seconds - time.time()
                if delay > 0:
                    time.sleep(delay)

            at(0.15)
            first = newsletter(env, week1, root / "week1", nl_log)
            events.append(f"{time.time() - start:.1f}s newsletter week 1 started")
            at(0.30)
            if not args.no_kill:
                victim = worker_pids(server.pid)[0]
                kill_at = time.time()
                os.kill(victim, signal.SIGKILL)
                wait_until(lambda: len(worker_pids(server.pid)) == args.workers and victim not in
                           worker_pids(server.pid), 60)
                wait_until(lambda: ready(port), 60)
                windows["worker_kill"] = (kill_at, time.time() + 2.0)
                events.append(f"{kill_at - start:.1f}s worker {victim} killed (SIGKILL); replaced")
            first.wait(timeout=600)
            events.append(f"newsletter week 1 exited {first.returncode}")
            at(0.55)
            second = newsletter(env, week2, root / "week2", nl_log)
            events.append(f"{time.time() - start:.1f}s newsletter week 2 started")
            if not args.no_db_restart:
                time.sleep(1.0)
                began = time.time()
                restart_postgres(args.pg_cluster)
                restarted = time.time()
                wait_until(lambda: ready(port), 120, step=0.1)
                windows["db_outage"] = (began, time.time())
                events.append(f"{began - start:.1f}s PostgreSQL restart ({restarted - began:.1f} s); "
                              f"service ready again after {time.time() - began:.1f} s")
            second.wait(timeout=600)
            events.append(f"newsletter week 2 exited {second.returncode}"
                          + (f" ({last_line(nl_log)})" if second.returncode else ""))
            if second.returncode != 0:  # failed in the outage: the operator runs it again
                retry = newsletter(env, week2, root / "week2", nl_log)
                retry.wait(timeout=600)
                events.append(f"newsletter week 2 re-run exited {retry.returncode}")
            at(0.80)
            again = newsletter(env, week1, root / "week1", nl_log)
            again.wait(timeout=600)
            events.append(f"{time.time() - start:.1f}s newsletter week 1 run again: exited {again.returncode}"
                          + (f" ({last_line(nl_log)})" if again.returncode else ""))
            at(1.0)
            shared.stop.set()
            for thread in threads:
                thread.join(timeout=60)
            elapsed = time.time() - start
        finally:
            if shared is not None:
                shared.stop.set()
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        counts = database_counts(db_url, shared.acked)
        result = {
            "minutes": args.minutes, "elapsed_s": round(elapsed, 1), "concurrency": args.concurrency,
            "workers": args.workers, "couples": args.couples, "events": events,
            "windows_s": {name: [round(a - start, 1), round(b - start, 1)] for name, (a, b) in windows.items()},
            **summarise(shared, windows), **counts,
            "duplicate_sends_picks_csv": duplicates_in_picks(root / "week1") + duplicates_in_picks(root / "week2"),
        }
        result["ok"] = (result["5xx_outside_outage"] == 0 and result["acked_lost"] == 0
                        and result["keys_stored_more_than_once"] == 0 and result["duplicate_sends_db"] == 0
                        and result["duplicate_sends_picks_csv"] == 0
                        and result["revoked_cookie_still_opened_tonight"] == 0)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")  # before the database is dropped
        if not result["ok"]:
            for name in ("server.log", "newsletter.log"):
                path = root / name
                if path.exists():
                    (args.out.parent / f"soak-{name}").write_bytes(path.read_bytes()[-200_000:])
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load (default 10)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--couples", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server for the throwaway database")
    parser.add_argument("--pg-cluster", default="main",
                        help="the pg_ctlcluster cluster that --pg is on, restarted mid-run (default main)")
    parser.add_argument("--no-db-restart", action="store_true", help="skip the PostgreSQL restart")
    parser.add_argument("--no-kill", action="store_true", help="skip killing a worker")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not 0.5 <= args.minutes <= 60:
        parser.error(f"--minutes must be from 0.5 to 60, got {args.minutes}")
    result = run(args)
    print(json.dumps({k: result[k] for k in ("requests", "5xx_in_outage", "5xx_outside_outage", "connection_errors",
                                             "acked_dates", "acked_lost", "keys_stored_more_than_once",
                                             "duplicate_sends_db", "duplicate_sends_picks_csv",
                                             "revoked_cookie_still_opened_tonight", "ok")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
