"""The model registry and the train-evaluate-promote gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import load_catalog
from engine.app.gate import GateSettings
from engine.app.training import time_split, train_and_maybe_promote
from engine.lab.simulator import simulate
from engine.learning.model import EnjoymentModel
from engine.learning.registry import ArtifactError, NoModelError, Registry

SMALL = GateSettings(loop_couples=20, loop_weeks=3)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def world(catalog):
    return simulate(300, seed=5, catalog=catalog)


@pytest.fixture(scope="module")
def fitted(world, catalog):
    return EnjoymentModel().fit(world.dates, catalog)


@pytest.mark.slow
def test_save_promote_load_and_card(tmp_path, fitted, catalog):
    reg = Registry(tmp_path / "models")
    with pytest.raises(NoModelError, match="dateideas train"):
        reg.load()
    v = reg.save(fitted, metrics={"holdout_ndcg@10": 0.3}, data={"dates": 10})
    assert reg.live_version() is None
    reg.promote(v, catalog=catalog)
    assert reg.live_version() == v
    model, card = reg.load(catalog=catalog)
    assert card["feature_names"] == model.feature_names_
    assert card["libraries"]["scikit-learn"]
    assert card["metrics"]["holdout_ndcg@10"] == 0.3
    assert [c["live"] for c in reg.versions()] == [True]
    np.testing.assert_allclose(model.featurizer_.similarity_.toarray(), fitted.featurizer_.similarity_.toarray())
    # the catalog given is the model's own (one copy in memory); without one, the artifact's
    assert model.catalog_ is catalog
    alone, _ = reg.load()
    assert alone.catalog_ is not catalog and list(alone.catalog_.ids) == list(catalog.ids)
    # and the featurizer reads the catalog's id strings, not the artifact's copy (3.6 MB at 50,000 ideas)
    shared = model.featurizer_
    assert all(a is b for a, b in zip(shared.catalog_ids_, catalog.ids))
    some = np.asarray(catalog.ids[[5, 0, 3]], dtype=object)
    assert shared.positions(np.append(some, "no-such-idea")).tolist() == [5, 0, 3, -1]
    with pytest.raises(ValueError, match="idea ids differ"):
        alone.featurizer_.share_ids(catalog.ids[::-1])


@pytest.mark.slow
def test_rollback_goes_back_one_version_at_a_time(tmp_path, fitted, catalog):
    reg = Registry(tmp_path / "models")
    versions = []
    for _ in range(3):
        versions.append(reg.save(fitted))
        reg.promote(versions[-1], catalog=catalog)
    assert reg.rollback(catalog=catalog) == versions[1]
    assert reg.rollback(catalog=catalog) == versions[0]
    with pytest.raises(NoModelError, match="nothing to roll back"):
        reg.rollback(catalog=catalog)
    assert reg.live_version() == versions[0]


def test_corrupt_artifact_is_refused_and_the_live_version_stays(tmp_path, fitted, catalog):
    reg = Registry(tmp_path / "models")
    good = reg.save(fitted)
    reg.promote(good, catalog=catalog)
    bad = reg.save(fitted)
    artifact = tmp_path / "models" / bad / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:200])
    with pytest.raises(ArtifactError, match="does not match the checksum"):
        reg.promote(bad, catalog=catalog)
    assert reg.live_version() == good


def test_mismatched_card_is_refused(tmp_path, fitted, catalog):
    reg = Registry(tmp_path / "models")
    v = reg.save(fitted)
    card_path = tmp_path / "models" / v / "card.json"
    original = json.loads(card_path.read_text())
    card = json.loads(card_path.read_text())
    card["libraries"]["scikit-learn"] = "0.1.0"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="trained with scikit-learn 0.1.0"):
        reg.load(v, catalog=catalog)
    card = dict(original, catalog="0000")
    card_path.write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="different catalog"):
        reg.load(v, catalog=catalog)
    card = dict(original, feature_names=["something_else"])
    card_path.write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="different features"):
        reg.load(v, catalog=catalog)


def test_an_artifact_format_newer_than_the_code_is_refused_and_older_ones_load(tmp_path, fitted, catalog):
    """Code rolled back past a model (its artifact written in a layout that code cannot serve) says so
    at load, and the live version stays; a card from before the field (format 1) still loads."""
    from engine.learning.artifact_state import ARTIFACT_FORMAT

    reg = Registry(tmp_path / "models")
    good = reg.save(fitted)
    reg.promote(good, catalog=catalog)
    newer = reg.save(fitted)
    card_path = tmp_path / "models" / newer / "card.json"
    card = json.loads(card_path.read_text())
    assert card["artifact_format"] == ARTIFACT_FORMAT
    card_path.write_text(json.dumps(dict(card, artifact_format=ARTIFACT_FORMAT + 1)))
    with pytest.raises(ArtifactError, match=f"artifact format {ARTIFACT_FORMAT + 1} by a newer version.*"
                                            f"reads formats 1 to {ARTIFACT_FORMAT}"):
        reg.promote(newer, catalog=catalog)
    assert reg.live_version() == good
    card_path.write_text(json.dumps({k: v for k, v in card.items() if k != "artifact_format"}))
    model, _ = reg.load(newer, catalog=catalog)
    assert model.feature_names_ == fitted.feature_names_


def test_time_split_holds_out_the_latest_dates(world):
    train, test = time_split(world.dates, 0.2)
    assert train["done_on"].max() <= test["done_on"].min()
    assert abs(len(test) / len(world.dates) - 0.2) < 0.02


class _Flat(EnjoymentModel):
    """A candidate that cannot rank: every idea gets the same probability."""

    def _fold_linear(self):
        super()._fold_linear()
        self.linear_weights_ = np.zeros_like(self.linear_weights_)
        self.linear_bias_ = 0.0


@pytest.mark.slow
def test_gate_refusal_keeps_the_live_model(tmp_path, world, catalog):
    reg = Registry(tmp_path / "models")
    first = train_and_maybe_promote(world.dates, catalog, reg, gate_settings=SMALL)
    assert first.promoted and reg.live_version() == first.version
    worse = train_and_maybe_promote(world.dates, catalog, reg, factory=_Flat, gate_settings=SMALL)
    assert not worse.promoted and worse.reason.startswith("refused: holdout_ndcg@10")
    assert reg.live_version() == first.version


@pytest.mark.slow
def test_no_promote_saves_without_changing_live(tmp_path, world, catalog):
    reg = Registry(tmp_path / "models")
    first = train_and_maybe_promote(world.dates, catalog, reg, gate_settings=SMALL)
    second = train_and_maybe_promote(world.dates, catalog, reg, promote=False, gate_settings=SMALL)
    assert not second.promoted and "no-promote" in second.reason
    assert reg.live_version() == first.version


# ------------------------------------------------------------------ pins and pruning

def _versions(reg, fitted, n):
    return [reg.save(fitted) for _ in range(n)]


@pytest.mark.slow
def test_prune_keeps_the_live_the_pinned_the_rollback_target_and_the_newest(tmp_path, fitted, catalog):
    reg = Registry(tmp_path / "models")
    v = _versions(reg, fitted, 8)
    reg.promote(v[1], catalog=catalog)   # the rollback target
    reg.promote(v[3], catalog=catalog)   # live
    reg.pin(v[0])                        # pinned (an operator's choice)
    (tmp_path / "models" / ".tmp-interrupted").mkdir()  # a save in progress: never listed, left alone (fresh)
    removed = reg.prune(2)
    assert removed == [v[2], v[4], v[5]]
    assert [c["version"] for c in reg.versions()] == [v[0], v[1], v[3], v[6], v[7]]
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".")) == [".tmp-interrupted"]
    assert reg.live_version() == v[3] and reg.load(catalog=catalog)[1]["version"] == v[3]
    assert reg.prune(0) == [v[6], v[7]] and {c["version"] for c in reg.versions()} == {v[0], v[1], v[3]}
    with pytest.raises(ValueError, match="keep must be a whole number >= 0, got -1"):
        reg.prune(-1)


@pytest.mark.slow
def test_rollback_pins_and_skips_pruned_versions(tmp_path, fitted, catalog):
    reg = Registry(tmp_path / "models")
    v = _versions(reg, fitted, 3)
    for version in v:
        reg.promote(version, catalog=catalog)
    import shutil
    shutil.rmtree(tmp_path / "models" / v[1])  # pruned by hand
    assert reg.rollback(catalog=catalog) == v[0]
    assert reg.pinned_version() == v[0] and reg.versions()[0]["pinned"]
    assert reg.unpin() == v[0] and reg.pinned_version() is None and reg.unpin() is None
    with pytest.raises(ArtifactError, match="not found"):
        reg.pin("no-such-version")
