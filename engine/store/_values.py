"""Conversions between Python values and stored ones, shared by the repositories (internal).

Dates and ratings given to the store are parsed here; the *rules* (which days
are plausible, which profiles allowed) are :mod:`engine.domain`'s:
:func:`engine.domain.dates.check_day` / :func:`~engine.domain.dates.implausible_days`
and :func:`engine.domain.profiles.check_profile`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import numbers
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..domain.dates import EARLIEST_DAY, LATEST_DATA_DAY, DayError, check_day, implausible_days
from ..domain.profiles import Profile, ProfileError, check_profile
from ..domain.profiles import from_record as stated_profile
from .errors import ValidationError
from .tables import PARTNERS

__all__: list[str] = []  # internal to engine.store

logger = logging.getLogger("engine.store")

_IN_CHUNK = 5_000  # ids per IN (...) list


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def _naive_utc(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
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



def _checked_profile(profile: Any) -> dict[str, Any]:
    """:func:`engine.domain.profiles.check_profile`, its refusal as the store's :class:`ValidationError`."""
    try:
        return check_profile(profile)
    except ProfileError as exc:
        raise ValidationError(exc.field, exc.message) from None


def _partner_column(partner: Any, what: str) -> str:
    """``partner_a_hash`` / ``rating_b`` ...: the column of one partner's ``what``; refuses other partners."""
    if partner not in PARTNERS:
        raise ValidationError("partner", f"must be 'a' or 'b', got {partner!r}")
    return f"partner_{partner}_hash" if what == "hash" else f"rating_{partner}"
