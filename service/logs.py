"""Request ids and one JSON log line per request (logger ``service.access``, on stderr).

``X-Request-ID`` is taken from the request when it is 1-128 characters of
``[A-Za-z0-9._-]``, otherwise generated; it is echoed on every response.
The same hook feeds the request counters and latency histogram.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from .metrics import get_metrics

__all__ = ["init_app"]

access_log = logging.getLogger("service.access")
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {"message": record.getMessage()}
        return json.dumps({"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                           **fields}, separators=(",", ":"))


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _before() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _ID_RE.match(incoming) else uuid.uuid4().hex


def _after(response):
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
    response.headers["X-Request-ID"] = g.get("request_id", "")
    get_metrics().observe(request.method, route, response.status_code, seconds)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("request", extra={"fields": {
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "route": route, "status": response.status_code, "ms": round(seconds * 1000, 2),
            "couple_id": g.get("couple_id"), "remote": request.remote_addr,
        }})
    return response


def init_app(app: Flask) -> None:
    if app.config["LOG_REQUESTS"] and not any(isinstance(h, _Stderr) for h in access_log.handlers):
        handler = _Stderr()
        handler.setFormatter(_JsonLines())
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    app.before_request(_before)
    app.after_request(_after)
