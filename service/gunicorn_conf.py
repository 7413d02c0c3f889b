"""gunicorn settings for ``dateideas serve`` (``-c python:service.gunicorn_conf``).

* ``gthread`` workers (keep-alive, a few threads each); the app is created in
  each worker after the fork (no ``preload_app``), so every worker opens its
  own store and loads its own model.
* Prometheus multiprocess mode: a dead worker's live gauges are dropped in
  ``child_exit``; the metrics folder made by ``dateideas serve`` is removed
  when gunicorn exits.
* gunicorn's own access log is off: the app writes one JSON line per request.
* Keep-alive connections are spread over the workers with ``reuse_port``:
  every worker binds its own ``SO_REUSEPORT`` socket and the kernel hashes
  each new connection to one of them. With one shared socket the worker
  that wakes first accepts whole bursts of connections, and a keep-alive
  connection stays with the worker that accepted it: 19 of 20 client
  connections ended on one worker. Measured with ``python -m bench spread``
  (docs/service.md). ``DATEIDEAS_REUSE_PORT=0`` goes back to one shared
  socket (e.g. where ``SO_REUSEPORT`` misbehaves).
* ``post_worker_init``: the worker's live model collects garbage once after
  each swap and keeps what is alive out of the collector's later passes
  (``LiveModel(freeze_gc=True)``; a full pass paused a 50,000-idea worker's
  request for 100-160 ms).
* ``keepalive = 5``: an idle client connection is closed after 5 s, so even
  a badly spread set of connections is re-dealt within seconds.
"""

from __future__ import annotations

import os
import shutil
import socket

worker_class = "gthread"
accesslog = None
errorlog = "-"
timeout = 60
graceful_timeout = 10
keepalive = 5
reuse_port = hasattr(socket, "SO_REUSEPORT") and os.environ.get("DATEIDEAS_REUSE_PORT", "1") != "0"
control_socket_disable = True  # several servers (tests, bench) would fight over one socket path


def post_worker_init(worker) -> None:
    from service.models import serving_worker

    serving_worker(worker.wsgi)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and os.environ.get("DATEIDEAS_METRICS_DIR_OWNED") == "1":
        shutil.rmtree(folder, ignore_errors=True)
