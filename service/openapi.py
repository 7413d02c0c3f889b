"""The OpenAPI 3.0 document of the service (served at ``/openapi.json``).

Written by hand next to the views; ``tests/test_service_openapi.py`` checks
every Flask route is documented and fuzzes the document against the app.
"""

from __future__ import annotations

from typing import Any

from engine.app import NOTE_MAX
from engine.domain.context import SEASONS, SETTINGS, TIMES_OF_DAY, WEATHERS
from engine.domain.profiles import INTIMACY_LEVELS, NAME_MAX

__all__ = ["openapi_document"]


#: a partner's optional newsletter address (engine.domain.emails.check_email decides)
_EMAIL = {"type": "string", "nullable": True, "maxLength": 254, "example": "sam@example.org",
          "description": "optional: this partner's address for the weekly newsletter, confirmed by a link "
                         "sent to it; letters, digits and .!#$%&'*+/=?^_`{|}~- before the @, a domain with a dot"}
#: a partner's opt-in to the daily nudge email (needs their address)
_DAILY = {"type": "boolean", "default": False,
          "description": "optional: also email this partner their Today nudge every day (needs their email; "
                         "sent once it is confirmed; the email's own link stops it)"}

def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Invalid input; `error.field` names it and the message says what is allowed",
        401: "Missing bearer token",
        403: "Wrong bearer token, or admin routes disabled",
        404: "Not found (also: wrong or missing couple token; no enumeration)",
        409: "Conflict",
        413: "Body over 64 KiB",
        415: "Body is not application/json",
        422: "Idempotency-Key reused with a different body",
        429: "Too many requests (a rate limit, docs/service.md, or for `another` the couple's daily limit); "
             "wait Retry-After seconds",
        503: "Not ready: database unavailable or without its schema, or no model loaded",
    }
    responses = {str(s): _json(_ref("Error"), text[s]) for s in statuses}
    if 429 in statuses:
        responses["429"]["headers"] = {"Retry-After": {"description": "seconds to wait", "required": True,
                                                       "schema": {"type": "integer", "minimum": 1}}}
    return responses


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_COUPLE_ID = {"name": "couple_id", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
_COUPLE_AUTH = [{"coupleToken": []}]
_ADMIN_AUTH = [{"adminToken": []}]
_NULLABLE_INT = {"type": "integer", "nullable": True}


def _schemas() -> dict[str, Any]:
    rating_in = {"type": "integer", "minimum": 1, "maximum": 5, "nullable": True}
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
        "ProfileChange": {"type": "object", "additionalProperties": False, "required": ["profile"],
                          "properties": {"profile": _ref("Profile")}},
        "CoupleProfile": {"type": "object", "required": ["id", "profile"], "additionalProperties": False,
                          "properties": {"id": {"type": "string"}, "profile": {"type": "object"}}},
        "NewCouple": {"type": "object", "additionalProperties": False,
                      "properties": {"profile": _ref("Profile"), "email_a": _EMAIL, "email_b": _EMAIL,
                                     "daily_a": _DAILY, "daily_b": _DAILY}},
        "CoupleCreated": {
            "type": "object", "required": ["id", "token", "profile", "created_at", "emails"],
            "additionalProperties": False,
            "properties": {"id": {"type": "string"}, "token": {"type": "string", "description": "shown once"},
                           "profile": {"type": "object"}, "created_at": {"type": "string"},
                           "emails": {"type": "object", "description": "per partner given an address (a, b): "
                                      "address, confirmed, subscribed, confirmation_sent, daily",
                                      "additionalProperties": {"type": "object"}}},
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
                "prompt": _ref("Prompt"),
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
                "suggestion": {"allOf": [_ref("Suggestion")], "nullable": True,
                               "description": "null when no idea fits tonight's constraints"},
                "alternatives": {"type": "array", "items": _ref("Suggestion")},
                "context": _ref("Context"), "model_version": {"type": "string"},
                "cold_start": {"type": "boolean"},
            },
        },
        "NewDate": {
            "type": "object", "additionalProperties": False, "required": ["idea_id", "ratings"],
            "properties": {
                "idea_id": {"type": "string", "description": "an id from GET /v1/ideas"},
                "done_on": {"type": "string", "format": "date",
                            "description": "a day from 1900-01-01 to tomorrow; default today"},
                "ratings": {"type": "object", "additionalProperties": False,
                            "description": "one rating per partner; at least one",
                            "properties": {"a": rating_in, "b": rating_in}},
                "note": {"type": "string", "maxLength": NOTE_MAX},
            },
        },
        "DateChange": {
            "type": "object", "additionalProperties": False,
            "description": "some fields of a date to change; the date they make is checked as a new one is",
            "properties": {
                "idea_id": {"type": "string", "description": "an id from GET /v1/ideas"},
                "done_on": {"type": "string", "format": "date", "description": "a day from 1900-01-01 to tomorrow"},
                "ratings": {"type": "object", "additionalProperties": False,
                            "description": "only the partners named change; null removes a rating, one stays",
                            "properties": {"a": rating_in, "b": rating_in}},
                "note": {"type": "string", "maxLength": NOTE_MAX},
            },
        },
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
                  "properties": {"dates": {"type": "array", "items": _ref("Date")}}},
        "Idea": {
            "type": "object", "required": ["id", "title", "description"], "additionalProperties": True,
            "description": "id, title, description, then one key per catalog attribute (see data/schema.json)",
            "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                           "description": {"type": "string"}},
        },
        "IdeaPage": {
            "type": "object", "required": ["ideas", "total", "limit", "offset"], "additionalProperties": False,
            "properties": {"ideas": {"type": "array", "items": _ref("Idea")}, "total": {"type": "integer"},
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
                                 "running": {"allOf": [_ref("TrainingRun")], "nullable": True},
                                 "last_failure": {"allOf": [_ref("TrainingRun")], "nullable": True},
                                 "runs": {"type": "array", "items": _ref("TrainingRun")},
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


def _practice_paths() -> dict[str, Any]:
    prompt_id = {"name": "prompt_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
    return {
        "/v1/couples/{couple_id}/prompts": {"get": {
            "summary": "The couple's depth for the next prompts, and how many they talked about or skipped",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
            "responses": {"200": _json(_ref("PromptState"), "Depth"), **_errors(404, 503)},
        }},
        "/v1/couples/{couple_id}/prompts/{prompt_id}": {"post": {
            "summary": "Mark a prompt shown with a suggestion as talked about (goes deeper) or skipped",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, prompt_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["status"], "additionalProperties": False,
                "properties": {"status": {"type": "string", "enum": ["talked", "skipped"]}}}}}},
            "responses": {"200": _json(_ref("PromptMarked"), "Marked"), **_errors(400, 404, 413, 415, 503)},
        }},
        "/v1/couples/{couple_id}/today": {
            "get": {
                "summary": "Each partner's small appreciation nudge for today (stable all day) and streak",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
                "responses": {"200": _json(_ref("Today"), "Today"), **_errors(404, 503)},
            },
            "post": {
                "summary": "A partner did today's nudge",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["partner"], "additionalProperties": False,
                    "properties": {"partner": {"type": "string", "enum": ["a", "b"]}}}}}},
                "responses": {"200": _json(_ref("Today"), "Today after it"), **_errors(400, 404, 413, 415, 503)},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The document as a dict (JSON-ready)."""
    date_id = {"name": "date_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
    tonight_params = [
        _COUPLE_ID,
        _query("budget", {"type": "integer", "minimum": 0, "maximum": 3}, "highest cost tier, 0 free ... 3 splurge"),
        _query("minutes", {"type": "integer", "minimum": 15, "maximum": 1440}, "time available"),
        _query("setting", {"type": "string", "enum": list(SETTINGS)}, "home, or out (includes away)"),
        _query("weather", {"type": "string", "enum": list(WEATHERS)},
               "rain, snow and storm exclude weather-dependent ideas"),
        _query("kids", {"type": "boolean"}, "kids come along: kid-friendly ideas only"),
        _query("season", {"type": "string", "enum": list(SEASONS)}, "default: from day"),
        _query("day", {"type": "string", "format": "date"}, "the evening in question; default today"),
        _query("time_of_day", {"type": "string", "enum": list(TIMES_OF_DAY)},
               "when the date happens; default tonight: evening or night ideas"),
        _query("k", {"type": "integer", "minimum": 1, "maximum": 10}, "ideas returned (default 3)"),
        _query("another", {"type": "boolean"}, "move on to the next ideas for the same request today"),
    ]
    ideas_params = [
        _query("category", {"type": "string"}, "only this category"),
        _query("setting", {"type": "string"}, "only this setting (home, out, away)"),
        _query("budget", {"type": "integer", "minimum": 0, "maximum": 3}, "highest cost tier"),
        _query("kids", {"type": "boolean"}, "true: kid-friendly ideas only"),
        _query("intimacy", {"type": "string", "enum": list(INTIMACY_LEVELS)},
               "highest physical-intimacy level listed (default: every level)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size (default 20)"),
        _query("offset", {"type": "integer", "minimum": 0}, "ideas to skip (default 0)"),
    ]
    idempotency = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"},
                   "description": "a retried POST with the same key returns the first result (200) "
                                  "and stores nothing new"}
    paths = {
        "/v1/couples": {"post": {
            "summary": "Create a couple; the token is returned once",
            "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("NewCouple")}}},
            "responses": {"201": _json(_ref("CoupleCreated"), "Created"), **_errors(400, 413, 415, 429, 503)},
        }},
        "/v1/couples/{couple_id}": {"delete": {
            "summary": "Erase the couple and everything about them (the couple's token; a partner's: 403)",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
            "responses": {"204": {"description": "Erased"}, **_errors(403, 404, 503)},
        }, "patch": {
            "summary": "Change some of the couple's profile (a null removes a field); a partner's own token "
                       "may only lower intimacy (403 otherwise)",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ProfileChange")}}},
            "responses": {"200": _json(_ref("CoupleProfile"), "The profile after the change"),
                          **_errors(400, 403, 404, 413, 415, 429, 503)},
        }},
        "/v1/couples/{couple_id}/tonight": {"get": {
            "summary": "Tonight's suggestion and alternatives, with reasons and the model version",
            "security": _COUPLE_AUTH, "parameters": tonight_params,
            "responses": {"200": _json(_ref("Tonight"), "Suggestions"), **_errors(400, 404, 429, 503)},
        }},
        "/v1/couples/{couple_id}/dates": {
            "post": {
                "summary": "Record a completed date, or one partner's later rating of it",
                "description": "One partner's rating of an idea and day the other partner already rated (and "
                               "this partner has not) completes that date: 200 with \"completed\": true, never "
                               "a second date. With a partner's token, only that partner's rating is "
                               "accepted (403 otherwise).",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, idempotency],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewDate")}}},
                "responses": {"201": _json(_ref("Date"), "Stored"),
                              "200": _json(_ref("Date"), "The date this rating completed, or the replay of an "
                                                         "Idempotency-Key (the first result)"),
                              **_errors(400, 403, 404, 413, 415, 422, 503)},
            },
            "get": {
                "summary": "The couple's dates, oldest first",
                "description": "With a partner's token, the other partner's rating of a date stays hidden "
                               "(null, named in hidden) until this partner has rated it too; the couple's "
                               "token sees both.",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
                "responses": {"200": _json(_ref("Dates"), "History"), **_errors(404, 503)},
            },
        },
        "/v1/couples/{couple_id}/dates/{date_id}": {
            "patch": {
                "summary": "Change a mistaken date (idea, day, ratings, note)",
                "description": "Only the fields given change; the next suggestion is ranked from the changed "
                               "history. With a partner's token, only that partner's rating may change (403 "
                               "otherwise). 404 when the couple has no date with this id.",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, date_id],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("DateChange")}}},
                "responses": {"200": _json(_ref("Date"), "The date after the change"),
                              **_errors(400, 403, 404, 413, 415, 503)},
            },
            "delete": {
                "summary": "Delete a mistaken date",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, date_id],
                "responses": {"204": {"description": "Deleted"}, **_errors(404, 503)},
            },
        },
        "/v1/couples/{couple_id}/partners/{partner}/token": {"post": {
            "summary": "A partner's own sign-in token (replaces the previous one)",
            "description": "Needs the couple's token (403 with a partner's). The partner sends it as the "
                           "bearer token of the couple's routes or signs in with it on the pages.",
            "security": _COUPLE_AUTH,
            "parameters": [_COUPLE_ID, {"name": "partner", "in": "path", "required": True,
                                        "schema": {"type": "string", "enum": ["a", "b"]}}],
            "responses": {"201": _json(_ref("PartnerToken"), "Created"), **_errors(403, 404, 503)},
        }},
        "/v1/ideas": {"get": {
            "summary": "The catalog, filtered and paged", "parameters": ideas_params,
            "responses": {"200": _json(_ref("IdeaPage"), "A page of ideas"), **_errors(400)},
        }},
        "/v1/ideas/{idea_id}": {"get": {
            "summary": "One idea",
            "parameters": [{"name": "idea_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("Idea"), "The idea"), **_errors(404)},
        }},
        "/v1/admin/train": {"post": {
            "summary": "Start a training in the background (promoted only if not worse)",
            "security": _ADMIN_AUTH,
            "responses": {"202": _json(_ref("TrainStarted"), "Started"),
                          **_errors(401, 403, 409, 413, 415, 503)},
        }},
        "/v1/admin/models": {"get": {
            "summary": "Model versions, metrics, the live one, training runs and the last failure",
            "security": _ADMIN_AUTH,
            "responses": {"200": _json(_ref("Models"), "The registry"), **_errors(401, 403, 503)},
        }},
        "/healthz": {"get": {"summary": "Up", "responses": {"200": _json(
            {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}, "Up")}}},
        "/readyz": {"get": {"summary": "Database reachable and a model loaded", "responses": {
            "200": _json({"type": "object", "required": ["status", "model_version"],
                          "properties": {"status": {"type": "string"}, "model_version": {"type": "string"},
                                         "schema_version": {"type": "integer"}}}, "Ready"),
            **_errors(503)}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (bearer DATEIDEAS_METRICS_TOKEN when set)", "responses": {
            "200": {"description": "Text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}},
            **_errors(401, 403)}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {
            "200": _json({"type": "object"}, "OpenAPI 3.0 document")}}},
    }
    paths.update(_practice_paths())
    return {
        "openapi": "3.0.3",
        "info": {"title": "dateideas", "version": "1",
                 "description": "Date ideas that break a couple's routine. Errors are "
                                "{\"error\": {\"code\", \"message\", \"field\"?}} with a 4xx status."},
        "paths": paths,
        "components": {
            "schemas": {**_schemas(), **_practice_schemas()},
            "securitySchemes": {
                "coupleToken": {"type": "http", "scheme": "bearer",
                                "description": "the token returned once by POST /v1/couples, or a partner's "
                                               "own (POST /v1/couples/{couple_id}/partners/{partner}/token)"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "DATEIDEAS_ADMIN_TOKEN"},
            },
        },
    }
