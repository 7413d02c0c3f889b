"""Running: the week's lock, chunks planned (:mod:`.chunks`), files written (:mod:`.outputs`), sends recorded.

How a run stays safe (see docs/newsletter.md)
---------------------------------------------
* Every invocation opens a run in the store (``newsletter_runs``) and gets an id.
* Couples go in chunks. For each chunk (1) the couples' emails are written
  to ``DIR/emails/<couple>.html|.txt``, (2) the chunk's part files
  ``DIR/parts/<run>-<chunk>.csv|.jsonl`` atomically (temp file + rename) -
  both where the chunk is planned: in this process, or on the Dask workers
  when they see ``DIR`` (a probe file tells), else here once the emails come
  back - and only then (3) the driver records the chunk's picks as sent
  (``record_sends``, one transaction). A part file whose couples are not
  recorded as sent is an orphan of a crash between (2) and (3).
* Re-running the week skips couples already recorded as sent, deletes
  orphan part files, and does the rest. When every couple is done the parts
  are merged into ``picks.csv`` / ``picks.jsonl`` and ``summary.json``
  (each written atomically) and the run is marked completed.
* A week with a completed run is refused unless ``force``; a forced run
  builds the week afresh in ``DIR/.staging`` (emails, parts, picks,
  summary) and replaces the week's sends; only when it is complete is it
  swapped in (:func:`.outputs._swap_in`), so ``DIR`` never shows the old run's picks
  beside the new run's emails. A forced run that stops half-way is carried
  on by a plain re-run (no ``force``) in the same staging folder: couples it
  already sent are skipped, the others' earlier sends are replaced.
  ``force`` again starts the week over.
* Single flight per week: a run holds the store's lock
  ``newsletter:<week>`` as a lease of :data:`LEASE_S` seconds, renewed by a
  thread every third of it. A second run of the week is refused
  (:class:`NewsletterBusyError`); a killed run's lease lapses (on the same
  host its dead pid frees it at once) and the next run marks it failed.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..domain.dates import skipped_report
from ..domain.files import atomic_write as _atomic_write
from ..practice.pillars import WINDOW_WEEKS
from ..practice.prompts import prompt_rows, prompt_window
from .chunks import ChunkInput, ChunkResult, plan_chunks
from .errors import AlreadySentError, NewsletterBusyError, NewsletterError
from .outputs import (
    _CSV_COLUMNS,
    _STAGING,
    _atomic_concat,
    _drop_orphans,
    _part_files,
    _prepare_out,
    _summarise,
    _swap_in,
    _write_chunk_files,
)
from .planning import RECENT_NEWSLETTERS, pick_records, week_start

__all__ = ["LEASE_S", "NewsletterResult", "run_newsletter"]

logger = logging.getLogger(__name__)

#: seconds a run's hold on its week's lock lasts unless renewed (it is renewed every third of it)
LEASE_S = 120.0


@dataclass
class NewsletterResult:
    """What :func:`run_newsletter` did.

    Attributes
    ----------
    run_id : int
    week : datetime.date
        The Monday of the week.
    out_dir : Path
    couples, picks : int
        Couples planned and picks written by this run.
    skipped : int
        Couples already sent by an earlier (crashed) run of the week.
    seconds : float
    summary : dict
        The contents of ``summary.json`` (the whole week in ``out_dir``).
    skipped_dates : list of dict
        Stored dates left out because their day is implausible (``Store.read_dates``).
    """

    run_id: int
    week: _dt.date
    out_dir: Path
    couples: int
    picks: int
    skipped: int
    seconds: float
    summary: dict[str, Any]
    skipped_dates: list[dict[str, Any]] = field(default_factory=list)



# --------------------------------------------------------------------------- the run

def _store_chunks(store, couple_ids: Sequence[str], week: _dt.date, chunk_size: int,
                  skipped: list[dict[str, Any]]) -> Iterator[ChunkInput]:
    """The chunks' inputs from the store; stored dates with an implausible day are left out
    (``Store.read_dates``) and added to ``skipped``."""
    for index, start in enumerate(range(0, len(couple_ids), chunk_size)):
        ids = list(couple_ids[start:start + chunk_size])
        dates = store.read_dates(ids)
        skipped.extend(dates.skipped)
        sent_before = store.recent_newsletter_ideas(ids, week, last_n=RECENT_NEWSLETTERS)
        for couple, ideas in store.not_for_us_by_couple(ids).items():  # "not for us": never sent either
            sent_before[couple] = set(sent_before.get(couple, ())) | ideas
        yield ChunkInput(index, ids, dates.frame, sent_before,
                         store.profiles(ids), store.prompt_history(ids, prompt_window(week)),
                         store.newsletter_window(ids, week, WINDOW_WEEKS - 1))


def run_newsletter(store, recommender, week: _dt.date | str, out_dir: str | Path, *, k: int = 3,
                   couple_ids: Sequence[str] | None = None, client=None, chunk_size: int = 2000,
                   force: bool = False, seed: int = 0, progress: bool = True,
                   on_chunk: Callable[[ChunkResult], None] | None = None,
                   lease_s: float = LEASE_S) -> NewsletterResult:
    """Write one week's newsletter for every active couple (or ``couple_ids``), resumably.

    Parameters
    ----------
    store : Store
        Migrated; couples, dates and the newsletter tables.
    recommender : Recommender
    week : date or "YYYY-MM-DD"
        Any day of the week; the week is identified by its Monday.
    out_dir : str or Path
        Gets ``emails/``, ``parts/``, ``picks.csv``, ``picks.jsonl``,
        ``summary.json`` and ``week.json``. Re-run a crashed week with the
        same folder.
    k : int, default=3
        Picks per couple, 1-10.
    couple_ids : sequence of str, optional
        Only these couples (default: every active couple).
    client : distributed.Client, optional
        Plan the chunks on this Dask cluster (default: in-process).
    chunk_size : int, default=2000
        Couples per chunk (one vectorised ``Recommender.batch`` call).
    force : bool, default=False
        Run a week that already has a completed run again (replacing its
        sends). A forced run that stopped half-way is carried on without it.
    seed : int, default=0
        Exploration seed (per-couple seeds derive from it).
    progress : bool, default=True
        tqdm bar with couples/s and time left.
    on_chunk : callable, optional
        Called with each chunk's result after its sends are recorded.
    lease_s : float, default LEASE_S
        The week's lock (``newsletter:<week>`` in the store) is held for this
        long and renewed every third of it while the run is alive; a killed
        run's lock is free once it lapses (at once on the same host).

    Returns
    -------
    NewsletterResult

    Raises
    ------
    AlreadySentError
        If the week already has a completed run and ``force`` is False.
    NewsletterBusyError
        If another run of the same week holds the week's lock.
    NewsletterError
        For bad arguments or an output folder of another week.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 10:
        raise NewsletterError(f"k must be an integer from 1 to 10, got {k!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise NewsletterError(f"chunk_size must be a positive integer, got {chunk_size!r}; 2000 is the default")
    try:
        week = week_start(week)
    except ValueError as exc:
        raise NewsletterError(str(exc)) from None
    out_dir = Path(out_dir)
    started = time.perf_counter()
    lock = f"newsletter:{week.isoformat()}"
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    store.release_dead_lock(lock)  # held by a killed run on this host: free at once
    if not store.try_lock(lock, owner, ttl_s=lease_s):
        holder = store.lock_holder(lock) or {"owner": "another run", "expires_at": "shortly"}
        raise NewsletterBusyError(
            f"another newsletter run of the week of {week} is in progress ({holder['owner']}, its lease runs "
            f"to {holder['expires_at']} and is renewed while it runs); nothing was done. Wait for it to finish "
            "and run again: a finished week is then refused (or --force it), a stopped one is carried on.")
    try:
        with _Lease(store, lock, owner, lease_s) as lease:
            # we hold the week's lock: any other run of the week still marked running was killed
            reason = "stopped without finishing (killed or crashed): its lease on the week's lock lapsed"
            store.fail_running_newsletter_runs(week, reason)
            store.fail_running_newsletter_runs(None, reason)  # other weeks' runs whose lock is free too
            return _run_locked(store, recommender, week, out_dir, k, couple_ids, client, chunk_size, force,
                               seed, progress, on_chunk, started, lease)
    finally:
        store.release_lock(lock, owner)


class _Lease:
    """Renews the week's lock every third of ``lease_s`` in a thread; ``check()`` raises once it was lost."""

    def __init__(self, store, lock: str, owner: str, lease_s: float):
        self.store, self.lock, self.owner, self.lease_s = store, lock, owner, lease_s
        self._stop = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._renew, name=f"lease-{lock}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                if not self.store.try_lock(self.lock, self.owner, ttl_s=self.lease_s):
                    self._lost = True
                    return
            except Exception:  # noqa: BLE001 - a database hiccup: try again next beat, the lease has slack
                logger.warning("could not renew the lock %s; trying again", self.lock, exc_info=True)

    def check(self) -> None:
        """Raise :class:`NewsletterError` when the lease lapsed and another run may have taken the week."""
        if self._lost:
            raise NewsletterError(f"this run lost the lock {self.lock} (its lease of {self.lease_s:.0f} s lapsed "
                                  "before it was renewed); stopping so two runs never write the week")


def _run_locked(store, recommender, week: _dt.date, out_dir: Path, k: int, couple_ids, client, chunk_size: int,
                force: bool, seed: int, progress: bool, on_chunk, started: float, lease: _Lease) -> NewsletterResult:
    """:func:`run_newsletter` once the week's lock is held."""
    done = store.completed_newsletter_run(week)
    latest = store.latest_newsletter_run(week)
    # a forced re-run started after the week's completed run did not finish: carry it on
    redo = not force and done is not None and latest is not None and latest["id"] > done["id"]
    if done is not None and not force and not redo:
        raise AlreadySentError(
            f"the newsletter for the week of {week} was already sent completely (run {done['id']}, "
            f"finished {done['finished_at']}, {done['sends']} picks); nothing was done. "
            "Pass --force to build and record it again."
        )
    # a forced run (and the carrying on of one) builds the week in DIR/.staging, swapped in when complete:
    # DIR keeps the previous run's complete set meanwhile, never its picks beside new emails
    staged = force or redo
    work = out_dir / _STAGING if staged else out_dir
    if redo and not (work / "parts").is_dir():  # the stopped forced run left nothing to carry on: start over
        logger.info("the stopped forced run of week %s left no staging folder; planning every couple again", week)
        force = True
    _prepare_out(out_dir, week, work, fresh=force)
    parts = work / "parts"
    targets = list(dict.fromkeys(str(c) for c in (store.couple_ids(active_only=True)
                                                  if couple_ids is None else couple_ids)))
    if force:
        sent: set[str] = set()
    elif redo:
        sent = store.sent_couples(week, after_run=done["id"])
        logger.info("carrying on the forced re-run of week %s that stopped (run %d)", week, latest["id"])
    else:
        sent = store.sent_couples(week)
    dropped = _drop_orphans(parts, sent)
    if dropped:
        logger.warning("removed %d part file(s) of a crashed run whose sends were never recorded", dropped)
    todo = [c for c in targets if c not in sent]
    skipped = len(targets) - len(todo)
    if skipped:
        logger.info("resuming week %s: %d couple(s) already sent, %d to do", week, skipped, len(todo))
    run_id = store.start_newsletter_run(week, k)
    logger.info("newsletter run %d for week %s: %d couples, k=%d", run_id, week, len(todo), k)
    n_couples = n_picks = 0
    skipped_dates: list[dict[str, Any]] = []
    try:
        with tqdm(total=len(todo), unit="couple", desc=f"newsletter {week}", disable=not progress,
                  smoothing=0.1) as bar:
            chunks = _store_chunks(store, todo, week, chunk_size, skipped_dates)
            for result in plan_chunks(recommender, chunks, week, k, client=client, seed=seed,
                                      run_id=run_id, out_dir=work):
                lease.check()  # never record sends after another run may have taken the week
                if not result.written:
                    _write_chunk_files(work, run_id, result.index, result.picks, result.emails)
                store.record_prompts(prompt_rows(result.picks, week))  # before the sends: a resumed week reuses them
                store.record_sends(run_id, week, pick_records(result.picks, ["couple_id", "idea_id", "rank"]),
                                   replace=staged)
                n_couples += len(result.couple_ids)
                n_picks += len(result.picks)
                bar.update(len(result.couple_ids))
                if on_chunk is not None:
                    on_chunk(result)
        files = _part_files(parts)
        header = ",".join(_CSV_COLUMNS) + "\n"
        _atomic_concat(work / "picks.csv", header, files)
        _atomic_concat(work / "picks.jsonl", "", [f.with_suffix(".jsonl") for f in files])
        seconds = time.perf_counter() - started
        summary = {"week": week.isoformat(), "run_id": run_id, "k": k, **_summarise(files),
                   "seconds": round(seconds, 3), "model_version": str(recommender.version),
                   "this_run": {"couples": n_couples, "picks": n_picks, "skipped_already_sent": skipped,
                                "couples_per_second": round(n_couples / seconds, 1) if seconds else None,
                                "skipped_dates": skipped_report(skipped_dates)},
                   "finished_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        _atomic_write(work / "summary.json", json.dumps(summary, indent=2) + "\n")
        lease.check()
        if staged:
            _swap_in(work, out_dir)
    except BaseException as exc:
        store.finish_newsletter_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    store.finish_newsletter_run(run_id, "completed")
    logger.info("newsletter run %d done: %d couples, %d picks in %.1f s", run_id, n_couples, n_picks, seconds)
    return NewsletterResult(run_id, week, out_dir, n_couples, n_picks, skipped, seconds, summary, skipped_dates)
