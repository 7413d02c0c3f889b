"""Forward migrations of the schema, and :class:`SchemaRepository` (``version`` / ``migrate``).

The migrations are declared as steps in :mod:`engine.store.schema_steps`
(:data:`~engine.store.schema_steps.MIGRATIONS`), the one place the schema is
written down: replayed, they build the tables the queries use
(:mod:`engine.store.tables`); applied here, migration N emits its DDL on top of
the schema replayed through N - 1, so ``migrate(target=N)`` leaves exactly
schema N. Released steps are frozen (tests/test_store_migrations.py checks
what each version creates against a recording); a change is a new migration
appended there.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ._values import _utcnow
from .errors import StoreError
from .schema_steps import MIGRATIONS, schema
from .tables import tbl_schema_version

__all__ = ["LATEST_VERSION", "SchemaRepository"]

logger = logging.getLogger("engine.store")

#: The schema version this code writes and expects.
LATEST_VERSION = len(MIGRATIONS)


class SchemaRepository:
    """The schema version and its migrations (a base of :class:`engine.store.Store`)."""

    def version(self) -> int:
        """The schema version of the database; 0 if it has never been migrated."""
        with self._read() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            found = conn.execute(sa.select(tbl_schema_version.c.version)).scalar()
        return int(found or 0)

    def migrate(self, target: int | None = None) -> int:
        """Create or upgrade the schema; safe to re-run and to run concurrently.

        Parameters
        ----------
        target : int, optional
            Stop at this version (default: :data:`LATEST_VERSION`). A database
            already at or past ``target`` is left alone; there are no downgrades.

        Returns
        -------
        int
            The schema version after the call.

        Raises
        ------
        StoreError
            If the database is newer than this code or ``target`` is out of range.
        """
        target = LATEST_VERSION if target is None else target
        if not isinstance(target, int) or not 1 <= target <= LATEST_VERSION:
            raise StoreError(f"target version must be from 1 to {LATEST_VERSION}, got {target!r}")
        with self._write() as conn:
            self._serialise_migrations(conn)
            tbl_schema_version.create(conn, checkfirst=True)
            current = int(conn.execute(sa.select(tbl_schema_version.c.version)).scalar() or 0)
            if current > LATEST_VERSION:
                raise StoreError(
                    f"the database is at schema version {current}, newer than this code "
                    f"({LATEST_VERSION}); upgrade dateideas before using this database"
                )
            meta = schema(min(current, target))  # the tables as the database has them: what migration N builds on
            for number in range(current + 1, target + 1):
                logger.info("applying migration %d: %s", number, MIGRATIONS[number - 1].about)
                MIGRATIONS[number - 1].apply(conn, meta)
            final = max(current, target)
            if current == 0:
                conn.execute(tbl_schema_version.insert().values(id=1, version=final, updated_at=_utcnow()))
            elif final != current:
                conn.execute(tbl_schema_version.update().values(version=final, updated_at=_utcnow()))
        return final
