"""Offline evaluation: metrics, splits, the protocol end to end, and the CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.base import BaseEstimator

from engine.cli import main
from engine.domain.catalog import load_catalog
from engine.domain.dates import as_dates_frame, mean_rating
from engine.lab.baselines import MostPopular, RandomRecommender
from engine.lab.evaluation import (
    coverage,
    evaluate,
    intra_list_diversity,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    split_dates,
    tradeoff_curve,
)
from engine.lab.simulator import simulate

ROOT = Path(__file__).resolve().parent.parent


def _write_catalog(folder: Path, n: int = 60, seed: int = 0) -> Path:
    """A synthetic catalog in the shipped schema, independent of data/ideas.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = json.loads((ROOT / "data" / "schema.json").read_text(encoding="utf-8"))
    attrs = schema["attributes"]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = {"id": f"idea-{i:03d}", "title": f"Idea {i}", "description": f"Idea number {i}."}
        for name, spec in attrs.items():
            kind = spec["kind"]
            if name == "category":
                row[name] = spec["values"][i % len(spec["values"])]
            elif kind == "categorical":
                row[name] = spec["values"][rng.integers(len(spec["values"]))]
            elif kind == "ordinal":
                row[name] = spec["order"][rng.integers(len(spec["order"]))]
            elif kind == "numeric":
                row[name] = str(int(rng.integers(30, 240)))
            elif kind == "boolean":
                row[name] = "true" if rng.random() < 0.5 else "false"
            elif kind == "multi":
                values = spec.get("values") or ["fun", "calm", "quick", "social"]
                pick = rng.choice(len(values), size=rng.integers(1, len(values) + 1), replace=False)
                row[name] = "|".join(values[j] for j in sorted(pick))
            else:
                row[name] = ""
        rows.append(row)
    with (folder / "ideas.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "title", "description", *attrs])
        writer.writeheader()
        writer.writerows(rows)
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    return _write_catalog(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="module")
def world(catalog_dir):
    return simulate(80, seed=1, catalog=load_catalog(catalog_dir))


# --------------------------------------------------------------------------- metrics

def test_ndcg_known_values():
    # hits at ranks 2 and 4: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d"}, k=4) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d"}, k=4) == pytest.approx(0.650921, abs=1e-6)
    assert ndcg_at_k(["b", "d", "a"], {"b", "d"}, k=3) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], {"a"}, k=1) == 0.0
    assert ndcg_at_k(["a"], set(), k=5) == 0.0
    # more relevant ideas than k: the ideal list is k hits
    assert ndcg_at_k(["a", "b"], {"a", "b", "c"}, k=2) == pytest.approx(1.0)


def test_recall_and_precision_known_values():
    assert recall_at_k(["a", "b", "c"], {"a", "z"}, k=2) == 0.5
    assert recall_at_k(["b", "c"], {"a", "z"}, k=2) == 0.0
    assert precision_at_k(["a", "b", "c"], {"a", "z"}, k=2) == 0.5
    assert precision_at_k(["a", "b", "c"], {"a", "c"}, k=3) == pytest.approx(2 / 3)
    # a short list still divides by k
    assert precision_at_k(["a"], {"a"}, k=4) == 0.25


def test_novelty_coverage_diversity_known_values():
    popularity = np.array([0.5, 0.25, 1.0, 0.125])
    # list 1: (1 + 2) / 2, list 2: 0 -> mean 0.75
    assert novelty([[0, 1], [2]], popularity) == pytest.approx(0.75)
    assert coverage([[0, 1], [1, 2]], 8) == 3 / 8
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert intra_list_diversity(np.stack([e1, e2])) == pytest.approx(1.0)
    assert intra_list_diversity(np.stack([e1, e1])) == pytest.approx(0.0)
    mid = (e1 + e2) / np.sqrt(2)
    # pairs: (e1,e2)=1, (e1,mid)=1-0.7071, (e2,mid)=1-0.7071
    assert intra_list_diversity(np.stack([e1, e2, mid])) == pytest.approx((1 + 2 * (1 - 1 / np.sqrt(2))) / 3)
    assert intra_list_diversity(np.stack([e1])) == 0.0


# --------------------------------------------------------------------------- split

def _toy_dates():
    rows = []
    for couple, n in (("two", 2), ("three", 3), ("five", 5), ("ten", 10)):
        rows += [(couple, f"i{j}", 3.0 + (j % 3)) for j in range(n)]
    rows.append(("ten", "i0", 1.0))  # a repeat of i0: averaged with the first rating
    rows.append(("ten", "unrated", np.nan))
    frame = pd.DataFrame(rows, columns=["couple_id", "idea_id", "rating"])
    return as_dates_frame(frame)


