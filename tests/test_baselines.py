"""Known-answer tests for the baseline rankers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from engine.domain.catalog import load_catalog
from engine.domain.dates import as_dates_frame
from engine.lab.baselines import (
    ItemKNN,
    MatrixFactorization,
    MostPopular,
    RandomRecommender,
    interaction_matrix,
    solve_factors,
)


def _catalog(tmp_path, ids):
    (tmp_path / "schema.json").write_text(json.dumps(
        {"attributes": {"group": {"kind": "categorical"}}}), encoding="utf-8")
    lines = ["id,title,group"] + [f"{i},Idea {i},{i[0]}" for i in ids]
    (tmp_path / "ideas.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_catalog(tmp_path)


def _dates(pairs, ratings=None):
    frame = pd.DataFrame(pairs, columns=["couple_id", "idea_id"])
    frame["rating"] = ratings if ratings is not None else 4.0
    return as_dates_frame(frame)


def _blocks(n_blocks, ideas_per_block, couples_per_block, done_per_couple, seed=0):
    """Couples of block b did a random subset of block b's ideas (and nothing else)."""
    rng = np.random.default_rng(seed)
    letters = "abcdefgh"
    ids = [f"{letters[b]}{j}" for b in range(n_blocks) for j in range(ideas_per_block)]
    pairs, truth = [], {}
    for b in range(n_blocks):
        block = [f"{letters[b]}{j}" for j in range(ideas_per_block)]
        for c in range(couples_per_block):
            couple = f"{letters[b]}-couple{c}"
            done = list(rng.choice(block, size=done_per_couple, replace=False))
            pairs += [(couple, i) for i in done]
            truth[couple] = (set(done), set(block) - set(done))
    return ids, _dates(pairs), truth


def test_interaction_matrix_counts_dates_and_ignores_unknowns():
    dates = _dates([("x", "a1"), ("x", "a1"), ("y", "b1"), ("y", "zz"), ("q", "a1")])
    m = interaction_matrix(dates, ["x", "y", "new"], ["a1", "b1"]).toarray()
    np.testing.assert_array_equal(m, [[2, 0], [0, 1], [0, 0]])


def test_most_popular_ranks_the_most_done_idea_first(tmp_path):
    catalog = _catalog(tmp_path, ["a1", "a2", "a3", "a4"])
    dates = _dates([("c1", "a2"), ("c2", "a2"), ("c3", "a2"), ("c1", "a3"), ("c2", "a3"), ("c3", "a1")])
    model = MostPopular().fit(dates, catalog)
    [ranked] = model.recommend(["new"], k=4)
    assert [i for i, _ in ranked] == ["a2", "a3", "a1", "a4"]
    assert [s for _, s in ranked] == [3.0, 2.0, 1.0, 0.0]
    [ranked] = model.recommend(["c1"], k=2, exclude={"c1": {"a2", "a3"}})
    assert [i for i, _ in ranked] == ["a1", "a4"]


def test_most_popular_liked_counts_only_high_ratings(tmp_path):
    catalog = _catalog(tmp_path, ["a1", "a2"])
    dates = _dates([("c1", "a1"), ("c2", "a1"), ("c3", "a1"), ("c1", "a2"), ("c2", "a2")],
                   ratings=[1, 2, 5, 5, 4])
    assert MostPopular().fit(dates, catalog).recommend(["x"], k=1)[0][0][0] == "a1"
    assert MostPopular(min_rating=4).fit(dates, catalog).recommend(["x"], k=1)[0][0][0] == "a2"


def test_item_knn_recommends_the_right_block_first(tmp_path):
    ids, dates, truth = _blocks(n_blocks=2, ideas_per_block=5, couples_per_block=12, done_per_couple=3)
    catalog = _catalog(tmp_path, ids)
    model = ItemKNN(k_neighbours=4).fit(dates, catalog)
    couples = sorted(truth)
    lists = model.recommend(couples, k=2, exclude={c: truth[c][0] for c in couples})
    for couple, ranked in zip(couples, lists):
        assert {i for i, _ in ranked} == truth[couple][1], couple


