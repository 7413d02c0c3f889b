"""The tables, declared once: what every query of the store uses (the latest schema).

The migrations (:mod:`engine.store.migrations`) build this schema step by step;
tests/test_store.py checks that a migrated database matches :data:`_META`.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["PARTNERS", "tbl_couples", "tbl_dates", "tbl_email_addresses", "tbl_idea_marks", "tbl_locks",
           "tbl_daily_mail", "tbl_newsletter_mail",
           "tbl_newsletter_runs", "tbl_newsletter_sends",
           "tbl_nudges_shown", "tbl_prompts_served", "tbl_rating_keys", "tbl_schema_version", "tbl_session_epochs",
           "tbl_suggestions", "tbl_tonight_counts", "tbl_training_runs"]

_ID_MAX = 64  # couple ids
_KEY_MAX = 200  # idempotency and request keys

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

_META = sa.MetaData()


def _row_id() -> sa.Column:
    """``id``: a table's own key, numbered by the database."""
    return sa.Column("id", _Id, primary_key=True, autoincrement=True)


def _couple_id(**kw) -> sa.Column:
    """``couple_id``: the couple a row is about, deleted with it; ``kw``: ``primary_key`` or ``nullable``."""
    return sa.Column("couple_id", sa.String(_ID_MAX), sa.ForeignKey("couples.id", ondelete="CASCADE"), **kw)


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
    _row_id(),
    _couple_id(nullable=False),
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
    _row_id(),
    _couple_id(nullable=False),
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
    _row_id(),
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
    _row_id(),
    sa.Column("run_id", _Id, sa.ForeignKey("newsletter_runs.id"), nullable=False),
    sa.Column("week", sa.Date, nullable=False),
    _couple_id(nullable=False),
    sa.Column("idea_id", sa.String(200), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)

tbl_training_runs = sa.Table(
    "training_runs", _META,
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
    _couple_id(primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("request", sa.String(_KEY_MAX), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)

tbl_rating_keys = sa.Table(
    "rating_keys", _META,
    _couple_id(primary_key=True),
    sa.Column("idempotency_key", sa.String(_KEY_MAX), primary_key=True),
    sa.Column("date_id", _Id, sa.ForeignKey("dates.id", ondelete="CASCADE"), nullable=False),
)

tbl_prompts_served = sa.Table(  # engine.store.practice: a conversation prompt shown with an idea
    "prompts_served", _META,
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

tbl_nudges_shown = sa.Table(  # engine.store.practice: a partner's appreciation nudge of the day
    "nudges_shown", _META,
    _couple_id(primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("partner", sa.String(1), primary_key=True),
    sa.Column("nudge_id", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("shown_at", sa.DateTime, nullable=False),
    sa.Column("done_at", sa.DateTime),
)

tbl_email_addresses = sa.Table(  # engine.store.mail: a partner's address for the newsletter
    "email_addresses", _META,
    _couple_id(primary_key=True),
    sa.Column("partner", sa.String(1), primary_key=True),
    sa.Column("address", sa.String(254), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("confirmed_at", sa.DateTime),
    sa.Column("unsubscribed_at", sa.DateTime),
    sa.Column("daily", sa.Boolean, nullable=False, server_default=sa.false()),  # opted in to the daily nudge email
)

tbl_newsletter_mail = sa.Table(  # engine.store.mail: one week's email to one address (claimed, then sent)
    "newsletter_mail", _META,
    _row_id(),
    sa.Column("run_id", _Id, sa.ForeignKey("newsletter_runs.id"), nullable=False),
    sa.Column("week", sa.Date, nullable=False),
    _couple_id(nullable=False),
    sa.Column("partner", sa.String(1), nullable=False),
    sa.Column("address", sa.String(254), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("message_id", sa.String(255)),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("week", "couple_id", "address", name="uq_newsletter_mail_week_couple_address"),
)

tbl_daily_mail = sa.Table(  # engine.store.daily_mail: one day's nudge email to one address (claimed, then sent)
    "daily_mail", _META,
    _row_id(),
    sa.Column("day", sa.Date, nullable=False),
    _couple_id(nullable=False),
    sa.Column("partner", sa.String(1), nullable=False),
    sa.Column("address", sa.String(254), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("message_id", sa.String(255)),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("day", "couple_id", "address", name="uq_daily_mail_day_couple_address"),
)

tbl_idea_marks = sa.Table(  # engine.store.marks: "not for us" and "saved for later", one row per couple, kind, idea
    "idea_marks", _META,
    _couple_id(primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("idea_id", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

#: Tables holding rows about one couple (erasure deletes from each).
_COUPLE_TABLES = (tbl_suggestions, tbl_newsletter_sends, tbl_newsletter_mail, tbl_daily_mail, tbl_email_addresses,
                  tbl_tonight_counts,
                  tbl_rating_keys, tbl_prompts_served, tbl_nudges_shown, tbl_idea_marks, tbl_dates, tbl_session_epochs)

#: the partners of a couple, and the column of each one's rating and token
PARTNERS = ("a", "b")
