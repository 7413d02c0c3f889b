"""bench/soak.py's counting, on known records (the soak itself runs against a server: python -m bench soak)."""

from __future__ import annotations

from bench.soak import Record, Shared, duplicates_in_picks, summarise


def test_a_5xx_counts_inside_the_outage_only_when_its_time_overlaps_the_window():
    shared = Shared(port=0, couples=[], ideas=[])
    shared.records = [
        Record("tonight", 1.0, 1.1, 200),
        Record("tonight", 9.0, 10.5, 503),   # began before the window, ended in it: inside
        Record("date", 12.0, 12.2, 503),     # inside
        Record("date", 20.1, 20.3, 500),     # after the window: outside
        Record("tonight", 5.0, 5.2, "conn"),  # in the kill window
    ]
    counts = summarise(shared, {"db_outage": (10.0, 20.0), "worker_kill": (4.0, 6.0)})
    assert (counts["5xx_total"], counts["5xx_in_outage"], counts["5xx_outside_outage"]) == (3, 2, 1)
    assert (counts["connection_errors"], counts["connection_errors_in_kill_window"]) == (1, 1)
    assert counts["by_kind"] == {"tonight": {"200": 1, "503": 1, "conn": 1}, "date": {"503": 1, "500": 1}}


def test_duplicate_picks_are_counted_by_couple_and_rank(tmp_path):
    (tmp_path / "picks.csv").write_text("couple_id,rank,idea_id\nc1,1,a\nc1,2,b\nc1,1,a\nc2,1,a\n",
                                        encoding="utf-8")
    assert duplicates_in_picks(tmp_path) == 1
    assert duplicates_in_picks(tmp_path / "missing") == 0
