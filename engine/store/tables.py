"""The tables every query of the store uses: the latest schema, replayed from the migrations' steps.

:mod:`engine.store.schema_steps` declares the schema once, as the released
migrations' ops; :data:`_META` is all of them replayed onto one
:class:`sqlalchemy.MetaData` (plus ``schema_version``, which ``migrate``
keeps itself), and the ``tbl_*`` names are its tables. To change the schema,
append a migration there: these names follow. tests/test_store.py checks that
a migrated database matches :data:`_META`.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema_steps import _ID_MAX as _ID_MAX  # couple ids (re-exported: the repositories validate with them)
from .schema_steps import _KEY_MAX as _KEY_MAX  # idempotency and request keys
from .schema_steps import _Id as _Id  # row ids
from .schema_steps import schema

__all__ = ["PARTNERS", "tbl_couples", "tbl_dates", "tbl_email_addresses", "tbl_idea_marks", "tbl_locks",
           "tbl_daily_mail", "tbl_newsletter_mail",
           "tbl_newsletter_runs", "tbl_newsletter_sends",
           "tbl_nudges_shown", "tbl_prompts_served", "tbl_rating_keys", "tbl_schema_version", "tbl_session_epochs",
           "tbl_suggestions", "tbl_tonight_counts", "tbl_training_runs"]

_META = schema()

tbl_schema_version = sa.Table(  # the one row holding the schema version (made by migrate, not by a migration)
    "schema_version", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

tbl_couples = _META.tables["couples"]
tbl_dates = _META.tables["dates"]
tbl_suggestions = _META.tables["suggestions"]
tbl_newsletter_runs = _META.tables["newsletter_runs"]
tbl_newsletter_sends = _META.tables["newsletter_sends"]
tbl_training_runs = _META.tables["training_runs"]
tbl_locks = _META.tables["locks"]
tbl_session_epochs = _META.tables["session_epochs"]  # bumping a row ends a couple's or a partner's web sessions
tbl_tonight_counts = _META.tables["tonight_counts"]
tbl_rating_keys = _META.tables["rating_keys"]
tbl_prompts_served = _META.tables["prompts_served"]  # engine.store.practice
tbl_nudges_shown = _META.tables["nudges_shown"]  # engine.store.practice
tbl_email_addresses = _META.tables["email_addresses"]  # engine.store.mail
tbl_newsletter_mail = _META.tables["newsletter_mail"]  # engine.store.mail: a week's email to an address
tbl_daily_mail = _META.tables["daily_mail"]  # engine.store.daily_mail: a day's nudge email to an address
tbl_idea_marks = _META.tables["idea_marks"]  # engine.store.marks

#: Tables holding rows about one couple (erasure deletes from each).
_COUPLE_TABLES = (tbl_suggestions, tbl_newsletter_sends, tbl_newsletter_mail, tbl_daily_mail, tbl_email_addresses,
                  tbl_tonight_counts,
                  tbl_rating_keys, tbl_prompts_served, tbl_nudges_shown, tbl_idea_marks, tbl_dates, tbl_session_epochs)

#: the partners of a couple, and the column of each one's rating and token
PARTNERS = ("a", "b")
