"""Work a request hands over to be done after its response: one background thread per worker process.

A confirmation email at sign-up (:func:`service.mail.store_emails`) goes
through here, so a slow or unreachable SMTP server never holds the request,
nor the worker: ``dateideas serve`` runs one request thread per worker
(docs/service.md), and a send can wait up to ``DATEIDEAS_SMTP_TIMEOUT``
seconds per step. Jobs run one at a time, in the order given; a job's
failure is logged and never reaches a request. Pending jobs are finished
when the worker exits (the executor's threads are joined at exit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Flask, current_app

__all__ = ["Outbox", "get_outbox", "init_app"]

logger = logging.getLogger(__name__)


class Outbox:
    """A FIFO of jobs run by one background thread, started on the first job."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")

    def submit(self, what: str, job: Callable[[], None]) -> None:
        """Run ``job()`` after the jobs before it; ``what`` names it in the log if it fails."""
        self._executor.submit(self._run, what, job)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the jobs given so far are done (one thread, in order: done when an empty job queued now
        has run); False if ``timeout`` seconds passed first."""
        try:
            self._executor.submit(lambda: None).result(timeout)
        except FutureTimeout:
            return False
        return True

    @staticmethod
    def _run(what: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # a job's failure is the job's: logged, never raised into a request
            logger.exception("background job failed: %s", what)


def init_app(app: Flask) -> None:
    app.extensions["dateideas.outbox"] = Outbox()


def get_outbox() -> Outbox:
    return current_app.extensions["dateideas.outbox"]
