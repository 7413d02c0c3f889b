"""The database handle: the engine made from a URL, its connections and transactions.

Every difference between SQLite and PostgreSQL lives here, behind small named
methods of :class:`Handle` (the repositories never test the dialect):

* SQLite: WAL, ``synchronous=NORMAL``, ``foreign_keys=ON``, a 30 s busy
  timeout; the store takes over ``BEGIN`` from the driver so write
  transactions start with ``BEGIN IMMEDIATE``.
* PostgreSQL: ``READ COMMITTED``, ``pool_pre_ping``; migrations serialise on an
  advisory lock; bulk inserts use ``COPY``; a serving-log write may skip the
  WAL flush (``synchronous_commit`` off for that transaction only).
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as _pg
from sqlalchemy.dialects import sqlite as _sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from ..domain.memo import Memo
from .errors import StoreError

__all__ = ["HISTORY_CACHE", "Handle", "make_engine"]

#: Couples whose histories one store keeps for :meth:`Store.tonight_reads` (~40 KB each at 200 dates).
HISTORY_CACHE = 256
_SQLITE_BUSY_MS = 30_000
_PG_MIGRATE_LOCK = 0x64_61_74_65_69_64  # "dateid": advisory-lock key for migrate()


def _normalise_url(url: str) -> sa.URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite: folder created, connect/begin hooks; PostgreSQL: psycopg 3).

    Raises
    ------
    StoreError
        For any other kind of database.
    """
    parsed = _normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": _SQLITE_BUSY_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    raise StoreError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the "begin" hook below emits BEGIN
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        _sqlite_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA cache_size = -32768")  # 32 MiB page cache (bulk loads, big reads)
    finally:
        cursor.close()


def _sqlite_wal(cursor: Any) -> None:
    """Switch a new database to WAL. SQLite answers "database is locked" at once, without
    the busy handler, when several processes make that switch together: retry for a while."""
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("dateideas_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")




class Handle:
    """One database handle: the engine, its transactions and the dialect's ways (a base of the Store).

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Built by :func:`make_engine` (SQLite needs its connect/begin hooks).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name  # read on every query: a plain attribute
        self._writer = engine.execution_options(dateideas_write=True)
        self._pinned = threading.local()  # .conn: this thread's connection inside one_connection()
        self._histories = Memo(HISTORY_CACHE)  # couple id -> its CoupleDates, checked by dates_stamp
        # close pooled connections when the store is dropped or the interpreter exits,
        # so a forgotten close() does not leak connections (or ResourceWarnings)
        self._finalizer = weakref.finalize(self, engine.dispose)

    # ---------------------------------------------------------------- plumbing

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def close(self) -> None:
        """Close every pooled connection (the store can still be used; it reconnects)."""
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``); commits or rolls back."""
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Let this thread's per-request calls share one pooled connection.

        Inside the block, the calls a request makes on every hit
        (:meth:`verify_token`, :meth:`tonight_reads`, :meth:`log_suggestions`)
        run on one connection checked out at the start, instead of checking
        one out each. Transactions are unchanged: each write still commits or
        rolls back on its own. A nested block reuses the outer connection.
        """
        if getattr(self._pinned, "conn", None) is not None:
            yield
            return
        with self.engine.connect() as conn:
            self._pinned.conn = conn
            try:
                yield
            finally:
                self._pinned.conn = None

    @contextmanager
    def _driver_connection(self) -> Iterator[Any]:
        """The DBAPI connection of :meth:`one_connection`, or a pooled one for this call only."""
        pinned = getattr(self._pinned, "conn", None)
        if pinned is not None:
            yield pinned.connection.driver_connection
            return
        with self.engine.connect() as conn:
            yield conn.connection.driver_connection

    @contextmanager
    def _raw_cursor(self) -> Iterator[Any]:
        """A DBAPI cursor for the per-request reads.

        Plain driver tuples, no statement compilation: a few times cheaper than
        SQLAlchemy for small indexed queries. SQLite runs each statement on
        its own (autocommit); PostgreSQL's implicit transaction is rolled back
        when the connection returns to the pool, and at once after an error
        (a connection shared by :meth:`one_connection` stays usable).
        """
        with self._driver_connection() as dbapi_conn:
            cursor = dbapi_conn.cursor()
            try:
                yield cursor
            except BaseException:
                if self.dialect == "postgresql":
                    dbapi_conn.rollback()
                raise
            finally:
                cursor.close()

    @contextmanager
    def _raw_write(self, *, flush: bool = True) -> Iterator[Any]:
        """A DBAPI cursor inside one write transaction (SQLite: ``BEGIN IMMEDIATE``); commits or rolls back.

        ``flush=False`` (the serving log and the ``another`` counts): on
        PostgreSQL the commit does not wait for the WAL to reach the disk
        (``synchronous_commit = off`` for this transaction only). The
        transaction is still atomic and the database consistent; a crash of
        the database server may lose the last fraction of a second of such
        commits, as SQLite's WAL with ``synchronous = NORMAL`` may after a
        power cut. Dates, couples, tokens and sends always wait.
        """
        with self._driver_connection() as dbapi_conn:
            cursor = dbapi_conn.cursor()
            sqlite = self.dialect == "sqlite"
            try:
                if sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                elif not flush:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                yield cursor
                if sqlite:
                    cursor.execute("COMMIT")
                else:
                    dbapi_conn.commit()
            except BaseException:
                if not sqlite:
                    dbapi_conn.rollback()
                elif dbapi_conn.in_transaction:
                    cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

    @property
    def _mark(self) -> str:
        return "%s" if self.dialect == "postgresql" else "?"

    def _day_param(self, day: _dt.date) -> Any:
        """A date or datetime as a DBAPI parameter: SQLite gets SQLAlchemy's storage format
        (its DBAPI date adapters are deprecated), PostgreSQL the value itself."""
        if self.dialect == "postgresql":
            return day
        if isinstance(day, _dt.datetime):
            return day.strftime("%Y-%m-%d %H:%M:%S.%f")
        return day.isoformat()

    # ---------------------------------------------------------------- the dialect's ways

    def _serialise_migrations(self, conn: Connection) -> None:
        """Make concurrent ``migrate()`` calls take turns (SQLite: ``BEGIN IMMEDIATE`` already does)."""
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATE_LOCK})

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's ``INSERT`` construct (it has ``on_conflict_do_nothing``)."""
        return _pg.insert(table) if self.dialect == "postgresql" else _sqlite.insert(table)

    def _for_update(self, query: sa.Select) -> sa.Select:
        """``query`` locking the rows it reads until the transaction ends (SQLite: ``BEGIN IMMEDIATE`` does)."""
        return query.with_for_update() if self.dialect == "postgresql" else query

    def _for_update_sql(self) -> str:
        """:meth:`_for_update` for a DBAPI query: ``" FOR UPDATE"`` on PostgreSQL, nothing on SQLite."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""

    def _day_text(self, column: str) -> str:
        """SQL for a date column as ``YYYY-MM-DD`` text (SQLite stores it so)."""
        return f"to_char({column}, 'YYYY-MM-DD')" if self.dialect == "postgresql" else column

    def _epoch_days(self, column: str) -> str:
        """SQL for a date column as days since 1970-01-01 (an integer)."""
        if self.dialect == "postgresql":
            return f"{column} - DATE '1970-01-01'"
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"

    def _copy_rows(self, conn: Connection, table: str, columns: Sequence[str],
                   rows: list[tuple[Any, ...]]) -> None:
        """Fast insert: COPY on PostgreSQL, executemany on SQLite (same transaction)."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect == "postgresql":
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
