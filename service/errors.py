"""JSON errors: ``{"error": {"code", "message", "field"?}}`` with a 4xx status for anything a client sends.

Database failures are 503, never 500: an unreachable or restarting server
(SQLAlchemy's ``OperationalError``/``InterfaceError``, or the driver's own,
raised by the store's raw-cursor reads) is ``unavailable``; a reachable
database without the schema (``UndefinedTable``/``UndefinedColumn``,
SQLite's "no such table") is ``no_schema`` and says to run ``dateideas init``.
Anything else unexpected is a 500 whose logged traceback starts with the
request id the body and ``X-Request-ID`` carry. On the web pages both are
the HTML error page instead of JSON.

psycopg is imported only for a PostgreSQL store (by SQLAlchemy): a SQLite
worker does without its 7 MiB, and no psycopg error can be raised where it
was never imported. Its outage and schema errors are told apart wherever
they arrive (:func:`database_problem`, also in the catch-all handler).
"""

from __future__ import annotations

import logging
import sqlite3
import sys

from flask import Flask, g, jsonify, render_template, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

__all__ = ["ApiError", "database_problem", "error_response", "init_app"]

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    503: "unavailable",
}

_MESSAGES = {
    404: "no such resource; see /openapi.json for the routes",
    405: "method not allowed on this route; see /openapi.json",
    413: "the request body is larger than the 64 KiB allowed",
    415: "the body must be JSON: send Content-Type: application/json",
}


class ApiError(Exception):
    """An error a client can act on.

    Parameters
    ----------
    status : int
        HTTP status (4xx, or 503).
    message : str
        A sentence naming what was wrong and what is allowed.
    field : str, optional
        The request field at fault.
    code : str, optional
        Machine-readable code; default from the status.
    """

    def __init__(self, status: int, message: str, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code or _CODES.get(status, "error")


def error_response(status: int, message: str, field: str | None = None, code: str | None = None):
    """A Flask response with the JSON error body."""
    body = {"code": code or _CODES.get(status, "error"), "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify(error=body)
    response.status_code = status
    return response


def _api_error(exc: ApiError):
    response = error_response(exc.status, exc.message, exc.field, exc.code)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dateideas"'
    return response


def _wants_page() -> bool:
    """A browser asking for a page outside the API (``Accept`` prefers HTML to JSON, path not /v1/)."""
    if request.path.startswith("/v1/") or request.path == "/v1":
        return False
    return request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html"


def _http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 404 and _wants_page():  # a mistyped page address: the site's own page, in words
        return render_template("pages/error.html", status=404, title="Page not found",
                               message=f"There is no page at {request.path}. Check the address, or start "
                                       "again from the home page."), 404
    if status == 405 and _wants_page():  # a page address with the wrong method: in words too
        allowed = getattr(exc, "valid_methods", None)
        return render_template("pages/error.html", status=405, title="Not this way",
                               message="This page cannot be opened that way. Go back and use the page's own "
                                       "buttons."), 405, {"Allow": ", ".join(allowed)} if allowed else {}
    message = _MESSAGES.get(status) or exc.description or exc.name
    if status == 400 and (exc.description or "").startswith("Failed to decode JSON"):
        return error_response(400, "the body is not valid JSON", code="bad_json")
    response = error_response(status, message, getattr(exc, "field", None))
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


_DOWN_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError,
                sqlite3.OperationalError)


def _driver_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """psycopg's (schema errors, outage errors), or none where psycopg was never imported."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return (), ()
    return ((psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn),
            (psycopg.OperationalError, psycopg.InterfaceError))


def database_problem(exc: BaseException) -> str | None:
    """``"no_schema"``, ``"unavailable"`` or None (not a database outage) for an exception.

    Shared by the error handler and anything that must tell an outage from a bug.
    """
    orig = getattr(exc, "orig", None) or exc
    text = str(orig)
    schema_errors, down_errors = _driver_errors()
    if isinstance(orig, schema_errors) or (isinstance(orig, sqlite3.OperationalError)
                                           and ("no such table" in text or "no such column" in text)):
        return "no_schema"
    down = _DOWN_ERRORS + down_errors
    if isinstance(exc, down) or isinstance(orig, down):
        return "unavailable"
    return None


def _page_error(status: int, message: str):
    """The web pages' error page (the pages blueprint handles HTTP errors itself; these come from here)."""
    return render_template("pages/error.html", status=status, message=message), status


def _database_error(exc: Exception):
    problem = database_problem(exc)
    if problem is None:
        return _unexpected(exc)
    logger.error("request %s: database %s: %s", g.get("request_id", "-"), problem, exc)
    if request.blueprint == "pages":
        return _page_error(503, "We cannot reach our database just now. Please try again in a moment.")
    if problem == "no_schema":
        return error_response(503, "the database has no schema (or an older one) for this version; "
                                   "the operator must run `dateideas init`", code="no_schema")
    return error_response(503, "the database is unavailable; try again shortly", code="unavailable")


def _unexpected(exc: Exception):
    if database_problem(exc) is not None:  # the driver's own (psycopg's, from the store's raw cursors)
        return _database_error(exc)
    request_id = g.get("request_id", "-")
    logger.error("request %s: unhandled error", request_id, exc_info=exc)
    if request.blueprint == "pages":
        return _page_error(500, f"Something went wrong on our side (request {request_id}). Please try again.")
    return error_response(500, f"internal error; the request id {request_id} (also in X-Request-ID) "
                               "identifies it in the logs", code="internal")


def init_app(app: Flask) -> None:
    """Register the JSON handlers (every HTTP error, ApiError, database outages, the rest)."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    for database_error in (sa_exc.DBAPIError, sa_exc.SQLAlchemyError, sqlite3.Error):
        app.register_error_handler(database_error, _database_error)
    app.register_error_handler(Exception, _unexpected)
