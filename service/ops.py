"""Operations: ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``."""

from __future__ import annotations

from flask import Blueprint, Response

from engine.registry import NoModelError
from engine.store import LATEST_VERSION

from .db import get_store
from .errors import error_response
from .metrics import get_metrics
from .models import get_holder
from .openapi import openapi_document

__all__ = ["bp"]

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """200 when the database answers at the current schema and a model is loaded; 503 otherwise."""
    try:
        version = get_store().version()
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return error_response(503, f"the database is unreachable: {type(exc).__name__}", code="not_ready")
    if version != LATEST_VERSION:
        return error_response(503, f"the database schema is at version {version}, not {LATEST_VERSION}; "
                                   "run `dateideas init`", code="not_ready")
    try:
        model = get_holder().get()
    except NoModelError as exc:
        return error_response(503, f"no model loaded: {exc}", code="not_ready")
    return {"status": "ready", "model_version": model.version, "schema_version": version}


@bp.get("/metrics")
def metrics():
    """Prometheus text format (see :mod:`service.metrics`)."""
    body = get_metrics().render(get_store(), get_holder())
    return Response(body, mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.0 document of these routes."""
    return openapi_document()
