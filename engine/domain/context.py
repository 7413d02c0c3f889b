"""Tonight's context: what the evening allows, validated once for every caller.

The service's query string, the CLI's options and the newsletter's "weekend
evening" all become a :class:`Context` through :func:`parse_context`, so a bad
value gets the same message everywhere.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "BAD_WEATHER",
    "SEASONS",
    "SETTINGS",
    "TIMES_OF_DAY",
    "TONIGHT",
    "WEATHERS",
    "WEEKDAYS",
    "Context",
    "ContextError",
    "parse_context",
    "season_of",
]

SETTINGS = ("home", "out")
#: the documented weather values; the last three spoil weather-dependent ideas
WEATHERS = ("clear", "cloudy", "hot", "cold", "rain", "snow", "storm")
BAD_WEATHER = frozenset({"rain", "snow", "storm"})
SEASONS = ("spring", "summer", "autumn", "winter")
#: the values of the ``weekday`` context, Monday first (``WEEKDAYS[day.weekday()]``)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: the values of an idea's ``time_of_day`` and of the ``time_of_day`` parameter
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
#: what "tonight" means when the request does not say: evening or night
TONIGHT = ("evening", "night")
_FIELDS = ("budget", "minutes", "setting", "weather", "kids", "k", "season", "day", "another", "time_of_day")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ContextError(ValueError):
    """A context value is not allowed; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def season_of(day: _dt.date) -> str:
    """Meteorological season of ``day`` in the northern hemisphere."""
    return SEASONS[((day.month % 12) // 3 + 3) % 4]


@dataclass(frozen=True)
class Context:
    """Hard constraints and situation for one suggestion.

    Attributes
    ----------
    budget : int or None
        Highest cost tier allowed, 0 (free) to 3 (splurge); None = any.
    minutes : int or None
        Time available, 15-1440; ideas longer than this are excluded.
    setting : {"home", "out"} or None
        ``home`` allows only home ideas; ``out`` allows out and away ideas.
    weather : str or None
        One of :data:`WEATHERS`; rain, snow or storm excludes weather-dependent ideas.
    kids : bool or None
        Kids come along: only kid-friendly ideas. None = the request did not
        say (a couple whose profile says it has kids then gets kid-friendly
        ideas, :func:`engine.domain.constraints.with_profile`).
    season : str
        One of :data:`SEASONS`; ideas must list it. Default: from ``day``.
    day : datetime.date
        The evening in question (default today).
    time_of_day : tuple of str or None
        Times of day allowed (values of :data:`TIMES_OF_DAY`); an idea must
        work at one of them. None = any time (the newsletter's weekend picks);
        :func:`parse_context` gives tonight's requests :data:`TONIGHT` unless
        they say ``time_of_day``.
    """

    budget: int | None = None
    minutes: int | None = None
    setting: str | None = None
    weather: str | None = None
    kids: bool | None = None
    season: str | None = None
    day: _dt.date | None = None
    time_of_day: tuple[str, ...] | None = None
    #: only ideas without a stated access barrier (a couple's stated accessibility needs)
    accessible: bool = False
    #: the highest physical-intimacy level of idea allowed (:data:`engine.domain.profiles.INTIMACY_LEVELS`);
    #: None = the couple's own stated level (``affection`` when unknown). Never from a request: set from the
    #: couple's profile (:func:`engine.domain.constraints.with_profile`)
    intimacy: str | None = None

    def resolved(self) -> Context:
        """A copy with ``day`` and ``season`` filled in (itself when both are set: it is immutable)."""
        if self.day is not None and self.season is not None:
            return self
        day = self.day or _dt.date.today()
        return replace(self, day=day, season=self.season or season_of(day))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (day as ISO string)."""
        ctx = self.resolved()
        return {"budget": ctx.budget, "minutes": ctx.minutes, "setting": ctx.setting, "weather": ctx.weather,
                "kids": bool(ctx.kids), "season": ctx.season, "day": ctx.day.isoformat(),
                "time_of_day": None if ctx.time_of_day is None else list(ctx.time_of_day),
                "accessible": ctx.accessible, "intimacy": ctx.intimacy}


def _int(field: str, raw: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(raw, bool):
        raise ContextError(field, f"{field} must be an integer from {lo} to {hi} ({what}), got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ContextError(field, f"{field} must be an integer from {lo} to {hi} ({what}), got {raw!r}") from None
    if not lo <= value <= hi:
        raise ContextError(field, f"{field} must be an integer from {lo} to {hi} ({what}), got {value}")
    return value


def _bool(field: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    low = str(raw).strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ContextError(field, f"{field} must be true or false, got {raw!r}")


#: the context keys whose value is one of a fixed list, and that list
_CHOICES = {"setting": SETTINGS, "weather": WEATHERS, "season": SEASONS, "time_of_day": TIMES_OF_DAY}


def parse_context(params: Mapping[str, Any], *, allowed: tuple[str, ...] = _FIELDS,
                  max_k: int = 10) -> tuple[Context, dict[str, Any]]:
    """Validate raw parameters into a :class:`Context`.

    Parameters
    ----------
    params : mapping
        Raw values (strings from a query string, or Python values). Keys:
        ``budget`` (0-3), ``minutes`` (15-1440), ``setting`` (home|out),
        ``weather`` (one of :data:`WEATHERS`), ``kids`` (true|false),
        ``season``, ``day`` (YYYY-MM-DD), ``k`` (1-``max_k``), ``another``
        (true|false), ``time_of_day`` (morning|afternoon|evening|night;
        default: evening or night, :data:`TONIGHT`). ``params`` is not modified.
    allowed : tuple of str
        Keys accepted; any other key raises :class:`ContextError`.

    Returns
    -------
    context : Context
    options : dict
        ``{"k": int, "another": bool}``, the non-context options (defaults 3, False).

    Raises
    ------
    ContextError
        Naming the field and what is allowed.
    """
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ContextError(unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {', '.join(allowed)}")
    values: dict[str, Any] = {}
    options: dict[str, Any] = {"k": 3, "another": False}
    values["time_of_day"] = TONIGHT
    for key, raw in params.items():
        if raw is None:
            continue
        if key == "budget":
            values[key] = _int(key, raw, 0, 3, "0 free ... 3 splurge")
        elif key == "minutes":
            values[key] = _int(key, raw, 15, 1440, "time available tonight")
        elif key == "k":
            options["k"] = _int(key, raw, 1, max_k, "number of ideas")
        elif key == "another":
            options["another"] = _bool(key, raw)
        elif key == "kids":
            values[key] = _bool(key, raw)
        elif key in _CHOICES:
            allowed = _CHOICES[key]
            if raw not in allowed:
                raise ContextError(key, f"{key} must be one of {', '.join(allowed)}, got {raw!r}")
            values[key] = (raw,) if key == "time_of_day" else raw
        elif key == "day":
            if isinstance(raw, _dt.date):
                values[key] = raw
            else:
                try:
                    values[key] = _dt.date.fromisoformat(str(raw))
                except ValueError:
                    raise ContextError(key, f"day must be a date as YYYY-MM-DD, got {raw!r}") from None
    return Context(**values), options
