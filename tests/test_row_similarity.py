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
