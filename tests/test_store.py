"""Tests for engine.store: round-trips on SQLite and PostgreSQL, concurrency, migrations, erasure."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.cli import main
from engine.domain.dates import as_dates_frame
from engine.domain.profiles import NO_PROFILE, Profile
from engine.store import (
    LATEST_VERSION,
    Store,
    StoreError,
    UnknownCoupleError,
    ValidationError,
    open_store,
)
from engine.store.tables import _META  # the declared tables, read by the schema tests


def _run_workers(script: str, args_list: list[list[str]], timeout: float = 300) -> list[str]:
    """Run one Python process per args list, released together; return their stdout.

    Each worker imports and opens its store, prints ``ready`` and waits for a
    line on stdin, so the timed part of every worker really runs at once.
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for args in args_list]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


# --------------------------------------------------------------------------- couples


def test_couple_round_trip_and_tokens(store: Store):
    profile = {"budget_ceiling": 2, "kids": True, "accessibility_needs": "step-free",
               "interests": ["dancing", "cooking"]}
    couple_id, token = store.create_couple(profile)
    assert couple_id.startswith("c_") and len(couple_id) == 12
    got = store.get_couple(couple_id)
    assert got["profile"] == profile and got["active"] is True and got["source"] == "api"
    assert got["created_at"].endswith("Z")

    assert store.verify_token(couple_id, token) is True
    assert store.verify_token(couple_id, token[:-1] + ("A" if token[-1] != "A" else "B")) is False
    assert store.verify_token(couple_id, "") is False
    assert store.verify_token("c_nobody", token) is False
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM couples WHERE id = :i"), {"i": couple_id}).scalar()
    assert stored != token and token not in stored and stored.startswith("sha256$")

    new_token = store.rotate_token(couple_id)
    assert store.verify_token(couple_id, new_token) and not store.verify_token(couple_id, token)
    with pytest.raises(UnknownCoupleError, match="c_nobody"):
        store.rotate_token("c_nobody")

    other, _ = store.create_couple(couple_id="c_fixed_id")
    assert store.get_couple(other)["profile"] == {}
    assert store.set_couple_active(couple_id, False) is True
    assert store.verify_token(couple_id, new_token) is False  # paused couples cannot log in
    assert store.couple_ids() == sorted([couple_id, other])
    assert store.couple_ids(active_only=True) == [other]
    assert store.count_couples() == 2 and not store.is_empty()
    assert store.get_couple("c_nobody") is None


def test_a_stated_home_is_stored_normalised_and_reaches_the_model(store: Store):
    couple_id, _ = store.create_couple({"home": " 22.1500 , -100.98", "kids": True})
    other, _ = store.create_couple({"kids": True})
    assert store.get_couple(couple_id)["profile"] == {"home": "22.15,-100.98", "kids": True}
    assert store.profiles() == {couple_id: Profile(home=(22.15, -100.98))}
    assert other not in store.profiles([couple_id, other])


def test_duplicate_couple_id_is_refused(store: Store):
    store.create_couple(couple_id="c_same")
    with pytest.raises(StoreError, match="c_same.*already exists"):
        store.create_couple(couple_id="c_same")


@pytest.mark.parametrize("profile, match", [
    ({"pets": True}, r"profile\.pets: unknown profile field"),
    ({"budget_ceiling": 4}, r"profile\.budget_ceiling: must be an integer cost tier from 0"),
    ({"budget_ceiling": True}, r"profile\.budget_ceiling"),
    ({"kids": "yes"}, r"profile\.kids: must be true or false, got 'yes'"),
    ({"accessibility_needs": 3}, r"profile\.accessibility_needs: must be a string"),
    ({"interests": "hiking"}, r"profile\.interests: must be a list of strings"),
    ({"home": "downtown"}, r"profile\.home: must be where the couple lives, \"latitude,longitude\" in decimal"),
    ({"home": "91,0"}, r"profile\.home: must be where the couple lives"),
    ({"home": [22.1, -100.9]}, r"profile\.home: must be where the couple lives"),
    ("cheap", r"profile: must be an object"),
])
def test_bad_profile_names_the_field(sqlite_url, profile, match):
    store = open_store(sqlite_url)
    store.migrate()
    try:
        with pytest.raises(ValidationError, match=match):
            store.create_couple(profile)
        assert store.is_empty()
    finally:
        store.close()


# --------------------------------------------------------------------------- dates


