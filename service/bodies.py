"""Reading a JSON request body: an object with known keys, or a clear 4xx."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import request

from .errors import ApiError
from .inputs import InputError, parse_json

__all__ = ["json_object"]


def json_object(allowed: Iterable[str], *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object whose keys are all in ``allowed``.

    Parameters
    ----------
    allowed : iterable of str
        Keys accepted; any other key is a 400 naming it.
    optional : bool, default=False
        An empty body is read as ``{}``.

    Raises
    ------
    ApiError
        415 when the body is not ``application/json``, 400 when it is not a
        JSON object, has unknown keys, or fails :func:`service.inputs.parse_json`
        (too deep, a NUL or a lone surrogate in a string); 413 comes from
        ``MAX_CONTENT_LENGTH``.
    """
    allowed = tuple(allowed)
    if optional and not request.content_length and not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise ApiError(415, "the body must be JSON: send Content-Type: application/json")
    try:
        body = parse_json(request.get_data(cache=True))
    except InputError as exc:
        code = "bad_json" if exc.field == "body" else None
        raise ApiError(400, exc.description, field=None if code else exc.field, code=code) from None
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object with keys {', '.join(allowed)}, "
                            f"got {type(body).__name__}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}", field=unknown[0])
    return body