def test_item_knn_similarity_is_cosine_with_shrink(tmp_path):
    catalog = _catalog(tmp_path, ["a1", "a2", "a3"])
    # a1 done by c1,c2; a2 by c1; a3 by c3 -> cos(a1, a2) = 1/sqrt(2)
    dates = _dates([("c1", "a1"), ("c2", "a1"), ("c1", "a2"), ("c3", "a3")])
    sim = ItemKNN().fit(dates, catalog).similarity_.toarray()
    assert sim[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert sim[0, 2] == 0.0 and sim[0, 0] == 0.0
    shrunk = ItemKNN(shrink=1.0).fit(dates, catalog).similarity_.toarray()
    assert shrunk[0, 1] == pytest.approx(1 / (np.sqrt(2) + 1))


def test_matrix_factorization_recovers_low_rank_blocks(tmp_path):
    ids, dates, truth = _blocks(n_blocks=3, ideas_per_block=6, couples_per_block=20, done_per_couple=4)
    catalog = _catalog(tmp_path, ids)
    model = MatrixFactorization(n_factors=3, regularization=0.1, iterations=10).fit(dates, catalog)
    assert model.user_factors_.shape == (60, 3) and model.item_factors_.shape == (18, 3)
    couples = sorted(truth)
    lists = model.recommend(couples, k=2, exclude={c: truth[c][0] for c in couples})
    for couple, ranked in zip(couples, lists):
        assert {i for i, _ in ranked} == truth[couple][1], couple


def test_matrix_factorization_folds_in_a_new_couple(tmp_path):
    ids, dates, _ = _blocks(n_blocks=3, ideas_per_block=6, couples_per_block=20, done_per_couple=4)
    catalog = _catalog(tmp_path, ids)
    model = MatrixFactorization(n_factors=3, regularization=0.1, iterations=10).fit(dates, catalog)
    history = _dates([("stranger", "b0"), ("stranger", "b1")])
    [ranked] = model.recommend(["stranger"], k=4, exclude={"stranger": {"b0", "b1"}}, history=history)
    assert {i for i, _ in ranked} == {"b2", "b3", "b4", "b5"}


def test_solve_factors_is_each_rows_least_squares_solution():
    """Batched (blocks of 3 here) and single-row paths give each row's own normal-equation solution."""
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(40, 5))
    dense = np.where(rng.random((8, 40)) < 0.2, rng.integers(1, 4, (8, 40)), 0).astype(float)
    dense[3] = 0.0  # a couple with no dates
    reg, alpha = 2.0, 3.0
    want = np.zeros((8, 5))
    for u in range(8):
        c = 1.0 + alpha * dense[u]
        p = (dense[u] > 0).astype(float)
        if p.any():
            want[u] = np.linalg.solve(Y.T @ (c[:, None] * Y) + reg * np.eye(5), Y.T @ (c * p))
    got = solve_factors(sp.csr_matrix(dense), Y, reg, alpha, block=3)
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert not got[3].any()
    for u in (0, 3):  # one row, sparse or dense
        np.testing.assert_allclose(solve_factors(sp.csr_matrix(dense[u:u + 1]), Y, reg, alpha), want[u:u + 1],
                                   atol=1e-10)
        np.testing.assert_allclose(solve_factors(dense[u:u + 1], Y, reg, alpha), want[u:u + 1], atol=1e-10)
    np.testing.assert_allclose(solve_factors(dense, Y, reg, alpha, block=3), want, atol=1e-10)  # dense batch


def test_random_is_seeded_and_complete(tmp_path):
    catalog = _catalog(tmp_path, [f"a{i}" for i in range(20)])
    dates = _dates([("c1", "a1")])
    one = RandomRecommender(random_state=3).fit(dates, catalog).recommend(["c1", "c2"], k=20)
    two = RandomRecommender(random_state=3).fit(dates, catalog).recommend(["c1", "c2"], k=20)
    other = RandomRecommender(random_state=4).fit(dates, catalog).recommend(["c1", "c2"], k=20)
    assert one == two
    assert one != other
    assert sorted(i for i, _ in one[0]) == sorted(catalog.ids)


def test_cold_couple_falls_back_to_popularity(tmp_path):
    catalog = _catalog(tmp_path, ["a1", "a2", "a3"])
    dates = _dates([("c1", "a3"), ("c2", "a3"), ("c1", "a1")])
    for model in (ItemKNN(), MatrixFactorization(n_factors=2)):
        [ranked] = model.fit(dates, catalog).recommend(["nobody"], k=3)
        assert [i for i, _ in ranked] == ["a3", "a1", "a2"], type(model).__name__


@pytest.mark.parametrize("model, message", [
    (ItemKNN(k_neighbours=0), r"k_neighbours must be an integer >= 1, got 0"),
    (ItemKNN(shrink=-1.0), r"shrink must be a number >= 0, got -1.0"),
    (MatrixFactorization(regularization=0), r"regularization must be a number > 0, got 0"),
    (MatrixFactorization(n_factors=2.5), r"n_factors must be an integer >= 1, got 2.5"),
    (MatrixFactorization(iterations=0), r"iterations must be an integer >= 1"),
    (MostPopular(min_rating="high"), r"min_rating must be a number or None, got 'high'"),
    (RandomRecommender(random_state="x"), r"random_state must be an integer or None"),
])
def test_bad_parameters_are_named_in_fit(tmp_path, model, message):
    catalog = _catalog(tmp_path, ["a1", "a2"])
    with pytest.raises(ValueError, match=message):
        model.fit(_dates([("c1", "a1")]), catalog)


def test_estimator_contract(tmp_path):
    catalog = _catalog(tmp_path, ["a1", "a2"])
    model = ItemKNN(k_neighbours=7, shrink=2.0)
    assert clone(model).get_params() == {"k_neighbours": 7, "shrink": 2.0}
    with pytest.raises(NotFittedError):
        model.recommend(["c1"], k=1)
    assert model.fit(_dates([("c1", "a1")]), catalog) is model
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        model.recommend(["c1"], k=0)