def test_dates_round_trip_with_partial_ratings(store: Store):
    couple_id, _ = store.create_couple()
    both, created = store.add_date(couple_id, "pottery-class", "2024-05-03", 5, 4, note="messy!",
                                   context={"weather": "rain", "weekday": 4})
    assert created
    one, _ = store.add_date(couple_id, "stargazing", dt.date(2024, 5, 1), None, 3)
    none, _ = store.add_date(couple_id, "ice-cream-stroll", dt.datetime(2024, 5, 10, 19, 30))
    half, _ = store.add_date(couple_id, "film-night", "2024-05-11", 3.5, None)

    listed = store.list_dates(couple_id)
    assert [d["idea_id"] for d in listed] == ["stargazing", "pottery-class", "ice-cream-stroll", "film-night"]
    assert listed[1] == {k: v for k, v in both.items() if k != "completed"} and both["completed"] is False
    assert both["rating_a"] == 5 and isinstance(both["rating_a"], int) and both["rating_b"] == 4
    assert both["context"] == {"weather": "rain", "weekday": 4} and both["note"] == "messy!"
    assert (one["rating_a"], one["rating_b"]) == (None, 3)
    assert (none["rating_a"], none["rating_b"], none["done_on"]) == (None, None, "2024-05-10")
    assert half["rating_a"] == 3.5
    json.dumps(listed)  # JSON-ready

    frame = store.dates_frame()
    assert list(frame.columns) == ["couple_id", "idea_id", "done_on", "rating_a", "rating_b"]
    assert frame["done_on"].dtype == "datetime64[ns]"
    row = frame.set_index("idea_id").loc["stargazing"]
    assert np.isnan(row["rating_a"]) and row["rating_b"] == 3.0
    assert row["done_on"] == pd.Timestamp("2024-05-01")
    with_ctx = store.dates_frame([couple_id], context=True)
    assert with_ctx.loc[with_ctx["idea_id"] == "pottery-class", "ctx_weather"].item() == "rain"
    assert store.count_dates() == 4 and store.count_dates(couple_id) == 4
    assert store.max_date_id() == max(d["id"] for d in listed)
    assert store.count_dates_created_since(None) == 4
    assert store.count_dates_created_since(dt.datetime(2000, 1, 1)) == 4
    assert store.count_dates_created_since(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == 0
    assert store.dates_frame(["c_nobody"]).empty


@pytest.mark.slow
def test_a_partners_later_rating_completes_the_same_date(store: Store):
    couple_id, _ = store.create_couple()
    first, created = store.add_date(couple_id, "pottery-class", "2024-05-03", 5, None, note="messy!",
                                    context={"weekday": 4})
    assert created and not first["completed"]
    # another idea, another day, or a date b already rated: never completed by b's rating of pottery on 05-03
    store.add_date(couple_id, "stargazing", "2024-05-03", 2, None)
    store.add_date(couple_id, "pottery-class", "2024-05-04", 3, None)
    store.add_date(couple_id, "pottery-class", "2024-05-03", 4, 4)
    later, created = store.add_date(couple_id, "pottery-class", "2024-05-03", None, 2, note="b: too messy",
                                    idempotency_key="b-1")
    assert created and later["completed"] and later["id"] == first["id"]
    assert (later["rating_a"], later["rating_b"]) == (5, 2)
    assert later["note"] == "messy!\nb: too messy" and later["context"] == {"weekday": 4}
    assert store.count_dates(couple_id) == 4
    # a retry of b's request changes nothing; b rating the same date again is a new date (both rated it)
    again, created = store.add_date(couple_id, "pottery-class", "2024-05-03", None, 2, note="b: too messy",
                                    idempotency_key="b-1")
    assert not created and again == later and store.count_dates(couple_id) == 4
    _, created = store.add_date(couple_id, "pottery-class", "2024-05-03", None, 3)
    assert created and store.count_dates(couple_id) == 5
    # ... which a's later rating then completes, not the first date
    last, _ = store.add_date(couple_id, "pottery-class", "2024-05-03", 4, None)
    assert last["completed"] and (last["rating_a"], last["rating_b"]) == (4, 3)
    assert store.count_dates(couple_id) == 5
    frame = store.dates_frame([couple_id])
    assert frame["rating_a"].notna().all()
    with pytest.raises(UnknownCoupleError, match="no couple with id 'c_nobody'"):
        store.add_date("c_nobody", "pottery-class", "2024-05-03", None, 2)


def test_two_partners_rating_at_once_make_one_date(store: Store):
    couple_id, _ = store.create_couple()
    barrier = threading.Barrier(2)

    def rate(partner: str) -> None:
        barrier.wait()
        store.add_date(couple_id, "picnic", "2024-06-01", **{f"rating_{partner}": 4 if partner == "a" else 2})

    for _ in range(5):
        threads = [threading.Thread(target=rate, args=(p,)) for p in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    dates = store.list_dates(couple_id)
    assert [(d["rating_a"], d["rating_b"]) for d in dates] == [(4, 2)] * 5


def test_partner_tokens_say_whose_they_are(store: Store):
    couple_id, token = store.create_couple()
    other_id, other_token = store.create_couple()
    assert store.token_role(couple_id, token) == "couple"
    assert store.token_role(couple_id, "") is None
    b = store.issue_partner_token(couple_id, "b")
    a = store.issue_partner_token(couple_id, "a")
    assert len({a, b, token}) == 3
    assert (store.token_role(couple_id, a), store.token_role(couple_id, b)) == ("a", "b")
    assert store.token_role(other_id, b) is None and store.token_role(couple_id, other_token) is None
    assert store.verify_token(couple_id, token) and not store.verify_token(couple_id, b)
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT partner_b_hash FROM couples WHERE id = :id"), {"id": couple_id}).scalar()
    assert stored.startswith("sha256$") and b not in stored
    new_b = store.issue_partner_token(couple_id, "b")
    assert store.token_role(couple_id, b) is None and store.token_role(couple_id, new_b) == "b"
    store.set_couple_active(couple_id, False)
    assert store.token_role(couple_id, new_b) is None
    with pytest.raises(ValidationError, match="partner: must be 'a' or 'b', got 'c'"):
        store.issue_partner_token(couple_id, "c")
    with pytest.raises(UnknownCoupleError):
        store.issue_partner_token("c_nobody", "a")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"done_on": "2024-13-01"}, ValidationError, r"done_on: must be a date in the form YYYY-MM-DD"),
    ({"rating_a": "5"}, ValidationError, r"rating_a: must be a number or null, got '5'"),
    ({"rating_b": float("inf")}, ValidationError, r"rating_b: must be a finite number"),
    ({"idea_id": ""}, ValidationError, r"idea_id: must be a non-empty string"),
    ({"context": ["rain"]}, ValidationError, r"context: must be a JSON object"),
    ({"couple_id": "c_nobody"}, UnknownCoupleError, r"no couple with id 'c_nobody'"),
])
def test_add_date_rejects_bad_input(store: Store, kwargs, error, match):
    couple_id, _ = store.create_couple()
    args = {"couple_id": couple_id, "idea_id": "picnic", "done_on": "2024-05-01", "rating_a": 4}
    with pytest.raises(error, match=match):
        store.add_date(**{**args, **kwargs})
    assert store.count_dates() == 0


