"""The schema, declared once: every migration as declarative steps (ops).

An op (:class:`CreateTable`, :class:`AddColumn`, :class:`CreateIndex`) serves
twice. ``replay(meta)`` adds what it makes to a :class:`sqlalchemy.MetaData`
without a database: replaying every migration builds the latest schema, which
:mod:`engine.store.tables` exposes to the queries. ``apply(conn, meta)``
replays it and emits its DDL on a connection: :mod:`engine.store.migrations`
applies migration N to the tables replayed through N - 1, so a table created
by migration N has the columns it had then, not those later ops add.

Every step here is RELEASED, and so is every column factory a step uses
(:func:`_row_id`, :func:`_couple_id`, :func:`_partner`, :func:`_run_id`,
:func:`_mail_log`): a migration must create exactly what it created when it
was released, and ``migrate(target=N)`` must leave exactly schema N. Never edit them (the
known-answer test tests/test_store_migrations.py fails if one changes what a
migration creates); append a migration to :data:`MIGRATIONS`, with a new
factory if an old one no longer fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["MIGRATIONS", "AddColumn", "CreateIndex", "CreateTable", "Migration", "schema"]

_ID_MAX = 64  # couple ids
_KEY_MAX = 200  # idempotency and request keys

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


@dataclass(frozen=True)
class CreateTable:
    """A new table named ``name``; ``items()`` gives its columns, constraints and indexes (new objects on every
    call: a column belongs to one table, and each replay builds its own)."""

    name: str
    items: Callable[[], Iterable[sa.SchemaItem]]

    def replay(self, meta: sa.MetaData) -> sa.Table:
        """Add the table to ``meta``; returns it."""
        if self.name in meta.tables:
            raise ValueError(f"table {self.name} is created twice: the second time by {self!r}")
        return sa.Table(self.name, meta, *self.items())

    def apply(self, conn: Connection, meta: sa.MetaData) -> None:
        """Create the table, and the indexes it declares, in the database."""
        self.replay(meta).create(conn)


@dataclass(frozen=True)
class AddColumn:
    """A new column of ``table``: ``column()`` declares it, ``ddl`` is its definition after
    ``ALTER TABLE <table> ADD COLUMN`` (the text the migration emits, as released)."""

    table: str
    column: Callable[[], sa.Column]
    ddl: str

    def replay(self, meta: sa.MetaData) -> sa.Column:
        """Append the column to the table in ``meta``; returns it."""
        column = self.column()
        if not self.ddl.startswith(f"{column.name} "):
            raise ValueError(f"the DDL of column {self.table}.{column.name} names another column: {self.ddl!r}")
        meta.tables[self.table].append_column(column)
        return column

    def apply(self, conn: Connection, meta: sa.MetaData) -> None:
        """Add the column in the database."""
        self.replay(meta)
        conn.execute(sa.text(f"ALTER TABLE {self.table} ADD COLUMN {self.ddl}"))


@dataclass(frozen=True)
class CreateIndex:
    """A new index ``name`` of ``table`` on ``columns`` (a unique one if ``unique``)."""

    table: str
    name: str
    columns: tuple[str, ...]
    unique: bool = False

    def replay(self, meta: sa.MetaData) -> sa.Index:
        """Add the index to the table in ``meta``; returns it."""
        table = meta.tables[self.table]
        return sa.Index(self.name, *(table.c[name] for name in self.columns), unique=self.unique)

    def apply(self, conn: Connection, meta: sa.MetaData) -> None:
        """Create the index in the database."""
        self.replay(meta).create(conn)


Op = CreateTable | AddColumn | CreateIndex


@dataclass(frozen=True)
class Migration:
    """One released migration: what it is for (``about``, logged when it is applied), and its ops in order."""

    about: str
    ops: tuple[Op, ...]

    def replay(self, meta: sa.MetaData) -> None:
        """Add what the migration makes to ``meta``."""
        for op in self.ops:
            op.replay(meta)

    def apply(self, conn: Connection, meta: sa.MetaData) -> None:
        """Make it in the database; ``meta`` holds the schema before it, and after it on return."""
        for op in self.ops:
            op.apply(conn, meta)


# --------------------------------------------------------------------------- shared column shapes (frozen)


def _row_id() -> sa.Column:
    """``id``: a table's own key, numbered by the database. Frozen: migrations 1, 2, 8, 9 and 11 use it."""
    return sa.Column("id", _Id, primary_key=True, autoincrement=True)


