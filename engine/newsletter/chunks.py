"""Chunks of couples planned in this process or on a Dask cluster (:func:`plan_chunks`).

A chunk (:class:`ChunkInput`) carries what planning its couples needs, read
from the store by the driver; :func:`_run_chunk` plans it (and renders the
emails) wherever it runs and, when the workers see the output folder,
writes its files there too (:func:`.outputs._write_chunk_files`), so only
the picks travel back (:class:`ChunkResult`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from ..domain.profiles import Profile
from .memory import reusing_freed_memory
from .outputs import _write_chunk_files
from .planning import plan_picks, week_start
from .rendering import render_emails

__all__ = ["ChunkInput", "ChunkResult", "plan_chunks"]

logger = logging.getLogger(__name__)


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



def _run_chunk(recommender, chunk: ChunkInput, week: _dt.date, k: int, seed: int,
               run_id: int | None, render: bool, out_dir: str | None = None) -> ChunkResult:
    """Plan (and render) one chunk; runs in-process or on a Dask worker.

    With ``out_dir`` the chunk's emails and part files are written there
    before returning (so only the picks travel back).
    """
    start = time.perf_counter()
    # one BLAS thread (a chunk's products are small: more threads doubled the CPU of an in-process run
    # for the same wall time), and the chunk's blocks reuse each other's arrays (also on a Dask worker)
    with threadpool_limits(1, user_api="blas"), reusing_freed_memory():
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