def test_idempotency_key_returns_the_first_record(store: Store):
    couple_id, _ = store.create_couple()
    other, _ = store.create_couple()
    first, created = store.add_date(couple_id, "picnic", "2024-05-01", 4, None, idempotency_key="abc")
    again, created_again = store.add_date(couple_id, "bowling", "2024-05-02", 1, 1, idempotency_key="abc")
    assert created and not created_again
    assert again == first and again["idea_id"] == "picnic"
    _, created_other = store.add_date(other, "picnic", "2024-05-01", 4, None, idempotency_key="abc")
    assert created_other  # keys are per couple
    assert store.count_dates(couple_id) == 1 and store.count_dates() == 2


_INSERT_WORKER = """
    import sys
    from engine.store import open_store
    url, couple_id, worker, n = sys.argv[1:]
    store = open_store(url)
    store.count_dates()  # connect before the start signal
    print("ready", flush=True)
    sys.stdin.readline()
    _, created = store.add_date(couple_id, "race", "2024-01-01", 5, None, idempotency_key="retry")
    for i in range(int(n)):
        store.add_date(couple_id, f"idea-{worker}-{i}", "2024-01-02", 4, 3, note=f"{worker}:{i}")
    store.close()
    print(int(created))
"""


@pytest.mark.slow
def test_eight_processes_inserting_at_once_lose_nothing(store: Store, db_url: str):
    couple_id, _ = store.create_couple()
    outputs = _run_workers(_INSERT_WORKER, [[db_url, couple_id, str(w), "200"] for w in range(8)])
    assert sum(int(out) for out in outputs) == 1  # one retry race winner
    frame = store.dates_frame([couple_id])
    assert len(frame) == 8 * 200 + 1 == store.count_dates()
    assert frame["idea_id"].nunique() == 8 * 200 + 1
    with store.engine.connect() as conn:
        notes = conn.execute(sa.text("SELECT count(DISTINCT note) FROM dates WHERE note <> ''")).scalar()
    assert notes == 1600


# --------------------------------------------------------------------------- suggestions


def test_suggestions_round_trip(store: Store):
    couple_id, _ = store.create_couple()
    gone, _ = store.create_couple()
    yesterday = dt.datetime(2024, 5, 1, 20, 0)
    store.log_suggestions([
        {"couple_id": couple_id, "idea_id": "old", "rank": 1, "score": 0.5, "served_at": yesterday,
         "model_version": "v1"},
    ])
    store.delete_couple(gone)
    written = store.log_suggestions([
        {"couple_id": couple_id, "idea_id": "a", "rank": 1, "score": 0.9, "model_version": "v2",
         "context": {"budget": 1}, "request_key": "req-1", "served_on": dt.date(2024, 5, 2),
         "served_at": dt.datetime(2024, 5, 2, 18, 0)},
        {"couple_id": couple_id, "idea_id": "b", "rank": 2, "score": 0.7, "model_version": "v2",
         "request_key": "req-1", "served_at": dt.datetime(2024, 5, 2, 18, 0)},
        {"couple_id": gone, "idea_id": "c", "rank": 1},  # erased meanwhile: skipped
    ])
    assert written == 2
    every = store.recent_suggestions(couple_id)
    assert [s["idea_id"] for s in every] == ["old", "a", "b"]
    assert every[0]["served_at"] == "2024-05-01T20:00:00Z" and every[0]["served_on"] == "2024-05-01"
    assert every[1]["context"] == {"budget": 1} and every[1]["score"] == 0.9 and every[1]["rank"] == 1
    assert [s["idea_id"] for s in store.recent_suggestions(couple_id, since=dt.date(2024, 5, 2))] == ["a", "b"]
    assert [s["idea_id"] for s in store.recent_suggestions(
        couple_id, since=dt.datetime(2024, 5, 1, 21, 0))] == ["a", "b"]
    assert [s["rank"] for s in store.recent_suggestions(couple_id, request_key="req-1")] == [1, 2]
    with pytest.raises(ValidationError, match=r"rows\[0\]\.why: unknown key"):
        store.log_suggestions([{"couple_id": couple_id, "idea_id": "a", "rank": 1, "why": "?"}])
    with pytest.raises(ValidationError, match=r"rows\[0\]\.rank: is required"):
        store.log_suggestions([{"couple_id": couple_id, "idea_id": "a"}])


# --------------------------------------------------------------------------- newsletter


def test_newsletter_runs_and_sends(store: Store):
    c1, _ = store.create_couple()
    c2, _ = store.create_couple()
    week = dt.date(2024, 6, 3)
    run = store.start_newsletter_run(week, k=2)
    assert store.completed_newsletter_run(week) is None
    assert store.record_sends(run, week, [{"couple_id": c1, "idea_id": "a", "rank": 1},
                                          {"couple_id": c1, "idea_id": "b", "rank": 2}]) == 2
    assert store.sent_couples(week) == {c1}
    with pytest.raises(StoreError, match="nothing from this call was recorded"):
        store.record_sends(run, week, [{"couple_id": c2, "idea_id": "a", "rank": 1},
                                       {"couple_id": c1, "idea_id": "z", "rank": 1}])
    assert store.sent_couples(week) == {c1}  # c2's row was rolled back with the clash
    store.record_sends(run, "2024-06-03", [{"couple_id": c2, "idea_id": "c", "rank": 1}])
    store.finish_newsletter_run(run)
    done = store.completed_newsletter_run("2024-06-03")
    assert done["id"] == run and done["sends"] == 3 and done["k"] == 2 and done["status"] == "completed"

    forced = store.start_newsletter_run(week, k=1)
    store.record_sends(forced, week, [{"couple_id": c1, "idea_id": "new", "rank": 1}], replace=True)
    store.finish_newsletter_run(forced)
    assert store.completed_newsletter_run(week)["id"] == forced
    assert store.recent_newsletter_ideas([c1], "2024-06-10") == {c1: {"new"}}
    with pytest.raises(ValidationError, match="status: must be one of"):
        store.finish_newsletter_run(forced, status="done")


