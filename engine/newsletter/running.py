"""Running: chunks of couples in-process or on Dask, files written, sends recorded.

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
  swapped in (:func:`_swap_in`), so ``DIR`` never shows the old run's picks
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

import collections
import datetime as _dt
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..domain.csvcells import neutralise_frame, restore_frame
from ..domain.dates import skipped_report
from ..domain.files import atomic_file, atomic_write as _atomic_write
from ..domain.profiles import Profile
from ..practice.pillars import WINDOW_WEEKS
from ..practice.prompts import prompt_rows, prompt_window
from .planning import PICK_COLUMNS, RECENT_NEWSLETTERS, plan_picks, week_start
from .rendering import email_filename, render_emails

__all__ = [
    "AlreadySentError",
    "ChunkInput",
    "ChunkResult",
    "LEASE_S",
    "NewsletterBusyError",
    "NewsletterError",
    "NewsletterResult",
    "plan_chunks",
    "run_newsletter",
]

logger = logging.getLogger(__name__)

_CSV_COLUMNS = list(PICK_COLUMNS)


class NewsletterError(Exception):
    """The newsletter cannot run as asked; the message says why and what to do."""


class AlreadySentError(NewsletterError):
    """The week's newsletter was already completed (pass ``force`` to send it again)."""


class NewsletterBusyError(NewsletterError):
    """Another run of the same week holds the week's lock (single flight per week)."""


#: seconds a run's hold on its week's lock lasts unless renewed (it is renewed every third of it)
LEASE_S = 120.0


@dataclass
class ChunkInput:
    """What one chunk needs, shipped to a worker.

    Attributes
    ----------
    index : int
        Chunk number within the run.
    couple_ids : list of str
    dates : DataFrame
        These couples' dates (dates frame).
    sent_before : dict couple id -> set of idea ids
        Ideas in the couples' recent newsletters.
    profiles : dict couple id -> Profile
        The couples' stated profiles.
    prompt_history : dict couple id -> list of dict
        The couples' prompt rows (``Store.prompt_history``).
    sent_window : dict couple id -> set of idea ids
        Ideas sent in the three weeks before (``Store.newsletter_window``), for pillars in balance.
    """

    index: int
    couple_ids: list[str]
    dates: pd.DataFrame
    sent_before: dict[str, set[str]] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    prompt_history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sent_window: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class ChunkResult:
    """A planned chunk: its picks and (when rendered and not yet written) emails.

    ``written`` is True when the chunk's emails and part files are already
    in the output folder (written where the chunk was planned); ``emails``
    is then empty.
    """

    index: int
    couple_ids: list[str]
    picks: pd.DataFrame
    emails: dict[str, tuple[str, str]]
    seconds: float
    written: bool = False


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


# --------------------------------------------------------------------------- planning chunks

def _run_chunk(recommender, chunk: ChunkInput, week: _dt.date, k: int, seed: int,
               run_id: int | None, render: bool, out_dir: str | None = None) -> ChunkResult:
    """Plan (and render) one chunk; runs in-process or on a Dask worker.

    With ``out_dir`` the chunk's emails and part files are written there
    before returning (so only the picks travel back).
    """
    start = time.perf_counter()
    picks = plan_picks(recommender, chunk.dates, chunk.couple_ids, week, k,
                       sent_before=chunk.sent_before, seed=seed, run_id=run_id, profiles=chunk.profiles,
                       prompt_history=chunk.prompt_history, sent_window=chunk.sent_window)
    emails = render_emails(picks, week, recommender.catalog) if render else {}
    written = out_dir is not None
    if written:
        _write_chunk_files(Path(out_dir), run_id, chunk.index, picks, emails)
        emails = {}
    return ChunkResult(chunk.index, list(chunk.couple_ids), picks, emails, time.perf_counter() - start,
                       written)


