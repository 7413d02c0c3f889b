"""Background retraining without storms: a minimum interval and one queued request at most.

Automatic retrains (``RETRAIN_AFTER_DATES`` new dates, see
:mod:`service.training`) do not start a training directly. They *request*
one: the request is a row in the store's lock table (``training-queued``), so
a second request while one is pending changes nothing (coalesced: at most
one pending, however many dates arrive). One *waiter* process
(``dateideas train --wait-for-queue``, holding the ``training-waiter`` lock)
serves the queue: it waits until ``retrain_min_interval`` seconds have passed
since the latest training run started, takes the request and trains; a
request queued while it trains is served the same way afterwards. Any
training that starts takes the pending request with it (it trains on every
date stored so far), so a manual ``dateideas train`` also satisfies it.

Result: at most one automatic training per interval, however fast dates come.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from .ports import StorePort

__all__ = ["QUEUE_LOCK", "WAITER_LOCK", "pending", "request", "seconds_until_allowed", "serve_queue", "take"]

logger = logging.getLogger(__name__)

QUEUE_LOCK = "training-queued"
WAITER_LOCK = "training-waiter"
_QUEUE_TTL_S = 7 * 24 * 3600.0
_WAITER_TTL_S = 120.0
_RUN_TTL_S = 3 * 3600.0
_POLL_S = 5.0


def request(store: StorePort, reason: str) -> bool:
    """Queue a retraining request; True if queued now, False if one was already pending (coalesced)."""
    owner = f"queued:{uuid.uuid4().hex[:8]}:{reason[:200]}"
    queued = store.try_lock(QUEUE_LOCK, owner, ttl_s=_QUEUE_TTL_S)
    logger.info("retraining %s (%s)", "requested" if queued else "already requested; coalesced", reason)
    return queued


def pending(store: StorePort) -> dict | None:
    """The pending request (``{"owner", "acquired_at", ...}``; the owner ends with its reason), or None."""
    return store.lock_holder(QUEUE_LOCK)


def take(store: StorePort) -> bool:
    """Take the pending request away (atomic: of two takers one gets it); whether there was one."""
    holder = pending(store)
    return holder is not None and store.release_lock(QUEUE_LOCK, holder["owner"])


def seconds_until_allowed(store: StorePort, min_interval: float, now: _dt.datetime | None = None) -> float:
    """Seconds until ``min_interval`` has passed since the latest training run started (0 = now)."""
    runs = store.training_runs(limit=1)
    if not runs or min_interval <= 0:
        return 0.0
    started = _dt.datetime.fromisoformat(runs[0]["started_at"].rstrip("Z"))
    now = now or _utcnow()
    return max(0.0, float(min_interval) - (now - started).total_seconds())


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def serve_queue(store: StorePort, min_interval: float, run: Callable[[], object], *,
                sleep: Callable[[float], None] = time.sleep, poll: float = _POLL_S,
                now: Callable[[], _dt.datetime] = _utcnow) -> int:
    """The waiter: while a request is pending, wait for the interval, then ``run()`` a training.

    Holds the ``training-waiter`` lock throughout (a second waiter returns
    at once). ``run`` returns None when another training holds the training
    lock; the waiter then polls again. Returns how many trainings it ran.
    ``sleep`` and ``now`` (naive UTC) are the clock (tests pass their own).
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    store.release_dead_lock(WAITER_LOCK)
    if not store.try_lock(WAITER_LOCK, owner, ttl_s=_WAITER_TTL_S):
        logger.info("another process serves the retraining queue")
        return 0
    ran = 0
    try:
        while pending(store) is not None:
            wait = seconds_until_allowed(store, min_interval, now())
            if wait > 0:
                logger.info("retraining queued; next allowed in %.0f s", wait)
                sleep(min(wait, poll))
                store.try_lock(WAITER_LOCK, owner, ttl_s=_WAITER_TTL_S)  # still here
                continue
            store.try_lock(WAITER_LOCK, owner, ttl_s=_RUN_TTL_S)  # held through the training, like its own lock
            if run() is None:  # another training is under way: it took the request, or will finish first
                sleep(poll)
                store.try_lock(WAITER_LOCK, owner, ttl_s=_WAITER_TTL_S)
                continue
            ran += 1
    finally:
        store.release_lock(WAITER_LOCK, owner)
    return ran
