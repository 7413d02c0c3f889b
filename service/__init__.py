"""The HTTP service: a thin Flask layer over :mod:`engine`.

``create_app()`` is the application factory (Flask's tutorial, flaskr, is the
model): configuration is read here, never at import time; the store is opened
here; the model is loaded on first use in each worker and hot-swapped when
the registry's live pointer changes (see :mod:`service.models`).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

__all__ = ["create_app"]

_DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,            # SQLAlchemy URL of the store
    "MODEL_DIR": "models",           # the model registry folder
    "CATALOG_DIR": None,             # idea catalog folder; None = $DATEIDEAS_CATALOG or data/
    "ADMIN_TOKEN": None,             # bearer token of the admin routes; None = admin routes refused
    "RETRAIN_AFTER_DATES": 50,       # start a background training after this many new dates; 0 = never
    "RETRAIN_CHECK_INTERVAL": 10.0,  # seconds between "enough new dates?" checks per worker
    "MODEL_CHECK_INTERVAL": 1.0,     # seconds between looks at the registry's LIVE pointer per worker
    "MAX_CONTENT_LENGTH": 64 * 1024,  # bodies over 64 KiB get 413
    "TRAINING_LOG": None,            # where the training process writes; None = <MODEL_DIR>/training.log
    "LOG_REQUESTS": True,            # one JSON log line per request
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
    from engine.config import settings_from_env

    settings = settings_from_env()
    return {
        "DATABASE_URL": settings.database_url,
        "MODEL_DIR": str(settings.model_dir),
        "ADMIN_TOKEN": settings.admin_token,
        "RETRAIN_AFTER_DATES": _int_env(os.environ, "DATEIDEAS_RETRAIN_AFTER_DATES", 50),
    }


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the service.

    Parameters
    ----------
    test_config : mapping, optional
        Configuration keys (see ``_DEFAULTS``). When None, the configuration
        comes from the environment (``DATEIDEAS_DATABASE_URL``,
        ``DATEIDEAS_MODEL_DIR``, ``DATEIDEAS_ADMIN_TOKEN``,
        ``DATEIDEAS_RETRAIN_AFTER_DATES``).

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

    from . import admin, couples, dates, db, errors, ideas, logs, metrics, models, ops, tonight, training
    from . import prompts, today

    db.init_app(app)
    metrics.init_app(app)
    models.init_app(app)
    training.init_app(app)
    logs.init_app(app)
    errors.init_app(app)
    for module in (couples, tonight, dates, ideas, admin, ops, prompts, today):
        app.register_blueprint(module.bp)
    from . import pages  # the couples' web pages (HTML, session cookie)

    app.register_blueprint(pages.bp)
    return app
