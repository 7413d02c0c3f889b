"""gunicorn settings for ``dateideas serve`` (``-c python:service.gunicorn_conf``).

* ``gthread`` workers (keep-alive, a few threads each); the app is created in
  each worker after the fork (no ``preload_app``), so every worker opens its
  own store and loads its own model.
* Prometheus multiprocess mode: a dead worker's live gauges are dropped in
  ``child_exit``; the metrics folder made by ``dateideas serve`` is removed
  when gunicorn exits.
* gunicorn's own access log is off: the app writes one JSON line per request.
"""

from __future__ import annotations

import os
import shutil

worker_class = "gthread"
accesslog = None
errorlog = "-"
timeout = 60
graceful_timeout = 10
keepalive = 5
control_socket_disable = True  # several servers (tests, bench) would fight over one socket path


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and os.environ.get("DATEIDEAS_METRICS_DIR_OWNED") == "1":
        shutil.rmtree(folder, ignore_errors=True)
