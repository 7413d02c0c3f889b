"""Shared pytest fixtures.

Databases
---------
``sqlite_url``     a fresh SQLite file in the test's tmp folder (not created yet).
``pg_url``         an empty PostgreSQL database at the latest schema version, on
                   the server at ``DATEIDEAS_TEST_POSTGRES_URL`` (default
                   ``postgresql+psycopg://root@127.0.0.1:5432/test``), uniquely
                   named and used by this test alone. It comes from a session
                   pool (:class:`bench.databases.MigratedPostgresPool`): after
                   the test its connections are ended, it is renamed, its
                   tables are emptied to zero pages and its sequences reset,
                   or it is dropped when the test changed its schema (~30 ms
                   instead of ~0.5 s for CREATE DATABASE, the migrations and
                   DROP DATABASE). Skipped when the server is
                   unreachable, unless ``DATEIDEAS_REQUIRE_POSTGRES=1``
                   (``make test``, CI): then the test fails.
``blank_pg_url``   a new PostgreSQL database with no schema at all (for the tests
                   of the migrations themselves), dropped afterwards (in the
                   background: DROP DATABASE takes up to a second).
``db_url``         an empty database at the latest schema version, once per
                   backend (test ids ``[sqlite]`` and ``[postgresql]``).
``blank_db_url``   a database with no schema at all, once per backend.
``store``          a migrated, empty :class:`engine.store.Store` on ``db_url``.

Live server
-----------
``serve_gunicorn``  a context manager: the tiny world in a SQLite store and
                    ``dateideas serve --workers 2`` (gunicorn) on it, ready.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.databases import MigratedPostgresPool
from engine.store import Store, open_store

_PG_ADMIN_URL = os.environ.get("DATEIDEAS_TEST_POSTGRES_URL",
                               "postgresql+psycopg://root@127.0.0.1:5432/test")


#: Debian's Chromium, which the browser tests drive (scripts/install-browser.sh installs it)
CHROMIUM = Path(os.environ.get("DATEIDEAS_CHROMIUM", "/usr/bin/chromium"))


def sync_playwright_or_skip():
    """playwright's ``sync_playwright`` when Chromium and playwright are here; else the test is skipped,
    saying what is missing and how to install it, or fails under DATEIDEAS_REQUIRE_BROWSER=1 (make test, CI)."""
    reason = None
    if not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM}"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[test]')"
    if reason is None:
        return sync_playwright
    if os.environ.get("DATEIDEAS_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (DATEIDEAS_REQUIRE_BROWSER=1; run scripts/install-browser.sh)", pytrace=False)
    pytest.skip(reason + "; install it with scripts/install-browser.sh")


@pytest.fixture(scope="session")
def _pg_admin() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL test server (for CREATE/DROP DATABASE)."""
    engine = sa.create_engine(_PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 5}, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL unreachable at {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        if os.environ.get("DATEIDEAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (DATEIDEAS_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _pg_pool(_pg_admin: sa.Engine) -> Iterator[MigratedPostgresPool]:
    """Empty, migrated PostgreSQL databases, reused from test to test (see :class:`MigratedPostgresPool`)."""
    pool = MigratedPostgresPool(_pg_admin.url.render_as_string(hide_password=False), _migrate, prefix="dateideas_t")
    yield pool
    pool.close()


def _migrate(url: str) -> None:
    opened = open_store(url)
    try:
        opened.migrate()
    finally:
        opened.close()


@pytest.fixture
def pg_url(_pg_pool: MigratedPostgresPool) -> Iterator[str]:
    """URL of an empty PostgreSQL database at the latest schema version, this test's alone."""
    with _pg_pool.database() as url:
        yield url


@pytest.fixture
def blank_pg_url(_pg_pool: MigratedPostgresPool) -> Iterator[str]:
    """URL of a new PostgreSQL database without any schema (never migrated), dropped after the test."""
    with _pg_pool.blank() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a SQLite file that does not exist yet (its folder is created on open)."""
    return f"sqlite:///{tmp_path / 'var' / 'dateideas.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """An empty database URL at the latest schema version, once per backend."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    url = request.getfixturevalue("sqlite_url")
    _migrate(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_db_url(request) -> str:
    """An empty database URL without any schema (never migrated), once per backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "blank_pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store on each backend; closed after the test."""
    opened = open_store(db_url)
    opened.migrate()  # already done: a no-op, and the store's own check of its version
    try:
        yield opened
    finally:
        opened.close()


# --------------------------------------------------------------------------- service fixtures
#
# ``tiny_world``      80 simulated couples on the shipped catalog (session).
# ``tiny_model_dir``  a registry with one fitted, promoted EnjoymentModel(max_iter=30) (session; read-only).
# ``model_dir``       a private copy of it for one test (tests may promote into it).
# ``service_store``   a migrated SQLite store holding the tiny world's couples and dates (a copy of
#                     a file made once per session, ``_tiny_world_sqlite``).
# ``app``, ``client`` the Flask app on them (admin token ``ADMIN_TOKEN``) and its test client.

ADMIN_TOKEN = "admin-test-token"


@pytest.fixture(scope="session")
def tiny_world():
    from engine import load_catalog
    from engine.lab.simulator import simulate

    return simulate(80, seed=3, catalog=load_catalog())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_world):
    from engine.learning.model import EnjoymentModel
    from engine.learning.registry import Registry

    folder = tmp_path_factory.mktemp("models")
    registry = Registry(folder)
    from engine.domain.profiles import from_couples

    model = EnjoymentModel(max_iter=30).fit(tiny_world.dates, tiny_world.catalog, from_couples(tiny_world.couples))
    registry.promote(registry.save(model, data={"dates": len(tiny_world.dates)}), catalog=tiny_world.catalog)
    return folder


@pytest.fixture
def model_dir(tmp_path, tiny_model_dir):
    return shutil.copytree(tiny_model_dir, tmp_path / "models")


@pytest.fixture(scope="session")
def _tiny_world_sqlite(tmp_path_factory, tiny_world, tiny_model_dir) -> Path:
    """A SQLite file holding the migrated store with the tiny world's couples and dates (session; read-only).

    Made once: migrating and loading take ~80 ms, copying the file ~1 ms. It is made after the
    session's model (``tiny_model_dir``), as a test's own store used to be, so its dates are
    newer than the live model's training.
    """
    path = tmp_path_factory.mktemp("tiny-world-db") / "dateideas.sqlite3"
    opened = open_store(f"sqlite:///{path}")
    opened.migrate()
    opened.bulk_load([{"id": str(c)} for c in tiny_world.couples["id"]], tiny_world.dates, source="demo")
    opened.close()
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert not leftovers, f"the closed SQLite store left {leftovers} beside its file"  # all in the one file
    return path


@pytest.fixture
def service_store(sqlite_url, _tiny_world_sqlite) -> Iterator[Store]:
    """A migrated SQLite store holding the tiny world's couples and dates: this test's own copy."""
    path = Path(sa.make_url(sqlite_url).database)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_tiny_world_sqlite, path)
    opened = open_store(sqlite_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def app(service_store, model_dir, tmp_path):
    from service import create_app

    application = create_app({
        "DATABASE_URL": service_store.engine.url.render_as_string(hide_password=False),
        "MODEL_DIR": str(model_dir),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "RETRAIN_AFTER_DATES": 0,
        "RETRAIN_CHECK_INTERVAL": 0.0,
        "MODEL_CHECK_INTERVAL": 0.0,
        "TRAINING_LOG": str(tmp_path / "training.log"),
        "LOG_REQUESTS": False,
        "RATELIMIT_ENABLED": False,  # tests/test_service_limits.py turns the limits on
        "TESTING": True,
    })
    yield application
    application.extensions["dateideas.store"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def running_server(args: list[str], port: int, env: dict[str, str], cwd: Path, log_path: Path
                   ) -> Iterator[subprocess.Popen]:
    """``python -m engine ARGS`` (output to ``log_path``) until ``/readyz`` answers 200 on ``port``; stopped after.

    Fails with the log's path when the process exits or is not ready within 120 s.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "engine", *args], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=cwd)
        try:
            deadline = time.monotonic() + 120
            while not _ready(port):
                if process.poll() is not None:
                    raise AssertionError(f"the server exited with {process.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not become ready within 120 s; see {log_path}")
                time.sleep(0.1)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def _serve_gunicorn(root: Path, world, model_dir: Path, env: dict[str, str] | None = None
                    ) -> Iterator[tuple[int, subprocess.Popen, str]]:
    """Load ``world`` into ``root/var/db.sqlite3``; run ``dateideas serve --workers 2`` on it until ready.

    Yields (port, process, database URL); the server is stopped afterwards. Its log is ``root/server.log``.
    """
    db_url = f"sqlite:///{root / 'var' / 'db.sqlite3'}"
    store = open_store(db_url)
    store.migrate()
    store.bulk_load([{"id": str(c)} for c in world.couples["id"]], world.dates, source="demo")
    store.close()
    port = _free_port()
    server_env = dict(os.environ, DATEIDEAS_DATABASE_URL=db_url, DATEIDEAS_MODEL_DIR=str(model_dir),
                      DATEIDEAS_RETRAIN_AFTER_DATES="0", DATEIDEAS_RATELIMIT_ENABLED="0", **(env or {}))
    for name in ("PROMETHEUS_MULTIPROC_DIR", "DATEIDEAS_SECRET_KEY", "DATEIDEAS_SECURE_COOKIES"):
        server_env.pop(name, None)  # the two workers must agree on the key through <model dir>/session-secret
    with running_server(["serve", "--port", str(port), "--workers", "2"], port, server_env, root,
                        root / "server.log") as process:
        yield port, process, db_url


@pytest.fixture(scope="session")
def serve_gunicorn():
    """:func:`_serve_gunicorn`, for module-scoped server fixtures."""
    return _serve_gunicorn
