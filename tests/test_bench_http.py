"""``python -m bench http``: how interleaved rounds are summarised."""

from __future__ import annotations

from bench.http import _median, _median_run, _ratio


def test_rounds_are_summarised_by_their_medians():
    runs = [{"rps": 900.0, "p99_ms": 40.0}, {"rps": 700.0, "p99_ms": 30.0}, {"rps": 800.0, "p99_ms": 35.0}]
    assert _median_run(runs) == {"rps": 800.0, "p99_ms": 35.0}
    assert _median_run(runs[:2])["rps"] == 900.0  # two rounds: the upper one
    assert _median([0.42, None, 0.31, 0.37]) == 0.37
    assert _median([None]) is None
    assert _ratio({"rps": 818.0}, {"rps": 2674.0}) == 0.306
    assert _ratio({"rps": 818.0}, {"rps": 0.0}) is None
