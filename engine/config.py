"""Configuration from the environment (DESIGN.md's contract)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "settings_from_env"]


@dataclass(frozen=True)
class Settings:
    """Where the engine keeps its state.

    Attributes
    ----------
    database_url : str
        SQLAlchemy URL; default a SQLite file ``var/dateideas.sqlite3`` under
        the working directory.
    model_dir : Path
        The model registry folder; default ``models/``.
    admin_token : str or None
        Token for the admin routes; admin routes are refused when unset.
    ratelimit_storage : str
        Where the service's rate-limit counts live: ``memory://`` (default;
        each worker process counts on its own) or a shared store such as
        ``redis://127.0.0.1:6379/0`` (all workers and replicas share counts).
    retrain_min_interval : float
        Seconds from the start of one background retraining to the start of
        the next (``DATEIDEAS_RETRAIN_MIN_INTERVAL``, default 900): a
        request that comes sooner is queued, one at most (see
        :mod:`engine.app.retrain_queue`).
    keep_models : int
        Model versions the registry keeps besides the live, the pinned and
        the rollback target (``DATEIDEAS_KEEP_MODELS``, default 10); older
        ones are pruned after each training (:meth:`engine.learning.registry.Registry.prune`).
    """

    database_url: str
    model_dir: Path
    admin_token: str | None = None
    ratelimit_storage: str = "memory://"
    retrain_min_interval: float = 900.0
    keep_models: int = 10


def _number(env, name: str, default: float, *, whole: bool = False) -> float:
    raw = env.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    kind = "a whole number" if whole else "a number"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ValueError(f"{name} must be {kind} >= 0, got {raw!r}") from None
    if not value >= 0:
        raise ValueError(f"{name} must be {kind} >= 0, got {raw!r}")
    return value


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Read ``DATEIDEAS_DATABASE_URL``, ``DATEIDEAS_MODEL_DIR``, ``DATEIDEAS_ADMIN_TOKEN``,
    ``DATEIDEAS_RATELIMIT_STORAGE``, ``DATEIDEAS_RETRAIN_MIN_INTERVAL`` (seconds) and
    ``DATEIDEAS_KEEP_MODELS``.

    Raises ``ValueError`` naming the variable when a number is not one.
    """
    env = os.environ if environ is None else environ
    url = env.get("DATEIDEAS_DATABASE_URL") or f"sqlite:///{Path.cwd() / 'var' / 'dateideas.sqlite3'}"
    return Settings(
        database_url=url,
        model_dir=Path(env.get("DATEIDEAS_MODEL_DIR") or "models"),
        admin_token=env.get("DATEIDEAS_ADMIN_TOKEN") or None,
        ratelimit_storage=env.get("DATEIDEAS_RATELIMIT_STORAGE") or "memory://",
        retrain_min_interval=float(_number(env, "DATEIDEAS_RETRAIN_MIN_INTERVAL", 900.0)),
        keep_models=int(_number(env, "DATEIDEAS_KEEP_MODELS", 10, whole=True)),
    )
