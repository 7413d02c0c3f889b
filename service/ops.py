"""Operations: ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app

from engine.app import LATEST_VERSION, NoModelError

from .auth import bearer_token
from .db import get_store
from .errors import ApiError, error_response
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
    """Prometheus text format (see :mod:`service.metrics`); the metrics token when one is set."""
    expected = current_app.config.get("METRICS_TOKEN")
    if expected:
        token = bearer_token()
        if token is None:
            raise ApiError(401, "/metrics needs Authorization: Bearer <DATEIDEAS_METRICS_TOKEN>")
        if not hmac.compare_digest(token.encode(), str(expected).encode()):
            raise ApiError(403, "the bearer token is not the metrics token")
    body = get_metrics().render(get_store(), get_holder())
    return Response(body, mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.0 document of these routes."""
    return openapi_document()
