"""``python -m bench writes``: the shipped path writes once per fresh request, the reference twice."""

from __future__ import annotations

import json

import pytest

from bench.writes import main


@pytest.mark.slow
def test_bench_writes_counts_one_transaction_against_the_two_of_the_reference(tmp_path, capsys):
    out = tmp_path / "writes.json"
    main(["--couples", "6", "--rounds", "1", "--procs", "2", "--out", str(out)])
    result = json.loads(out.read_text())
    # every measured request is a couple's first: three new prompts and a log
    assert result["median"]["one"]["transactions"] == 1.0
    assert result["median"]["two"]["transactions"] == 2.0
    assert [run["requests"] for run in result["runs"]["one"]] == [6]
    assert result["ratio_two_over_one"]["writes_ms"] > 0
    assert "ratio_two_over_one" in capsys.readouterr().out


def test_bench_writes_refuses_a_size_below_one(capsys):
    with pytest.raises(SystemExit):
        main(["--couples", "0"])
    assert "--couples, --rounds and --procs must be >= 1" in capsys.readouterr().err
