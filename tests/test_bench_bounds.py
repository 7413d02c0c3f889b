"""``python -m bench bounds``: rankers that know the simulator's truth, on the evaluation's protocol."""

from __future__ import annotations

import json

import pytest

from bench import bounds


@pytest.mark.slow
def test_truth_with_the_novelty_bonus_breaks_the_routine_and_is_enjoyed_more(tmp_path, capsys):
    out = tmp_path / "bounds.json"
    result = bounds.main(["--couples", "300", "--bonus", "0", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    models = result["models"]
    taste, oracle = models["truth[bonus=0]"], models["truth[bonus=1]"]
    # knowing each couple's taste beats every learned model on accuracy
    assert taste["ndcg"] > max(models["engine"]["ndcg"], models["mf"]["ndcg"])
    # adding the true novelty bonus moves the top-3 out of the routine and raises its enjoyment
    assert oracle["outside_routine"] > taste["outside_routine"] + 0.1
    assert oracle["enjoyment_ratio"] > taste["enjoyment_ratio"]
    assert "| truth[bonus=1] |" in capsys.readouterr().out
