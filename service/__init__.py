"""The HTTP service: a thin Flask layer over :mod:`engine`.

``create_app()`` is the application factory (Flask's tutorial, flaskr, is the
model): configuration is read here, never at import time; the store is opened
here; the model is loaded on first use in each worker and hot-swapped when
the registry's live pointer changes (see :mod:`service.models`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .limits import LIMIT_DEFAULTS

__all__ = ["create_app"]

_DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,            # SQLAlchemy URL of the store
    "MODEL_DIR": "models",           # the model registry folder
    "CATALOG_DIR": None,             # idea catalog folder; None = $DATEIDEAS_CATALOG or data/
    "ADMIN_TOKEN": None,             # bearer token of the admin routes; None = admin routes refused
    "RETRAIN_AFTER_DATES": 50,       # start a background training after this many new dates; 0 = never
    "RETRAIN_CHECK_INTERVAL": 10.0,  # seconds between "enough new dates?" checks per worker
    "RETRAIN_MIN_INTERVAL": 900.0,   # seconds from one training's start to the next automatic one
    "MODEL_CHECK_INTERVAL": 1.0,     # seconds between looks at the registry's LIVE pointer per worker
    "MAX_CONTENT_LENGTH": 64 * 1024,  # bodies over 64 KiB get 413
    "TRAINING_LOG": None,            # where the training process writes; None = <MODEL_DIR>/training.log
    "LOG_REQUESTS": True,            # one JSON log line per request
    "METRICS_TOKEN": None,           # bearer token /metrics needs; None = open (service/metrics.py)
    "SESSION_IDLE_HOURS": 24,        # a page session unused this long ends (service/sessions.py)
    "SESSION_MAX_DAYS": 14,          # ... and any page session ends this long after sign-in
    "RATELIMIT_ENABLED": True,       # rate limits (service/limits.py) on sign-in, sign-up, couples, another
    "RATELIMIT_STORAGE_URI": "memory://",  # or redis://HOST:PORT/DB, shared by workers and replicas
    "RATELIMIT_KEY_PREFIX": "dateideas",
    **LIMIT_DEFAULTS,                # LIMIT_SIGNIN, LIMIT_SIGNUP, LIMIT_COUPLES, LIMIT_ANOTHER
    "ANOTHER_PER_DAY": 100,          # `another` requests per couple per day (429 beyond); counted in the database
    "MAIL": None,                    # engine.config.MailSettings: SMTP for sign-up confirmations; None = none sent
    "TRUSTED_PROXIES": 0,            # reverse proxies in front whose X-Forwarded-For/-Proto are believed
}


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number >= 0, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value}")
    return value


def _config_from_env() -> dict[str, Any]:
    from engine.config import mail_settings_from_env, settings_from_env

    settings = settings_from_env()
    env = os.environ
    config = {
        "DATABASE_URL": settings.database_url,
        "MODEL_DIR": str(settings.model_dir),
        "ADMIN_TOKEN": settings.admin_token,
        "RETRAIN_AFTER_DATES": _int_env(env, "DATEIDEAS_RETRAIN_AFTER_DATES", 50),
        "METRICS_TOKEN": env.get("DATEIDEAS_METRICS_TOKEN") or None,
        "SESSION_IDLE_HOURS": _int_env(env, "DATEIDEAS_SESSION_IDLE_HOURS", _DEFAULTS["SESSION_IDLE_HOURS"]),
        "SESSION_MAX_DAYS": _int_env(env, "DATEIDEAS_SESSION_MAX_DAYS", _DEFAULTS["SESSION_MAX_DAYS"]),
        "RATELIMIT_ENABLED": env.get("DATEIDEAS_RATELIMIT_ENABLED", "1") != "0",
        "RATELIMIT_STORAGE_URI": settings.ratelimit_storage,
        "ANOTHER_PER_DAY": _int_env(env, "DATEIDEAS_ANOTHER_PER_DAY", 100),
        "TRUSTED_PROXIES": _int_env(env, "DATEIDEAS_TRUSTED_PROXIES", 0),
        "RETRAIN_MIN_INTERVAL": settings.retrain_min_interval,
        "MAIL": mail_settings_from_env(),
    }
    for key in LIMIT_DEFAULTS:
        config[key] = env.get(f"DATEIDEAS_RATELIMIT_{key.removeprefix('LIMIT_')}") or LIMIT_DEFAULTS[key]
    return config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the service.

    Parameters
    ----------
    test_config : mapping, optional
        Configuration keys (see ``_DEFAULTS``). When None, the configuration
        comes from the environment (``DATEIDEAS_DATABASE_URL``,
        ``DATEIDEAS_MODEL_DIR``, ``DATEIDEAS_ADMIN_TOKEN``,
        ``DATEIDEAS_RETRAIN_AFTER_DATES``, ``DATEIDEAS_RETRAIN_MIN_INTERVAL``,
        ``DATEIDEAS_METRICS_TOKEN``, ``DATEIDEAS_ANOTHER_PER_DAY``, ``DATEIDEAS_TRUSTED_PROXIES``,
        ``DATEIDEAS_SESSION_IDLE_HOURS``, ``DATEIDEAS_SESSION_MAX_DAYS``,
        ``DATEIDEAS_RATELIMIT_ENABLED``, ``DATEIDEAS_RATELIMIT_STORAGE``,
        ``DATEIDEAS_RATELIMIT_SIGNIN|SIGNUP|COUPLES|ANOTHER`` and the SMTP settings
        ``DATEIDEAS_SMTP_*``, ``DATEIDEAS_MAIL_FROM``, ``DATEIDEAS_PUBLIC_URL``).

    Returns
    -------
    flask.Flask
    """
    app = Flask(__name__)
    app.config.from_mapping(_DEFAULTS)
    app.config.update(_config_from_env() if test_config is None else test_config)
    if not app.config["DATABASE_URL"]:
        from engine.config import settings_from_env

        app.config["DATABASE_URL"] = settings_from_env().database_url
    hops = _proxy_hops(app.config["TRUSTED_PROXIES"])  # refused before anything is opened

    from . import (
        admin,
        couples,
        dates,
        db,
        errors,
        headers,
        ideas,
        inputs,
        limits,
        logs,
        metrics,
        models,
        ops,
        outbox,
        prompts,
        sessions,
        today,
        tonight,
        training,
    )

    db.init_app(app)
    metrics.init_app(app)
    models.init_app(app)
    training.init_app(app)
    outbox.init_app(app)
    logs.init_app(app)
    inputs.init_app(app)  # after logs: a refused request still has its request id
    errors.init_app(app)
    headers.init_app(app)
    sessions.init_app(app)
    for module in (couples, tonight, dates, ideas, admin, ops, prompts, today):
        app.register_blueprint(module.bp)
    from . import pages  # the couples' web pages (HTML, session cookie)

    app.register_blueprint(pages.bp)
    limits.init_app(app)  # wraps views of the blueprints above
    if hops:  # outermost, so every part of the app sees the client's address
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def _proxy_hops(hops: Any) -> int:
    """``TRUSTED_PROXIES``, checked: the last ``hops`` proxies' ``X-Forwarded-For`` and ``-Proto`` are
    believed (werkzeug's ``ProxyFix``).

    Behind a reverse proxy every request comes from the proxy's address, so
    the per-address rate limits (sign-in, sign-up, couple creation) would
    count every user together; with ``hops`` set to the number of proxies in
    front, ``request.remote_addr`` is the client's. With 0 (the default,
    nothing in front) the headers are ignored, so a client cannot choose its
    own address to escape a limit.
    """
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
        raise ValueError(f"TRUSTED_PROXIES must be a whole number >= 0 (proxies in front), got {hops!r}")
    return hops
