"""Throwaway databases for the benchmarks, and reusable migrated ones for the tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

__all__ = ["MigratedPostgresPool", "throwaway_postgres"]


@contextlib.contextmanager
def throwaway_postgres(server_url: str, prefix: str = "dateideas_bench") -> Iterator[str]:
    """Create an empty database on the PostgreSQL server at ``server_url``; yield its URL; drop it afterwards."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)  # survives a server restart
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# Everything a test could change in a database's definition, as one text: schemas, relations
# (tables, indexes, sequences, views, types) with their options, columns with their types,
# defaults and NOT NULLs, index and constraint definitions, triggers, policies, functions,
# types, extensions and per-database settings. Two databases with the same text have the
# same schema.
_FINGERPRINT = sa.text(r"""
WITH ns AS (
    SELECT oid, nspname, nspacl FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
)
SELECT concat_ws(E'\n',
  (SELECT string_agg(nspname || ' ' || coalesce(nspacl::text, ''), ',' ORDER BY nspname) FROM ns),
  (SELECT string_agg(format('%s.%s %s %s %s %s', ns.nspname, c.relname, c.relkind, c.reloptions,
                            c.relrowsecurity, c.relacl), ',' ORDER BY ns.nspname, c.relname)
     FROM pg_class c JOIN ns ON ns.oid = c.relnamespace),
  (SELECT string_agg(format('%s.%s %s %s %s %s', c.oid::regclass, a.attname, a.attnum,
                            format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)),
                     ',' ORDER BY c.oid::regclass::text, a.attnum)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped),
  (SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY pg_get_indexdef(i.indexrelid))
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace),
  (SELECT string_agg(format('%s %s %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid)),
                     ',' ORDER BY co.conrelid::regclass::text, co.conname)
     FROM pg_constraint co JOIN ns ON ns.oid = co.connamespace),
  (SELECT string_agg(pg_get_triggerdef(t.oid), ',' ORDER BY pg_get_triggerdef(t.oid))
     FROM pg_trigger t WHERE NOT t.tgisinternal),
  (SELECT string_agg(format('%s %s', p.polrelid::regclass, p.polname), ','
                     ORDER BY p.polrelid::regclass::text, p.polname)
     FROM pg_policy p),
  (SELECT string_agg(p.oid::regprocedure::text, ',' ORDER BY p.oid::regprocedure::text)
     FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace),
  (SELECT string_agg(format('%s.%s %s', ns.nspname, t.typname, t.typtype), ',' ORDER BY ns.nspname, t.typname)
     FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype IN ('d', 'e', 'r', 'm')),
  (SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY extname) FROM pg_extension),
  (SELECT string_agg(array_to_string(s.setconfig, ' '), ',' ORDER BY s.setrole)
     FROM pg_db_role_setting s JOIN pg_database db ON db.oid = s.setdatabase
    WHERE db.datname = current_database())
)
""")


