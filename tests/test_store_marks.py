"""The store's "not for us" and saved ideas, and changing or deleting a date (both backends)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.store import NOT_FOR_US, SAVED, Store, UnknownCoupleError, ValidationError


def _reads(store: Store, couple_id: str):
    today = dt.date(2025, 6, 10)
    return store.tonight_reads(couple_id, today, dt.date(2025, 5, 27), "abc")


def test_not_for_us_marks_are_read_with_tonight_and_undone(store: Store):
    cid, _ = store.create_couple()
    other, _ = store.create_couple()
    assert store.mark_idea(cid, "picnic", NOT_FOR_US) is True
    assert store.mark_idea(cid, "picnic", NOT_FOR_US) is False  # once
    assert store.mark_idea(cid, "bowling", NOT_FOR_US) and store.mark_idea(cid, "opera", SAVED)
    assert store.mark_idea(other, "karaoke", NOT_FOR_US)
    assert _reads(store, cid).not_for_us == {"picnic", "bowling"}
    assert {m["idea_id"] for m in store.marked_ideas(cid, NOT_FOR_US)} == {"picnic", "bowling"}
    assert [m["idea_id"] for m in store.marked_ideas(cid, SAVED)] == ["opera"]
    assert store.not_for_us_by_couple([cid, other, "nobody"]) == {cid: {"picnic", "bowling"}, other: {"karaoke"}}
    frame = store.dismissals_frame()
    assert sorted(zip(frame["couple_id"], frame["idea_id"])) == sorted(
        [(cid, "picnic"), (cid, "bowling"), (other, "karaoke")])
    assert str(frame["created_at"].dtype).startswith("datetime64")
    assert store.unmark_idea(cid, "picnic", NOT_FOR_US) and not store.unmark_idea(cid, "picnic", NOT_FOR_US)
    assert _reads(store, cid).not_for_us == {"bowling"}
    with pytest.raises(ValidationError):
        store.mark_idea(cid, "picnic", "meh")
    with pytest.raises(UnknownCoupleError):
        store.mark_idea("nobody", "picnic", SAVED)
    store.delete_couple(cid)  # erasure takes the marks too
    assert store.marked_ideas(cid, SAVED) == [] and store.not_for_us_by_couple([cid]) == {}


def test_update_and_delete_a_date_only_of_its_couple_and_change_the_history_stamp(store: Store):
    cid, _ = store.create_couple()
    other, _ = store.create_couple()
    first, _ = store.add_date(cid, "picnic", "2025-06-01", 2, None, idempotency_key="k1")
    second, _ = store.add_date(cid, "bowling", "2025-06-02", 4, 4)
    before = _reads(store, cid).history
    changed = store.update_date(cid, first["id"], {"rating_a": 5, "rating_b": 3, "note": "fixed"})
    assert (changed["rating_a"], changed["rating_b"], changed["note"], changed["idea_id"]) == (5, 3, "fixed", "picnic")
    after = _reads(store, cid).history
    assert after != before and after.rows[0][2:] == (5.0, 3.0)
    assert store.update_date(other, first["id"], {"rating_a": 1}) is None  # another couple's date: untouched
    assert store.update_date(cid, 10**30, {"rating_a": 1}) is None
    assert store.get_date(cid, first["id"])["rating_a"] == 5 and store.get_date(other, first["id"]) is None
    with pytest.raises(ValidationError):
        store.update_date(cid, first["id"], {"couple_id": other})
    assert store.delete_date(other, first["id"]) is False and store.count_dates(cid) == 2
    assert store.delete_date(cid, first["id"]) is True and store.delete_date(cid, first["id"]) is False
    assert [d["id"] for d in store.list_dates(cid)] == [second["id"]]
    assert [r[0] for r in _reads(store, cid).history.rows] == ["bowling"]
    # the idempotency key of the deleted date is free again: a new date, not the old one's replay
    again, created = store.add_date(cid, "picnic", "2025-06-01", 2, None, idempotency_key="k1")
    assert created and again["id"] != first["id"]