def test_split_properties():
    dates = _toy_dates()
    split = split_dates(dates, seed=0)
    assert split.couples == ["five", "ten", "three"]  # "two" has only 2 rated ideas
    assert {c: len(v) for c, v in split.test.items()} == {"three": 1, "five": 1, "ten": 2}
    for couple, held in split.test.items():
        train_ideas = set(split.train.loc[split.train["couple_id"] == couple, "idea_id"])
        assert not train_ideas & set(held), "a held-out idea leaked into training"
        assert split.history[couple] == train_ideas
        assert "unrated" not in held
    assert "unrated" in split.history["ten"]
    removed = sum(int(((dates["couple_id"] == c) & dates["idea_id"].isin(list(h))).sum())
                  for c, h in split.test.items())
    assert len(split.train) + removed == len(dates)
    assert set(split.train.loc[split.train["couple_id"] == "two", "idea_id"]) == {"i0", "i1"}


def test_split_is_seeded():
    dates = _toy_dates()
    assert split_dates(dates, seed=5).test == split_dates(dates, seed=5).test
    tests = {json.dumps(split_dates(dates, seed=s).test, sort_keys=True) for s in range(10)}
    assert len(tests) > 1


def test_split_averages_ratings_per_couple_and_idea():
    dates = _toy_dates()
    for seed in range(50):
        split = split_dates(dates, seed=seed)
        if "i0" in split.test["ten"]:
            assert split.test["ten"]["i0"] == 2.0  # mean of 3 and 1
            return
    pytest.fail("i0 was never held out in 50 seeds")


def test_split_holds_out_about_a_fifth(world):
    split = split_dates(world.dates, seed=0)
    rated = world.dates.assign(r=mean_rating(world.dates)).dropna(subset=["r"])
    n_rated = rated.groupby("couple_id")["idea_id"].nunique()
    for couple, held in split.test.items():
        assert len(held) == max(1, round(0.2 * n_rated[couple]))


def test_split_rejects_bad_share():
    with pytest.raises(ValueError, match="test_share must be between 0 and 1"):
        split_dates(_toy_dates(), seed=0, test_share=1.5)


# --------------------------------------------------------------------------- protocol

class _Peeker(BaseEstimator):
    """Knows every couple's full ratings (cheats): ranks the relevant held-out ideas first."""

    def __init__(self, full=None, relevant=4.0):
        self.full = full
        self.relevant = relevant

    def fit(self, dates, catalog, profiles=None):
        self.ids_ = list(catalog.ids)
        return self

    def recommend(self, couples, k, context=None, exclude=None, history=None, profiles=None):
        rated = self.full.assign(r=mean_rating(self.full)).groupby(["couple_id", "idea_id"])["r"].mean()
        out = []
        for c in couples:
            good = [i for i, r in rated.loc[c].items() if r >= self.relevant and i not in exclude[c]]
            rest = [i for i in self.ids_ if i not in exclude[c] and i not in good]
            out.append([(i, 1.0) for i in (good + rest)[:k]])
        return out


class _Oracle(BaseEstimator):
    """Ranks by the simulator's true expected enjoyment."""

    def __init__(self, world=None):
        self.world = world

    def fit(self, dates, catalog, profiles=None):
        self.ids_ = np.asarray(catalog.ids)
        return self

    def recommend(self, couples, k, context=None, exclude=None, history=None, profiles=None):
        E = self.world.expected_enjoyment(list(couples))
        out = []
        for r, c in enumerate(couples):
            order = [j for j in np.argsort(-E[r], kind="stable") if self.ids_[j] not in exclude[c]]
            out.append([(str(self.ids_[j]), float(E[r, j])) for j in order[:k]])
        return out


