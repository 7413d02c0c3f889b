"""Headers every response carries.

``X-Content-Type-Options: nosniff`` on every response (JSON, HTML, metrics,
errors), so a browser never second-guesses the declared type. Responses that
carry a secret (``POST /v1/couples``, the sign-up page) also say
``Cache-Control: no-store``; they set it themselves, with :data:`NO_STORE`.
"""

from __future__ import annotations

from flask import Flask

__all__ = ["NO_STORE", "init_app"]

#: headers for a response that carries a token or other secret: no cache may keep it
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _every_response(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_every_response)
