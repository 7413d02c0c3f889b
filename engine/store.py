"""The database: couples, dates, suggestions, newsletter sends, training runs and locks.

SQLAlchemy Core (no ORM) over SQLite (the default, a file under ``var/``) or
PostgreSQL (``postgresql+psycopg://...``). :func:`open_store` returns a
:class:`Store`; :meth:`Store.migrate` creates or upgrades the schema.

Design notes
------------
* **Transactions.** Every write runs in one transaction. On SQLite the store
  takes over ``BEGIN`` from the driver: write transactions start with
  ``BEGIN IMMEDIATE`` (the write lock is taken up front, so concurrent writers
  queue on the busy timeout instead of failing with "database is locked" when
  a read turns into a write), read transactions with a plain ``BEGIN``. The
  database runs in WAL mode with ``foreign_keys=ON`` and a 30 s busy timeout.
  On PostgreSQL transactions are ``READ COMMITTED``; every multi-process race
  (idempotency keys, locks, newsletter sends) is settled by a unique
  constraint or a conditional ``UPDATE``, never by read-then-write.
* **Migrations** are numbered functions in ``_MIGRATIONS``, applied in order
  in one transaction while holding a PostgreSQL advisory lock (SQLite: the
  ``BEGIN IMMEDIATE`` write lock), so two processes running ``migrate()`` at
  once do the work once. The version lives in the one-row ``schema_version``.
  Never edit a released migration; append a new one and update ``_META``.
* **Tokens** are ``secrets.token_urlsafe(32)`` (256 random bits), stored as
  ``sha256$<salt>$<hex digest of salt+token>`` and compared with
  :func:`hmac.compare_digest`. A slow KDF (scrypt, PBKDF2) protects
  *low-entropy* passwords from dictionary attacks; a 256-bit random token
  cannot be guessed, so a fast salted hash is as safe and keeps token checks
  in the service's latency budget (one hash per request, microseconds).
  The ``sha256$`` prefix lets a later migration change the scheme.
* **Times** are naive UTC ``datetime`` values in the database; dictionaries
  returned by the store are JSON-ready (ISO strings, ``...Z`` for instants).
* **Ratings** are stored as given (floats; the service accepts integers 1-5,
  imports may carry other scales such as 0-2 or half stars). Integral values
  come back as ``int``.
* **History is never overwritten**: no method changes a rating once given.
  The one update of a date is *completing* it: each partner rates on their
  own, so the partner who rates later fills in their missing rating of the
  same date (:meth:`Store.add_date` with one partner's rating; "the same
  date" = same couple, idea and ``done_on``, with that partner's rating still
  missing: the oldest such row). The search and the update run in the write
  transaction that also changes the couple's ``dates_stamp``, whose row lock
  (PostgreSQL) or ``BEGIN IMMEDIATE`` (SQLite) puts two partners rating at
  once in order, so one date never becomes two.
* **Partner tokens**: besides the couple's token, each partner (``a``,
  ``b``) may get a token of their own (:meth:`Store.issue_partner_token`),
  hashed the same way; :meth:`Store.token_role` says whose a token is.
* **History stamps.** ``couples.dates_stamp`` is a random 63-bit number set
  when the couple row is written and changed in the same transaction as
  every date added for it; an erased and re-created couple gets a new one.
  :meth:`Store.tonight_reads` reads it first (one primary-key seek) and
  keeps the last :data:`HISTORY_CACHE` couples' histories per store, so a
  request whose couple has no new date does not read its history again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import math
import numbers
import os
import secrets
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as _pg
from sqlalchemy.dialects import sqlite as _sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from tqdm.auto import tqdm

from .domain.dates import (EARLIEST_DAY, LATEST_DATA_DAY, CoupleDates, DayError, as_dates_frame, check_day,
                    implausible_days)
from .domain.geo import ALLOWED as LOCATION_ALLOWED, format_location
from .domain.profiles import NO_PROFILE, Profile, from_record as stated_profile
from .domain.memo import Memo
from .store_practice import PracticeStore

__all__ = [
    "LATEST_VERSION",
    "PARTNERS",
    "PROFILE_FIELDS",
    "DatesRead",
    "Store",
    "StoreError",
    "CouplesExistError",
    "TonightReads",
    "UnknownCoupleError",
    "ValidationError",
    "open_store",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """A request the store cannot carry out; the message says why and what to do."""


class CouplesExistError(StoreError):
    """A bulk load met couples that already exist (``existing``: their ids, sorted); nothing was loaded."""

    def __init__(self, existing: list[str]) -> None:
        self.existing = sorted(existing)
        super().__init__(
            f"{len(existing)} couple(s) already exist ({', '.join(self.existing[:5])}"
            f"{', ...' if len(existing) > 5 else ''}); nothing was loaded. Pass replace=True to erase and "
            "reload them.")


class ValidationError(StoreError, ValueError):
    """A value given to the store is not allowed.

    Attributes
    ----------
    field : str
        The name of the offending field (e.g. ``"profile.budget_ceiling"``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TonightReads(NamedTuple):
    """What :meth:`Store.tonight_reads` returns (see there)."""

    history: CoupleDates
    served_before: list[tuple[str, str]]
    another_today: int
    latest_served: list[tuple[str, int, str | None]]


class DatesRead(NamedTuple):
    """What :meth:`Store.read_dates` returns: the dates frame and the stored rows left out of it."""

    frame: pd.DataFrame
    skipped: list[dict[str, Any]]


class UnknownCoupleError(StoreError, LookupError):
    """The couple id does not exist (or was erased)."""

    def __init__(self, couple_id: str) -> None:
        super().__init__(f"no couple with id {couple_id!r}")
        self.couple_id = couple_id


# --------------------------------------------------------------------------- helpers

#: Profile keys a couple may carry, with a description of what is allowed.
PROFILE_FIELDS = {
    "budget_ceiling": "an integer cost tier from 0 (free) to 3 (splurge)",
    "kids": "true or false",
    "accessibility_needs": "a string",
    "interests": "a list of strings",
    "home": "where the couple lives, " + LOCATION_ALLOWED,
}

_ID_MAX = 64
#: Couples whose histories one store keeps for :meth:`Store.tonight_reads` (~40 KB each at 200 dates).
HISTORY_CACHE = 256
_KEY_MAX = 200
#: rows read back of the list logged last under a request key (a list is at most this long)
_LATEST_ROWS = 50
_SQLITE_BUSY_MS = 30_000
_PG_MIGRATE_LOCK = 0x64_61_74_65_69_64  # "dateid": advisory-lock key for migrate()
_IN_CHUNK = 5_000  # ids per IN (...) list
_FETCH_BATCH = 100_000  # rows per fetchmany in dates_frame
_TRAINING_STATUSES = ("running", "succeeded", "failed")
_NEWSLETTER_STATUSES = ("running", "completed", "failed")


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _naive_utc(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return value


def _iso_instant(value: _dt.datetime | None) -> str | None:
    if value is None:
        return None
    return _naive_utc(value).isoformat(timespec="seconds") + "Z"


def _iso_day(value: _dt.date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite raw reads
        return value[:10]
    return value.isoformat()


def _plain_number(value: float | None) -> int | float | None:
    if value is None:
        return None
    value = float(value)
    return int(value) if value.is_integer() else value


def _stated_profile(profile: str | None) -> Profile:
    """What the model uses of a couple's stored profile JSON (:func:`engine.domain.profiles.from_record`)."""
    return stated_profile(_loads(profile))


def _new_stamp() -> int:
    """A fresh ``couples.dates_stamp``: random, so no two states of a couple's dates share one."""
    return secrets.randbits(63)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _as_day(field: str, value: Any, *, required: bool = False) -> _dt.date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if required:
            raise ValidationError(field, "a date (YYYY-MM-DD) is required")
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(field, f"must be a date in the form YYYY-MM-DD, got {value!r}")


def _plausible_day(day: _dt.date | None, field: str = "done_on") -> _dt.date | None:
    """``day`` if :func:`engine.domain.dates.check_day` allows it (1900-01-01 .. 2099-12-31), else ValidationError."""
    if day is None:
        return None
    try:
        return check_day(day, field=field)
    except DayError as exc:
        raise ValidationError(field, str(exc)) from None


def _plain_day(value: Any) -> Any:
    """A raw ``done_on`` value as a date for :func:`engine.domain.dates.check_day` (unparseable: as it is)."""
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).date()
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            return None  # not a date at all: the format check names it
    return value


def _implausible_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a raw dates read (``id``, ``couple_id``, ``done_on`` as stored text) whose day
    :func:`engine.domain.dates.check_day` refuses, logged one by one (the first 20) and in total."""
    days = frame["done_on"]
    far = implausible_days(days[days.notna()].unique())
    if not far:
        return []
    bad = frame.loc[days.isin(list(far)).to_numpy(), ["id", "couple_id", "done_on"]]
    rows = [{"id": int(i), "couple_id": c, "done_on": d, "reason": far[d]}
            for i, c, d in zip(bad["id"], bad["couple_id"], bad["done_on"])]
    for row in rows[:20]:
        logger.warning("skipped stored date %d of couple %s: %s", row["id"], row["couple_id"], row["reason"])
    logger.warning("skipped %d stored date(s) whose day is not from %s to %s; fix or delete them "
                   "(ids above)", len(rows), EARLIEST_DAY, LATEST_DATA_DAY)
    return rows


def _as_rating(field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(field, f"must be a number or null, got {value!r}")
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise ValidationError(field, f"must be a finite number or null, got {value!r}")
    return value


def _as_text(field: str, value: Any, *, max_len: int | None = None, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise ValidationError(field, f"must be a non-empty string, got {value!r}")
    if max_len is not None and len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters, got {len(value)}")
    return value


def _context_json(field: str, value: Any) -> str:
    """A context (a JSON object or None) checked and encoded in one pass, as :func:`_dumps` would."""
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be a JSON object (dict) or null, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"must be JSON-serialisable: {exc}") from exc


def _validate_profile(profile: Any) -> dict[str, Any]:
    """Return a validated copy of a couple profile (``None`` values dropped)."""
    if profile is None:
        return {}
    if not isinstance(profile, dict):
        raise ValidationError("profile", f"must be an object, got {type(profile).__name__}")
    unknown = sorted(set(profile) - set(PROFILE_FIELDS))
    if unknown:
        raise ValidationError(
            f"profile.{unknown[0]}",
            f"unknown profile field(s) {unknown}; allowed: {sorted(PROFILE_FIELDS)}",
        )
    out: dict[str, Any] = {}
    for key, value in profile.items():
        if value is None:
            continue
        field = f"profile.{key}"
        if key == "budget_ceiling":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
                    or not 0 <= int(value) <= 3:
                raise ValidationError(field, f"must be {PROFILE_FIELDS[key]}, got {value!r}")
            out[key] = int(value)
        elif key == "kids":
            if not isinstance(value, (bool, np.bool_)):
                raise ValidationError(field, f"must be {PROFILE_FIELDS[key]}, got {value!r}")
            out[key] = bool(value)
        elif key == "accessibility_needs":
            if not isinstance(value, str):
                raise ValidationError(field, f"must be {PROFILE_FIELDS[key]}, got {value!r}")
            out[key] = value
        elif key == "home":
            try:
                place = format_location(value) if isinstance(value, str) else None
            except ValueError:
                place = None
            if place is None:
                raise ValidationError(field, f"must be {PROFILE_FIELDS[key]}, got {value!r}")
            out[key] = place
        else:  # interests
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValidationError(field, f"must be {PROFILE_FIELDS[key]}, got {value!r}")
            out[key] = list(value)
    return out


def _partner_column(partner: Any, what: str) -> str:
    """``partner_a_hash`` / ``rating_b`` ...: the column of one partner's ``what``; refuses other partners."""
    if partner not in PARTNERS:
        raise ValidationError("partner", f"must be 'a' or 'b', got {partner!r}")
    return f"partner_{partner}_hash" if what == "hash" else f"rating_{partner}"


def _new_couple_id() -> str:
    return "c_" + secrets.token_urlsafe(8)[:10]


def _hash_token(token: str, salt: str | None = None) -> str:
    salt = secrets.token_hex(16) if salt is None else salt
    digest = hashlib.sha256((salt + token).encode("utf-8")).hexdigest()
    return f"sha256${salt}${digest}"


def _token_matches(token: str, stored: str | None) -> bool:
    if not stored or not isinstance(token, str):
        # compare anyway so unknown couples cost the same as wrong tokens
        hmac.compare_digest(_hash_token(str(token), "0" * 32), _hash_token("", "0" * 32))
        return False
    try:
        scheme, salt, _digest = stored.split("$", 2)
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    return hmac.compare_digest(_hash_token(token, salt).encode(), stored.encode())


def _pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists on this host (zombies count as dead)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


# --------------------------------------------------------------------------- schema
#
# ``_META`` describes the *latest* schema and is what queries use. The
# migrations below build the same schema step by step with their own frozen
# table definitions; tests/test_store.py checks the two agree.

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

_META = sa.MetaData()

tbl_schema_version = sa.Table(
    "schema_version", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

tbl_couples = sa.Table(
    "couples", _META,
    sa.Column("id", sa.String(_ID_MAX), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("token_hash", sa.String(200)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("dates_stamp", sa.BigInteger, nullable=False),
    sa.Column("partner_a_hash", sa.String(200)),
    sa.Column("partner_b_hash", sa.String(200)),
)

tbl_dates = sa.Table(
    "dates", _META,
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
    sa.Column("idempotency_key", sa.String(_KEY_MAX)),
)

tbl_suggestions = sa.Table(
    "suggestions", _META,
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
    sa.Column("request_key", sa.String(_KEY_MAX)),
)

tbl_newsletter_runs = sa.Table(
    "newsletter_runs", _META,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("week", sa.Date, nullable=False),
    sa.Column("k", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
)

tbl_newsletter_sends = sa.Table(
    "newsletter_sends", _META,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", _Id, sa.ForeignKey("newsletter_runs.id"), nullable=False),
    sa.Column("week", sa.Date, nullable=False),
    sa.Column("couple_id", sa.String(_ID_MAX),
              sa.ForeignKey("couples.id", ondelete="CASCADE"), nullable=False),
    sa.Column("idea_id", sa.String(200), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)

tbl_training_runs = sa.Table(
    "training_runs", _META,
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

tbl_locks = sa.Table(
    "locks", _META,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

#: Session epochs: bumping a row ends the web sessions of a couple (partner "") or of one partner.
tbl_session_epochs = sa.Table(
    "session_epochs", _META,
    sa.Column("couple_id", sa.String(_ID_MAX), sa.ForeignKey("couples.id"), primary_key=True),
    sa.Column("partner", sa.String(8), primary_key=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
)

tbl_tonight_counts = sa.Table(
    "tonight_counts", _META,
    sa.Column("couple_id", sa.String(_ID_MAX),
              sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("request", sa.String(_KEY_MAX), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)

tbl_rating_keys = sa.Table(
    "rating_keys", _META,
    sa.Column("couple_id", sa.String(_ID_MAX),
              sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("idempotency_key", sa.String(_KEY_MAX), primary_key=True),
    sa.Column("date_id", _Id, sa.ForeignKey("dates.id", ondelete="CASCADE"), nullable=False),
)

tbl_prompts_served = sa.Table(  # engine.store_practice: a conversation prompt shown with an idea
    "prompts_served", _META,
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

tbl_nudges_shown = sa.Table(  # engine.store_practice: a partner's appreciation nudge of the day
    "nudges_shown", _META,
    sa.Column("couple_id", sa.String(_ID_MAX),
              sa.ForeignKey("couples.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("partner", sa.String(1), primary_key=True),
    sa.Column("nudge_id", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("shown_at", sa.DateTime, nullable=False),
    sa.Column("done_at", sa.DateTime),
)

#: Tables holding rows about one couple (erasure deletes from each).
_COUPLE_TABLES = (tbl_suggestions, tbl_newsletter_sends, tbl_tonight_counts, tbl_rating_keys, tbl_prompts_served,
                  tbl_nudges_shown, tbl_dates, tbl_session_epochs)

#: the partners of a couple, and the column of each one's rating and token
PARTNERS = ("a", "b")


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
    from .store_practice import create_practice_tables

    create_practice_tables(conn)


#: Forward migrations, applied in order; version N = the first N applied.
_MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2, _migration_3, _migration_4,
                                                         _migration_session_epochs,
                                                         _migration_another_counts,
                                                         _migration_partners,
                                                         _migration_practice)

#: The schema version this code writes and expects.
LATEST_VERSION = len(_MIGRATIONS)


# --------------------------------------------------------------------------- engine set-up


def _normalise_url(url: str) -> sa.URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _make_engine(url: str) -> Engine:
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


def open_store(url: str | None = None) -> "Store":
    """Open the database at ``url`` (no schema change; call :meth:`Store.migrate`).

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL. ``sqlite:///var/dateideas.sqlite3`` (folder created),
        ``postgresql+psycopg://user@host:5432/db`` (``postgresql://`` is read
        as psycopg 3). Default: ``settings_from_env().database_url``.

    Returns
    -------
    Store
    """
    if url is None:
        from .config import settings_from_env

        url = settings_from_env().database_url
    return Store(_make_engine(url))


# --------------------------------------------------------------------------- the store


class Store(PracticeStore):
    """All reads and writes of the engine's state. Create with :func:`open_store`.

    One ``Store`` per process (after a fork, open a new one). Thread-safe:
    each call checks a connection out of the engine's pool.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Built by :func:`open_store` (SQLite needs its connect/begin hooks).
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

    # ---------------------------------------------------------------- schema

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
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATE_LOCK})
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

    # ---------------------------------------------------------------- couples

    def create_couple(self, profile: dict[str, Any] | None = None,
                      couple_id: str | None = None) -> tuple[str, str]:
        """Create a couple and its API token.

        Parameters
        ----------
        profile : dict, optional
            Keys from :data:`PROFILE_FIELDS` (``budget_ceiling`` 0-3, ``kids``
            bool, ``accessibility_needs`` str, ``interests`` list of str).
        couple_id : str, optional
            Default: ``"c_"`` + 10 random URL-safe characters.

        Returns
        -------
        (couple_id, token) : tuple of str
            The token is shown only here; the database keeps a salted hash.

        Raises
        ------
        ValidationError
            Bad profile or id (``field`` names it).
        StoreError
            If ``couple_id`` already exists.
        """
        clean = _validate_profile(profile)
        new_id = _new_couple_id() if couple_id is None else _as_text("couple_id", couple_id, max_len=_ID_MAX)
        token = secrets.token_urlsafe(32)
        try:
            with self._write() as conn:
                conn.execute(tbl_couples.insert().values(
                    id=new_id, created_at=_utcnow(), profile=_dumps(clean),
                    token_hash=_hash_token(token), active=True, source="api", dates_stamp=_new_stamp()))
        except IntegrityError as exc:
            raise StoreError(f"a couple with id {new_id!r} already exists") from exc
        return new_id, token

    def rotate_token(self, couple_id: str) -> str:
        """Give the couple a new token (the old one stops working) and return it.

        Raises
        ------
        UnknownCoupleError
        """
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            done = conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                .values(token_hash=_hash_token(token))).rowcount
            if done:
                self._bump_session_epoch(conn, couple_id, "")  # the old token's web sessions end too
        if not done:
            raise UnknownCoupleError(couple_id)
        return token

    # ---------------------------------------------------------------- web sessions

    def session_generation(self, couple_id: str, partner: str | None = None) -> str | None:
        """What a web session of the couple (or of one partner) must still hold to be valid.

        An opaque string made of the couple's creation time and its session
        epochs (the couple's, plus ``partner``'s when given). It changes when
        :meth:`revoke_sessions` or :meth:`rotate_token` runs, or the couple is
        erased and created again. None when no active couple has this id.
        """
        query = (sa.select(tbl_couples.c.created_at, tbl_couples.c.active, tbl_session_epochs.c.partner,
                           tbl_session_epochs.c.epoch)
                 .select_from(tbl_couples.outerjoin(tbl_session_epochs, sa.and_(
                     tbl_session_epochs.c.couple_id == tbl_couples.c.id,
                     tbl_session_epochs.c.partner.in_(["", partner or ""]))))
                 .where(tbl_couples.c.id == couple_id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        if not rows or not rows[0].active:
            return None
        epochs = {row.partner: int(row.epoch) for row in rows if row.partner is not None}
        return f"{rows[0].created_at.isoformat()}/{epochs.get('', 0)}/{epochs.get(partner, 0) if partner else '-'}"

    def revoke_sessions(self, couple_id: str, partner: str | None = None) -> None:
        """End every web session of the couple, or only ``partner``'s (``"a"``/``"b"``).

        Raises
        ------
        UnknownCoupleError
        """
        try:
            with self._write() as conn:
                self._bump_session_epoch(conn, couple_id, partner or "")
        except IntegrityError as exc:  # the foreign key: no such couple
            raise UnknownCoupleError(couple_id) from exc

    @staticmethod
    def _bump_session_epoch(conn: Connection, couple_id: str, partner: str) -> None:
        conn.execute(sa.text(
            "INSERT INTO session_epochs (couple_id, partner, epoch) VALUES (:couple_id, :partner, 1) "
            "ON CONFLICT (couple_id, partner) DO UPDATE SET epoch = session_epochs.epoch + 1"),
            {"couple_id": couple_id, "partner": partner})

    def verify_token(self, couple_id: str, token: str) -> bool:
        """Whether ``token`` is the current token of the active couple ``couple_id``.

        Constant-time comparison; unknown couples and inactive couples give False.
        """
        with self._raw_cursor() as cursor:  # checked on every couple request: a plain indexed read
            cursor.execute(f"SELECT token_hash, active FROM couples WHERE id = {self._mark}", (couple_id,))
            row = cursor.fetchone()
        stored = row[0] if row is not None and row[1] else None
        return _token_matches(token, stored)

    def issue_partner_token(self, couple_id: str, partner: str) -> str:
        """Give one partner a sign-in token of their own (a new one replaces the old) and return it.

        The partner's token works like the couple's on the couple's routes,
        but says who is there (:meth:`token_role`): that partner rates only
        for themselves and sees the other's rating of a date once both rated.

        Raises
        ------
        ValidationError
            ``partner`` is not ``"a"`` or ``"b"``.
        UnknownCoupleError
        """
        column = _partner_column(partner, "hash")
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            done = conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                .values({column: _hash_token(token)})).rowcount
        if not done:
            raise UnknownCoupleError(couple_id)
        return token

    def token_role(self, couple_id: str, token: str) -> str | None:
        """Whose token ``token`` is for the active couple ``couple_id``.

        Returns ``"couple"`` (the couple's shared token), ``"a"`` or ``"b"``
        (a partner's own token), or None (unknown couple, paused couple or
        wrong token). Every stored hash is compared, in constant time.
        """
        with self._raw_cursor() as cursor:
            cursor.execute(f"SELECT token_hash, partner_a_hash, partner_b_hash, active FROM couples "
                           f"WHERE id = {self._mark}", (couple_id,))
            row = cursor.fetchone()
        stored = row[:3] if row is not None and row[3] else (None, None, None)
        found = [role for role, digest in zip(("couple", *PARTNERS), stored) if _token_matches(token, digest)]
        return found[0] if found else None

    def get_couple(self, couple_id: str) -> dict[str, Any] | None:
        """``{"id", "created_at", "profile", "active", "source"}`` or None (never the token)."""
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_couples.c.id, tbl_couples.c.created_at, tbl_couples.c.profile,
                                         tbl_couples.c.active, tbl_couples.c.source)
                               .where(tbl_couples.c.id == couple_id)).first()
        if row is None:
            return None
        return {"id": row.id, "created_at": _iso_instant(row.created_at),
                "profile": _loads(row.profile), "active": bool(row.active), "source": row.source}

    def set_couple_active(self, couple_id: str, active: bool) -> bool:
        """Pause (False) or resume (True) a couple; False if there is no such couple."""
        with self._write() as conn:
            return bool(conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                     .values(active=bool(active))).rowcount)

    def couple_ids(self, active_only: bool = False) -> list[str]:
        """Every couple id, sorted; only active couples when ``active_only``."""
        query = sa.select(tbl_couples.c.id).order_by(tbl_couples.c.id)
        if active_only:
            query = query.where(tbl_couples.c.active.is_(True))
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def count_couples(self) -> int:
        """Number of couples."""
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tbl_couples)).scalar())

    def delete_couple(self, couple_id: str) -> bool:
        """Erase the couple and every row about them, in one transaction.

        Returns True if the couple existed; calling it again is harmless (False).
        """
        with self._write() as conn:
            for table in _COUPLE_TABLES:
                conn.execute(table.delete().where(table.c.couple_id == couple_id))
            existed = conn.execute(tbl_couples.delete().where(tbl_couples.c.id == couple_id)).rowcount
        if existed:
            logger.info("erased couple %s", couple_id)
        return bool(existed)

    def is_empty(self) -> bool:
        """True when the database holds no couple (and so no dates)."""
        with self._read() as conn:
            return conn.execute(sa.select(tbl_couples.c.id).limit(1)).first() is None

    # ---------------------------------------------------------------- dates

    def add_date(self, couple_id: str, idea_id: str, done_on: _dt.date | str | None,
                 rating_a: float | None = None, rating_b: float | None = None, note: str = "",
                 context: dict[str, Any] | None = None,
                 idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Record a completed date, or one partner's later rating of it.

        One date is one row with both partners' ratings. Given exactly one
        partner's rating, the call first looks for *the same date*: the
        couple's date of ``idea_id`` on ``done_on`` whose rating by that
        partner is still missing (the oldest, if several). If there is one,
        the rating completes it (the note is added to the date's note) and no
        new date is written; otherwise a new date is. Both ratings, or an
        undated date, always make a new date (doing an idea again is a new
        date). The search and the write are one transaction, serialised per
        couple, so two partners rating at once never make two dates.

        Parameters
        ----------
        couple_id, idea_id : str
        done_on : date or "YYYY-MM-DD" or None
        rating_a, rating_b : float, optional
            Each partner's rating, stored as given (None = not rated).
        note : str, default ""
        context : dict, optional
            JSON object (weekday, season, weather, ...). Kept from the first
            rating when a date is completed.
        idempotency_key : str, optional
            At most 200 characters. If the couple already used this key (for
            a new date or a completion), nothing is written and the date it
            wrote comes back with ``created=False`` (even when two requests race).

        Returns
        -------
        (record, created) : (dict, bool)
            ``record`` as in :meth:`list_dates`, plus ``"completed"``: True
            when this call filled in a partner's missing rating of an
            existing date. ``created`` is True when the call wrote something
            (a new date or a completion), False for a replayed key.

        Raises
        ------
        ValidationError
            A field has a bad type or format.
        UnknownCoupleError
            No such couple.
        """
        _as_text("couple_id", couple_id, max_len=_ID_MAX)
        values = {
            "couple_id": couple_id,
            "idea_id": _as_text("idea_id", idea_id, max_len=200),
            "done_on": _plausible_day(_as_day("done_on", done_on)),
            "rating_a": _as_rating("rating_a", rating_a),
            "rating_b": _as_rating("rating_b", rating_b),
            "note": _as_text("note", "" if note is None else note, empty_ok=True),
            "context": _context_json("context", context),
            "idempotency_key": None if idempotency_key is None
            else _as_text("idempotency_key", idempotency_key, max_len=_KEY_MAX),
            "created_at": _utcnow(),
        }
        if idempotency_key is not None:
            first = self._date_by_key(couple_id, idempotency_key)
            if first is not None:
                return first, False
        given = [p for p in PARTNERS if values[f"rating_{p}"] is not None]
        partner = given[0] if len(given) == 1 and values["done_on"] is not None else None
        try:
            with self._write() as conn:
                # first: on PostgreSQL this row lock orders every date write of the couple
                if not conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                    .values(dates_stamp=_new_stamp())).rowcount:
                    raise UnknownCoupleError(couple_id)
                date_id = self._complete_date(conn, values, partner) if partner else None
                completed = date_id is not None
                if completed and idempotency_key is not None:
                    conn.execute(tbl_rating_keys.insert().values(couple_id=couple_id, idempotency_key=idempotency_key,
                                                                 date_id=date_id))
                if not completed:
                    date_id = conn.execute(tbl_dates.insert().values(**values)).inserted_primary_key[0]
                row = conn.execute(sa.select(tbl_dates).where(tbl_dates.c.id == date_id)).one()
        except IntegrityError as exc:
            if idempotency_key is not None:
                first = self._date_by_key(couple_id, idempotency_key)
                if first is not None:  # lost the race to a concurrent retry
                    return first, False
            if self.get_couple(couple_id) is None:
                raise UnknownCoupleError(couple_id) from exc
            raise StoreError(f"could not store the date: {exc.orig}") from exc
        record = row._asdict()
        record["context"] = _loads(record["context"])
        return dict(self._date_record(record), completed=completed), True

    @staticmethod
    def _complete_date(conn: Connection, values: dict[str, Any], partner: str) -> int | None:
        """Fill in ``partner``'s missing rating of the same date (see :meth:`add_date`); its id, or None."""
        column = tbl_dates.c[_partner_column(partner, "rating")]
        found = conn.execute(
            sa.select(tbl_dates.c.id, tbl_dates.c.note)
            .where(tbl_dates.c.couple_id == values["couple_id"], tbl_dates.c.idea_id == values["idea_id"],
                   tbl_dates.c.done_on == values["done_on"], column.is_(None))
            .order_by(tbl_dates.c.id).limit(1)).first()
        if found is None:
            return None
        note = "\n".join(n for n in (found.note, values["note"]) if n)
        done = conn.execute(tbl_dates.update().where(tbl_dates.c.id == found.id, column.is_(None))
                            .values({column.name: values[column.name], "note": note})).rowcount
        return int(found.id) if done else None

    def _date_by_key(self, couple_id: str, key: str) -> dict[str, Any] | None:
        """The date a key wrote: a new date (its own key) or a completion (``rating_keys``)."""
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_dates).where(tbl_dates.c.couple_id == couple_id,
                                                          tbl_dates.c.idempotency_key == key)).first()
            completed = row is None
            if completed:
                row = conn.execute(sa.select(tbl_dates).join(tbl_rating_keys, tbl_rating_keys.c.date_id == tbl_dates.c.id)
                                   .where(tbl_rating_keys.c.couple_id == couple_id,
                                          tbl_rating_keys.c.idempotency_key == key)).first()
        if row is None:
            return None
        record = row._asdict()
        record["context"] = _loads(record["context"])
        return dict(self._date_record(record), completed=completed)

    @staticmethod
    def _date_record(values: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": int(values["id"]),
            "couple_id": values["couple_id"],
            "idea_id": values["idea_id"],
            "done_on": _iso_day(values["done_on"]),
            "rating_a": _plain_number(values["rating_a"]),
            "rating_b": _plain_number(values["rating_b"]),
            "note": values["note"],
            "context": values["context"],
            "created_at": _iso_instant(values["created_at"]),
        }

    def list_dates(self, couple_id: str) -> list[dict[str, Any]]:
        """The couple's dates, oldest first (by day, then by insertion).

        Returns
        -------
        list of dict
            ``{"id", "couple_id", "idea_id", "done_on" (ISO day or None),
            "rating_a", "rating_b" (number or None), "note", "context" (dict),
            "created_at" (ISO instant)}`` -- JSON-ready.
        """
        query = (sa.select(tbl_dates).where(tbl_dates.c.couple_id == couple_id)
                 .order_by(tbl_dates.c.done_on.is_(None).desc(), tbl_dates.c.done_on, tbl_dates.c.id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            record = row._asdict()
            record["context"] = _loads(record["context"])
            out.append(self._date_record(record))
        return out

    def count_dates(self, couple_id: str | None = None) -> int:
        """Number of dates, of one couple or of everyone."""
        query = sa.select(sa.func.count()).select_from(tbl_dates)
        if couple_id is not None:
            query = query.where(tbl_dates.c.couple_id == couple_id)
        with self._read() as conn:
            return int(conn.execute(query).scalar())

    def count_dates_created_since(self, since: _dt.datetime | None) -> int:
        """Dates stored after ``since`` (naive UTC or aware datetime); all dates if None.

        Counts by ``created_at`` (when the row was written, bulk loads included),
        not by ``done_on``; used to trigger retraining after N new dates.
        """
        query = sa.select(sa.func.count()).select_from(tbl_dates)
        if since is not None:
            query = query.where(tbl_dates.c.created_at > _naive_utc(since))
        with self._read() as conn:
            return int(conn.execute(query).scalar())

    def max_date_id(self) -> int:
        """The highest date id (0 when there are none); ids only grow."""
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(tbl_dates.c.id))).scalar() or 0)

    def couple_history(self, couple_id: str) -> pd.DataFrame:
        """One couple's dates as a dates frame, oldest first: the per-request fast path.

        Same content as ``dates_frame([couple_id])`` but built straight from
        typed columns (no sorting, no re-normalising), since tonight's request
        reads it every time.
        """
        query = (sa.select(tbl_dates.c.idea_id, tbl_dates.c.done_on, tbl_dates.c.rating_a, tbl_dates.c.rating_b)
                 .where(tbl_dates.c.couple_id == couple_id).order_by(tbl_dates.c.id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        ideas, days, a, b = (list(col) for col in zip(*rows)) if rows else ([], [], [], [])
        return pd.DataFrame({
            "couple_id": np.full(len(rows), couple_id, dtype=object),
            "idea_id": np.array(ideas, dtype=object),
            "done_on": np.array([np.datetime64(d, "ns") if d is not None else np.datetime64("NaT", "ns")
                                 for d in days], dtype="datetime64[ns]"),
            "rating_a": np.array([np.nan if v is None else v for v in a], dtype=float),
            "rating_b": np.array([np.nan if v is None else v for v in b], dtype=float),
        })

    def dates_frame(self, couple_ids: Iterable[str] | None = None,
                    context: bool = False) -> pd.DataFrame:
        """:meth:`read_dates`' frame: stored rows with an implausible day are skipped (and logged)."""
        return self.read_dates(couple_ids, context).frame

    def read_dates(self, couple_ids: Iterable[str] | None = None, context: bool = False) -> "DatesRead":
        """Dates as a dates frame (see :mod:`engine.domain.dates`), in insertion order, and the rows skipped.

        A stored row whose day :func:`engine.domain.dates.check_day` refuses (before
        1900-01-01, after 2099-12-31, or not a date: written before that rule,
        or straight into the database) is left out of the frame, logged with
        its id and couple, and listed in ``skipped``, so one bad row cannot
        stop training or the newsletter for everyone.

        Parameters
        ----------
        couple_ids : iterable of str, optional
            Only these couples (default: everyone).
        context : bool, default False
            Also turn each date's context JSON into ``ctx_<key>`` columns. This
            parses one JSON document per row, so it is off by default.

        Returns
        -------
        DatesRead
            ``frame``: shape (n_dates, 5 [+ n_ctx]): ``couple_id``,
            ``idea_id``, ``done_on`` (datetime64, NaT if unknown),
            ``rating_a``, ``rating_b`` (float, NaN = not rated);
            ``skipped``: ``{"id", "couple_id", "done_on", "reason"}`` per row
            left out, by id.
        """
        day = ("to_char(done_on, 'YYYY-MM-DD')" if self.dialect == "postgresql" else "done_on")
        names = ["id", "couple_id", "idea_id", "done_on", "rating_a", "rating_b"] + (["context"] if context else [])
        base = f"SELECT id, couple_id, idea_id, {day}, rating_a, rating_b{', context' if context else ''} FROM dates"
        mark = self._mark
        parts: list[pd.DataFrame] = []

        def collect(cursor: Any) -> None:
            # column arrays batch by batch: the peak holds one batch of Python tuples, not all rows
            while batch := cursor.fetchmany(_FETCH_BATCH):
                parts.append(pd.DataFrame({
                    name: pd.Series(values, dtype=float if name.startswith("rating") else object)
                    for name, values in zip(names, zip(*batch))}))

        with self._read() as conn, conn.begin():  # one snapshot for every chunk
            # plain DBAPI tuples: SQLAlchemy Row objects make DataFrame construction ~10x slower
            cursor = conn.connection.driver_connection.cursor()
            try:
                if couple_ids is None:
                    cursor.execute(base)
                    collect(cursor)
                else:
                    for chunk in _chunks(list(dict.fromkeys(couple_ids))):
                        cursor.execute(f"{base} WHERE couple_id IN ({', '.join([mark] * len(chunk))})",
                                       tuple(chunk))
                        collect(cursor)
            finally:
                cursor.close()
        if parts:
            frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        else:
            frame = pd.DataFrame({name: pd.Series([], dtype=float if name.startswith("rating") else object)
                                  for name in names})
        del parts
        frame = frame.sort_values("id", kind="stable")
        skipped = _implausible_rows(frame)
        if skipped:
            frame = frame[~frame["id"].isin([row["id"] for row in skipped])]
        frame = frame.drop(columns="id").reset_index(drop=True)
        frame["done_on"] = pd.to_datetime(frame["done_on"], format="%Y-%m-%d", errors="coerce")
        if context:
            parsed = pd.DataFrame.from_records([_loads(text) for text in frame.pop("context")],
                                               index=frame.index)
            for key in parsed.columns:
                frame[f"ctx_{key}"] = parsed[key]
        return DatesRead(as_dates_frame(frame), skipped)

    def profiles(self, couple_ids: Iterable[str] | None = None) -> dict[str, Profile]:
        """Couples' stated profiles as the model uses them (interests, budget ceiling and home,
        see :mod:`engine.domain.profiles`), by couple id.

        Only couples that stated any of them are in the result; ``couple_ids`` limits it
        (default: everyone).
        """
        query = sa.select(tbl_couples.c.id, tbl_couples.c.profile).where(sa.or_(
            tbl_couples.c.profile.like('%"interests"%'), tbl_couples.c.profile.like('%"budget_ceiling"%'),
            tbl_couples.c.profile.like('%"home"%')))
        out: dict[str, Profile] = {}
        with self._read() as conn:
            if couple_ids is None:
                rows = conn.execute(query).all()
            else:
                rows = [row for chunk in _chunks(list(dict.fromkeys(couple_ids)))
                        for row in conn.execute(query.where(tbl_couples.c.id.in_(chunk))).all()]
        for couple_id, profile in rows:
            found = _stated_profile(profile)
            if found:
                out[couple_id] = found
        return out

    # ---------------------------------------------------------------- suggestions

    _SUGGESTION_KEYS = frozenset({"couple_id", "idea_id", "rank", "score", "model_version",
                                  "context", "request_key", "served_at", "served_on"})

    def log_suggestions(self, rows: Iterable[dict[str, Any]]) -> int:
        """Record served suggestions in one transaction.

        Parameters
        ----------
        rows : iterable of dict
            ``couple_id``, ``idea_id``, ``rank`` (required); ``score``,
            ``model_version``, ``context`` (dict), ``request_key`` (str),
            ``served_at`` (datetime, default now, UTC), ``served_on`` (date,
            default ``served_at``'s day).

        Returns
        -------
        int
            Rows written. Rows of couples erased meanwhile are skipped.
        """
        now = _utcnow()
        clean = []
        rows = list(rows)  # every row as it is now, so one context object has one encoding
        contexts: dict[int, tuple[Any, str]] = {}  # a request's rows share one context: encode it once
        for i, row in enumerate(rows):
            unknown = sorted(set(row) - self._SUGGESTION_KEYS)
            if unknown:
                raise ValidationError(f"rows[{i}].{unknown[0]}",
                                      f"unknown key(s) {unknown}; allowed: {sorted(self._SUGGESTION_KEYS)}")
            for key in ("couple_id", "idea_id", "rank"):
                if row.get(key) is None:
                    raise ValidationError(f"rows[{i}].{key}", "is required")
            served_at = _naive_utc(row.get("served_at") or now)
            clean.append({
                "couple_id": _as_text(f"rows[{i}].couple_id", row["couple_id"], max_len=_ID_MAX),
                "idea_id": _as_text(f"rows[{i}].idea_id", row["idea_id"], max_len=200),
                "rank": int(row["rank"]),
                "score": _as_rating(f"rows[{i}].score", row.get("score")),
                "model_version": None if row.get("model_version") is None else str(row["model_version"]),
                "context": self._context_text(contexts, f"rows[{i}].context", row.get("context")),
                "request_key": row.get("request_key"),
                "served_at": served_at,
                "served_on": _as_day(f"rows[{i}].served_on", row.get("served_on")) or served_at.date(),
            })
        if not clean:
            return 0
        names = list(clean[0])
        insert = (f"INSERT INTO suggestions ({', '.join(names)}) "
                  f"VALUES ({', '.join([self._mark] * len(names))})")
        params = [tuple(self._day_param(v) if isinstance(v, _dt.date) else v for v in row.values())
                  for row in clean]
        try:
            with self._raw_write(flush=False) as cursor:  # on every new tonight list: one plain executemany
                cursor.executemany(insert, params)
            return len(clean)
        except self.engine.dialect.loaded_dbapi.IntegrityError:
            pass  # the foreign key: a couple was erased meanwhile; write the rows of those still there
        with self._write() as conn:
            clean = self._existing_only(conn, clean)
            if clean:
                conn.execute(tbl_suggestions.insert(), clean)
        return len(clean)

    @staticmethod
    def _context_text(seen: dict[int, tuple[Any, str]], field: str, context: Any) -> str:
        """``context`` checked and encoded, once per distinct object (``seen`` keeps each
        object alive, so its id cannot be reused by another within the call)."""
        hit = seen.get(id(context))
        if hit is None or hit[0] is not context:
            hit = seen[id(context)] = (context, _context_json(field, context))
        return hit[1]

    @staticmethod
    def _existing_only(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = sorted({row["couple_id"] for row in rows})
        present: set[str] = set()
        for chunk in _chunks(wanted):
            present.update(conn.execute(sa.select(tbl_couples.c.id).where(tbl_couples.c.id.in_(chunk))).scalars())
        if len(present) < len(wanted):
            logger.info("skipping rows of %d couple(s) that no longer exist", len(wanted) - len(present))
            rows = [row for row in rows if row["couple_id"] in present]
        return rows

    def recent_suggestions(self, couple_id: str, since: _dt.date | _dt.datetime | None = None,
                           request_key: str | None = None) -> list[dict[str, Any]]:
        """Suggestions served to a couple, oldest first.

        Parameters
        ----------
        couple_id : str
        since : date or datetime, optional
            A date keeps rows with ``served_on >= since``; a datetime keeps
            rows with ``served_at >= since``. Default: all.
        request_key : str, optional
            Only rows logged with this request key.

        Returns
        -------
        list of dict
            ``{"id", "couple_id", "idea_id", "served_at", "served_on",
            "context", "model_version", "rank", "score", "request_key"}``.
        """
        query = sa.select(tbl_suggestions).where(tbl_suggestions.c.couple_id == couple_id)
        if isinstance(since, _dt.datetime):
            query = query.where(tbl_suggestions.c.served_at >= _naive_utc(since))
        elif since is not None:
            query = query.where(tbl_suggestions.c.served_on >= _as_day("since", since))
        if request_key is not None:
            query = query.where(tbl_suggestions.c.request_key == request_key)
        with self._read() as conn:
            rows = conn.execute(query.order_by(tbl_suggestions.c.id)).all()
        return [{
            "id": int(row.id), "couple_id": row.couple_id, "idea_id": row.idea_id,
            "served_at": _iso_instant(row.served_at), "served_on": _iso_day(row.served_on),
            "context": _loads(row.context), "model_version": row.model_version,
            "rank": int(row.rank), "score": row.score, "request_key": row.request_key,
        } for row in rows]

    # ---------------------------------------------------------------- newsletter

    def start_newsletter_run(self, week: _dt.date | str, k: int) -> int:
        """Open a newsletter run for ``week`` (status ``running``) and return its id."""
        day = _as_day("week", week, required=True)
        with self._write() as conn:
            return int(conn.execute(tbl_newsletter_runs.insert().values(
                week=day, k=int(k), status="running", started_at=_utcnow(),
                host=socket.gethostname(), pid=os.getpid())).inserted_primary_key[0])

    def finish_newsletter_run(self, run_id: int, status: str = "completed",
                              error: str | None = None) -> bool:
        """Close a run as ``completed`` or ``failed``; False if there is no such run."""
        if status not in _NEWSLETTER_STATUSES[1:]:
            raise ValidationError("status", f"must be one of {list(_NEWSLETTER_STATUSES[1:])}, got {status!r}")
        with self._write() as conn:
            return bool(conn.execute(tbl_newsletter_runs.update().where(tbl_newsletter_runs.c.id == run_id)
                                     .values(status=status, error=error,
                                             finished_at=_utcnow())).rowcount)

    def fail_running_newsletter_runs(self, week: _dt.date | str | None, reason: str) -> list[int]:
        """Mark ``running`` runs failed (of ``week``, or of every week whose lock has no live holder).

        A newsletter run holds the lock ``newsletter:<week>`` while it runs
        and renews it (a lease); a run still ``running`` whose week's lock is
        free was killed or crashed. With ``week`` the caller holds that
        week's lock, so every ``running`` run of it is such a run.

        Returns
        -------
        list of int
            The ids of the runs marked ``failed`` (``reason`` in ``error``).
        """
        query = sa.select(tbl_newsletter_runs.c.id, tbl_newsletter_runs.c.week).where(
            tbl_newsletter_runs.c.status == "running")
        if week is not None:
            query = query.where(tbl_newsletter_runs.c.week == _as_day("week", week, required=True))
        with self._read() as conn:
            running = conn.execute(query).all()
        marked = []
        for row in running:
            if week is None and self.lock_holder(f"newsletter:{_iso_day(row.week)}") is not None:
                continue  # its lease is live: still running
            with self._write() as conn:
                if conn.execute(tbl_newsletter_runs.update().where(
                        tbl_newsletter_runs.c.id == row.id, tbl_newsletter_runs.c.status == "running")
                        .values(status="failed", finished_at=_utcnow(), error=reason)).rowcount:
                    marked.append(int(row.id))
                    logger.warning("newsletter run %s of week %s marked failed: %s", row.id, row.week, reason)
        return marked

    def latest_newsletter_run(self, week: _dt.date | str) -> dict[str, Any] | None:
        """The most recently started run for ``week`` (any status) or None.

        Returns
        -------
        dict or None
            ``{"id", "week", "k", "status", "started_at", "finished_at", "error", "sends"}``.
        """
        return self._latest_newsletter_run(week)

    def completed_newsletter_run(self, week: _dt.date | str) -> dict[str, Any] | None:
        """The latest completed run for ``week`` or None (same keys as :meth:`latest_newsletter_run`)."""
        return self._latest_newsletter_run(week, status="completed")

    def _latest_newsletter_run(self, week: _dt.date | str, status: str | None = None) -> dict[str, Any] | None:
        day = _as_day("week", week, required=True)
        query = sa.select(tbl_newsletter_runs).where(tbl_newsletter_runs.c.week == day)
        if status is not None:
            query = query.where(tbl_newsletter_runs.c.status == status)
        with self._read() as conn:
            row = conn.execute(query.order_by(tbl_newsletter_runs.c.id.desc()).limit(1)).first()
            if row is None:
                return None
            sends = conn.execute(sa.select(sa.func.count()).select_from(tbl_newsletter_sends)
                                 .where(tbl_newsletter_sends.c.run_id == row.id)).scalar()
        return {"id": int(row.id), "week": _iso_day(row.week), "k": row.k, "status": row.status,
                "started_at": _iso_instant(row.started_at), "finished_at": _iso_instant(row.finished_at),
                "error": row.error, "sends": int(sends)}

    def record_sends(self, run_id: int, week: _dt.date | str, rows: Iterable[dict[str, Any]],
                     replace: bool = False) -> int:
        """Record picks as sent, all in one transaction.

        Parameters
        ----------
        run_id : int
        week : date or "YYYY-MM-DD"
        rows : iterable of dict
            ``{"couple_id", "idea_id", "rank"}``.
        replace : bool, default False
            First delete what those couples were already sent that week (for a
            forced re-run). Without it, a (week, couple, rank) already recorded
            makes the whole call fail with :class:`StoreError`.

        Returns
        -------
        int
            Rows written (rows of couples erased meanwhile are skipped).
        """
        day = _as_day("week", week, required=True)
        now = _utcnow()
        clean = []
        for i, row in enumerate(rows):
            for key in ("couple_id", "idea_id", "rank"):
                if row.get(key) is None:
                    raise ValidationError(f"rows[{i}].{key}", "is required")
            clean.append({"run_id": int(run_id), "week": day, "couple_id": str(row["couple_id"]),
                          "idea_id": str(row["idea_id"]), "rank": int(row["rank"]), "sent_at": now})
        if not clean:
            return 0
        try:
            with self._write() as conn:
                clean = self._existing_only(conn, clean)
                if replace:
                    ids = sorted({row["couple_id"] for row in clean})
                    for chunk in _chunks(ids):
                        conn.execute(tbl_newsletter_sends.delete().where(
                            tbl_newsletter_sends.c.week == day, tbl_newsletter_sends.c.couple_id.in_(chunk)))
                if clean:
                    conn.execute(tbl_newsletter_sends.insert(), clean)
        except IntegrityError as exc:
            raise StoreError(
                f"could not record {len(clean)} newsletter send(s) for week {day}: a couple already "
                "has a pick at that rank this week (or run_id is unknown); nothing from this call "
                "was recorded. Skip couples in sent_couples(week) or pass replace=True."
            ) from exc
        return len(clean)

    def sent_couples(self, week: _dt.date | str, after_run: int | None = None) -> set[str]:
        """Ids of couples with at least one pick recorded as sent for ``week``.

        ``after_run`` counts only sends of runs with a larger id (what a
        forced re-run of the week has sent so far).
        """
        day = _as_day("week", week, required=True)
        query = (sa.select(tbl_newsletter_sends.c.couple_id).distinct()
                 .where(tbl_newsletter_sends.c.week == day))
        if after_run is not None:
            query = query.where(tbl_newsletter_sends.c.run_id > int(after_run))
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def recent_newsletter_ideas(self, couple_ids: Iterable[str] | None, before_week: _dt.date | str,
                                last_n: int = 4) -> dict[str, set[str]]:
        """Ideas sent to each couple in their last ``last_n`` newsletters before ``before_week``.

        Parameters
        ----------
        couple_ids : iterable of str or None
            None = every couple with sends.
        before_week : date or "YYYY-MM-DD"
            Only weeks strictly before it count.
        last_n : int, default 4
            How many of the couple's most recent newsletter weeks to look at.

        Returns
        -------
        dict of str to set of str
            Every requested couple is a key (an empty set when nothing was sent).
        """
        day = _as_day("before_week", before_week, required=True)
        sql = (
            "SELECT couple_id, idea_id FROM (SELECT couple_id, idea_id, DENSE_RANK() OVER "
            "(PARTITION BY couple_id ORDER BY week DESC) AS recency FROM newsletter_sends "
            "WHERE week < :week{filter}) AS ranked WHERE recency <= :last_n"
        )
        week_param = sa.bindparam("week", type_=sa.Date)  # typed: no driver-level date adapter
        out: dict[str, set[str]] = {}
        with self._read() as conn:
            if couple_ids is None:
                pairs = conn.execute(sa.text(sql.format(filter="")).bindparams(week_param),
                                     {"week": day, "last_n": int(last_n)}).all()
            else:
                ids = list(dict.fromkeys(couple_ids))
                out = {cid: set() for cid in ids}
                query = sa.text(sql.format(filter=" AND couple_id IN :ids")).bindparams(
                    week_param, sa.bindparam("ids", expanding=True))
                pairs = []
                for chunk in _chunks(ids):
                    pairs.extend(conn.execute(query, {"week": day, "last_n": int(last_n),
                                                      "ids": list(chunk)}).all())
        for couple_id, idea_id in pairs:
            out.setdefault(couple_id, set()).add(idea_id)
        return out

    # ---------------------------------------------------------------- training runs

    def start_training_run(self, pid: int | None = None, host: str | None = None) -> int:
        """Record a training run as ``running`` and return its id (pid/host default: this process)."""
        with self._write() as conn:
            return int(conn.execute(tbl_training_runs.insert().values(
                started_at=_utcnow(), status="running", promoted=False,
                pid=os.getpid() if pid is None else int(pid),
                host=socket.gethostname() if host is None else host)).inserted_primary_key[0])

    def finish_training_run(self, run_id: int, status: str, version: str | None = None,
                            promoted: bool = False, metrics: dict[str, Any] | None = None,
                            error: str | None = None) -> bool:
        """Close a training run as ``succeeded`` or ``failed``; False if there is no such run."""
        if status not in _TRAINING_STATUSES[1:]:
            raise ValidationError("status", f"must be one of {list(_TRAINING_STATUSES[1:])}, got {status!r}")
        with self._write() as conn:
            return bool(conn.execute(tbl_training_runs.update().where(tbl_training_runs.c.id == run_id).values(
                status=status, finished_at=_utcnow(), version=version, promoted=bool(promoted),
                metrics=None if metrics is None else _dumps(metrics),
                error=error)).rowcount)

    def training_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest training runs, newest first.

        Returns
        -------
        list of dict
            ``{"id", "started_at", "finished_at", "seconds", "status",
            "version", "promoted", "metrics", "error", "pid", "host"}``.
        """
        with self._read() as conn:
            rows = conn.execute(sa.select(tbl_training_runs).order_by(tbl_training_runs.c.id.desc())
                                .limit(int(limit))).all()
        return [{
            "id": int(row.id), "started_at": _iso_instant(row.started_at),
            "finished_at": _iso_instant(row.finished_at),
            "seconds": None if row.finished_at is None
            else round((row.finished_at - row.started_at).total_seconds(), 3),
            "status": row.status, "version": row.version, "promoted": bool(row.promoted),
            "metrics": None if row.metrics is None else _loads(row.metrics),
            "error": row.error, "pid": row.pid, "host": row.host,
        } for row in rows]

    def mark_stale_training_runs(self, timeout_s: float = 3600.0) -> int:
        """Fail ``running`` runs whose process is gone (this host) or that are too old.

        Parameters
        ----------
        timeout_s : float, default 3600
            A run still ``running`` after this many seconds is presumed dead,
            whatever its host.

        Returns
        -------
        int
            Runs marked ``failed`` (the reason goes in ``error``).
        """
        now = _utcnow()
        here = socket.gethostname()
        with self._read() as conn:
            running = conn.execute(sa.select(tbl_training_runs.c.id, tbl_training_runs.c.pid,
                                             tbl_training_runs.c.host, tbl_training_runs.c.started_at)
                                   .where(tbl_training_runs.c.status == "running")).all()
        marked = 0
        for row in running:
            age = (now - row.started_at).total_seconds()
            if row.host == here and not _pid_alive(row.pid):
                reason = f"training process {row.pid} on {here} is gone (killed or crashed)"
            elif age >= timeout_s:
                reason = f"still running after {age:.0f} s (timeout {timeout_s:.0f} s); presumed dead"
            else:
                continue
            with self._write() as conn:
                marked += conn.execute(tbl_training_runs.update().where(
                    tbl_training_runs.c.id == row.id, tbl_training_runs.c.status == "running")
                    .values(status="failed", finished_at=now, error=reason)).rowcount
            logger.warning("training run %s marked failed: %s", row.id, reason)
        return marked

    # ---------------------------------------------------------------- locks

    def try_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the named lock if it is free or expired; atomic across processes.

        Parameters
        ----------
        name : str
            Lock name, e.g. ``"training"``.
        owner : str
            Who holds it (e.g. ``"host:pid:uuid"``); the same owner may call
            again to extend its hold.
        ttl_s : float
            Seconds until the lock expires if not released or extended.

        Returns
        -------
        bool
            True if ``owner`` now holds the lock.
        """
        if ttl_s <= 0:
            raise ValidationError("ttl_s", f"must be a positive number of seconds, got {ttl_s!r}")
        now = _utcnow()
        expires = now + _dt.timedelta(seconds=float(ttl_s))
        with self._write() as conn:
            taken = conn.execute(tbl_locks.update().where(
                tbl_locks.c.name == name, sa.or_(tbl_locks.c.expires_at <= now, tbl_locks.c.owner == owner))
                .values(owner=owner, acquired_at=now, expires_at=expires)).rowcount
            if taken:
                return True
            insert = (_pg.insert(tbl_locks) if self.dialect == "postgresql"
                      else _sqlite.insert(tbl_locks))
            conn.execute(insert.values(name=name, owner=owner, acquired_at=now, expires_at=expires)
                         .on_conflict_do_nothing(index_elements=["name"]))
            # (the INSERT's rowcount is not reliable across drivers; read back the holder)
            holder = conn.execute(sa.select(tbl_locks.c.owner).where(tbl_locks.c.name == name)).scalar()
            return holder == owner

    def release_lock(self, name: str, owner: str) -> bool:
        """Release the lock if ``owner`` holds it; returns whether it did."""
        with self._write() as conn:
            return bool(conn.execute(tbl_locks.delete().where(tbl_locks.c.name == name,
                                                          tbl_locks.c.owner == owner)).rowcount)

    def release_dead_lock(self, name: str) -> bool:
        """Release lock ``name`` if its holder was a process on this host that no longer runs.

        Owners that want this must be named ``"<host>:<pid>[:<anything>]"``.
        Returns True when a lock was released.
        """
        holder = self.lock_holder(name)
        if holder is None:
            return False
        host, _, rest = str(holder["owner"]).partition(":")
        pid = rest.split(":", 1)[0]
        if host != socket.gethostname() or not pid.isdigit() or _pid_alive(int(pid)):
            return False
        return self.release_lock(name, holder["owner"])

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """``{"name", "owner", "acquired_at", "expires_at"}`` of an unexpired lock, else None."""
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_locks).where(tbl_locks.c.name == name,
                                                      tbl_locks.c.expires_at > _utcnow())).first()
        if row is None:
            return None
        return {"name": row.name, "owner": row.owner, "acquired_at": _iso_instant(row.acquired_at),
                "expires_at": _iso_instant(row.expires_at)}

    # ---------------------------------------------------------------- bulk load

    _COUPLE_KEYS = frozenset({"id", "profile", "active", "created_at"})

    def bulk_load(self, couples: Sequence[dict[str, Any]], dates: pd.DataFrame, *,
                  replace: bool = False, source: str = "import", chunk_size: int = 50_000,
                  progress: bool = False) -> tuple[int, int]:
        """Load couples and their dates in ONE transaction: all of it or none of it.

        Every couple id in ``dates`` that is not in ``couples`` is created with
        an empty profile. Couples get no token (use :meth:`rotate_token`).

        Parameters
        ----------
        couples : sequence of dict
            ``{"id": str, "profile": dict (optional), "active": bool (optional),
            "created_at": datetime (optional)}``.
        dates : pandas.DataFrame
            A dates frame (see :func:`engine.domain.dates.as_dates_frame`; a ``rating``
            column is read as ``rating_a``); ``ctx_<name>`` columns become the
            date's context ``{"<name>": value}``. Rows are stored grouped by
            couple, in frame order within each couple (ids follow that order).
        replace : bool, default False
            If any of these couples already exists the load is refused
            (:class:`StoreError`, naming them). With ``replace=True`` those
            couples are erased (with all their rows) and loaded afresh, in the
            same transaction.
        source : str, default "import"
            Recorded on each couple (e.g. ``"demo"``).
        chunk_size : int, default 50000
            Rows per insert batch.
        progress : bool, default False
            Show a tqdm bar over the dates.

        Returns
        -------
        (n_couples, n_dates) : tuple of int
            Couples created (explicit + implied by dates) and dates stored.

        Raises
        ------
        ValidationError
            A bad couple or date row (its position is named), or duplicates.
        CouplesExistError
            Couples already exist and ``replace`` is False (a :class:`StoreError`).
        """
        couple_rows = self._check_couples(couples, source)
        frame, n_rows = self._check_dates(dates)
        # grouped by couple (frame order kept within a couple): index inserts become
        # sequential, which keeps multi-million-row loads linear
        frame = frame.sort_values("couple_id", kind="stable")
        known = {row["id"] for row in couple_rows}
        implied = [cid for cid in pd.unique(frame["couple_id"]) if cid not in known]
        now = _utcnow()
        couple_rows += [{"id": cid, "created_at": now, "profile": "{}", "active": True, "source": source}
                        for cid in implied]
        all_ids = [row["id"] for row in couple_rows]
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")

        with self._write() as conn:
            existing: list[str] = []
            for chunk in _chunks(all_ids):
                existing.extend(conn.execute(sa.select(tbl_couples.c.id).where(tbl_couples.c.id.in_(chunk))).scalars())
            if existing and not replace:
                raise CouplesExistError(existing)
            for chunk in _chunks(sorted(existing)):
                for table in _COUPLE_TABLES:
                    conn.execute(table.delete().where(table.c.couple_id.in_(chunk)))
                conn.execute(tbl_couples.delete().where(tbl_couples.c.id.in_(chunk)))
            self._copy_rows(conn, "couples", ("id", "created_at", "profile", "active", "source", "dates_stamp"),
                            [(r["id"], r["created_at"].strftime("%Y-%m-%d %H:%M:%S.%f"), r["profile"],
                              bool(r["active"]), r["source"], _new_stamp()) for r in couple_rows])
            with tqdm(total=n_rows, unit="date", desc="loading dates", disable=not progress) as bar:
                for start in range(0, n_rows, chunk_size):
                    part = frame.iloc[start:start + chunk_size]
                    self._insert_dates_chunk(conn, part, stamp)
                    bar.update(len(part))
        logger.info("bulk-loaded %d couples and %d dates", len(couple_rows), n_rows)
        return len(couple_rows), n_rows

    def _check_couples(self, items: Sequence[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        out, seen = [], set()
        now = _utcnow()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"couples[{i}]", f"must be a dict, got {type(item).__name__}")
            unknown = sorted(set(item) - self._COUPLE_KEYS)
            if unknown:
                raise ValidationError(f"couples[{i}].{unknown[0]}",
                                      f"unknown key(s) {unknown}; allowed: {sorted(self._COUPLE_KEYS)}")
            cid = _as_text(f"couples[{i}].id", item.get("id"), max_len=_ID_MAX)
            if cid in seen:
                raise ValidationError(f"couples[{i}].id", f"duplicate couple id {cid!r}")
            seen.add(cid)
            try:
                profile = _validate_profile(item.get("profile"))
            except ValidationError as exc:
                raise ValidationError(f"couples[{i}].{exc.field}", exc.message) from exc
            created = item.get("created_at")
            out.append({"id": cid, "profile": _dumps(profile), "active": bool(item.get("active", True)),
                        "created_at": now if created is None else _naive_utc(pd.Timestamp(created).to_pydatetime()),
                        "source": source})
        return out

    @staticmethod
    def _check_dates(raw: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        if not isinstance(raw, pd.DataFrame):
            raise ValidationError("dates", f"must be a pandas DataFrame, got {type(raw).__name__}")
        if "done_on" in raw.columns:  # before as_dates_frame: a day before 1677 overflows datetime64[ns]
            column = raw["done_on"].reset_index(drop=True)
            uniques = pd.unique(column)
            far = implausible_days(_plain_day(v) for v in uniques)
            if far:
                bad_raw = [v for v in uniques if _plain_day(v) in far]
                rows = np.flatnonzero(column.isin(bad_raw).to_numpy())
                raise ValidationError("dates", "bad rows (0-based positions in the frame), nothing was loaded: "
                                      + "; ".join(f"row {i}: {far[_plain_day(column.iat[i])]}" for i in rows[:10]))
        try:
            frame = as_dates_frame(raw)
        except ValueError as exc:
            raise ValidationError("dates", str(exc)) from exc
        raw = raw.reset_index(drop=True)
        if "rating_a" not in raw.columns and "rating" in raw.columns:
            raw = raw.rename(columns={"rating": "rating_a"})
        problems: list[str] = []
        for col in ("couple_id", "idea_id"):
            bad = raw[col].isna().to_numpy() | (raw[col].astype(str).str.strip() == "").to_numpy()
            bad |= (frame[col].str.len() > (_ID_MAX if col == "couple_id" else 200)).to_numpy()
            problems += [f"row {i}: {col} is empty or too long" for i in np.flatnonzero(bad)[:5]]
        if "done_on" in raw.columns:
            bad = raw["done_on"].notna().to_numpy() & frame["done_on"].isna().to_numpy()
            problems += [f"row {i}: done_on {raw['done_on'].iloc[i]!r} is not a date (YYYY-MM-DD)"
                         for i in np.flatnonzero(bad)[:5]]
        for col in ("rating_a", "rating_b"):
            if col in raw.columns:
                values = frame[col].to_numpy()
                bad = (raw[col].notna().to_numpy() & np.isnan(values)) | np.isinf(values)
                problems += [f"row {i}: {col} {raw[col].iloc[i]!r} is not a number"
                             for i in np.flatnonzero(bad)[:5]]
        if problems:
            raise ValidationError("dates", "bad rows (0-based positions in the frame), nothing was "
                                           "loaded: " + "; ".join(problems[:10]))
        return frame, len(frame)

    def _insert_dates_chunk(self, conn: Connection, part: pd.DataFrame, stamp: str) -> None:
        n = len(part)
        days = part["done_on"].dt.strftime("%Y-%m-%d")
        days = days.astype(object).where(part["done_on"].notna(), None).tolist()
        ratings = []
        for col in ("rating_a", "rating_b"):
            values = part[col].to_numpy(dtype=float)
            ratings.append(np.where(np.isnan(values), None, values.astype(object)).tolist())
        ctx_cols = [c for c in part.columns if c.startswith("ctx_")]
        if ctx_cols:
            ctx = (part[ctx_cols].rename(columns=lambda c: c[4:]).reset_index(drop=True)
                   .to_json(orient="records", lines=True, date_format="iso").splitlines())
        else:
            ctx = ["{}"] * n
        rows = list(zip(part["couple_id"].tolist(), part["idea_id"].tolist(), days,
                        ratings[0], ratings[1], [""] * n, ctx, [stamp] * n))
        self._copy_rows(conn, "dates", ("couple_id", "idea_id", "done_on", "rating_a", "rating_b",
                                        "note", "context", "created_at"), rows)

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

    def count_another(self, couple_id: str, today: _dt.date, request: str, limit: int | None = None) -> int | None:
        """Count one ``another`` request of the couple today; the request's new count, or None over ``limit``.

        Two primary-key upserts in one write transaction: the couple's total
        for the day (``request = ''``), incremented only while it is below
        ``limit``, then this request's own count, which is the offset the
        request moves on to. The counts live in the database, so the limit
        holds across workers and replicas; two concurrent requests get two
        different counts. A couple's counts of earlier days are deleted when
        its first ``another`` of a day is counted.

        Parameters
        ----------
        couple_id : str
        today : date
            The serving day.
        request : str
            The request's hash (:func:`engine.app.serving.request_key`), at most 200 characters.
        limit : int, optional
            ``another`` requests allowed per couple and day; None = no limit.

        Returns
        -------
        int or None
            This request's ``another`` count today (1 for the first), or None
            when the couple already made ``limit`` of them today (nothing is
            counted then).

        Raises
        ------
        UnknownCoupleError
            No such couple (erased meanwhile).
        """
        _as_text("request", request, max_len=_KEY_MAX)
        if limit is not None and limit < 1:
            return None
        mark, day = self._mark, self._day_param(today)
        upsert = (f"INSERT INTO tonight_counts (couple_id, day, request, n) VALUES ({mark}, {mark}, {mark}, 1) "
                  "ON CONFLICT (couple_id, day, request) DO UPDATE SET n = tonight_counts.n + 1")
        try:
            with self._raw_write(flush=False) as cursor:
                if limit is None:
                    cursor.execute(upsert + " RETURNING n", (couple_id, day, ""))
                else:
                    cursor.execute(upsert + f" WHERE tonight_counts.n < {mark} RETURNING n",
                                   (couple_id, day, "", int(limit)))
                total = cursor.fetchone()
                if total is None:  # the limit is reached: nothing written
                    return None
                if total[0] == 1:  # the couple's first today: forget earlier days
                    cursor.execute(f"DELETE FROM tonight_counts WHERE couple_id = {mark} AND day < {mark}",
                                   (couple_id, day))
                cursor.execute(upsert + " RETURNING n", (couple_id, day, request))
                return int(cursor.fetchone()[0])
        except self.engine.dialect.loaded_dbapi.IntegrityError as exc:
            raise UnknownCoupleError(couple_id) from exc

    def tonight_reads(self, couple_id: str, today: _dt.date, since: _dt.date, request: str) -> TonightReads:
        """Everything tonight's request reads, on one connection with a few indexed queries.

        The history comes from this store's cache of the last
        :data:`HISTORY_CACHE` couples when the couple's ``dates_stamp`` is
        the one it was read under (a date added since changes the stamp, so
        the next call reads the history again).

        Parameters
        ----------
        couple_id : str
        today : date
            The serving day.
        since : date
            Oldest serving day whose suggestions count as recent.
        request : str
            The request's hash (:func:`engine.app.serving.request_key`); its rows
            are logged under ``<request>:<n>``.

        Returns
        -------
        TonightReads
            ``history`` (the couple's dates, oldest first: insertion order),
            ``served_before`` (each idea served on a day in ``[since, today)``
            with the latest such day, as ``(idea_id, ISO day)``),
            ``another_today`` (``n``: the ``another`` requests counted today
            for this request by :meth:`count_another`, 0 if none) and
            ``latest_served`` (the list logged last today under
            ``<request>:<n>``, as ``(idea_id, rank, model_version)`` by rank;
            empty when there is none).

        Every query is a seek on an index whose leading columns it fixes:
        ``couples`` and ``tonight_counts`` by primary key, ``dates`` by
        ``ix_dates_couple``, ``suggestions`` by ``ix_suggestions_couple_day``
        and ``ix_suggestions_request``. So the cost does not grow with how
        many requests the couple made today (tests/test_store.py shows the
        plans; ``python -m bench abuse`` the latencies).
        """
        mark = self._mark
        if self.dialect == "postgresql":
            day = "done_on - DATE '1970-01-01'"
        else:
            day = "CAST(julianday(done_on) - 2440587.5 AS INTEGER)"
        with self._raw_cursor() as cursor:
            cursor.execute(f"SELECT dates_stamp, profile FROM couples WHERE id = {mark}", (couple_id,))
            found = cursor.fetchone()
            stamp = found[0] if found is not None else None
            history = self._histories.get(couple_id, stamp) if found is not None else None
            if history is None:
                # the profile never changes after the couple is created, and a re-load changes the stamp
                profile = _stated_profile(found[1]) if found is not None else NO_PROFILE
                cursor.execute(f"SELECT idea_id, {day}, rating_a, rating_b FROM dates WHERE couple_id = {mark} "
                               "ORDER BY id", (couple_id,))
                history = CoupleDates(couple_id, tuple(cursor.fetchall()), profile)  # DBAPI rows are tuples
                if found is not None:  # read after the stamp: at least as new as it says
                    self._histories.put(couple_id, stamp, history)
            cursor.execute(f"SELECT idea_id, MAX(served_on) FROM suggestions WHERE couple_id = {mark} "
                           f"AND served_on >= {mark} AND served_on < {mark} GROUP BY idea_id",
                           (couple_id, self._day_param(since), self._day_param(today)))
            before = [(idea, _iso_day(served)) for idea, served in cursor.fetchall()]
            cursor.execute(*self._another_query(couple_id, today, request))
            found = cursor.fetchone()
            another = int(found[0]) if found is not None else 0
            latest: list[tuple[str, int, str | None]] = []
            cursor.execute(*self._latest_query(couple_id, today, f"{request}:{another}"))
            for idea, rank, version in cursor.fetchall():  # newest first: ranks k .. 1 of the last list
                latest.append((idea, int(rank), version))
                if rank == 1:
                    break
            latest.reverse()
        return TonightReads(history, before, another, latest)

    def _another_query(self, couple_id: str, today: _dt.date, request: str) -> tuple[str, tuple]:
        """This request's ``another`` count today: one primary-key seek on ``tonight_counts``."""
        mark = self._mark
        return (f"SELECT n FROM tonight_counts WHERE couple_id = {mark} AND day = {mark} AND request = {mark}",
                (couple_id, self._day_param(today), request))

    def _latest_query(self, couple_id: str, today: _dt.date, key: str) -> tuple[str, tuple]:
        """The rows logged today under ``key``, newest first: a seek on ``ix_suggestions_request``."""
        mark = self._mark
        return (f"SELECT idea_id, rank, model_version FROM suggestions WHERE couple_id = {mark} "
                f"AND request_key = {mark} AND served_on = {mark} ORDER BY id DESC LIMIT {_LATEST_ROWS}",
                (couple_id, key, self._day_param(today)))
