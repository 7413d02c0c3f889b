"""Prometheus metrics, correct across gunicorn workers.

Choice: counters and histograms use ``prometheus_client`` in **multiprocess
mode** when ``PROMETHEUS_MULTIPROC_DIR`` is set (``dateideas serve`` sets it
to a fresh folder and marks dead workers in ``child_exit``): every worker
writes its values to memory-mapped files there and ``/metrics``, whichever
worker answers, sums them all. Without that variable (tests, ``flask run``)
the values live in this process only.

State that is not a per-request event is computed at scrape time instead, so
it is the same from every worker: the live model version (registry), the
version this worker serves, and training runs and durations (the store).

``/metrics`` answers while the database is down (monitoring must see the
outage): the counters and model versions need no database; the training
figures are the last ones this worker read, and ``dateideas_database_up``
says 0. When ``DATEIDEAS_METRICS_TOKEN`` (config ``METRICS_TOKEN``) is set,
``/metrics`` needs ``Authorization: Bearer <that token>`` (401 without it,
403 with another).

Exposed names::

    dateideas_http_requests_total{method, route, status}
    dateideas_http_request_duration_seconds{method, route, status}  (histogram)
    dateideas_suggestions_served_total
    dateideas_dates_received_total{result="created"|"replayed"}
    dateideas_model_swaps_total
    dateideas_tonight_cache_total{result="hit"|"miss"}  (ranked list from the worker's cache or computed)
    dateideas_model_live_info{version}            (1; from the registry)
    dateideas_model_loaded_info{version}          (1; the answering worker)
    dateideas_training_runs{status}               (runs recorded, last 1000)
    dateideas_training_duration_seconds_sum/_count (finished runs, last 1000)
    dateideas_training_last_duration_seconds
    dateideas_database_up                         (1 when the scrape could read the store, else 0)
"""

from __future__ import annotations

import logging
import os

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

__all__ = ["Metrics", "get_metrics", "init_app"]

logger = logging.getLogger(__name__)

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's counters and histograms (see the module docstring)."""

    def __init__(self, multiprocess_dir: str | None = None):
        self.multiprocess_dir = multiprocess_dir
        self.last_training_runs: list[dict] = []  # what the last scrape read, served while the database is down
        self.registry = CollectorRegistry()
        self.requests = Counter("dateideas_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("dateideas_http_request_duration_seconds", "Time to answer a request",
                                 ["method", "route", "status"], buckets=_BUCKETS, registry=self.registry)
        self.suggestions = Counter("dateideas_suggestions_served", "Suggestions served (each idea counts)",
                                   registry=self.registry)
        self.dates = Counter("dateideas_dates_received", "Dates posted", ["result"], registry=self.registry)
        self.swaps = Counter("dateideas_model_swaps", "Models loaded or hot-swapped", registry=self.registry)
        self.tonight_cache = Counter("dateideas_tonight_cache", "Tonight requests whose ranked list came from "
                                     "the worker's cache (hit) or was computed (miss)", ["result"],
                                     registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = {"method": method, "route": route, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)

    def render(self, store, holder) -> bytes:
        """The exposition text: every worker's counters plus scrape-time state."""
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            counters = CollectorRegistry()
            multiprocess.MultiProcessCollector(counters, path=self.multiprocess_dir)
        else:
            counters = self.registry
        state = CollectorRegistry()
        state.register(_StateCollector(store, holder, self))
        return generate_latest(counters) + generate_latest(state)


class _StateCollector:
    def __init__(self, store, holder, metrics: Metrics):
        self.store = store
        self.holder = holder
        self.metrics = metrics

    def _training_runs(self) -> tuple[list[dict], bool]:
        """(training runs, database up): the store's, or the last ones read when the database is down."""
        from .errors import database_problem

        try:
            runs = self.store.training_runs(limit=1000)
        except Exception as exc:  # noqa: BLE001 - an outage is reported, anything else raised
            if database_problem(exc) is None:
                raise
            logger.warning("metrics: the database is unavailable (%s); training figures are the last read",
                           type(exc).__name__)
            return self.metrics.last_training_runs, False
        self.metrics.last_training_runs = runs
        return runs, True

    def collect(self):
        live = GaugeMetricFamily("dateideas_model_live_info", "The registry's live model version", labels=["version"])
        version = self.holder.registry.live_version()
        if version:
            live.add_metric([version], 1)
        yield live
        loaded = GaugeMetricFamily("dateideas_model_loaded_info", "Model version the answering worker serves",
                                   labels=["version"])
        if self.holder.loaded_version:
            loaded.add_metric([self.holder.loaded_version], 1)
        yield loaded
        runs, database_up = self._training_runs()
        up = GaugeMetricFamily("dateideas_database_up", "1 when this scrape could read the database, else 0")
        up.add_metric([], 1 if database_up else 0)
        yield up
        by_status = GaugeMetricFamily("dateideas_training_runs", "Training runs recorded (latest 1000) by status",
                                      labels=["status"])
        for status in ("running", "succeeded", "failed"):
            by_status.add_metric([status], sum(run["status"] == status for run in runs))
        yield by_status
        finished = [run["seconds"] for run in runs if run["seconds"] is not None]
        yield SummaryMetricFamily("dateideas_training_duration_seconds", "Duration of finished training runs",
                                  count_value=len(finished), sum_value=float(sum(finished)))
        last = GaugeMetricFamily("dateideas_training_last_duration_seconds",
                                 "Duration of the latest finished training run")
        if finished:
            last.add_metric([], finished[0])
        yield last


def init_app(app: Flask) -> None:
    disable_created_metrics()  # no *_created series: they double the output and nobody graphs them
    app.extensions["dateideas.metrics"] = Metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)


def get_metrics() -> Metrics:
    return current_app.extensions["dateideas.metrics"]