class MigratedPostgresPool:
    """Empty, migrated PostgreSQL databases for the tests, cheap to hand out again and again.

    ``CREATE DATABASE``, the migrations and ``DROP DATABASE`` cost about a second together. A
    database handed back instead has its connections ended (waiting until they are gone), is
    renamed (a new unique name: a connection string or pool a test left behind no longer
    reaches it), and is emptied (:meth:`_empty`: every table back to zero pages, every
    sequence to its start): about 30 ms. It is only reused when its schema is exactly what
    the migrations make (:data:`_FINGERPRINT`, the version row included); otherwise (a test
    dropped, altered or added something, set another version, or dropped the database) it
    is dropped, and a new one is made when next needed. What a reused database keeps from
    before: nothing visible to SQL but the planner's statistics (``VACUUM`` records the
    emptied tables as vacuumed and empty, where a new table has never been vacuumed) and
    the empty pages of its indexes.

    Parameters
    ----------
    server_url : str
        SQLAlchemy URL of a database on the server the pool's databases are created on.
    migrate : callable
        ``migrate(url)`` brings a new, empty database to the latest schema.
    prefix : str
        Start of the databases' names.
    """

    def __init__(self, server_url: str, migrate: Callable[[str], None], prefix: str = "dateideas_t") -> None:
        self._admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        self._migrate = migrate
        self._prefix = prefix
        self._idle: list[str] = []  # emptied, migrated databases ready to hand out
        self._reference: str | None = None  # the fingerprint of a freshly migrated database
        self._reusable = True  # False when the migrations themselves write rows: then no database is reused
        # DROP DATABASE takes 0.5-1 s (its files): done by a thread while the next tests run
        self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-test-database")

    def _new_name(self) -> str:
        return f"{self._prefix}_{uuid.uuid4().hex[:12]}"

    def _url(self, name: str) -> str:
        return self._admin.url.set(database=name).render_as_string(hide_password=False)

    def _connect(self, name: str) -> sa.Engine:
        return sa.create_engine(self._url(name), isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _state(self, conn: sa.Connection) -> str:
        """The fingerprint of the schema behind ``conn``, with its version row."""
        fingerprint = conn.execute(_FINGERPRINT).scalar() or ""
        version = conn.execute(sa.text("SELECT count(*), min(version), max(version) FROM schema_version")).one()
        return f"{fingerprint}\nschema_version {tuple(version)}"

    @staticmethod
    def _written(conn: sa.Connection) -> list[str]:
        """The tables but ``schema_version`` with any page: written to since they were created or emptied.

        A new or truncated table has no pages; any insert, even one rolled back, adds one.
        """
        return list(conn.execute(sa.text(
            "SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'p') AND relname <> 'schema_version' AND pg_relation_size(oid) > 0 "
            "ORDER BY relname")).scalars())

    def _empty(self, conn: sa.Connection) -> None:
        """Bring the tables behind ``conn`` back to no pages and their sequences back to their start.

        The tables written to lose their rows in one statement (foreign keys are checked at its
        end, so the order does not matter) and ``VACUUM`` cuts their now empty pages off: a few
        milliseconds, where ``TRUNCATE`` (a new file per table and index, and the tables the
        foreign keys reach, i.e. all of them once ``couples`` is written) takes 100-250 ms. A
        table ``VACUUM`` could not shrink to nothing is truncated after all.
        """
        if written := self._written(conn):
            deletes = ", ".join(f"d{i} AS (DELETE FROM {table})" for i, table in enumerate(written))
            conn.execute(sa.text(f"WITH {deletes} SELECT 1"))
            conn.execute(sa.text(f"VACUUM (INDEX_CLEANUP ON, TRUNCATE ON) {', '.join(written)}"))
            if left := self._written(conn):
                conn.execute(sa.text(f"TRUNCATE {', '.join(left)} RESTART IDENTITY CASCADE"))
        conn.execute(sa.text(
            "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
            "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"))

    def _create(self) -> str:
        name = self._new_name()
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            self._migrate(self._url(name))
            if self._reference is None:
                engine = self._connect(name)
                try:
                    with engine.connect() as conn:
                        self._reference = self._state(conn)
                        self._reusable = not self._written(conn)
                finally:
                    engine.dispose()
        except BaseException:
            self._drop(name)
            raise
        return name

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def _drop_later(self, name: str) -> None:
        """Drop the database ``name`` in the background (:meth:`close` waits for it)."""
        self._dropper.submit(self._drop, name)

    @contextlib.contextmanager
    def blank(self) -> Iterator[str]:
        """The URL of a new database without any schema for the ``with`` block; dropped after it."""
        name = self._new_name()
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield self._url(name)
        finally:
            self._drop_later(name)

    def acquire(self) -> str:
        """The URL of an empty database at the latest schema version, used by no one else."""
        name = self._idle.pop() if self._idle else self._create()
        return self._url(name)

    def release(self, url: str) -> None:
        """Take back the database at ``url``: emptied for the next test, or dropped."""
        name = sa.make_url(url).database
        with self._admin.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first() is None:
                return  # the test dropped it
            # end the test's connections (waiting until they are gone), then rename: nothing
            # the test left behind can reach the database the next test gets
            conn.execute(sa.text("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                                 "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            fresh = self._new_name()
            try:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"'))
            except sa.exc.DBAPIError:
                self._drop_later(name)
                return
        reusable = False
        engine = self._connect(fresh)
        try:
            with engine.connect() as conn:
                if self._reusable and self._state(conn) == self._reference:
                    self._empty(conn)
                    reusable = True
        except sa.exc.DBAPIError:
            pass  # e.g. the schema_version table is gone: not reusable
        finally:
            engine.dispose()
        if reusable:
            self._idle.append(fresh)
        else:
            self._drop_later(fresh)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """:meth:`acquire` a database for the ``with`` block; :meth:`release` it after."""
        url = self.acquire()
        try:
            yield url
        finally:
            self.release(url)

    def close(self) -> None:
        """Drop the idle databases, and wait for the drops in the background."""
        while self._idle:
            self._drop_later(self._idle.pop())
        self._dropper.shutdown(wait=True)
        self._admin.dispose()
