"""``dateideas evaluate``: every figure carries its spread over seeds (mean, 95% interval,
per-seed values), the report draws error bars, and a one-line note says when the intervals are
wider than the gaps between models."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from matplotlib.container import BarContainer

from engine.cli import main
from engine.lab.baselines import MostPopular, RandomRecommender
from engine.lab.evaluation import interval, noise_note
from engine.lab.report import _bars_figure, render_report


def test_interval_is_the_student_t_interval_of_the_mean():
    # mean 2, sample sd 1, n 3: half-width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    assert interval([1.0, 2.0, 3.0]) == [-0.4841, 4.4841]
    assert interval([0.5, 0.5]) == [0.5, 0.5]
    assert interval([0.3]) is None  # one seed has no spread


def _models(**cis):
    return {name: {"ndcg": (lo + hi) / 2, "ndcg_ci": [lo, hi]} for name, (lo, hi) in cis.items()}


def test_noise_note_names_the_models_whose_intervals_overlap():
    apart = _models(engine=(0.30, 0.34), mf=(0.20, 0.24), random=(0.0, 0.04))
    assert noise_note(apart, seeds=3) is None
    tied = _models(engine=(0.25, 0.31), engine_loo=(0.30, 0.35), mf=(0.20, 0.24), popular=(0.19, 0.22),
                   random=(0.0, 0.04))
    assert noise_note(tied, seeds=3) == (
        "the 95% intervals over 3 seeds are wider than the gaps between these models, so their order is "
        "noise at this size (evaluate more couples or seeds): ndcg: engine_loo ~ engine, mf ~ popular")
    assert noise_note(apart, seeds=1).startswith("one seed gives no interval")


def _cheap(engine=True):
    from engine.learning.model import EnjoymentModel

    return {"engine": lambda: EnjoymentModel(max_iter=5), "popular": MostPopular, "random": RandomRecommender}


@pytest.fixture
def cheap_models(monkeypatch):
    from engine.lab import evaluation

    monkeypatch.setattr(evaluation, "default_models", _cheap)


@pytest.fixture(scope="module")
def three_seeds():
    """(JSON document, text output) of the same evaluation: 60 couples, 3 seeds, k 5."""
    from engine.lab import evaluation

    args = ["evaluate", "--couples", "60", "--seeds", "3", "--k", "5", "--no-progress"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "default_models", _cheap)
        as_json = CliRunner().invoke(main, [*args, "--json"])
        as_text = CliRunner().invoke(main, args)
    assert as_json.exit_code == 0 and as_text.exit_code == 0, as_json.output + as_text.output
    return json.loads(as_json.output), as_text.output


@pytest.mark.slow
def test_json_carries_intervals_and_per_seed_values_and_keeps_the_old_keys(three_seeds):
    doc, _ = three_seeds
    assert doc["seeds"] == 3 and doc["k"] == 5 and list(doc["models"]) == ["engine", "popular", "random"]
    for values in doc["models"].values():
        for metric in ("ndcg", "recall", "precision", "novelty", "coverage", "exposure_gini", "popular_share_top10",
                       "enjoyment_ratio"):
            seeds = values["per_seed"][metric]
            assert len(seeds) == 3
            assert values[metric] == pytest.approx(sum(seeds) / 3, abs=1e-4)  # the old key: the mean
            assert values[f"{metric}_ci"] == pytest.approx(interval(seeds), abs=1e-3)  # per_seed is rounded
            lo, hi = values[f"{metric}_ci"]
            assert lo <= values[metric] <= hi
    if "note" in doc:
        assert doc["note"].startswith("the 95% intervals over 3 seeds are wider than the gaps")


@pytest.mark.slow
def test_table_shows_mean_plus_minus_half_width_per_seed_values_and_the_note(three_seeds):
    doc, text = three_seeds
    lines = text.splitlines()
    assert lines[0] == "dataset synthetic, metrics @5 (mean ± 95% interval over 3 seeds)"
    engine = doc["models"]["engine"]
    lo, hi = engine["ndcg_ci"]
    row = next(line for line in lines if line.startswith("engine "))
    assert row.split()[1] == f"{engine['ndcg']:.4f}±{(hi - lo) / 2:.4f}"
    head = lines[1].split()
    for metric in ("coverage", "exposure_gini", "popular_share_top10"):  # breadth beside accuracy
        lo, hi = engine[f"{metric}_ci"]
        assert row.split()[head.index(metric)] == f"{engine[metric]:.4f}±{(hi - lo) / 2:.4f}"
    seeds = lines[lines.index("per seed: ndcg; enjoyment_ratio") + 1]
    assert seeds.split()[1:4] == [f"{v:.4f}" for v in engine["per_seed"]["ndcg"]]
    assert ("note: " + doc["note"] in lines) if "note" in doc else not any(line.startswith("note:") for line in lines)


@pytest.mark.slow
def test_one_seed_says_there_is_no_interval(cheap_models):
    result = CliRunner().invoke(main, ["evaluate", "--couples", "40", "--seeds", "1", "--k", "5", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == ("note: one seed gives no interval, so differences between models may "
                                              "be noise; run --seeds 3 or more to see the spread")
    assert "±" not in result.output


def test_report_bars_carry_error_bars_of_the_interval():
    models = {"engine": {"ndcg": 0.3, "ndcg_ci": [0.26, 0.34], "per_seed": {"ndcg": [0.27, 0.3, 0.33]}},
              "mf": {"ndcg": 0.2, "ndcg_ci": [0.19, 0.21], "per_seed": {"ndcg": [0.2, 0.19, 0.21]}}}
    ax = _bars_figure(models).axes[0]
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    segments = bars.errorbar.lines[2][0].get_segments()
    assert [(round(s[0][1], 4), round(s[1][1], 4)) for s in segments] == [(0.26, 0.34), (0.19, 0.21)]
    page = render_report({"dataset": "t", "k": 10, "seeds": 3, "models": models,
                          "note": "the 95% intervals over 3 seeds are wider than the gaps"})
    assert "<td title=\"per seed: 0.2700 0.3000 0.3300\">0.3000 &plusmn; 0.0400</td>" in page
    assert 'role="note">Note: the 95% intervals over 3 seeds' in page and "<h2>Per seed</h2>" in page
    assert not math.isnan(float(bars.datavalues[0]))


@pytest.mark.slow
def test_cli_report_is_written_with_intervals(cheap_models, tmp_path):
    report = tmp_path / "eval.html"
    result = CliRunner().invoke(main, ["evaluate", "--couples", "40", "--seeds", "2", "--k", "5", "--no-progress",
                                       "--report", str(report)])
    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    assert "&plusmn;" in page and "<h2>Per seed</h2>" in page and "95% interval" in page
