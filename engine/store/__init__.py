"""The database: couples, dates, suggestions, newsletter sends, training runs and locks.

SQLAlchemy Core (no ORM) over SQLite (the default, a file under ``var/``) or
PostgreSQL (``postgresql+psycopg://...``). :func:`open_store` returns a
:class:`Store`; :meth:`Store.migrate` creates or upgrades the schema.

Module map
----------
``handle``      the engine from a URL, transactions, and every SQLite/PostgreSQL difference
``tables``      the tables, declared once (the latest schema)
``migrations``  the numbered forward migrations, ``version()`` / ``migrate()``
``couples``     couples, tokens, web-session epochs
``dates``       dates (adding, completing), dates frames, profiles
``serving``     the suggestion log, tonight's reads, the ``another`` counts
``newsletter``  newsletter runs and sends
``training``    training runs and named locks
``bulk``        bulk loads (``COPY`` on PostgreSQL)
``practice``    conversation prompts shown and appreciation nudges
``mail``        partners' email addresses (confirmed, unsubscribed) and the newsletter's mail log
``facade``      :class:`Store` (all of the above over one handle) and :func:`open_store`
``errors``      :class:`StoreError` and its kinds; ``_values`` the shared value conversions

Profiles are checked by :func:`engine.domain.profiles.check_profile`, days by
:func:`engine.domain.dates.check_day`.

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
* **Migrations** are declarative steps (``CreateTable``, ``AddColumn``,
  ``CreateIndex``) in ``schema_steps.MIGRATIONS``, the one declaration of the
  schema: replayed, they build ``_META`` (the tables the queries use); applied
  in order in one transaction while holding a PostgreSQL advisory lock
  (SQLite: the ``BEGIN IMMEDIATE`` write lock), so two processes running
  ``migrate()`` at once do the work once. The version lives in the one-row ``schema_version``.
  Never edit a released migration (tests/test_store_migrations.py compares
  each version with a recording); append a new one and ``_META`` follows.
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

from ..domain.profiles import PROFILE_FIELDS
from .dates import DatesRead
from .errors import CouplesExistError, StoreError, UnknownCoupleError, ValidationError
from .facade import Store, open_store
from .handle import HISTORY_CACHE
from .marks import MARK_KINDS, NOT_FOR_US, SAVED
from .migrations import LATEST_VERSION
from .serving import TonightReads
from .tables import (
                     PARTNERS,
                     tbl_couples,
                     tbl_daily_mail,
                     tbl_dates,
                     tbl_email_addresses,
                     tbl_idea_marks,
                     tbl_locks,
                     tbl_newsletter_mail,
                     tbl_newsletter_runs,
                     tbl_newsletter_sends,
                     tbl_nudges_shown,
                     tbl_prompts_served,
                     tbl_rating_keys,
                     tbl_schema_version,
                     tbl_session_epochs,
                     tbl_suggestions,
                     tbl_tonight_counts,
                     tbl_training_runs,
)

__all__ = [
    "HISTORY_CACHE",
    "LATEST_VERSION",
    "MARK_KINDS",
    "NOT_FOR_US",
    "PARTNERS",
    "PROFILE_FIELDS",
    "SAVED",
    "CouplesExistError",
    "DatesRead",
    "Store",
    "StoreError",
    "TonightReads",
    "UnknownCoupleError",
    "ValidationError",
    "open_store",
    "tbl_couples",
    "tbl_daily_mail",
    "tbl_dates",
    "tbl_email_addresses",
    "tbl_idea_marks",
    "tbl_locks",
    "tbl_newsletter_mail",
    "tbl_newsletter_runs",
    "tbl_newsletter_sends",
    "tbl_nudges_shown",
    "tbl_prompts_served",
    "tbl_rating_keys",
    "tbl_schema_version",
    "tbl_session_epochs",
    "tbl_suggestions",
    "tbl_tonight_counts",
    "tbl_training_runs",
]
# ``_META`` (every table's metadata) stays importable for tests/test_store.py's schema check.