def _read_probe(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None


def _workers_share(client, folder: Path) -> bool:
    """True when every worker reads the same ``folder`` as this process (a probe file)."""
    token = uuid.uuid4().hex
    probe = folder / f".probe-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        seen = client.run(_read_probe, str(probe))
    except Exception:  # noqa: BLE001 - any failure: ship the files back instead
        return False
    finally:
        probe.unlink(missing_ok=True)
    return bool(seen) and all(value == token for value in seen.values())


def _n_workers(client) -> int:
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001 - any scheduler hiccup: assume one worker
        return 1


def plan_chunks(recommender, chunks: Iterable[ChunkInput], week: _dt.date | str, k: int = 3, *,
                client=None, seed: int = 0, run_id: int | None = None, render: bool = True,
                in_flight: int | None = None, out_dir: str | Path | None = None) -> Iterator[ChunkResult]:
    """Plan chunks of couples in-process or on a Dask cluster; yield results as they finish.

    Parameters
    ----------
    recommender : Recommender
        Shipped to the workers once (``client.scatter(..., broadcast=True)``).
    chunks : iterable of ChunkInput
        Consumed lazily (at most ``in_flight`` chunks are out at a time).
    week : date or "YYYY-MM-DD"
    k : int, default=3
    client : distributed.Client, optional
        None plans in this process, in order.
    seed : int, default=0
    run_id : int, optional
    render : bool, default=True
        Also render each couple's emails (on the worker).
    in_flight : int, optional
        Chunks submitted but not yet collected; default twice the workers.
    out_dir : str or Path, optional
        An output folder (with ``emails/`` and ``parts/``): each chunk's
        files are written where the chunk is planned - in this process, or
        on the Dask workers when every worker sees this folder (checked with
        a probe file); otherwise the emails come back and ``written`` is
        False. Needs ``run_id``.

    Yields
    ------
    ChunkResult
        In completion order (input order when in-process).
    """
    week = week_start(week)
    if out_dir is not None and run_id is None:
        raise ValueError("out_dir needs run_id (part files are named by run and chunk)")
    folder = None if out_dir is None else str(Path(out_dir).resolve())
    if client is None:
        for chunk in chunks:
            yield _run_chunk(recommender, chunk, week, k, seed, run_id, render, folder)
        return
    from distributed import as_completed

    if folder is not None and not _workers_share(client, Path(folder)):
        logger.info("the Dask workers do not see %s: their emails come back to be written here", folder)
        folder = None
    model = client.scatter(recommender, broadcast=True, hash=False)
    limit = in_flight or 2 * _n_workers(client)
    pending = as_completed()
    outstanding: set = set()
    source = iter(chunks)

    def _submit_next() -> bool:
        chunk = next(source, None)
        if chunk is None:
            return False
        data = client.scatter(chunk, hash=False)
        future = client.submit(_run_chunk, model, data, week, k, seed, run_id, render, folder, pure=False)
        outstanding.add(future)
        pending.add(future)
        return True

    try:
        more = True
        for _ in range(limit):
            more = _submit_next()
            if not more:
                break
        for future in pending:
            result = future.result()
            outstanding.discard(future)
            future.release()
            if more:
                more = _submit_next()
            yield result
    finally:
        if outstanding:
            client.cancel(list(outstanding))
        model.release()


# --------------------------------------------------------------------------- files

def _atomic_concat(path: Path, header: str, parts: Sequence[Path]) -> None:
    with atomic_file(path, binary=True) as out:
        out.write(header.encode("utf-8"))
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)


def _write_emails(folder: Path, emails: dict[str, tuple[str, str]]) -> None:
    for couple, (html, text) in emails.items():
        stem = email_filename(couple)
        (folder / f"{stem}.html").write_text(html, encoding="utf-8")
        (folder / f"{stem}.txt").write_text(text, encoding="utf-8")


def _part_stem(run_id: int, index: int) -> str:
    return f"{run_id:08d}-{index:06d}"


def _write_chunk_files(out_dir: Path, run_id: int, index: int, picks: pd.DataFrame,
                       emails: dict[str, tuple[str, str]]) -> None:
    """A chunk's emails, then its part files (the part files mark the chunk as written)."""
    _write_emails(out_dir / "emails", emails)
    _write_part(out_dir / "parts", _part_stem(run_id, index), picks)


def _write_part(parts: Path, stem: str, picks: pd.DataFrame) -> None:
    """One chunk's picks as ``<stem>.jsonl`` then ``<stem>.csv`` (no header), each atomically."""
    records = picks[_CSV_COLUMNS + ["reasons"] + (["prompt"] if "prompt" in picks else [])].to_dict(orient="records")
    lines = []
    for row in records:
        row["run_id"] = None if pd.isna(row["run_id"]) else int(row["run_id"])
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    _atomic_write(parts / f"{stem}.jsonl", "".join(lines))
    # picks.csv is an export opened in spreadsheets: text cells neutralised against formula injection
    _atomic_write(parts / f"{stem}.csv", neutralise_frame(picks[_CSV_COLUMNS]).to_csv(
        index=False, header=False, lineterminator="\n"))


def _part_files(parts: Path) -> list[Path]:
    return sorted(parts.glob("*.csv")) if parts.is_dir() else []


_TEXT_COLUMNS = ["couple_id", "idea_id", "title", "reason", "category", "pillars", "model_version"]


