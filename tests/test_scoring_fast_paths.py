"""Known-answer tests of the shortcuts that make one couple's fresh scoring faster (issue 19).

Each shortcut computes the same values, to the last bit, as the plain numpy or scipy
expression it replaces: the weighted gather of similarity rows (binary rows, one row), the
ratings' NaN to 0, the routine's clip to [0, 1], and the fitted columns kept for the last
candidate set (a new candidate set is never served the previous one's).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from engine.learning import similarity
from engine.learning.histories import _nan_to_zero
from engine.learning.model import EnjoymentModel
from engine.learning.similarity import onto_vectors, weighted_rows
from engine.ranking.routine import _unit


def _bits(x: np.ndarray) -> bytes:
    return np.ascontiguousarray(x).tobytes()


@pytest.mark.parametrize("n_rows", [1, 3])
@pytest.mark.parametrize("binary", [True, False])
def test_weighted_rows_equal_the_sparse_product(n_rows, binary):
    rng = np.random.default_rng(n_rows)
    matrix = sp.random(60, 40, density=0.3, random_state=1, format="csr")
    matrix.sort_indices()
    rows = (rng.random((n_rows, 60)) < 0.2) * (1.0 if binary else rng.random((n_rows, 60)))
    r, j = np.nonzero(rows)
    out = weighted_rows(matrix, r, j, rows[r, j], n_rows)
    assert _bits(out) == _bits(np.asarray((sp.csr_matrix(rows) @ matrix).todense()))


def test_rows_onto_vectors_read_only_the_ideas_the_rows_hold(monkeypatch):
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(5000, 31))
    rows = np.zeros((3, 5000))
    held = rng.choice(5000, 200, replace=False)
    rows[:, held] = rng.random((3, 200)) * (rng.random((3, 200)) < 0.7)
    np.testing.assert_allclose(onto_vectors(rows, vectors), rows @ vectors, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(similarity, "_ONTO_SHARE", 0.25)
    some = rows[:, :600]  # about 20 of 600 ideas held: only those rows of the vectors are read
    np.testing.assert_allclose(onto_vectors(some, vectors[:600]), some @ vectors[:600], rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(similarity, "_ONTO_SHARE", 0.01)  # a batch holding many ideas: the plain product
    assert _bits(onto_vectors(some, vectors[:600])) == _bits(some @ vectors[:600])
    assert _bits(onto_vectors(np.zeros((2, 50)), vectors[:50])) == _bits(np.zeros((2, 31)))


def test_nan_to_zero_and_unit_equal_numpy():
    x = np.array([np.nan, 0.0, -0.0, 0.25, 1.0, 1.5, -2.0, np.inf, -np.inf, 1e-300])
    assert _bits(_nan_to_zero(x)) == _bits(np.nan_to_num(x))
    finite = x[~np.isinf(x)]
    assert _bits(_nan_to_zero(finite)) == _bits(np.nan_to_num(finite))
    # np.clip keeps a -0.0 that np.maximum(x, 0.0) makes +0.0: the push's inputs never are -0.0
    # (a difference of two equal numbers is +0.0)
    signed = x[~((x == 0) & np.signbit(x))]
    assert _bits(_unit(signed)) == _bits(np.clip(signed, 0.0, 1.0))


def test_a_new_candidate_set_is_featurised_afresh(tiny_world):
    model = EnjoymentModel(max_iter=30).fit(tiny_world.dates, tiny_world.catalog)
    feat = model.featurizer_
    hist = feat.histories(tiny_world.dates)
    full = feat.transform(hist)
    n = full.shape[1]
    for ideas in (np.arange(0, n, 2), np.arange(1, n, 3), np.arange(0, n, 2)[::-1], np.arange(0, n, 2)):
        assert _bits(feat.transform(hist, ideas=ideas)) == _bits(full[:, ideas])
    assert "_column_cache" not in feat.__getstate__()
