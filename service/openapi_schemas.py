"""The OpenAPI 3.0 document's schemas (``components.schemas``): what the service's bodies look like.

:func:`schemas` gives them to :func:`service.openapi.openapi_document`, which adds the paths;
:func:`ref` points at one of them.
"""

from __future__ import annotations

from typing import Any

from engine.app import NOTE_MAX
from engine.domain.context import SEASONS, SETTINGS, TIMES_OF_DAY, WEATHERS
from engine.domain.profiles import INTIMACY_LEVELS, NAME_MAX

__all__ = ["ref", "schemas"]

#: a partner's optional newsletter address (engine.domain.emails.check_email decides)
_EMAIL = {"type": "string", "nullable": True, "maxLength": 254, "example": "sam@example.org",
          "description": "optional: this partner's address for the weekly newsletter, confirmed by a link "
                         "sent to it; letters, digits and .!#$%&'*+/=?^_`{|}~- before the @, a domain with a dot"}
#: the couple's addresses after a create or change
_EMAILS = {"type": "object", "description": "per partner with an address (a, b): address, confirmed, subscribed, "
                                            "daily, confirmation_sent (a link was sent by this request)",
           "additionalProperties": {"type": "object"}}
#: a partner's opt-in to the daily nudge email (needs their address)
_DAILY = {"type": "boolean", "default": False,
          "description": "optional: also email this partner their Today nudge every day (needs their email; "
                         "sent once it is confirmed; the email's own link stops it)"}
_NULLABLE_INT = {"type": "integer", "nullable": True}


