"""Configuration from the environment (DESIGN.md's contract)."""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MailSettings", "Settings", "mail_settings_from_env", "settings_from_env", "signing_secret"]


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


# --------------------------------------------------------------------------- the signing key

_SECRET_FILE = "session-secret"


def signing_secret(model_dir: str | Path, environ: dict[str, str] | None = None) -> str:
    """The key that signs the web session cookie and the emails' links.

    ``DATEIDEAS_SECRET_KEY`` when set, else a random key kept in
    ``<model_dir>/session-secret`` (created atomically on first use, mode
    0600), so every gunicorn worker, every replica on the same model folder
    and ``dateideas newsletter --send`` sign and verify with the same key.
    """
    env = os.environ if environ is None else environ
    if env.get("DATEIDEAS_SECRET_KEY"):
        return env["DATEIDEAS_SECRET_KEY"]
    path = Path(model_dir) / _SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{_SECRET_FILE}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic; the first process to get here wins, the others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text(encoding="ascii").strip()


# --------------------------------------------------------------------------- mail (SMTP)

_TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class MailSettings:
    """Where and how email goes out (``dateideas newsletter --send``, sign-up confirmations).

    Attributes
    ----------
    host : str
        ``DATEIDEAS_SMTP_HOST``.
    port : int
        ``DATEIDEAS_SMTP_PORT``; default 465 with ``ssl``, 587 with
        ``starttls``, 25 with ``none``.
    user, password : str or None
        ``DATEIDEAS_SMTP_USER`` / ``DATEIDEAS_SMTP_PASSWORD``: logged in with
        when the user is set.
    tls : str
        ``DATEIDEAS_SMTP_TLS``: ``none``, ``starttls`` (default) or ``ssl``.
    mail_from : str
        ``DATEIDEAS_MAIL_FROM``, the ``From`` address (default
        ``Date ideas <newsletter@HOST>``).
    public_url : str or None
        ``DATEIDEAS_PUBLIC_URL``: where the service is reached from a reader's
        mail client (``https://dates.example.org``); the emails' links start
        with it.
    per_second : float
        ``DATEIDEAS_SMTP_PER_SECOND``: at most this many messages a second
        (default 5; 0 = no throttle).
    timeout : float
        Seconds an SMTP exchange may take (``DATEIDEAS_SMTP_TIMEOUT``, default 30).
    """

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    tls: str = "starttls"
    mail_from: str = "Date ideas <newsletter@localhost>"
    public_url: str | None = None
    per_second: float = 5.0
    timeout: float = 30.0


def mail_settings_from_env(environ: dict[str, str] | None = None) -> MailSettings | None:
    """The SMTP settings from ``DATEIDEAS_SMTP_*``, ``DATEIDEAS_MAIL_FROM`` and ``DATEIDEAS_PUBLIC_URL``;
    None when ``DATEIDEAS_SMTP_HOST`` is not set (no mail is sent).

    Raises ``ValueError`` naming the variable and what it allows when a value is wrong.
    """
    env = os.environ if environ is None else environ
    host = (env.get("DATEIDEAS_SMTP_HOST") or "").strip()
    if not host:
        return None
    tls = (env.get("DATEIDEAS_SMTP_TLS") or "starttls").strip().lower()
    if tls not in _TLS_MODES:
        raise ValueError(f"DATEIDEAS_SMTP_TLS must be one of {', '.join(_TLS_MODES)}, got {tls!r}")
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[tls]
    port = int(_number(env, "DATEIDEAS_SMTP_PORT", default_port, whole=True))
    if not 1 <= port <= 65535:
        raise ValueError(f"DATEIDEAS_SMTP_PORT must be a port from 1 to 65535, got {port}")
    public_url = (env.get("DATEIDEAS_PUBLIC_URL") or "").strip().rstrip("/") or None
    if public_url is not None and not public_url.startswith(("https://", "http://")):
        raise ValueError(f"DATEIDEAS_PUBLIC_URL must start with https:// (or http://), got {public_url!r}")
    return MailSettings(
        host=host, port=port, user=env.get("DATEIDEAS_SMTP_USER") or None,
        password=env.get("DATEIDEAS_SMTP_PASSWORD") or None, tls=tls,
        mail_from=(env.get("DATEIDEAS_MAIL_FROM") or "").strip() or f"Date ideas <newsletter@{host}>",
        public_url=public_url,
        per_second=float(_number(env, "DATEIDEAS_SMTP_PER_SECOND", 5.0)),
        timeout=float(_number(env, "DATEIDEAS_SMTP_TIMEOUT", 30.0)),
    )
