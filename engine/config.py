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
    """

    database_url: str
    model_dir: Path
    admin_token: str | None = None
    ratelimit_storage: str = "memory://"


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Read ``DATEIDEAS_DATABASE_URL``, ``DATEIDEAS_MODEL_DIR``, ``DATEIDEAS_ADMIN_TOKEN``,
    ``DATEIDEAS_RATELIMIT_STORAGE``."""
    env = os.environ if environ is None else environ
    url = env.get("DATEIDEAS_DATABASE_URL") or f"sqlite:///{Path.cwd() / 'var' / 'dateideas.sqlite3'}"
    return Settings(
        database_url=url,
        model_dir=Path(env.get("DATEIDEAS_MODEL_DIR") or "models"),
        admin_token=env.get("DATEIDEAS_ADMIN_TOKEN") or None,
        ratelimit_storage=env.get("DATEIDEAS_RATELIMIT_STORAGE") or "memory://",
    )
