"""engine.app.serving: request keys, repeat weights, date input checks and what a request writes (known answers)."""

from __future__ import annotations

import datetime as _dt

import pytest
import sqlalchemy as sa

from engine.app.serving import DateInputError, check_date_input, recent_weights, request_key, serve_tonight
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


# ------------------------------------------------------------------ what a request writes


@pytest.fixture
def recommender(tiny_model_dir):
    from engine.app.recommender import Recommender
    from engine.learning.registry import Registry

    return Recommender(Registry(tiny_model_dir).load()[0], "v-test")


def _spy_writes(monkeypatch, store) -> list[str]:
    """Every write transaction the real store opens from now on (its two ways to open one), by name."""
    opened: list[str] = []

    def spy(name, real):
        def opening(*args, **kwargs):
            opened.append(name)
            return real(*args, **kwargs)
        return opening

    for name in ("_write", "_raw_write"):
        monkeypatch.setattr(store, name, spy(name, getattr(store, name)))
    return opened


def _begins_immediate(store) -> list[str]:
    """SQLite: every ``BEGIN IMMEDIATE`` the store's connections run from now on (the write lock taken)."""
    seen: list[str] = []

    def trace(dbapi_connection, *_):
        dbapi_connection.set_trace_callback(lambda sql: seen.append(sql) if sql == "BEGIN IMMEDIATE" else None)

    sa.event.listen(store.engine, "checkout", trace)
    return seen


def test_a_fresh_request_writes_its_prompts_and_its_log_in_one_transaction_and_a_repeat_none(
        store, recommender, monkeypatch):
    """Before, a fresh request took the write lock twice (its new prompts, then its log rows): on SQLite
    the workers queued on it twice. Now once; the same request again writes nothing."""
    couple, _ = store.create_couple()
    writes = _spy_writes(monkeypatch, store)
    begins = _begins_immediate(store) if store.dialect == "sqlite" else None
    first = serve_tonight(store, recommender, couple, Context(day=TODAY), k=3, today=TODAY)
    assert writes == ["_raw_write"]
    if begins is not None:
        assert begins == ["BEGIN IMMEDIATE"]
    else:  # PostgreSQL: every row written by this request carries the one transaction's id
        with store.engine.connect() as conn:
            xids = conn.execute(sa.text(
                "SELECT xmin::text FROM prompts_served WHERE couple_id = :c UNION "
                "SELECT xmin::text FROM suggestions WHERE couple_id = :c"), {"c": couple}).scalars().all()
        assert len(xids) == 1
    since = TODAY - _dt.timedelta(days=1)
    prompts = store.prompt_history([couple], since)[couple]
    logged = store.recent_suggestions(couple, since=TODAY)
    assert [s.prompt["id"] for s in first.suggestions] == [p["prompt_id"] for p in prompts]
    assert [(s["idea_id"], s["rank"], s["request_key"]) for s in logged] == \
        [(s.idea_id, s.rank, first.request_key) for s in first.suggestions]
    writes.clear()
    again = serve_tonight(store, recommender, couple, Context(day=TODAY), k=3, today=TODAY)
    assert writes == [] and (begins is None or begins == ["BEGIN IMMEDIATE"])
    assert [s.to_dict() for s in again.suggestions] == [s.to_dict() for s in first.suggestions]
    assert len(store.recent_suggestions(couple, since=TODAY)) == len(logged)


@pytest.fixture
def refused_log(store):
    """A trigger that makes the database refuse every suggestion-log row of idea ``"refused"`` or of
    couple ``"refused"`` (a failure at the database, after the request's prompt rows were inserted)."""
    when = "NEW.idea_id = 'refused' OR NEW.couple_id = 'refused'"
    if store.dialect == "sqlite":
        statements = [f"CREATE TRIGGER refuse_log BEFORE INSERT ON suggestions WHEN {when} "
                      "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"]
        drop = ["DROP TRIGGER refuse_log"]
    else:
        statements = [f"CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF {when} "
                      "THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
                      "CREATE TRIGGER refuse_log BEFORE INSERT ON suggestions FOR EACH ROW "
                      "EXECUTE FUNCTION refuse_log()"]
        drop = ["DROP TRIGGER refuse_log ON suggestions", "DROP FUNCTION refuse_log()"]
    with store.engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)
    yield
    with store.engine.begin() as conn:  # the PostgreSQL test database is reused
        for sql in drop:
            conn.exec_driver_sql(sql)


def test_a_log_the_database_refuses_stores_none_of_the_requests_prompts(store, recommender, refused_log):
    since = TODAY - _dt.timedelta(days=1)
    couple, _ = store.create_couple(couple_id="refused")
    with pytest.raises(store.engine.dialect.loaded_dbapi.Error, match="refused by the test"):
        serve_tonight(store, recommender, couple, Context(day=TODAY), k=3, today=TODAY)
    assert store.prompt_history([couple], since) == {} and store.recent_suggestions(couple) == []
    # the store's method itself: a refused row among good ones; neither the prompt nor any row is kept
    other, _ = store.create_couple()
    row = {"couple_id": other, "prompt_id": "vu1-01", "idea_id": "picnic", "depth": 1, "served_on": TODAY}
    log = [{"couple_id": other, "idea_id": idea, "rank": r} for r, idea in enumerate(["picnic", "refused"], 1)]
    with pytest.raises(store.engine.dialect.loaded_dbapi.Error, match="refused by the test"):
        store.record_served(other, since, lambda rows: ("chosen", [dict(row)]), log)
    assert store.prompt_history([other], since) == {} and store.recent_suggestions(other) == []
    assert store.record_served(other, since, lambda rows: ("chosen", [dict(row)]), log[:1]) == ("chosen", 1)
    assert [p["prompt_id"] for p in store.prompt_history([other], since)[other]] == ["vu1-01"]
    assert [s["idea_id"] for s in store.recent_suggestions(other)] == ["picnic"]