def test_evaluate_known_answers(world):
    result = evaluate(world, {
        "peeker": lambda: _Peeker(full=world.dates, relevant=4.0),
        "oracle": lambda: _Oracle(world=world),
        "popular": MostPopular,
        "random": RandomRecommender,
    }, k=10, seeds=2, relevant=4, progress=False)
    assert result["dataset"] == "synthetic" and result["k"] == 10
    assert list(result["models"]) == ["peeker", "oracle", "popular", "random"]
    peeker, oracle = result["models"]["peeker"], result["models"]["oracle"]
    assert peeker["ndcg"] == 1.0  # every relevant held-out idea ranked first
    assert peeker["recall"] == 1.0
    assert oracle["enjoyment_ratio"] == 1.0
    assert result["models"]["random"]["ndcg"] < result["models"]["popular"]["ndcg"]
    assert result["models"]["popular"]["coverage"] < result["models"]["random"]["coverage"]
    assert result["models"]["popular"]["novelty"] < result["models"]["random"]["novelty"]
    names = {"ndcg", "recall", "precision", "novelty", "routine_distance", "diversity", "coverage",
             "exposure_gini", "popular_share_top10", "enjoyment_ratio", "outside_routine"}
    for metrics in result["models"].values():
        assert set(metrics) == names | {f"{m}_ci" for m in names} | {"per_seed"}
        assert set(metrics["per_seed"]) == names and all(len(v) == 2 for v in metrics["per_seed"].values())
        assert 0 <= metrics["outside_routine"] <= 1
        assert 0 <= metrics["enjoyment_ratio"] <= 1
        assert 0 <= metrics["exposure_gini"] < 1 and 0 <= metrics["popular_share_top10"] <= 1


def test_evaluate_same_splits_for_every_model(world):
    result = evaluate(world, {"a": MostPopular, "b": MostPopular}, k=5, seeds=2, progress=False)
    assert result["models"]["a"] == result["models"]["b"]


def test_evaluate_dataset_without_truth_has_no_enjoyment(world):
    dataset = SimpleNamespace(catalog=world.catalog, dates=world.dates)
    result = evaluate(dataset, {"popular": MostPopular}, k=5, seeds=1, progress=False, name="mine")
    assert result["dataset"] == "mine"
    assert "enjoyment_ratio" not in result["models"]["popular"]


def test_evaluate_refuses_an_excluded_idea(world):
    class _Repeater(_Peeker):
        def recommend(self, couples, k, context=None, exclude=None, history=None, profiles=None):
            return [[(sorted(exclude[c])[0], 1.0)] for c in couples]

    with pytest.raises(ValueError, match="recommended an excluded .* idea to couple"):
        evaluate(world, {"bad": lambda: _Repeater(full=world.dates)}, seeds=1, progress=False)


def test_evaluate_rejects_bad_arguments(world):
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        evaluate(world, {"p": MostPopular}, k=0, progress=False)
    with pytest.raises(ValueError, match="models is empty"):
        evaluate(world, {}, progress=False)


class _Dial(BaseEstimator):
    """routine_weight 0 = most popular first, 1 = least popular first; counts its fits."""

    fits = 0

    def __init__(self, routine_weight=0.0):
        self.routine_weight = routine_weight

    def fit(self, dates, catalog, profiles=None):
        _Dial.fits += 1
        self.pop_ = MostPopular().fit(dates, catalog)
        return self

    def recommend(self, couples, k, context=None, exclude=None, history=None, profiles=None):
        ranked = self.pop_.recommend(couples, len(self.pop_.idea_ids_), exclude=exclude)
        w = self.routine_weight
        return [sorted(lst, key=lambda p: -((1 - w) * p[1] - w * p[1]))[:k] for lst in ranked]


def test_tradeoff_curve_refits_once_per_seed(world):
    _Dial.fits = 0
    curve = tradeoff_curve(world, _Dial, [0.0, 1.0], k=5, seeds=2, progress=False)
    assert _Dial.fits == 2
    assert [row["routine_weight"] for row in curve] == [0.0, 1.0]
    assert curve[1]["novelty"] > curve[0]["novelty"]
    assert curve[1]["ndcg"] < curve[0]["ndcg"]
    with pytest.raises(ValueError, match="has no parameter 'diversity'"):
        tradeoff_curve(world, _Dial, [0.0], seeds=1, param="diversity", progress=False)


# --------------------------------------------------------------------------- CLI

@pytest.fixture
def light_engine(monkeypatch):
    """The real default models, with a smaller boosted-tree engine to keep tests quick."""
    from engine.lab import evaluation
    from engine.learning.model import EnjoymentModel

    real = evaluation.default_models

    def models(engine=True):
        out = real(engine=engine)
        if engine:
            out["engine"] = lambda: EnjoymentModel(max_iter=15)
            out["engine_loo"] = lambda: EnjoymentModel(max_iter=15, training_history="others")
        return out

    monkeypatch.setattr(evaluation, "default_models", models)