def _read_part(path: Path) -> pd.DataFrame:
    """A part file's picks as written (text cells restored: :func:`engine.domain.csvcells.restore_frame`)."""
    if path.stat().st_size == 0:
        return pd.DataFrame(columns=_CSV_COLUMNS)
    frame = pd.read_csv(path, header=None, names=_CSV_COLUMNS, dtype=dict.fromkeys(_TEXT_COLUMNS, str),
                        keep_default_na=False, na_values={"score": [""], "run_id": [""]})
    return restore_frame(frame, _TEXT_COLUMNS)


def _drop_orphans(parts: Path, sent: set[str]) -> int:
    """Delete part files none of whose couples is recorded as sent; return how many."""
    dropped = 0
    for csv in _part_files(parts):
        couples = set(_read_part(csv)["couple_id"])
        if couples and couples.isdisjoint(sent):
            csv.unlink()
            csv.with_suffix(".jsonl").unlink(missing_ok=True)
            dropped += 1
        elif couples and not couples <= sent:
            raise NewsletterError(
                f"{csv} holds couples that are partly recorded as sent; the output folder does not "
                "match the database. Use a fresh --out folder with --force."
            )
    for jsonl in parts.glob("*.jsonl") if parts.is_dir() else []:
        if not jsonl.with_suffix(".csv").exists():  # crashed between the two part files
            jsonl.unlink()
    return dropped


def _summarise(parts: list[Path]) -> dict[str, Any]:
    couples: set[str] = set()
    n_picks = 0
    categories: collections.Counter = collections.Counter()
    pillars: collections.Counter = collections.Counter()
    versions: set[str] = set()
    runs: set[int] = set()
    for path in parts:
        frame = _read_part(path)
        if not len(frame):
            continue
        couples.update(frame["couple_id"])
        n_picks += len(frame)
        categories.update(frame["category"])
        for value in frame["pillars"]:
            pillars.update(p for p in value.split("|") if p)
        versions.update(frame["model_version"].astype(str))
        runs.update(int(r) for r in frame["run_id"].dropna())
    share = (lambda counter: {key: round(n / n_picks, 4) for key, n in counter.most_common()}) \
        if n_picks else (lambda counter: {})
    return {"couples": len(couples), "picks": n_picks, "share_by_category": share(categories),
            "share_by_pillar": share(pillars), "model_versions": sorted(versions), "runs": sorted(runs)}


_STAGING = ".staging"
_OUTPUTS = ("picks.csv", "picks.jsonl", "summary.json")


def _prepare_out(out_dir: Path, week: _dt.date, work: Path, fresh: bool) -> None:
    """Check ``out_dir`` holds ``week`` (or nothing yet); give ``work`` (``out_dir`` or its staging
    folder) ``parts/`` and ``emails/``, emptied first when ``fresh``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / "week.json"
    if marker.exists():
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8")).get("week")
        except (OSError, json.JSONDecodeError):
            recorded = None
        if recorded != week.isoformat():
            raise NewsletterError(
                f"{out_dir} holds the newsletter of week {recorded}, not {week}; use another --out folder"
            )
    if fresh and work != out_dir:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(exist_ok=True)
    (work / "parts").mkdir(exist_ok=True)
    (work / "emails").mkdir(exist_ok=True)
    _atomic_write(marker, json.dumps({"week": week.isoformat()}) + "\n")


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Put a complete staged week in place of ``out_dir``'s: the old picks and summary go first, then
    the folders are exchanged, then the new picks and summary (last: it says the folder is complete).
    At no moment does ``out_dir`` hold the old run's picks or summary beside the new run's emails."""
    for name in _OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    trash = Path(tempfile.mkdtemp(dir=out_dir, prefix=".old-"))
    for name in ("emails", "parts"):
        if (out_dir / name).exists():
            os.replace(out_dir / name, trash / name)
        os.replace(stage / name, out_dir / name)
    for name in _OUTPUTS:
        os.replace(stage / name, out_dir / name)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


# --------------------------------------------------------------------------- the run

def _store_chunks(store, couple_ids: Sequence[str], week: _dt.date, chunk_size: int,
                  skipped: list[dict[str, Any]]) -> Iterator[ChunkInput]:
    """The chunks' inputs from the store; stored dates with an implausible day are left out
    (``Store.read_dates``) and added to ``skipped``."""
    for index, start in enumerate(range(0, len(couple_ids), chunk_size)):
        ids = list(couple_ids[start:start + chunk_size])
        dates = store.read_dates(ids)
        skipped.extend(dates.skipped)
        yield ChunkInput(index, ids, dates.frame,
                         store.recent_newsletter_ideas(ids, week, last_n=RECENT_NEWSLETTERS),
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

    def __enter__(self) -> "_Lease":
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
                store.record_sends(run_id, week, result.picks[["couple_id", "idea_id", "rank"]]
                                   .to_dict(orient="records"), replace=staged)
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
                   "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
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
