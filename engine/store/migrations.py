"""Forward migrations of the schema, and :class:`SchemaRepository` (``version`` / ``migrate``).

Every migration keeps its OWN frozen table definitions instead of referring to
:mod:`engine.store.tables`: a migration must create exactly what it created
when it was released (``tables`` describes the *latest* schema: e.g.
``couples`` there already has the columns migrations 3, 4 and 7 add with
``ALTER TABLE``, and the indexes made here are not declared there). Even a
table that has not changed since must not be built from ``tables``: the next
change to it there would silently change what an old migration creates, and
``migrate(target=N)`` must leave exactly schema N. Never edit a released
migration; append one and update :mod:`engine.store.tables`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._values import _utcnow
from .errors import StoreError
from .tables import _ID_MAX, _KEY_MAX, _Id, tbl_schema_version

__all__ = ["LATEST_VERSION", "SchemaRepository"]

logger = logging.getLogger("engine.store")


def _migration_1(conn: Connection) -> None:
    """Couples, dates and suggestions."""
    meta = sa.MetaData()
    sa.Table(
        "couples", meta,
        sa.Column("id", sa.String(_ID_MAX), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(200)),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    sa.Table(
        "dates", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("done_on", sa.Date),
        sa.Column("rating_a", sa.Float),
        sa.Column("rating_b", sa.Float),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Index("ix_dates_couple", "couple_id", "id"),
    )
    sa.Table(
        "suggestions", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("served_at", sa.DateTime, nullable=False),
        sa.Column("served_on", sa.Date, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("model_version", sa.String(100)),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Index("ix_suggestions_couple_day", "couple_id", "served_on"),
    )
    meta.create_all(conn)


def _migration_2(conn: Connection) -> None:
    """Newsletter runs and sends, training runs, locks."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table(
        "newsletter_runs", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("week", sa.Date, nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("error", sa.Text),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Index("ix_newsletter_runs_week", "week", "status"),
    )
    sa.Table(
        "newsletter_sends", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", _Id, sa.ForeignKey("newsletter_runs.id"), nullable=False),
        sa.Column("week", sa.Date, nullable=False),
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("week", "couple_id", "rank", name="uq_newsletter_sends_week_couple_rank"),
        sa.Index("ix_newsletter_sends_couple_week", "couple_id", "week"),
    )
    sa.Table(
        "training_runs", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("promoted", sa.Boolean, nullable=False),
        sa.Column("metrics", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("host", sa.String(255)),
    )
    sa.Table(
        "locks", meta,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    for name in ("newsletter_runs", "newsletter_sends", "training_runs", "locks"):
        meta.tables[name].create(conn)


def _migration_3(conn: Connection) -> None:
    """Idempotency keys on dates, request keys on suggestions, couple source."""
    conn.execute(sa.text("ALTER TABLE dates ADD COLUMN idempotency_key VARCHAR(200)"))
    conn.execute(sa.text(
        "CREATE UNIQUE INDEX uq_dates_couple_idempotency ON dates (couple_id, idempotency_key)"))
    conn.execute(sa.text("ALTER TABLE suggestions ADD COLUMN request_key VARCHAR(200)"))
    conn.execute(sa.text(
        "CREATE INDEX ix_suggestions_request ON suggestions (couple_id, request_key, served_on)"))
    conn.execute(sa.text("ALTER TABLE couples ADD COLUMN source VARCHAR(20) NOT NULL DEFAULT 'api'"))


def _migration_4(conn: Connection) -> None:
    """A stamp on couples that changes with every date added (per-process history caches)."""
    conn.execute(sa.text("ALTER TABLE couples ADD COLUMN dates_stamp BIGINT NOT NULL DEFAULT 0"))


def _migration_session_epochs(conn: Connection) -> None:
    """Session epochs (web sessions end on sign-out, token rotation and erasure)."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table(
        "session_epochs", meta,
        sa.Column("couple_id", sa.String(_ID_MAX), sa.ForeignKey("couples.id"), primary_key=True),
        sa.Column("partner", sa.String(8), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
    ).create(conn)


def _migration_another_counts(conn: Connection) -> None:
    """Per-couple, per-day counts of ``another`` requests (one primary-key row per request, '' = the couple's total)."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table(
        "tonight_counts", meta,
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("request", sa.String(_KEY_MAX), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    meta.tables["tonight_counts"].create(conn)


def _migration_partners(conn: Connection) -> None:
    """Per-partner tokens; idempotency keys of ratings that complete a date."""
    conn.execute(sa.text("ALTER TABLE couples ADD COLUMN partner_a_hash VARCHAR(200)"))
    conn.execute(sa.text("ALTER TABLE couples ADD COLUMN partner_b_hash VARCHAR(200)"))
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table("dates", meta, sa.Column("id", _Id, primary_key=True))
    sa.Table(
        "rating_keys", meta,
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("idempotency_key", sa.String(_KEY_MAX), primary_key=True),
        sa.Column("date_id", _Id, sa.ForeignKey("dates.id", ondelete="CASCADE"), nullable=False),
    )
    meta.tables["rating_keys"].create(conn)


def _migration_practice(conn: Connection) -> None:
    """Conversation prompts shown and marked, daily appreciation nudges."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table(
        "prompts_served", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("prompt_id", sa.String(100), nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("served_on", sa.Date, nullable=False),
        sa.Column("served_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("marked_at", sa.DateTime),
        sa.UniqueConstraint("couple_id", "served_on", "idea_id", name="uq_prompts_served_couple_day_idea"),
    )
    sa.Table(
        "nudges_shown", meta,
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("partner", sa.String(1), primary_key=True),
        sa.Column("nudge_id", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("shown_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime),
    )
    for name in ("prompts_served", "nudges_shown"):
        meta.tables[name].create(conn)


def _migration_mail(conn: Connection) -> None:
    """Partners' email addresses (confirmed, unsubscribed); the newsletter's mail log (a row per address and week)."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table("newsletter_runs", meta, sa.Column("id", _Id, primary_key=True))
    sa.Table(
        "email_addresses", meta,
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("partner", sa.String(1), primary_key=True),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_at", sa.DateTime),
        sa.Column("unsubscribed_at", sa.DateTime),
    )
    sa.Table(
        "newsletter_mail", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", _Id, sa.ForeignKey("newsletter_runs.id"), nullable=False),
        sa.Column("week", sa.Date, nullable=False),
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partner", sa.String(1), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("message_id", sa.String(255)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("week", "couple_id", "address", name="uq_newsletter_mail_week_couple_address"),
    )
    for name in ("email_addresses", "newsletter_mail"):
        meta.tables[name].create(conn)


def _migration_idea_marks(conn: Connection) -> None:
    """Ideas a couple marked: "not for us" (never suggested again; a negative signal) and saved for later."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    sa.Table(
        "idea_marks", meta,
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("idea_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    meta.tables["idea_marks"].create(conn)


def _migration_daily_mail(conn: Connection) -> None:
    """The daily nudge email: an opt-in per address (``email_addresses.daily``) and its mail log (a row per
    address and day)."""
    meta = sa.MetaData()
    sa.Table("couples", meta, sa.Column("id", sa.String(_ID_MAX), primary_key=True))
    conn.execute(sa.text("ALTER TABLE email_addresses ADD COLUMN daily BOOLEAN NOT NULL DEFAULT FALSE"))
    sa.Table(
        "daily_mail", meta,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("couple_id", sa.String(_ID_MAX),
                  sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partner", sa.String(1), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("message_id", sa.String(255)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("day", "couple_id", "address", name="uq_daily_mail_day_couple_address"),
    )
    meta.tables["daily_mail"].create(conn)


#: Forward migrations, applied in order; version N = the first N applied.
_MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2, _migration_3, _migration_4,
                                                         _migration_session_epochs,
                                                         _migration_another_counts,
                                                         _migration_partners,
                                                         _migration_practice,
                                                         _migration_mail,
                                                         _migration_idea_marks,
                                                         _migration_daily_mail)

#: The schema version this code writes and expects.
LATEST_VERSION = len(_MIGRATIONS)



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
            for number in range(current + 1, target + 1):
                logger.info("applying migration %d: %s", number, _MIGRATIONS[number - 1].__doc__)
                _MIGRATIONS[number - 1](conn)
            final = max(current, target)
            if current == 0:
                conn.execute(tbl_schema_version.insert().values(id=1, version=final, updated_at=_utcnow()))
            elif final != current:
                conn.execute(tbl_schema_version.update().values(version=final, updated_at=_utcnow()))
        return final