def test_recent_newsletter_ideas_looks_at_the_last_n_weeks(store: Store):
    c1, _ = store.create_couple()
    c2, _ = store.create_couple()
    for i in range(6):  # weekly newsletters, idea w0..w5
        week = dt.date(2024, 1, 1) + dt.timedelta(weeks=i)
        run = store.start_newsletter_run(week, k=1)
        store.record_sends(run, week, [{"couple_id": c1, "idea_id": f"w{i}", "rank": 1}])
        if i == 0:
            store.record_sends(run, week, [{"couple_id": c2, "idea_id": "only", "rank": 1}])
    before = dt.date(2024, 1, 1) + dt.timedelta(weeks=5)  # w5 is that week itself: not counted
    got = store.recent_newsletter_ideas([c1, c2, "c_new"], before, last_n=4)
    assert got == {c1: {"w1", "w2", "w3", "w4"}, c2: {"only"}, "c_new": set()}
    assert store.recent_newsletter_ideas(None, before, last_n=2) == {c1: {"w3", "w4"}, c2: {"only"}}


# --------------------------------------------------------------------------- training runs


def test_training_runs_round_trip_and_stale_detection(store: Store):
    ok = store.start_training_run()
    store.finish_training_run(ok, "succeeded", version="20240501-1", promoted=True,
                              metrics={"ndcg@10": 0.41})
    bad = store.start_training_run()
    store.finish_training_run(bad, "failed", error="not better than live model")
    runs = store.training_runs()
    assert [r["id"] for r in runs] == [bad, ok]
    assert runs[1]["status"] == "succeeded" and runs[1]["promoted"] is True
    assert runs[1]["metrics"] == {"ndcg@10": 0.41} and runs[1]["version"] == "20240501-1"
    assert runs[0]["error"] == "not better than live model" and runs[0]["seconds"] >= 0
    assert len(store.training_runs(limit=1)) == 1

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    killed = store.start_training_run(pid=int(dead.stdout))  # that process has exited
    alive = store.start_training_run()  # this process
    elsewhere = store.start_training_run(pid=1, host="another-host")
    assert store.mark_stale_training_runs(timeout_s=3600) == 1
    by_id = {r["id"]: r for r in store.training_runs()}
    assert by_id[killed]["status"] == "failed" and "is gone" in by_id[killed]["error"]
    assert by_id[alive]["status"] == "running" and by_id[elsewhere]["status"] == "running"
    assert store.mark_stale_training_runs(timeout_s=0) == 2
    assert "presumed dead" in store.training_runs()[0]["error"]
    with pytest.raises(ValidationError, match="status: must be one of"):
        store.finish_training_run(ok, "running")


# --------------------------------------------------------------------------- locks


def test_locks(store: Store):
    assert store.try_lock("training", "worker-1", ttl_s=60)
    assert not store.try_lock("training", "worker-2", ttl_s=60)
    assert store.try_lock("training", "worker-1", ttl_s=60)  # the holder may extend
    assert store.lock_holder("training")["owner"] == "worker-1"
    assert not store.release_lock("training", "worker-2")
    assert store.release_lock("training", "worker-1")
    assert store.lock_holder("training") is None
    assert store.try_lock("training", "worker-2", ttl_s=0.05)
    time.sleep(0.2)  # let worker-2's hold expire
    assert store.lock_holder("training") is None
    assert store.try_lock("training", "worker-3", ttl_s=60)
    assert store.try_lock("newsletter", "worker-2", ttl_s=60)  # independent names
    with pytest.raises(ValidationError, match="ttl_s: must be a positive number"):
        store.try_lock("x", "y", ttl_s=0)


def test_only_one_of_many_threads_gets_the_lock(store: Store):
    barrier = threading.Barrier(8)
    results: dict[int, bool] = {}

    def contend(i: int) -> None:
        barrier.wait()
        results[i] = store.try_lock("single-flight", f"thread-{i}", ttl_s=60)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results.values()) == 1
    winner = next(i for i, won in results.items() if won)
    assert store.lock_holder("single-flight")["owner"] == f"thread-{winner}"


# --------------------------------------------------------------------------- erasure


def test_delete_couple_leaves_no_row_anywhere(store: Store):
    gone, _ = store.create_couple({"kids": False})
    kept, _ = store.create_couple()
    for couple in (gone, kept):
        store.add_date(couple, "picnic", "2024-05-01", 4, 5, idempotency_key="k")
        store.add_date(couple, "bowling", "2024-05-02", 4, None)
        store.add_date(couple, "bowling", "2024-05-02", None, 3, idempotency_key="completes")
        store.log_suggestions([{"couple_id": couple, "idea_id": "picnic", "rank": 1}])
        run = store.start_newsletter_run("2024-05-06", 1)
        store.record_sends(run, "2024-05-06", [{"couple_id": couple, "idea_id": "picnic", "rank": 1}])
        store.revoke_sessions(couple, "a")
        assert store.count_another(couple, dt.date(2024, 5, 6), "req", limit=5) == 1
        store.record_prompts([{"couple_id": couple, "prompt_id": "vu1-01", "idea_id": "picnic", "depth": 1,
                               "served_on": dt.date(2024, 5, 6)}])
        store.save_nudges(couple, dt.date(2024, 5, 6), [{"partner": "a", "nudge_id": "n", "text": "t"}])
        store.set_email(couple, "a", f"{couple}@example.org")
        assert store.claim_mail(run, "2024-05-06", couple, "a", f"{couple}@example.org")
        assert store.claim_daily("2024-05-06", couple, "a", f"{couple}@example.org")
        assert store.mark_idea(couple, "picnic", "not-for-us") and store.mark_idea(couple, "bowling", "saved")
    assert store.delete_couple(gone) is True
    assert store.delete_couple(gone) is False  # idempotent

    checked = []
    with store.engine.connect() as conn:
        for table in _META.sorted_tables:
            for column in ("couple_id", "id") if table.name == "couples" else ("couple_id",):
                if column in table.c:
                    found = conn.execute(sa.select(sa.func.count()).select_from(table)
                                         .where(table.c[column] == gone)).scalar()
                    assert found == 0, f"{table.name} still holds rows of the erased couple"
                    checked.append(table.name)
    assert set(checked) == {"couples", "dates", "suggestions", "newsletter_sends", "session_epochs", "tonight_counts",
                            "rating_keys", "prompts_served", "nudges_shown", "email_addresses", "newsletter_mail",
                            "idea_marks", "daily_mail"}
    assert store.get_couple(gone) is None and store.list_dates(gone) == []
    assert store.count_dates(kept) == 2 and store.sent_couples("2024-05-06") == {kept}
    assert len(store.recent_suggestions(kept)) == 1
    assert list(store.email_addresses(kept)) == ["a"] and len(store.mail_log("2024-05-06")) == 1
    assert [r["couple_id"] for r in store.daily_log("2024-05-06")] == [kept]


