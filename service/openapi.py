"""The OpenAPI 3.0 document of the service (served at ``/openapi.json``).

Written by hand next to the views (the paths here, the bodies' schemas in
:mod:`service.openapi_schemas`); ``tests/test_service_openapi.py`` checks
every Flask route is documented and fuzzes the document against the app.
"""

from __future__ import annotations

from typing import Any

from engine.domain.context import SEASONS, SETTINGS, TIMES_OF_DAY, WEATHERS
from engine.domain.profiles import INTIMACY_LEVELS

from .openapi_schemas import ref, schemas

__all__ = ["openapi_document"]


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
    responses = {str(s): _json(ref("Error"), text[s]) for s in statuses}
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




def _practice_paths() -> dict[str, Any]:
    prompt_id = {"name": "prompt_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
    return {
        "/v1/couples/{couple_id}/prompts": {"get": {
            "summary": "The couple's depth for the next prompts, and how many they talked about or skipped",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
            "responses": {"200": _json(ref("PromptState"), "Depth"), **_errors(404, 503)},
        }},
        "/v1/couples/{couple_id}/prompts/{prompt_id}": {"post": {
            "summary": "Mark a prompt shown with a suggestion as talked about (goes deeper) or skipped",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, prompt_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["status"], "additionalProperties": False,
                "properties": {"status": {"type": "string", "enum": ["talked", "skipped"]}}}}}},
            "responses": {"200": _json(ref("PromptMarked"), "Marked"), **_errors(400, 404, 413, 415, 503)},
        }},
        "/v1/couples/{couple_id}/today": {
            "get": {
                "summary": "Each partner's small appreciation nudge for today (stable all day) and streak",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
                "responses": {"200": _json(ref("Today"), "Today"), **_errors(404, 503)},
            },
            "post": {
                "summary": "A partner did today's nudge",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["partner"], "additionalProperties": False,
                    "properties": {"partner": {"type": "string", "enum": ["a", "b"]}}}}}},
                "responses": {"200": _json(ref("Today"), "Today after it"), **_errors(400, 404, 413, 415, 503)},
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
            "requestBody": {"required": False, "content": {"application/json": {"schema": ref("NewCouple")}}},
            "responses": {"201": _json(ref("CoupleCreated"), "Created"), **_errors(400, 413, 415, 429, 503)},
        }},
        "/v1/couples/{couple_id}": {"delete": {
            "summary": "Erase the couple and everything about them (the couple's token; a partner's: 403)",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
            "responses": {"204": {"description": "Erased"}, **_errors(403, 404, 503)},
        }, "patch": {
            "summary": "Change some of the couple's profile (a null removes a field) and addresses (a new one is "
                       "sent a confirmation link; null or '' removes one); a partner's own token may only "
                       "lower intimacy (403 otherwise)",
            "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CoupleChange")}}},
            "responses": {"200": _json(ref("CoupleProfile"), "The profile after the change"),
                          **_errors(400, 403, 404, 413, 415, 429, 503)},
        }},
        "/v1/couples/{couple_id}/tonight": {"get": {
            "summary": "Tonight's suggestion and alternatives, with reasons and the model version",
            "security": _COUPLE_AUTH, "parameters": tonight_params,
            "responses": {"200": _json(ref("Tonight"), "Suggestions"), **_errors(400, 404, 429, 503)},
        }},
        "/v1/couples/{couple_id}/dates": {
            "post": {
                "summary": "Record a completed date, or one partner's later rating of it",
                "description": "One partner's rating of an idea and day the other partner already rated (and "
                               "this partner has not) completes that date: 200 with \"completed\": true, never "
                               "a second date. With a partner's token, only that partner's rating is "
                               "accepted (403 otherwise).",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, idempotency],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("NewDate")}}},
                "responses": {"201": _json(ref("Date"), "Stored"),
                              "200": _json(ref("Date"), "The date this rating completed, or the replay of an "
                                                         "Idempotency-Key (the first result)"),
                              **_errors(400, 403, 404, 413, 415, 422, 503)},
            },
            "get": {
                "summary": "The couple's dates, oldest first",
                "description": "With a partner's token, the other partner's rating of a date stays hidden "
                               "(null, named in hidden) until this partner has rated it too; the couple's "
                               "token sees both.",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID],
                "responses": {"200": _json(ref("Dates"), "History"), **_errors(404, 503)},
            },
        },
        "/v1/couples/{couple_id}/dates/{date_id}": {
            "patch": {
                "summary": "Change a mistaken date (idea, day, ratings, note)",
                "description": "Only the fields given change; the next suggestion is ranked from the changed "
                               "history. With a partner's token, only that partner's rating may change (403 "
                               "otherwise). 404 when the couple has no date with this id.",
                "security": _COUPLE_AUTH, "parameters": [_COUPLE_ID, date_id],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("DateChange")}}},
                "responses": {"200": _json(ref("Date"), "The date after the change"),
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
            "responses": {"201": _json(ref("PartnerToken"), "Created"), **_errors(403, 404, 503)},
        }},
        "/v1/ideas": {"get": {
            "summary": "The catalog, filtered and paged", "parameters": ideas_params,
            "responses": {"200": _json(ref("IdeaPage"), "A page of ideas"), **_errors(400)},
        }},
        "/v1/ideas/{idea_id}": {"get": {
            "summary": "One idea",
            "parameters": [{"name": "idea_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(ref("Idea"), "The idea"), **_errors(404)},
        }},
        "/v1/admin/train": {"post": {
            "summary": "Start a training in the background (promoted only if not worse)",
            "security": _ADMIN_AUTH,
            "responses": {"202": _json(ref("TrainStarted"), "Started"),
                          **_errors(401, 403, 409, 413, 415, 503)},
        }},
        "/v1/admin/models": {"get": {
            "summary": "Model versions, metrics, the live one, training runs and the last failure",
            "security": _ADMIN_AUTH,
            "responses": {"200": _json(ref("Models"), "The registry"), **_errors(401, 403, 503)},
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
            "schemas": schemas(),
            "securitySchemes": {
                "coupleToken": {"type": "http", "scheme": "bearer",
                                "description": "the token returned once by POST /v1/couples, or a partner's "
                                               "own (POST /v1/couples/{couple_id}/partners/{partner}/token)"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "DATEIDEAS_ADMIN_TOKEN"},
            },
        },
    }