def ref(name: str) -> dict[str, str]:
    """A reference to the schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _date_fields(done_on: str, ratings: str) -> dict[str, Any]:
    """The fields of a date sent in (a new one, or a change), with what ``done_on`` and ``ratings`` accept."""
    rating_in = {"type": "integer", "minimum": 1, "maximum": 5, "nullable": True}
    return {"idea_id": {"type": "string", "description": "an id from GET /v1/ideas"},
            "done_on": {"type": "string", "format": "date", "description": done_on},
            "ratings": {"type": "object", "additionalProperties": False, "description": ratings,
                        "properties": {"a": rating_in, "b": rating_in}},
            "note": {"type": "string", "maxLength": NOTE_MAX}}


def schemas() -> dict[str, Any]:
    """Every schema of the document, by name."""
    return {**_schemas(), **_practice_schemas()}


def _schemas() -> dict[str, Any]:
    rating_out = {"type": "number", "nullable": True}
    return {
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {
                "type": "object", "required": ["code", "message"], "additionalProperties": False,
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "field": {"type": "string"}}}},
        },
        "Profile": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "budget_ceiling": {"type": "integer", "minimum": 0, "maximum": 3, "nullable": True,
                                   "description": "the cost tier (0 free ... 3 splurge) the couple usually "
                                                  "spends up to; ideas above it are ranked lower (tonight's "
                                                  "budget parameter is the hard limit)"},
                "kids": {"type": "boolean", "nullable": True},
                "accessibility_needs": {"type": "string", "nullable": True},
                "interests": {"type": "array", "items": {"type": "string"}, "nullable": True,
                              "description": "labels such as 'wellness' or 'music-and-dance', matched "
                                             "(ignoring case) against the ideas' categories, pillars and "
                                             "other attribute values; they shape the suggestions"},
                "home": {"type": "string", "nullable": True,
                         "pattern": r"^\s*-?[0-9.]+\s*,\s*-?[0-9.]+\s*$",
                         "example": "22.1498,-100.9792",
                         "description": "where the couple lives, 'latitude,longitude' in decimal degrees "
                                        "(latitude -90..90, longitude -180..180); ideas with a place "
                                        "are ranked by how far they are"},
                "intimacy": {"type": "string", "enum": list(INTIMACY_LEVELS), "nullable": True,
                             "description": "physical intimacy the couple opted into, chosen together: "
                                            "affection only (the default), romantic or sensual; no idea "
                                            "above it is ever suggested"},
                "name_a": {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "nullable": True,
                           "description": "partner A's first name, what the pages call them (default "
                                          "'Partner A'); never used for ranking"},
                "name_b": {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "nullable": True,
                           "description": "partner B's first name (default 'Partner B')"},
            },
        },
        "CoupleChange": {"type": "object", "additionalProperties": False, "minProperties": 1,
                         "properties": {"profile": ref("Profile"), "email_a": _EMAIL, "email_b": _EMAIL,
                                        "daily_a": _DAILY, "daily_b": _DAILY}},
        "CoupleProfile": {"type": "object", "required": ["id", "profile", "emails"], "additionalProperties": False,
                          "properties": {"id": {"type": "string"}, "profile": {"type": "object"},
                                         "emails": _EMAILS}},
        "NewCouple": {"type": "object", "additionalProperties": False,
                      "properties": {"profile": ref("Profile"), "email_a": _EMAIL, "email_b": _EMAIL,
                                     "daily_a": _DAILY, "daily_b": _DAILY}},
        "CoupleCreated": {
            "type": "object", "required": ["id", "token", "profile", "created_at", "emails"],
            "additionalProperties": False,
            "properties": {"id": {"type": "string"}, "token": {"type": "string", "description": "shown once"},
                           "profile": {"type": "object"}, "created_at": {"type": "string"},
                           "emails": _EMAILS},
        },
        "Suggestion": {
            "type": "object", "additionalProperties": False,
            "required": ["idea_id", "title", "rank", "score", "enjoyment", "routine_distance", "reasons",
                         "cold_start"],
            "properties": {
                "idea_id": {"type": "string"}, "title": {"type": "string"},
                "rank": {"type": "integer", "minimum": 1},
                "score": {"type": "number", "description": "the ranking score at this place: enjoyment "
                                                           "relative to the couple's best, less repeat "
                                                           "penalties; the alternatives' also reward "
                                                           "breaking the routine"},
                "enjoyment": {"type": "number", "description": "predicted chance the couple rates it highly"},
                "routine_distance": {"type": "number", "description": "0 = their usual, 1 = far from it"},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "cold_start": {"type": "boolean", "description": "true: no history yet, priors only"},
                "prompt": ref("Prompt"),
            },
        },
        "Context": {
            "type": "object", "additionalProperties": False,
            "required": ["budget", "minutes", "setting", "weather", "kids", "season", "day"],
            "properties": {
                "budget": _NULLABLE_INT, "minutes": _NULLABLE_INT,
                "setting": {"type": "string", "enum": list(SETTINGS), "nullable": True},
                "weather": {"type": "string", "enum": list(WEATHERS), "nullable": True},
                "kids": {"type": "boolean"}, "season": {"type": "string", "enum": list(SEASONS)},
                "day": {"type": "string", "format": "date"},
                "time_of_day": {"type": "array", "nullable": True,
                                "items": {"type": "string", "enum": list(TIMES_OF_DAY)},
                                "description": "times of day allowed; null = any"},
                "accessible": {"type": "boolean",
                               "description": "the couple stated accessibility needs: no idea with a stated barrier"},
                "intimacy": {"type": "string", "enum": list(INTIMACY_LEVELS), "nullable": True,
                             "description": "the couple's intimacy level: no idea above it"},
            },
        },
        "Tonight": {
            "type": "object", "additionalProperties": False,
            "required": ["suggestion", "alternatives", "context", "model_version", "cold_start"],
            "properties": {
                "suggestion": {"allOf": [ref("Suggestion")], "nullable": True,
                               "description": "null when no idea fits tonight's constraints"},
                "alternatives": {"type": "array", "items": ref("Suggestion")},
                "context": ref("Context"), "model_version": {"type": "string"},
                "cold_start": {"type": "boolean"},
            },
        },
        "NewDate": {"type": "object", "additionalProperties": False, "required": ["idea_id", "ratings"],
                    "properties": _date_fields("a day from 1900-01-01 to tomorrow; default today",
                                               "one rating per partner; at least one")},
        "DateChange": {"type": "object", "additionalProperties": False,
                       "description": "some fields of a date to change; the date they make is checked as a new "
                                      "one is",
                       "properties": _date_fields("a day from 1900-01-01 to tomorrow",
                                                  "only the partners named change; null removes a rating, "
                                                  "one stays")},
        "Date": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "idea_id", "done_on", "ratings", "hidden", "note", "context", "created_at"],
            "properties": {
                "id": {"type": "integer"}, "idea_id": {"type": "string"},
                "done_on": {"type": "string", "format": "date", "nullable": True},
                "ratings": {"type": "object", "required": ["a", "b"], "additionalProperties": False,
                            "properties": {"a": rating_out, "b": rating_out}},
                "hidden": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]},
                           "description": "with a partner's token: the other partner's rating, shown as null "
                                          "until this partner has rated the date too"},
                "note": {"type": "string"}, "context": {"type": "object"}, "created_at": {"type": "string"},
                "completed": {"type": "boolean",
                              "description": "POST only, true when the rating completed a date the other partner "
                                             "rated first (same idea and day) instead of recording a new one"},
            },
        },
        "PartnerToken": {
            "type": "object", "required": ["couple_id", "partner", "token"], "additionalProperties": False,
            "properties": {"couple_id": {"type": "string"}, "partner": {"type": "string", "enum": ["a", "b"]},
                           "token": {"type": "string", "description": "shown once; replaces the partner's "
                                                                      "previous token"}},
        },
        "Dates": {"type": "object", "required": ["dates"], "additionalProperties": False,
                  "properties": {"dates": {"type": "array", "items": ref("Date")}}},
        "Idea": {
            "type": "object", "required": ["id", "title", "description"], "additionalProperties": True,
            "description": "id, title, description, then one key per catalog attribute (see data/schema.json)",
            "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                           "description": {"type": "string"}},
        },
        "IdeaPage": {
            "type": "object", "required": ["ideas", "total", "limit", "offset"], "additionalProperties": False,
            "properties": {"ideas": {"type": "array", "items": ref("Idea")}, "total": {"type": "integer"},
                           "limit": {"type": "integer"}, "offset": {"type": "integer"}},
        },
        "TrainStarted": {
            "type": "object", "required": ["status", "pid", "models"], "additionalProperties": False,
            "properties": {"status": {"type": "string", "enum": ["started"]}, "pid": {"type": "integer"},
                           "models": {"type": "string"}},
        },
        "TrainingRun": {
            "type": "object", "additionalProperties": True,
            "required": ["id", "status", "started_at"],
            "properties": {"id": {"type": "integer"},
                           "status": {"type": "string", "enum": ["running", "succeeded", "failed"]},
                           "started_at": {"type": "string"}, "finished_at": {"type": "string", "nullable": True},
                           "seconds": {"type": "number", "nullable": True},
                           "version": {"type": "string", "nullable": True}, "promoted": {"type": "boolean"},
                           "error": {"type": "string", "nullable": True}}},
        "Models": {
            "type": "object", "required": ["live", "serving", "versions", "training"], "additionalProperties": False,
            "properties": {
                "live": {"type": "string", "nullable": True, "description": "the registry's live version"},
                "pinned": {"type": "string", "nullable": True,
                           "description": "the pinned version (a rollback pins): trainings do not promote past it"},
                "serving": {"type": "string", "nullable": True, "description": "what the answering worker serves"},
                "versions": {"type": "array", "items": {
                    "type": "object", "required": ["version", "live"],
                    "properties": {"version": {"type": "string"}, "created": {"type": "string", "nullable": True},
                                   "metrics": {"type": "object", "nullable": True},
                                   "data": {"type": "object", "nullable": True}, "live": {"type": "boolean"},
                                   "pinned": {"type": "boolean"},
                                   "gate": {"type": "object", "nullable": True,
                                            "description": "the promotion gate's checks, figures and verdict"}}}},
                "training": {"type": "object", "required": ["running", "last_failure", "runs"],
                             "properties": {
                                 "running": {"allOf": [ref("TrainingRun")], "nullable": True},
                                 "last_failure": {"allOf": [ref("TrainingRun")], "nullable": True},
                                 "runs": {"type": "array", "items": ref("TrainingRun")},
                                 "queued": {"type": "object", "nullable": True,
                                            "description": "the pending automatic retraining request (one at most)"}}},
            },
        },
    }


def _practice_schemas() -> dict[str, Any]:
    """Prompts (questions that deepen) and Today (daily appreciation)."""
    streak = {"type": "object", "required": ["days", "total", "text"], "additionalProperties": False,
              "properties": {"days": {"type": "integer", "minimum": 0,
                                      "description": "days in a row done, up to today (or yesterday)"},
                             "total": {"type": "integer", "minimum": 0},
                             "text": {"type": "string", "description": "the streak in kind words"}}}
    nudge = {"type": "object", "required": ["id", "text", "kind", "done", "streak"], "additionalProperties": False,
             "properties": {"id": {"type": "string"}, "text": {"type": "string"},
                            "kind": {"type": "string", "enum": ["appreciation", "gesture"]},
                            "done": {"type": "boolean"}, "streak": streak}}
    state = {"depth": {"type": "integer", "minimum": 1, "maximum": 3,
                       "description": "the depth of the next prompts (1 light ... 3 deep)"},
             "talked": {"type": "integer", "minimum": 0}, "skipped": {"type": "integer", "minimum": 0}}
    return {
        "Prompt": {
            "type": "object", "required": ["id", "text", "depth", "pillar"], "additionalProperties": False,
            "description": "something to talk about on the date, fitting the idea and the couple's depth; "
                           "never repeated within 12 weeks",
            "properties": {"id": {"type": "string"}, "text": {"type": "string"},
                           "depth": {"type": "integer", "minimum": 1, "maximum": 3},
                           "pillar": {"type": "string",
                                      "enum": ["vulnerability", "appreciation", "physical-intimacy", "novelty"]}},
        },
        "PromptState": {"type": "object", "required": ["depth", "talked", "skipped"], "additionalProperties": False,
                        "properties": state},
        "PromptMarked": {"type": "object", "required": ["prompt_id", "status", "depth", "talked", "skipped"],
                         "additionalProperties": False,
                         "properties": {"prompt_id": {"type": "string"},
                                        "status": {"type": "string", "enum": ["talked", "skipped"]}, **state}},
        "Today": {"type": "object", "required": ["day", "partners"], "additionalProperties": False,
                  "properties": {"day": {"type": "string", "format": "date"},
                                 "partners": {"type": "object", "required": ["a", "b"], "additionalProperties": False,
                                              "properties": {"a": nudge, "b": nudge}}}},
    }