# --------------------------------------------------------------------------- migrations and init


def test_migrate_twice_is_harmless(store: Store):
    couple_id, token = store.create_couple()
    store.add_date(couple_id, "picnic", "2024-05-01", 4, None)
    assert store.migrate() == LATEST_VERSION == store.migrate() == store.version()
    assert store.verify_token(couple_id, token) and store.count_dates() == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar() == 1


def test_migrated_schema_matches_what_queries_expect(store: Store):
    inspector = sa.inspect(store.engine)
    for table in _META.sorted_tables:
        reflected = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
        declared = {c.name: c.nullable for c in table.columns}
        assert reflected == declared, table.name


def test_upgrade_from_version_1_keeps_data(blank_db_url: str):
    store = open_store(blank_db_url)
    try:
        assert store.migrate(target=1) == 1
        with store.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO couples (id, created_at, profile, token_hash, active) "
                "VALUES ('c_old', '2023-01-01 10:00:00', '{\"kids\": true}', NULL, true)"))
            conn.execute(sa.text(
                "INSERT INTO dates (couple_id, idea_id, done_on, rating_a, rating_b, note, context, created_at) "
                "VALUES ('c_old', 'picnic', '2023-02-01', 4, NULL, 'v1 row', '{}', '2023-02-01 12:00:00')"))
        assert store.version() == 1
        assert store.migrate() == LATEST_VERSION
        assert store.get_couple("c_old") == {"id": "c_old", "created_at": "2023-01-01T10:00:00Z",
                                             "profile": {"kids": True}, "active": True, "source": "api"}
        [old] = store.list_dates("c_old")
        assert (old["idea_id"], old["done_on"], old["rating_a"], old["note"]) == ("picnic", "2023-02-01", 4, "v1 row")
        _, created = store.add_date("c_old", "bowling", "2023-03-01", 5, 5, idempotency_key="k")
        _, again = store.add_date("c_old", "bowling", "2023-03-01", 5, 5, idempotency_key="k")
        assert created and not again and store.count_dates() == 2
    finally:
        store.close()


def test_newer_database_is_refused(store: Store):
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 99"))
    with pytest.raises(StoreError, match=f"schema version 99, newer than this code \\({LATEST_VERSION}\\)"):
        store.migrate()
    with pytest.raises(StoreError, match="target version must be from 1"):
        store.migrate(target=0)


_MIGRATE_WORKER = """
    import sys
    from engine.store import open_store
    url, = sys.argv[1:]
    store = open_store(url)
    print("ready", flush=True)
    sys.stdin.readline()
    print(store.migrate())
    store.close()
"""


@pytest.mark.slow
def test_concurrent_migrations_do_the_work_once(blank_db_url: str):
    outputs = _run_workers(_MIGRATE_WORKER, [[blank_db_url]] * 4)
    assert [int(out) for out in outputs] == [LATEST_VERSION] * 4
    store = open_store(blank_db_url)
    try:
        assert store.version() == LATEST_VERSION
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar() == 1
    finally:
        store.close()


def test_init_command_twice_is_harmless(blank_db_url: str, monkeypatch):
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", blank_db_url)
    runner = CliRunner()
    first = runner.invoke(main, ["init"])
    assert first.exit_code == 0, first.output
    assert f"created; schema version {LATEST_VERSION}" in first.output
    store = open_store(blank_db_url)
    try:
        couple_id, token = store.create_couple()
        second = runner.invoke(main, ["init"])
        assert second.exit_code == 0, second.output
        assert f"already up to date; schema version {LATEST_VERSION}" in second.output
        assert store.verify_token(couple_id, token)
        demo = runner.invoke(main, ["init", "--demo"])  # not empty: demo data is not added again
        assert demo.exit_code == 0, demo.output
        assert "demo skipped: the database already holds 1 couple(s)" in demo.output
        assert store.couple_ids() == [couple_id]
    finally:
        store.close()


# --------------------------------------------------------------------------- bulk load


