""":class:`engine.learning.similarity.RowSimilarity` indexes like the dense ``V @ V.T``."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learning.similarity import RowSimilarity


@pytest.fixture
def vectors():
    rng = np.random.default_rng(4)
    V = rng.normal(size=(300, 17))
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def test_whole_rows_and_slices_are_the_dense_products_themselves(vectors):
    sim, dense = RowSimilarity(vectors), vectors @ vectors.T
    np.testing.assert_array_equal(sim[7], (vectors[7] @ vectors.T))
    np.testing.assert_allclose(sim[[3, 9]], dense[[3, 9]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(sim[5, 10:20], (vectors[5] @ vectors.T)[10:20])


@pytest.mark.parametrize("rows", [11, [2, 250, 11]])
def test_a_few_columns_are_those_of_the_whole_rows(vectors, rows):
    sim = RowSimilarity(vectors)
    cols = np.array([299, 0, 11, 42])
    mask = np.zeros(len(vectors), dtype=bool)
    mask[cols] = True
    for key in (cols, list(cols), mask):
        got = sim[rows, key]
        want = sim[rows][..., key]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.ndim(sim[11, 42]) == 0 and sim[11, 42] == pytest.approx(float(vectors[11] @ vectors[42]))


def _large_model(tiny_world, monkeypatch):
    """A model fitted as over a large catalog (idea similarity rows on demand)."""
    from engine.learning import similarity
    from engine.learning.model import EnjoymentModel

    monkeypatch.setattr(similarity, "_DENSE_SIM_IDEAS", 10)
    model = EnjoymentModel(max_iter=30).fit(tiny_world.dates, tiny_world.catalog)
    assert isinstance(model.idea_similarity_, RowSimilarity)
    return model


def _loaded(model, path):
    import joblib

    joblib.dump(model, path)
    return joblib.load(path)


def test_a_saved_model_holds_the_idea_vectors_once(tiny_world, monkeypatch, tmp_path):
    """The similarity's rows come from the featurizer's vectors: pickled once, one array after loading
    (35 MB each at 50,000 ideas); older artifacts, which pickled a second copy, are linked on load."""
    model = _large_model(tiny_world, monkeypatch)
    couples = list(tiny_world.couple_ids[:10])

    def lists(m):
        ranked = m.rank(tiny_world.dates, couples, 5, as_of_day=20_000)
        return ranked.positions.tolist(), ranked.scores.tolist()

    expected = lists(model)
    loaded = _loaded(model, tmp_path / "model.joblib")
    assert loaded.idea_similarity_.vectors is loaded.featurizer_.idea_vectors_
    assert model.idea_similarity_.vectors is model.featurizer_.idea_vectors_  # saving left the model as it was
    assert lists(loaded) == expected

    model.idea_similarity_ = RowSimilarity(model.featurizer_.idea_vectors_.copy())  # as saved before
    model.featurizer_._block_vectors = {"category": np.zeros((3, 4))}  # and the blocks' copies then kept
    old = _loaded(model, tmp_path / "old.joblib")
    assert old.idea_similarity_.vectors is old.featurizer_.idea_vectors_
    assert not hasattr(old.featurizer_, "_block_vectors")
    assert lists(old) == expected
