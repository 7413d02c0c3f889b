"""The promotion gate (engine.app.gate): the live ARTIFACT as the yardstick, guards that can fail, pins."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from engine.app.gate import GateSettings, judge
from engine.app.training import holdout_ndcg, time_split, train_and_maybe_promote
from engine.cli import main
from engine.domain.profiles import from_couples
from engine.learning.features import FEATURE_NAMES
from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry

FAST = {"rounds": 1}
SMALL = GateSettings(loop_couples=20, loop_weeks=3)
GOOD = {"holdout_ndcg@10": 0.25, "cold_start_interest_share": 1.0, "constraint_violations": 0,
        "checked_picks": 300, "loop_enjoyment": 4.0}


class _ShuffledTargets(EnjoymentModel):
    """A broken candidate: its training labels are shuffled, so it learns nothing about taste."""

    def _examples(self, *args, **kwargs):
        X, y, key = super()._examples(*args, **kwargs)
        return X, np.random.default_rng(0).permutation(y), key


class _NoInterests(EnjoymentModel):
    """A broken candidate: the stated-interest features are switched off."""

    def _fold_linear(self):
        super()._fold_linear()
        self.linear_weights_ = self.linear_weights_.copy()
        for name in ("interest", "interest_novel", "interest_cold"):
            self.linear_weights_[FEATURE_NAMES.index(name)] = 0.0


# ------------------------------------------------------------------ the verdict's known answers

@pytest.mark.parametrize("change, live_change, failed", [
    ({}, {}, []),
    ({"holdout_ndcg@10": 0.226}, {}, []),                         # 0.226 >= 0.9 x 0.25 = 0.225
    ({"holdout_ndcg@10": 0.224}, {}, ["holdout_ndcg@10"]),
    ({"holdout_ndcg@10": float("nan")}, {}, ["holdout_ndcg@10"]),
    ({"cold_start_interest_share": 0.67}, {"cold_start_interest_share": 0.7}, []),
    ({"cold_start_interest_share": 0.5}, {"cold_start_interest_share": 0.5}, ["cold_start_interest_share"]),
    ({"cold_start_interest_share": 0.8}, {}, ["cold_start_interest_share"]),  # live 1.0 - 0.1 = 0.9
    ({"cold_start_interest_share": float("nan")}, {}, []),        # nobody stated an interest
    ({"constraint_violations": 1}, {}, ["constraint_violations"]),
    ({"loop_enjoyment": 3.91}, {}, []),
    ({"loop_enjoyment": 3.89}, {}, ["loop_enjoyment"]),
    ({"holdout_ndcg@10": 0.1, "constraint_violations": 2}, {}, ["holdout_ndcg@10", "constraint_violations"]),
])
def test_judge_known_answers(change, live_change, failed):
    verdict = judge(GOOD | change, GOOD | live_change)
    assert verdict.failed() == failed and verdict.passed is (not failed)
    for metric in failed:
        assert metric in verdict.reason and verdict.reason.startswith("refused: ")


def test_without_a_live_model_the_absolute_bounds_still_apply():
    assert judge(GOOD, None).passed
    refused = judge(GOOD | {"cold_start_interest_share": 0.5}, None)
    assert refused.failed() == ["cold_start_interest_share"]
    assert "new couples' picks on their stated interests 0.50 < 0.67" in refused.reason
    assert judge(GOOD | {"constraint_violations": 3}, None).failed() == ["constraint_violations"]


# ------------------------------------------------------------------ trained candidates (slow)

@pytest.fixture(scope="module")
def data(tiny_world):
    return tiny_world.dates, tiny_world.catalog, from_couples(tiny_world.couples)


@pytest.fixture(scope="module")
def live_registry(tmp_path_factory, data):
    dates, catalog, profiles = data
    folder = tmp_path_factory.mktemp("gate") / "models"
    first = train_and_maybe_promote(dates, catalog, Registry(folder), params=FAST, profiles=profiles,
                                    gate_settings=SMALL)
    assert first.promoted, first.reason
    return folder, first


@pytest.fixture
def registry(tmp_path, live_registry):
    return Registry(shutil.copytree(live_registry[0], tmp_path / "models"))


@pytest.mark.slow
def test_the_first_model_passes_and_its_card_records_every_gate_metric(live_registry, data):
    folder, first = live_registry
    card = Registry(folder).card(first.version)
    gate = card["gate"]
    assert gate["passed"] and gate["promoted"] and gate["live_version"] is None
    assert {c["metric"] for c in gate["checks"]} == {"holdout_ndcg@10", "cold_start_interest_share",
                                                      "constraint_violations", "loop_enjoyment"}
    figures = gate["figures"]
    # the known answer: a new couple with stated interests gets >= 2 of 3 picks on them
    assert figures["cold_start_interest_share"] >= 2 / 3 and figures["cold_start_picks"] == 36
    assert figures["constraint_violations"] == 0 and figures["checked_picks"] > 36
    assert 1 <= figures["loop_enjoyment"] <= 5 and figures["loop_dates"] == 20 * 3


@pytest.mark.slow
def test_the_live_model_is_judged_as_the_artifact_it_is(registry, data):
    dates, catalog, profiles = data
    live = registry.live_version()
    result = train_and_maybe_promote(dates, catalog, registry, params=FAST, profiles=profiles, gate_settings=SMALL)
    assert result.promoted, result.reason  # an honest retrain passes
    train, test = time_split(dates)
    artifact, _ = registry.load(live, catalog=catalog)
    expected = holdout_ndcg(artifact, train, test, profiles=profiles)["ndcg"]
    gate = registry.card(result.version)["gate"]
    assert gate["live_version"] == live
    assert gate["live_figures"]["holdout_ndcg@10"] == pytest.approx(expected)
    # the figure judged is the saved artifact's; the before-cut fit's figure is recorded beside it
    saved, _ = registry.load(result.version, catalog=catalog)
    assert gate["figures"]["holdout_ndcg@10"] == pytest.approx(
        holdout_ndcg(saved, train, test, profiles=profiles)["ndcg"])
    assert 0 < gate["figures"]["holdout_ndcg@10_before_cut"] < 1


@pytest.mark.slow
def test_a_candidate_with_shuffled_targets_is_refused_naming_the_metric(registry, data):
    dates, catalog, profiles = data
    live = registry.live_version()
    result = train_and_maybe_promote(dates, catalog, registry, params=FAST, profiles=profiles,
                                     gate_settings=SMALL, factory=_ShuffledTargets)
    assert not result.promoted and registry.live_version() == live
    assert result.reason.startswith("refused: holdout_ndcg@10 NDCG@10 ")
    gate = registry.card(result.version)["gate"]  # saved, with the verdict, for the record
    assert not gate["passed"] and "holdout_ndcg@10" in [c["metric"] for c in gate["checks"] if not c["passed"]]


@pytest.mark.slow
def test_a_candidate_without_the_interest_features_is_refused_naming_the_metric(registry, data):
    dates, catalog, profiles = data
    live = registry.live_version()
    result = train_and_maybe_promote(dates, catalog, registry, params=FAST, profiles=profiles,
                                     gate_settings=SMALL, factory=_NoInterests)
    assert not result.promoted and registry.live_version() == live
    assert "cold_start_interest_share new couples' picks on their stated interests" in result.reason
    assert result.metrics["cold_start_interest_share"] < 2 / 3


@pytest.mark.slow
def test_a_rollback_pins_until_promote_or_unpin(registry, data, monkeypatch):
    dates, catalog, profiles = data
    first = registry.live_version()
    model, _ = registry.load(first, catalog=catalog)
    second = registry.save(model)
    registry.promote(second, catalog=catalog)
    monkeypatch.setenv("DATEIDEAS_MODEL_DIR", str(registry.model_dir))
    out = CliRunner().invoke(main, ["models", "rollback"])
    assert out.exit_code == 0 and f"rolled back: {first} is live and pinned" in out.output
    assert registry.pinned_version() == first
    result = train_and_maybe_promote(dates, catalog, registry, params=FAST, profiles=profiles, gate_settings=SMALL)
    assert not result.promoted and registry.live_version() == first
    assert result.reason.startswith(f"{first} is pinned")
    assert registry.card(result.version)["gate"]["passed"]  # judged and recorded all the same
    listing = CliRunner().invoke(main, ["models", "list"]).output
    assert f"*P {first}" in listing
    out = CliRunner().invoke(main, ["models", "promote", result.version])
    assert out.exit_code == 0 and f"the pin on {first} is lifted" in out.output
    assert registry.live_version() == result.version and registry.pinned_version() is None
