"""engine.app.serving: request keys, repeat weights and date input checks (known answers)."""

from __future__ import annotations

import datetime as _dt

import pytest

from engine.app.serving import DateInputError, check_date_input, recent_weights, request_key
from engine.domain.context import Context

TODAY = _dt.date(2024, 6, 15)


def test_request_key_is_stable_and_context_sensitive():
    ctx = Context(budget=2, day=TODAY)
    assert request_key("c1", ctx, 3) == request_key("c1", Context(budget=2, day=TODAY, season="summer"), 3)
    assert request_key("c1", ctx, 3) != request_key("c2", ctx, 3)
    assert request_key("c1", ctx, 3) != request_key("c1", ctx, 4)
    assert request_key("c1", ctx, 3) != request_key("c1", Context(budget=1, day=TODAY), 3)
    assert len(request_key("c1", ctx, 3)) == 32


def test_recent_weights_decay_and_ignore_today():
    rows = [{"idea_id": "a", "served_on": "2024-06-14"}, {"idea_id": "b", "served_on": "2024-06-08"},
            {"idea_id": "b", "served_on": "2024-06-13"}, {"idea_id": "c", "served_on": "2024-06-15"},
            {"idea_id": "d", "served_on": "2024-05-01"}]
    assert recent_weights(rows, TODAY, days=14) == {"a": 1.0, "b": pytest.approx(1 - 1 / 14)}


class _Catalog:
    def __contains__(self, idea_id):
        return idea_id == "picnic"


def test_check_date_input_cleans_a_good_date():
    clean = check_date_input(_Catalog(), "picnic", {"b": 3}, "2024-06-14", None, today=TODAY)
    assert clean == {"idea_id": "picnic", "done_on": _dt.date(2024, 6, 14), "rating_a": None, "rating_b": 3.0,
                     "note": "", "context": {"weekday": "friday", "season": "summer"}}
    assert check_date_input(_Catalog(), "picnic", {"a": 5}, today=TODAY)["done_on"] == TODAY


@pytest.mark.parametrize("args, field, message", [
    (("hike", {"a": 3}), "idea_id", "idea_id 'hike' is not an idea in the catalog"),
    (("picnic", {"a": 6}), "ratings.a", "ratings.a must be an integer from 1 to 5, got 6"),
    (("picnic", {"a": None}), "ratings", "at least one rating"),
    (("picnic", {"a": 3}, "2024-06-17"), "done_on",
     "done_on must be a date from 1900-01-01 to 2024-06-16, got 2024-06-17"),
    (("picnic", {"a": 3}, "0001-01-01"), "done_on",
     "done_on must be a date from 1900-01-01 to 2024-06-16, got 0001-01-01"),
    (("picnic", {"a": 3}, "2023-02-29"), "done_on", "done_on must be a real date as YYYY-MM-DD, got '2023-02-29'"),
    (("picnic", {"a": 3}, None, "x" * 2001), "note", "note must be at most 2000 characters, got 2001"),
])
def test_check_date_input_names_the_field(args, field, message):
    with pytest.raises(DateInputError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        check_date_input(_Catalog(), *args, today=TODAY)
    assert info.value.field == field


def test_context_to_dict_has_every_field():
    import dataclasses

    ctx = Context(budget=1, minutes=90, setting="out", weather="rain", kids=True, day=_dt.date(2025, 1, 5))
    assert set(ctx.to_dict()) == {f.name for f in dataclasses.fields(Context)}
    assert ctx.to_dict() == dict(dataclasses.asdict(ctx.resolved()), day="2025-01-05")
    resolved = ctx.resolved()
    assert resolved.resolved() is resolved and resolved.season == "winter"
