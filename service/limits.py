"""Rate limits (Flask-Limiter): sign-in, sign-up, couple creation and ``another``.

Every limit is declared here, in :data:`_LIMITS`, and wrapped round its view
when the app is built, so the views stay free of them. Each is a
``flask-limiter`` limit string (``"10 per minute"``, ``"20/hour;100/day"``):

=====================  ==========================================  =================  ======================
config key (env)       what counts                                 keyed by           default
=====================  ==========================================  =================  ======================
``LIMIT_SIGNIN``       ``POST /signin`` (the page form)            client address     ``10 per minute``
``LIMIT_SIGNUP``       ``POST /signup`` (the page form)            client address     ``10 per hour``
``LIMIT_COUPLES``      ``POST /v1/couples``                        client address     ``20 per hour``
``LIMIT_ANOTHER``      ``tonight?another=true`` and the page's     couple             ``30 per minute``
                       "Another idea" (one shared count; only
                       answered requests count, so a stranger
                       cannot use up a couple's allowance)
=====================  ==========================================  =================  ======================

The environment variables are ``DATEIDEAS_RATELIMIT_SIGNIN``, ``_SIGNUP``,
``_COUPLES``, ``_ANOTHER``; ``DATEIDEAS_RATELIMIT_ENABLED=0`` turns limits off.
Counts live in memory by default (per worker process), or in the storage
named by ``DATEIDEAS_RATELIMIT_STORAGE`` (config ``RATELIMIT_STORAGE_URI``),
e.g. ``redis://127.0.0.1:6379/0``, so every gunicorn worker and replica
shares them; keys start with ``RATELIMIT_KEY_PREFIX`` (default
``dateideas``). When that storage is unreachable the limiter falls back to
memory and logs it, rather than refusing sign-ins.

A refused request is a 429 with ``Retry-After`` (seconds): a JSON error on the
API, the error page on the web pages. The client address is
``request.remote_addr``: behind reverse proxies set ``DATEIDEAS_TRUSTED_PROXIES``
(config ``TRUSTED_PROXIES``) to how many there are, so it is the client's from
their ``X-Forwarded-For``; with 0, the default, that header is ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import limits
from flask import Flask, current_app, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

__all__ = ["LIMIT_DEFAULTS", "get_limiter", "init_app"]

_TRUE = {"1", "true", "yes", "on"}

#: config key -> default limit string
LIMIT_DEFAULTS = {
    "LIMIT_SIGNIN": "10 per minute",
    "LIMIT_SIGNUP": "10 per hour",
    "LIMIT_COUPLES": "20 per hour",
    "LIMIT_ANOTHER": "30 per minute",
}


def _couple() -> str:
    """The couple a request is for: the API path's id, else the signed-in page session's."""
    return (request.view_args or {}).get("couple_id") or session.get("couple_id") or get_remote_address()


def _not_another() -> bool:
    if request.method == "POST":
        return request.form.get("action") != "another"
    return request.args.get("another", "").strip().lower() not in _TRUE


def _answered(response) -> bool:
    return response.status_code < 400


class _Limit(NamedTuple):
    endpoints: tuple[str, ...]
    config_key: str
    scope: str
    methods: tuple[str, ...]
    key: Callable[[], str]
    what: str
    exempt_when: Callable[[], bool] | None = None
    deduct_when: Callable | None = None


_LIMITS = (
    _Limit(("pages.signin",), "LIMIT_SIGNIN", "signin", ("POST",), get_remote_address,
           "sign-in attempts from this address"),
    _Limit(("pages.signup",), "LIMIT_SIGNUP", "signup", ("POST",), get_remote_address,
           "sign-ups from this address"),
    _Limit(("couples.create",), "LIMIT_COUPLES", "couples", ("POST",), get_remote_address,
           "couples created from this address"),
    _Limit(("tonight.tonight", "pages.tonight_update"), "LIMIT_ANOTHER", "another", ("GET", "POST"), _couple,
           "'another' requests for this couple", exempt_when=_not_another, deduct_when=_answered),
)


def _checked(app: Flask, key: str) -> str:
    value = str(app.config[key])
    try:
        limits.parse_many(value)
    except ValueError:
        raise ValueError(f"{key} (env DATEIDEAS_RATELIMIT_{key.removeprefix('LIMIT_')}) must be a rate limit "
                         f"such as '10 per minute' or '20/hour;100/day', got {value!r}") from None
    return value


def _retry_after(response):
    """A refused request says how many seconds to wait."""
    if response.status_code == 429:
        current = get_limiter().current_limit
        if current is not None:
            response.headers["Retry-After"] = str(max(1, int(current.reset_at - time.time())))
    return response


def init_app(app: Flask) -> None:
    """Create the app's limiter and wrap each view of :data:`_LIMITS` (call after registering blueprints)."""
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config.get("RATELIMIT_STORAGE_URI") or "memory://",
                      key_prefix=app.config.get("RATELIMIT_KEY_PREFIX") or "dateideas",
                      headers_enabled=False, swallow_errors=True, in_memory_fallback_enabled=True,
                      strategy="moving-window")
    app.extensions["dateideas.limiter"] = limiter
    for spec in _LIMITS:
        value = _checked(app, spec.config_key)
        message = f"too many {spec.what}: the limit is {value}; wait as long as Retry-After says, then try again"
        decorate = limiter.shared_limit(value, scope=spec.scope, key_func=spec.key, methods=list(spec.methods),
                                        error_message=message, exempt_when=spec.exempt_when,
                                        deduct_when=spec.deduct_when)
        for endpoint in spec.endpoints:
            if endpoint not in app.view_functions:
                raise RuntimeError(f"rate limit {spec.config_key} names the endpoint {endpoint!r}, "
                                   "which the app does not have")
            app.view_functions[endpoint] = decorate(app.view_functions[endpoint])
    app.after_request(_retry_after)


def get_limiter() -> Limiter:
    return current_app.extensions["dateideas.limiter"]