def _couple_id(**kw) -> sa.Column:
    """``couple_id``: the couple a row is about, deleted with it; ``kw``: ``primary_key`` or ``nullable``.
    Frozen: migrations 1, 2 and 6 to 11 use it."""
    return sa.Column("couple_id", sa.String(_ID_MAX), sa.ForeignKey("couples.id", ondelete="CASCADE"), **kw)


def _partner(**kw) -> sa.Column:
    """``partner``: which partner of the couple a row is about, 'a' or 'b'; ``kw``: ``primary_key`` or
    ``nullable``. Frozen: migrations 8, 9 and 11 use it."""
    return sa.Column("partner", sa.String(1), **kw)


def _run_id() -> sa.Column:
    """``run_id``: the newsletter run a row belongs to. Frozen: migrations 2 and 9 use it."""
    return sa.Column("run_id", _Id, sa.ForeignKey("newsletter_runs.id"), nullable=False)


def _mail_log(table: str, period: str, *before: sa.Column) -> tuple[sa.SchemaItem, ...]:
    """A mail log's row: one email to one address and ``period`` (a date column: one email a week, a day, ...),
    claimed (``status`` 'sending', ``claimed_at``), then sent or failed; ``before``: the table's own columns
    between ``id`` and ``period``. Frozen: migrations 9 (``newsletter_mail``) and 11 (``daily_mail``) use it."""
    return (
        _row_id(),
        *before,
        sa.Column(period, sa.Date, nullable=False),
        _couple_id(nullable=False),
        _partner(nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("message_id", sa.String(255)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint(period, "couple_id", "address", name=f"uq_{table}_{period}_couple_address"),
    )


# --------------------------------------------------------------------------- the tables as first created


def _couples() -> tuple[sa.SchemaItem, ...]:
    """``couples`` (migration 1; migrations 3, 4 and 7 add columns)."""
    return (
        sa.Column("id", sa.String(_ID_MAX), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(200)),
        sa.Column("active", sa.Boolean, nullable=False),
    )


def _dates() -> tuple[sa.SchemaItem, ...]:
    """``dates``: a date a couple went on and its ratings (migration 1; migration 3 adds a key)."""
    return (
        _row_id(),
        _couple_id(nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("done_on", sa.Date),
        sa.Column("rating_a", sa.Float),
        sa.Column("rating_b", sa.Float),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Index("ix_dates_couple", "couple_id", "id"),
    )


def _suggestions() -> tuple[sa.SchemaItem, ...]:
    """``suggestions``: an idea served to a couple (migration 1; migration 3 adds a key)."""
    return (
        _row_id(),
        _couple_id(nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("served_at", sa.DateTime, nullable=False),
        sa.Column("served_on", sa.Date, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("model_version", sa.String(100)),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Index("ix_suggestions_couple_day", "couple_id", "served_on"),
    )


def _newsletter_runs() -> tuple[sa.SchemaItem, ...]:
    """``newsletter_runs``: one run of the weekly newsletter (migration 2)."""
    return (
        _row_id(),
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


def _newsletter_sends() -> tuple[sa.SchemaItem, ...]:
    """``newsletter_sends``: an idea a run picked for a couple's week, a row per rank (migration 2)."""
    return (
        _row_id(),
        _run_id(),
        sa.Column("week", sa.Date, nullable=False),
        _couple_id(nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("week", "couple_id", "rank", name="uq_newsletter_sends_week_couple_rank"),
        sa.Index("ix_newsletter_sends_couple_week", "couple_id", "week"),
    )


def _training_runs() -> tuple[sa.SchemaItem, ...]:
    """``training_runs``: one training of the model and whether it was promoted (migration 2)."""
    return (
        _row_id(),
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


def _locks() -> tuple[sa.SchemaItem, ...]:
    """``locks``: named leases with an owner and an expiry (migration 2)."""
    return (
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )


def _session_epochs() -> tuple[sa.SchemaItem, ...]:
    """``session_epochs``: bumping a row ends the web sessions of a couple (partner "") or of one partner."""
    return (
        sa.Column("couple_id", sa.String(_ID_MAX), sa.ForeignKey("couples.id"), primary_key=True),
        sa.Column("partner", sa.String(8), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
    )


def _tonight_counts() -> tuple[sa.SchemaItem, ...]:
    """``tonight_counts``: a couple's ``another`` requests of a day, a row per request ('' = the total)."""
    return (
        _couple_id(primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("request", sa.String(_KEY_MAX), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )


def _rating_keys() -> tuple[sa.SchemaItem, ...]:
    """``rating_keys``: the idempotency keys of ratings that completed a date."""
    return (
        _couple_id(primary_key=True),
        sa.Column("idempotency_key", sa.String(_KEY_MAX), primary_key=True),
        sa.Column("date_id", _Id, sa.ForeignKey("dates.id", ondelete="CASCADE"), nullable=False),
    )


def _prompts_served() -> tuple[sa.SchemaItem, ...]:
    """``prompts_served`` (engine.store.practice): a conversation prompt shown with an idea, and its mark."""
    return (
        _row_id(),
        _couple_id(nullable=False),
        sa.Column("prompt_id", sa.String(100), nullable=False),
        sa.Column("idea_id", sa.String(200), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("served_on", sa.Date, nullable=False),
        sa.Column("served_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("marked_at", sa.DateTime),
        sa.UniqueConstraint("couple_id", "served_on", "idea_id", name="uq_prompts_served_couple_day_idea"),
    )


def _nudges_shown() -> tuple[sa.SchemaItem, ...]:
    """``nudges_shown`` (engine.store.practice): a partner's appreciation nudge of the day."""
    return (
        _couple_id(primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        _partner(primary_key=True),
        sa.Column("nudge_id", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("shown_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime),
    )


def _email_addresses() -> tuple[sa.SchemaItem, ...]:
    """``email_addresses`` (engine.store.mail): a partner's address (migration 9; migration 11 adds ``daily``)."""
    return (
        _couple_id(primary_key=True),
        _partner(primary_key=True),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_at", sa.DateTime),
        sa.Column("unsubscribed_at", sa.DateTime),
    )


def _idea_marks() -> tuple[sa.SchemaItem, ...]:
    """``idea_marks`` (engine.store.marks): "not for us" and "saved for later", a row per couple, kind and idea."""
    return (
        _couple_id(primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("idea_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


# --------------------------------------------------------------------------- the released migrations


def _column(name: str, type_: sa.types.TypeEngine, **kw) -> Callable[[], sa.Column]:
    """A factory of the column ``name`` (a new one per replay)."""
    return lambda: sa.Column(name, type_, **kw)


_migration_1 = Migration("Couples, dates and suggestions.", (
    CreateTable("couples", _couples),
    CreateTable("dates", _dates),
    CreateTable("suggestions", _suggestions),
))
_migration_2 = Migration("Newsletter runs and sends, training runs, locks.", (
    CreateTable("newsletter_runs", _newsletter_runs),
    CreateTable("newsletter_sends", _newsletter_sends),
    CreateTable("training_runs", _training_runs),
    CreateTable("locks", _locks),
))
_migration_3 = Migration("Idempotency keys on dates, request keys on suggestions, couple source.", (
    AddColumn("dates", _column("idempotency_key", sa.String(_KEY_MAX)), "idempotency_key VARCHAR(200)"),
    CreateIndex("dates", "uq_dates_couple_idempotency", ("couple_id", "idempotency_key"), unique=True),
    AddColumn("suggestions", _column("request_key", sa.String(_KEY_MAX)), "request_key VARCHAR(200)"),
    CreateIndex("suggestions", "ix_suggestions_request", ("couple_id", "request_key", "served_on")),
    AddColumn("couples", _column("source", sa.String(20), nullable=False, server_default="api"),
              "source VARCHAR(20) NOT NULL DEFAULT 'api'"),
))
_migration_4 = Migration("A stamp on couples that changes with every date added (per-process history caches).", (
    AddColumn("couples", _column("dates_stamp", sa.BigInteger, nullable=False, server_default=sa.text("0")),
              "dates_stamp BIGINT NOT NULL DEFAULT 0"),
))
_migration_session_epochs = Migration(
    "Session epochs (web sessions end on sign-out, token rotation and erasure).",
    (CreateTable("session_epochs", _session_epochs),))
_migration_another_counts = Migration(
    "Per-couple, per-day counts of ``another`` requests (one primary-key row per request, '' = the couple's total).",
    (CreateTable("tonight_counts", _tonight_counts),))
_migration_partners = Migration("Per-partner tokens; idempotency keys of ratings that complete a date.", (
    AddColumn("couples", _column("partner_a_hash", sa.String(200)), "partner_a_hash VARCHAR(200)"),
    AddColumn("couples", _column("partner_b_hash", sa.String(200)), "partner_b_hash VARCHAR(200)"),
    CreateTable("rating_keys", _rating_keys),
))
_migration_practice = Migration("Conversation prompts shown and marked, daily appreciation nudges.", (
    CreateTable("prompts_served", _prompts_served),
    CreateTable("nudges_shown", _nudges_shown),
))
_migration_mail = Migration(
    "Partners' email addresses (confirmed, unsubscribed); the newsletter's mail log (a row per address and week).", (
        CreateTable("email_addresses", _email_addresses),
        CreateTable("newsletter_mail", lambda: _mail_log("newsletter_mail", "week", _run_id())),
    ))
_migration_idea_marks = Migration(
    'Ideas a couple marked: "not for us" (never suggested again; a negative signal) and saved for later.',
    (CreateTable("idea_marks", _idea_marks),))
_migration_daily_mail = Migration(
    "The daily nudge email: an opt-in per address (``email_addresses.daily``) and its mail log (a row per "
    "address and day).", (
        AddColumn("email_addresses", _column("daily", sa.Boolean, nullable=False, server_default=sa.false()),
                  "daily BOOLEAN NOT NULL DEFAULT FALSE"),
        CreateTable("daily_mail", lambda: _mail_log("daily_mail", "day")),
    ))

#: Forward migrations, applied in order; version N = the first N applied. Append only.
MIGRATIONS: tuple[Migration, ...] = (_migration_1, _migration_2, _migration_3, _migration_4,
                                     _migration_session_epochs,
                                     _migration_another_counts,
                                     _migration_partners,
                                     _migration_practice,
                                     _migration_mail,
                                     _migration_idea_marks,
                                     _migration_daily_mail)


def schema(version: int = len(MIGRATIONS), meta: sa.MetaData | None = None) -> sa.MetaData:
    """The tables of schema ``version`` (default: the latest), replayed onto ``meta`` (default: a new one)."""
    if not 0 <= version <= len(MIGRATIONS):
        raise ValueError(f"schema version must be from 0 to {len(MIGRATIONS)}, got {version!r}")
    meta = sa.MetaData() if meta is None else meta
    for migration in MIGRATIONS[:version]:
        migration.replay(meta)
    return meta