@pytest.mark.slow
def test_cli_evaluate_synthetic_json_and_report(catalog_dir, tmp_path, light_engine):
    report = tmp_path / "eval.html"
    result = CliRunner().invoke(main, [
        "evaluate", "--data", "synthetic", "--couples", "60", "--seeds", "1", "--k", "5",
        "--catalog", str(catalog_dir), "--json", "--no-progress", "--report", str(report)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) == {"dataset", "k", "seeds", "models", "note"}  # one seed: the note says there is no interval
    assert doc["dataset"] == "synthetic" and doc["k"] == 5
    assert list(doc["models"]) == ["engine", "engine_loo", "random", "popular", "item_knn", "mf"]
    for metrics in doc["models"].values():
        assert {"ndcg", "recall", "precision", "novelty", "routine_distance", "diversity",
                "coverage", "exposure_gini", "popular_share_top10", "enjoyment_ratio"} <= set(metrics)
    assert doc["models"]["random"]["ndcg"] < doc["models"]["popular"]["ndcg"]
    assert doc["models"]["random"]["ndcg"] < doc["models"]["item_knn"]["ndcg"]
    page = report.read_text(encoding="utf-8")
    # the trade-off curve, the bars, and accuracy against coverage
    assert page.count('<img src="data:image/png;base64,') == 3
    assert 'id="accuracy-coverage"' in page
    assert "routine_weight" in page and "item_knn" in page
    assert "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_cli_evaluate_dataset_folder(tmp_path, light_engine):
    runner = CliRunner()
    out = tmp_path / "uci"
    assert runner.invoke(main, ["convert", "uci-restaurant", str(ROOT / "data" / "uci-restaurant"),
                                str(out)]).exit_code == 0
    result = runner.invoke(main, ["evaluate", "--data", str(out), "--seeds", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dataset uci, metrics @10")
    for name in ("engine", "random", "popular", "item_knn", "mf"):
        assert f"\n{name} " in result.output
    # UCI has no dates: engine_loo would be the engine again, so it is not fitted, and the table says why
    assert "\nengine_loo " not in result.output and "note: engine_loo skipped" in result.output


def test_cli_evaluate_default_relevant_is_top_of_scale(tmp_path, monkeypatch):
    from engine.lab import evaluation

    seen = {}

    def fake_models(engine=True):
        return {"popular": MostPopular}

    def spy(source, models, **kwargs):
        seen.update(kwargs)
        return {"dataset": kwargs["name"], "k": kwargs["k"], "models": {"popular": {"ndcg": 0.0}}}

    monkeypatch.setattr(evaluation, "default_models", fake_models)
    monkeypatch.setattr(evaluation, "evaluate", spy)
    out = tmp_path / "uci"
    CliRunner().invoke(main, ["convert", "uci-restaurant", str(ROOT / "data" / "uci-restaurant"), str(out)])
    result = CliRunner().invoke(main, ["evaluate", "--data", str(out), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert seen["relevant"] == 2.0


def test_cli_evaluate_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "neither 'synthetic' nor a dataset folder" in result.output
    result = runner.invoke(main, ["evaluate", "--data", str(tmp_path), "--couples", "5"])
    assert result.exit_code == 2
    assert "--couples only applies to --data synthetic" in result.output
    result = runner.invoke(main, ["evaluate", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "problem(s) in the dataset" in result.output


def test_tradeoff_figure_draws_the_enjoyment_and_routine_bars_on_synthetic_curves():
    from engine.lab.report import ENJOYMENT_BAR, OUTSIDE_ROUTINE_BAR, _tradeoff_figure

    curve = [{"routine_weight": w, "ndcg": 0.3 - w / 4, "routine_distance": 0.3 + w / 3, "novelty": 4 + w,
              "enjoyment_ratio": 0.91 - w / 10, "outside_routine": 0.2 + w / 2} for w in (0.0, 0.3, 0.6)]
    axes = [ax for ax in _tradeoff_figure(curve, 10, "routine_weight", 0.3).axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in axes] == ["NDCG@10"] * 4 + ["Enjoyment ratio (top-3)"]
    last = axes[-1]
    assert last.get_xlabel() == "Top-3 outside routine"
    levels = sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in last.get_lines()
                    if line.get_linestyle() == "--")
    assert levels == sorted([(0.0, ENJOYMENT_BAR), (OUTSIDE_ROUTINE_BAR, 0.0)])
    # a dataset without the simulator's truth has no such panel
    plain = [{k: v for k, v in row.items() if k not in ("enjoyment_ratio", "outside_routine")} for row in curve]
    assert len([ax for ax in _tradeoff_figure(plain, 10, "routine_weight", None).axes if ax.get_visible()]) == 2