def _frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({
        "couple_id": ["c_a", "c_b"] * (n // 2),
        "idea_id": [f"idea-{i}" for i in range(n)],
        "done_on": pd.date_range("2024-01-01", periods=n, freq="D"),
        "rating_a": [5.0, np.nan] * (n // 2),
        "rating_b": [np.nan, 2.0] * (n // 2),
        "ctx_weather": ["rain", "sun"] * (n // 2),
    })


def test_bulk_load_round_trip_and_existing_couples(store: Store):
    dates = _frame()
    couples = [{"id": "c_a", "profile": {"budget_ceiling": 1}}, {"id": "c_solo", "active": False}]
    assert store.bulk_load(couples, dates, chunk_size=4) == (3, 6)  # c_b is implied by its dates
    assert store.couple_ids() == ["c_a", "c_b", "c_solo"]
    assert store.get_couple("c_a")["profile"] == {"budget_ceiling": 1}
    assert store.get_couple("c_b")["source"] == "import" and not store.get_couple("c_solo")["active"]
    got = store.dates_frame(context=True)
    expected = as_dates_frame(dates).sort_values("couple_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.astype({"ctx_weather": got["ctx_weather"].dtype}))
    assert store.list_dates("c_a")[0] == {**store.list_dates("c_a")[0], "rating_a": 5, "rating_b": None,
                                          "context": {"weather": "rain"}, "done_on": "2024-01-01"}

    with pytest.raises(StoreError, match=r"3 couple\(s\) already exist \(c_a, c_b, c_solo\); nothing was loaded"):
        store.bulk_load(couples, dates)
    assert store.count_dates() == 6
    store.add_date("c_b", "extra", "2024-02-01", 3, 3)
    assert store.bulk_load([], dates.iloc[:2], replace=True) == (2, 2)  # c_a and c_b reloaded
    assert store.count_dates() == 2 and store.get_couple("c_a")["profile"] == {}
    assert store.couple_ids() == ["c_a", "c_b", "c_solo"]


@pytest.mark.parametrize("column, value, match", [
    ("idea_id", "", r"row 3: idea_id is empty"),
    ("couple_id", None, r"row 3: couple_id is empty"),
    ("done_on", "someday", r"row 3: done_on 'someday' is not a date"),
    ("rating_a", "great", r"row 3: rating_a 'great' is not a number"),
])
def test_bulk_load_bad_row_loads_nothing(store: Store, column, value, match):
    dates = _frame().astype(object)
    dates.loc[3, column] = value
    with pytest.raises(ValidationError, match=match):
        store.bulk_load([{"id": "c_a"}], dates)
    assert store.is_empty() and store.count_dates() == 0


def test_bulk_load_failure_mid_load_rolls_everything_back(store: Store, monkeypatch):
    real = Store._insert_dates_chunk
    calls = []

    def fail_on_second_chunk(self, conn, part, stamp):
        calls.append(len(part))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(self, conn, part, stamp)

    monkeypatch.setattr(Store, "_insert_dates_chunk", fail_on_second_chunk)
    with pytest.raises(RuntimeError, match="disk full"):
        store.bulk_load([{"id": "c_a"}], _frame(), chunk_size=2)
    assert calls == [2, 2]  # the first chunk was written inside the transaction
    assert store.is_empty() and store.count_dates() == 0


@pytest.mark.parametrize("couples, match", [
    ([{"id": "c_a"}, {"id": "c_a"}], r"couples\[1\]\.id: duplicate couple id 'c_a'"),
    ([{"id": "c_a", "name": "Ann & Bo"}], r"couples\[0\]\.name: unknown key"),
    ([{"id": "c_a", "profile": {"kids": 2}}], r"couples\[0\]\.profile\.kids: must be true or false"),
    ([{"id": ""}], r"couples\[0\]\.id: must be a non-empty string"),
])
def test_bulk_load_bad_couples(sqlite_url, couples, match):
    store = open_store(sqlite_url)
    store.migrate()
    try:
        with pytest.raises(ValidationError, match=match):
            store.bulk_load(couples, _frame())
        assert store.is_empty()
    finally:
        store.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url):
    store = open_store(sqlite_url)
    try:
        store.migrate()
        assert os.path.exists(sqlite_url.removeprefix("sqlite:///"))
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        store.close()


def test_couple_history_equals_the_dates_frame_of_that_couple(store):
    import datetime as dt

    import pandas as pd

    cid, _ = store.create_couple()
    other, _ = store.create_couple()
    store.add_date(cid, "ice-cream-and-a-stroll", dt.date(2025, 5, 1), 5, None)
    store.add_date(other, "just-because-flowers", dt.date(2025, 5, 2), 3, 3)
    store.add_date(cid, "just-because-flowers", dt.date(2025, 4, 1), None, 2)
    fast = store.couple_history(cid)
    pd.testing.assert_frame_equal(fast, store.dates_frame([cid]))
    assert list(fast["idea_id"]) == ["ice-cream-and-a-stroll", "just-because-flowers"]
    assert store.couple_history("nobody").empty


@pytest.mark.slow
def test_tonight_reads_equal_the_slower_reads(store):
    cid, _ = store.create_couple()
    other, _ = store.create_couple()
    store.add_date(cid, "ice-cream-and-a-stroll", dt.date(2025, 5, 1), 5, None)
    store.add_date(other, "just-because-flowers", dt.date(2025, 5, 2), 3, 3)
    store.add_date(cid, "just-because-flowers", None, None, 2)
    store.add_date(cid, "board-game-night", dt.date(2025, 4, 1), 4.5, 3)
    today = dt.date(2025, 6, 10)
    store.log_suggestions([
        {"couple_id": cid, "idea_id": "a", "rank": 1, "served_on": dt.date(2025, 6, 1), "request_key": "old:0"},
        {"couple_id": cid, "idea_id": "a", "rank": 1, "served_on": dt.date(2025, 6, 8), "request_key": "old:0"},
        {"couple_id": cid, "idea_id": "b", "rank": 2, "served_on": dt.date(2025, 5, 1), "request_key": "old:0"},
        {"couple_id": cid, "idea_id": "c", "rank": 1, "served_on": today, "request_key": "abc:0"},
        {"couple_id": cid, "idea_id": "d", "rank": 1, "served_on": today, "request_key": "abc:1"},
        {"couple_id": cid, "idea_id": "e", "rank": 1, "served_on": today, "request_key": "abcd:0"},
        {"couple_id": cid, "idea_id": "e", "rank": 1, "served_on": today},
        {"couple_id": other, "idea_id": "f", "rank": 1, "served_on": today, "request_key": "abc:1"},
        {"couple_id": cid, "idea_id": "g", "rank": 1, "served_on": dt.date(2025, 6, 9), "request_key": "abc:1"},
        {"couple_id": cid, "idea_id": "g", "rank": 1, "served_on": dt.date(2025, 6, 9), "request_key": "abb:0"},
        {"couple_id": cid, "idea_id": "g", "rank": 1, "served_on": today, "request_key": "abb:0"},
    ])
    history, before, another, latest, not_for_us = store.tonight_reads(cid, today, dt.date(2025, 5, 27), "abc")
    assert not_for_us == frozenset()
    pd.testing.assert_frame_equal(history.frame(), store.couple_history(cid))
    assert history.rows[1] == ("just-because-flowers", None, None, 2.0)
    assert history.rows[2] == ("board-game-night", (dt.date(2025, 4, 1) - dt.date(1970, 1, 1)).days, 4.5, 3.0)
    assert sorted(before) == [("a", "2025-06-08"), ("g", "2025-06-09")]  # the latest day before today, in the window
    assert another == 0 and latest == [("c", 1, None)]  # no `another` counted: the list logged under abc:0
    assert store.count_another(cid, today, "abc") == 1
    _, _, another, latest, _ = store.tonight_reads(cid, today, dt.date(2025, 5, 27), "abc")
    assert another == 1 and latest == [("d", 1, None)]  # this couple's abc:1 today, not the other's, not yesterday's
    assert store.tonight_reads(cid, today, dt.date(2025, 5, 27), "abc")[0] == history  # equal reads compare equal
    empty, none_before, none, no_latest, _ = store.tonight_reads("nobody", today, dt.date(2025, 5, 27), "abc")
    assert empty.rows == () and empty.frame().empty and none_before == [] and none == 0 and no_latest == []
    # the last list under the key, by rank, even after an older list under the same key
    store.log_suggestions([{"couple_id": cid, "idea_id": i, "rank": r, "served_on": today, "request_key": "abc:1",
                            "model_version": v} for i, r, v in (("x", 1, "v1"), ("y", 2, "v1"), ("p", 1, "v2"),
                                                                 ("q", 2, "v2"), ("r", 3, "v2"))])
    assert store.tonight_reads(cid, today, dt.date(2025, 5, 27), "abc").latest_served == [
        ("p", 1, "v2"), ("q", 2, "v2"), ("r", 3, "v2")]


@pytest.mark.slow
def test_count_another_counts_per_request_and_stops_at_the_couples_daily_limit(store):
    cid, _ = store.create_couple()
    other, _ = store.create_couple()
    today = dt.date(2025, 6, 10)
    assert [store.count_another(cid, today, "abc", limit=4) for _ in range(3)] == [1, 2, 3]
    assert store.count_another(cid, today, "xyz", limit=4) == 1  # its own offset; the couple's 4th today
    assert store.count_another(cid, today, "abc", limit=4) is None  # a 5th: refused, nothing counted
    assert store.count_another(cid, today, "xyz", limit=5) == 2  # a higher limit lets it on
    assert store.tonight_reads(cid, today, today, "abc").another_today == 3
    assert store.count_another(other, today, "abc", limit=4) == 1  # another couple counts alone
    assert store.count_another(cid, today + dt.timedelta(days=1), "abc", limit=1) == 1  # a new day starts at 1
    with store._read() as conn:  # noqa: SLF001 - the first `another` of a day forgets the couple's earlier days
        days = conn.execute(sa.text("SELECT DISTINCT day FROM tonight_counts WHERE couple_id = :c"), {"c": cid}).all()
    assert len(days) == 1
    assert store.count_another(cid, today, "abc", limit=0) is None
    with pytest.raises(UnknownCoupleError):
        store.count_another("nobody", today, "abc", limit=4)
    store.delete_couple(cid)  # erasure takes the counts too
    with store._read() as conn:  # noqa: SLF001
        count = sa.text("SELECT COUNT(*) FROM tonight_counts WHERE couple_id = :c")
        assert conn.execute(count, {"c": cid}).scalar() == 0


def _plan(store, sql: str, params: tuple) -> str:
    """The query plan of a per-request read (planner told not to scan, so only an index can serve it)."""
    with store._raw_cursor() as cursor:  # noqa: SLF001 - the test reads the plans of the store's own queries
        if store.dialect == "postgresql":
            cursor.execute("ANALYZE suggestions")  # what autovacuum does once a table has grown
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def test_the_another_count_and_last_list_are_index_seeks_whatever_was_served_today(store):
    """Issue 16: the old today-keys lookup compared ``request_key COLLATE "C"``, which no index served on
    PostgreSQL, and stepped through every key logged today. Both reads now fix every leading column of an
    index (so their cost does not grow with the requests logged today); ``bench abuse`` shows the latency."""
    cid, _ = store.create_couple()
    today = dt.date(2025, 6, 10)
    store.log_suggestions([{"couple_id": cid, "idea_id": "i", "rank": 1, "served_on": today,
                            "request_key": f"abc:{n}"} for n in range(300)])
    count = _plan(store, *store._another_query(cid, today, "abc"))  # noqa: SLF001
    latest = _plan(store, *store._latest_query(cid, today, "abc:7"))  # noqa: SLF001
    if store.dialect == "postgresql":
        assert "Index" in count and "tonight_counts_pkey" in count and "Filter" not in count, count
        assert "Index" in latest and "ix_suggestions_request" in latest and "Filter" not in latest, latest
        for plan, columns in ((count, ("(couple_id)", "(day =", "(request)")),
                              (latest, ("(couple_id)", "(request_key)", "(served_on ="))):
            cond = next(line for line in plan.splitlines() if "Index Cond:" in line)
            assert all(column in cond for column in columns), plan  # every column a seek, none a filter
    else:
        assert "USING INDEX sqlite_autoindex_tonight_counts_1 (couple_id=? AND day=? AND request=?)" in count, count
        assert "USING INDEX ix_suggestions_request (couple_id=? AND request_key=? AND served_on=?)" in latest, latest


@pytest.mark.slow
def test_one_connection_shares_one_checkout_and_keeps_each_write(store, db_url):
    cid, token = store.create_couple()
    store.add_date(cid, "board-game-night", dt.date(2025, 4, 1), 4, 5)
    today = dt.date(2025, 6, 10)
    checkouts = []
    sa.event.listen(store.engine, "checkout", lambda *args: checkouts.append(1))
    row = {"couple_id": cid, "idea_id": "c", "rank": 1, "served_on": today, "request_key": "abc:0"}

    def request_calls() -> None:  # what a tonight request does on the store
        assert store.verify_token(cid, token)
        history = store.tonight_reads(cid, today, dt.date(2025, 5, 27), "abc").history
        assert len(history.rows) == 1
        store.log_suggestions([dict(row)])

    request_calls()
    assert len(checkouts) == 3  # one connection per call
    checkouts.clear()
    with store.one_connection():
        request_calls()
        with store.one_connection():  # nested: the same connection
            assert store.verify_token(cid, token)
        # the write is committed at once, inside the block: another connection sees it
        other = open_store(db_url)
        try:
            assert len(other.recent_suggestions(cid, since=today)) == 2
        finally:
            other.close()
        if store.dialect == "postgresql":  # a failed read leaves the shared connection usable
            with pytest.raises(Exception, match="no_such_table"):
                with store._raw_cursor() as cursor:
                    cursor.execute("SELECT 1 FROM no_such_table")
            assert store.verify_token(cid, token)
    assert len(checkouts) == 1
    # a write that fails inside the block rolls back alone; later calls still work
    with store.one_connection():
        with pytest.raises(ValidationError, match="rank"):
            store.log_suggestions([dict(row), {"couple_id": cid, "idea_id": "x"}])
        store.log_suggestions([dict(row, idea_id="d")])
    assert [s["idea_id"] for s in store.recent_suggestions(cid, since=today)] == ["c", "c", "d"]


def test_tonight_reads_reuse_a_history_until_a_date_changes_it(store, db_url):
    cid, _ = store.create_couple(couple_id="c1")
    store.add_date(cid, "board-game-night", dt.date(2025, 4, 1), 4, 5)
    today, since = dt.date(2025, 6, 10), dt.date(2025, 5, 27)
    first = store.tonight_reads(cid, today, since, "k:")[0]
    assert [row[0] for row in first.rows] == ["board-game-night"]
    # a row written behind the store's back (no stamp change) is not read: the cached history answers
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dates (couple_id, idea_id, done_on, rating_a, rating_b, note, context, "
                             "created_at) VALUES (:c, 'picnic', '2025-04-02', 3, 3, '', '{}', '2025-04-02')"),
                     {"c": cid})
    assert store.tonight_reads(cid, today, since, "k:")[0] is first
    # a date added through the store changes the stamp: the next read sees every row, the new one included
    store.add_date(cid, "bowling", dt.date(2025, 4, 3), 5, None)
    assert [row[0] for row in store.tonight_reads(cid, today, since, "k:")[0].rows] == [
        "board-game-night", "picnic", "bowling"]
    # another process's store writes: its stamp change reaches this store's cache too
    other = open_store(db_url)
    try:
        other.add_date(cid, "karaoke", dt.date(2025, 4, 4), 2, 2)
    finally:
        other.close()
    assert store.tonight_reads(cid, today, since, "k:")[0].rows[-1][0] == "karaoke"
    # erased and created again under the same id, with the same number of dates: a new history
    store.delete_couple(cid)
    assert store.tonight_reads(cid, today, since, "k:")[0].rows == ()
    frame = pd.DataFrame({"couple_id": [cid] * 4, "idea_id": ["a", "b", "c", "d"],
                          "done_on": pd.to_datetime(["2025-01-01"] * 4), "rating_a": [1.0] * 4,
                          "rating_b": [1.0] * 4})
    store.bulk_load([{"id": cid}], frame)
    assert [row[0] for row in store.tonight_reads(cid, today, since, "k:")[0].rows] == ["a", "b", "c", "d"]


def test_profiles_are_read_for_training_and_for_each_request(store):
    loves, _ = store.create_couple({"interests": ["Dancing", "cooking", "dancing "]})
    thrifty, _ = store.create_couple({"budget_ceiling": 1, "kids": True})
    plain, _ = store.create_couple({"kids": False})
    store.bulk_load([{"id": "imported", "profile": {"interests": ["Outdoors"], "budget_ceiling": 0}}], _frame(0))
    assert store.profiles() == {loves: Profile(("cooking", "dancing")), thrifty: Profile((), 1),
                                "imported": Profile(("outdoors",), 0)}
    assert store.profiles([plain, "imported", "nobody"]) == {"imported": Profile(("outdoors",), 0)}
    today, since = dt.date(2025, 6, 10), dt.date(2025, 5, 27)
    assert store.tonight_reads(loves, today, since, "k:")[0].profile == Profile(("cooking", "dancing"))
    assert store.tonight_reads(thrifty, today, since, "k:")[0].profile == Profile((), 1)
    assert store.tonight_reads(plain, today, since, "k:")[0].profile == NO_PROFILE
    assert store.tonight_reads("imported", today, since, "k:")[0].profile == Profile(("outdoors",), 0)
    # re-loaded with another profile: the request sees the new one (the stamp changed)
    store.bulk_load([{"id": "imported", "profile": {"interests": ["wellness"]}}], _frame(0), replace=True)
    assert store.tonight_reads("imported", today, since, "k:")[0].profile == Profile(("wellness",))
