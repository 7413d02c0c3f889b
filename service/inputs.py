"""The edge: text a request carries is checked once, before any view or the database sees it.

* **Ids, query values and form fields** (``request.view_args``,
  ``request.args``, ``request.form``) are checked by a ``before_request``
  hook; **JSON bodies** by :func:`parse_json` (called by
  :func:`service.bodies.json_object`, the one place bodies are read). Both
  use :func:`text_problem`: no NUL character (PostgreSQL cannot store one)
  and no lone surrogate (not Unicode; it cannot be encoded as UTF-8). Either
  is a 400 naming the field, on every backend.
* **JSON nesting** is at most :data:`MAX_JSON_DEPTH` levels; a deeper body
  (or one deep enough to exhaust the parser's recursion) is a 400.
* **Chunked bodies** (no ``Content-Length``) are read up to
  ``MAX_CONTENT_LENGTH`` by werkzeug, which then stops silently; a chunked
  body that reaches the limit is refused here with 413, like a declared one.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

__all__ = ["InputError", "MAX_JSON_DEPTH", "init_app", "parse_json", "text_problem"]

#: deepest JSON nesting accepted in a request body (the API's bodies need 3)
MAX_JSON_DEPTH = 32


class InputError(BadRequest):
    """400 for text no route accepts; ``field`` names where it was (JSON error body or HTML page)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted as text, or None when it can.

    Examples
    --------
    >>> text_problem("pottery")
    >>> text_problem("a\\x00b")
    'contains a NUL character (U+0000), which is not allowed in text'
    """
    if "\x00" in value:
        return "contains a NUL character (U+0000), which is not allowed in text"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (U+D800-U+DFFF), which is not valid Unicode text"
    return None


def _check(field: str, value: str) -> None:
    problem = text_problem(value)
    if problem is not None:
        raise InputError(field, f"{field} {problem}")


def _walk(value: Any, path: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise InputError("body", f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        _check(path or "body", value)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else key
            _check(path or "body", key)
            _walk(item, name, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1)


def parse_json(data: bytes) -> Any:
    """The JSON document in ``data``, checked as the module docstring says.

    Raises
    ------
    InputError
        400 when ``data`` is not JSON, is nested too deeply, or holds a
        string with a NUL or a lone surrogate (``field`` names the key path).
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise InputError("body", f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:
        raise InputError("body", "the body is not valid JSON") from None
    _walk(value, "", 1)
    return value


def _check_request() -> None:
    """``before_request``: chunked size, then the path's ids, the query string and the form."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            _check(name, value)
    for source in (request.args, request.form):  # the form is empty unless the body is a form
        for name, values in source.lists():
            _check("a field name", name)
            for value in values:
                _check(name, value)


def init_app(app: Flask) -> None:
    """Register the ``before_request`` check (after the request id is set, so errors carry it)."""
    app.before_request(_check_request)
