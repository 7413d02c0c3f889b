"""The confidence weight of the engine's ALS factors, chosen on the data (``factor_alpha="auto"``).

Known answers: the held-out NDCG it compares weights by, the fallback on data too thin to tell
them apart, the choice following its own validation scores, and the model using one weight in
every training round and in the artifact it ranks with.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from engine.learning import factors
from engine.learning.artifact_state import upgraded_state
from engine.learning.factors import ALPHAS, _cg_factors, _held_out_ndcg, als_sweeps, choose_alpha, solve_factors
from engine.learning.features import HistoryFeaturizer
from engine.learning.model import EnjoymentModel
from engine.learning.registry import Registry


def _blocks(n_couples: int, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Times done and liked: four groups of couples, each doing 8 of its own 20 ideas (liked) and
    4 of 40 ideas every group does (not liked)."""
    rng = np.random.default_rng(seed)
    rows, cols, liked = [], [], []
    for c in range(n_couples):
        own = rng.choice(20, 8, replace=False) + 20 * (c % 4)
        shared = rng.choice(40, 4, replace=False) + 80
        rows += [c] * 12
        cols += [*own, *shared]
        liked += [1.0] * 8 + [0.0] * 4
    shape = (n_couples, 120)
    times = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    return times, sp.csr_matrix((np.array(liked), (rows, cols)), shape=shape)


def test_held_out_ndcg_ranks_every_idea_the_couple_did_not_keep():
    keep = sp.csr_matrix(np.array([[1.0, 0, 0, 0]]))  # idea 0 kept: not ranked
    U, V = np.array([[1.0]]), np.array([[4.0], [3.0], [2.0], [1.0]])  # scores 4, 3, 2, 1
    # ranked 1, 2, 3: the held-out idea 2 is second, NDCG = 1 / log2(3)
    assert _held_out_ndcg(keep, np.array([0]), [np.array([2])], U, V, k=10) == pytest.approx(1 / np.log2(3))
    assert _held_out_ndcg(keep, np.array([0]), [np.array([1])], U, V, k=10) == pytest.approx(1.0)
    # two held out, found first and third: (1 + 1/2) / (1 + 1/log2(3))
    both = _held_out_ndcg(keep, np.array([0]), [np.array([1, 3])], U, V, k=10)
    assert both == pytest.approx(1.5 / (1 + 1 / np.log2(3)))
    # k = 1: only the first place counts
    assert _held_out_ndcg(keep, np.array([0]), [np.array([2])], U, V, k=1) == 0.0


def test_too_few_couples_keep_the_first_weight():
    times, liked = _blocks(150)  # fewer than 200 couples can hold out a liked idea
    assert choose_alpha(times, liked, n_factors=8, regularization=1.0, iterations=3) == (ALPHAS[0], {})
    times, _ = _blocks(400)  # enough couples, but none liked anything
    assert choose_alpha(times, sp.csr_matrix(times.shape), n_factors=8, regularization=1.0,
                        iterations=3) == (ALPHAS[0], {})


def test_the_choice_follows_its_validation_scores_and_is_seeded():
    times, liked = _blocks(400)
    kw = dict(n_factors=8, regularization=1.0, iterations=5)
    alpha, scores = choose_alpha(times, liked, **kw)
    assert set(scores) == set(ALPHAS) and all(0.0 <= s <= 1.0 for s in scores.values())
    best = max(scores, key=scores.get)
    if scores[best] > factors._MARGIN * scores[ALPHAS[0]]:
        assert alpha == best
    else:
        assert alpha == ALPHAS[0]
    # the group structure is plain: at every weight the held-out liked ideas are found well above
    # chance (2 of ~50 ideas ranked: NDCG@10 about 0.07 at random; about 0.35 with the 14 of the
    # couple's group first, in any order)
    assert min(scores.values()) > 0.15 and max(scores.values()) > 0.3
    assert choose_alpha(times, liked, **kw) == (alpha, scores)
    # the weights tried are the caller's, the first of them the fallback
    assert choose_alpha(times, liked, alphas=(best,), **kw) == (best, {best: scores[best]})


def test_the_model_uses_one_weight_everywhere_and_the_card_says_which(tmp_path, tiny_world):
    pinned = EnjoymentModel(factor_alpha=4.0, random_state=0).fit(tiny_world.dates, tiny_world.catalog)
    assert pinned.factor_alpha_ == 4.0 and pinned.featurizer_.factor_alpha_ == 4.0
    auto = EnjoymentModel(random_state=0).fit(tiny_world.dates, tiny_world.catalog)
    assert auto.factor_alpha_ == auto.featurizer_.factor_alpha_ == ALPHAS[0]  # 80 couples: too few to choose
    # the pinned weight changes the couples' factor scores, so it is the one ranking uses
    history = tiny_world.dates[tiny_world.dates["couple_id"] == tiny_world.dates["couple_id"].iloc[0]]
    column = list(auto.feature_names_).index("cf_factors")
    _, f_auto, _ = auto.enjoyment(history, [history["couple_id"].iloc[0]])
    _, f_pinned, _ = pinned.enjoyment(history, [history["couple_id"].iloc[0]])
    assert not np.allclose(f_auto[..., column], f_pinned[..., column])
    registry = Registry(tmp_path)
    version = registry.save(auto, metrics={})
    assert registry.card(version)["auto"]["factor_alpha"] == ALPHAS[0]
    assert "factor_alpha" not in registry.card(registry.save(pinned, metrics={}))["auto"]


def test_bad_weights_are_refused_naming_what_is_allowed(tiny_world):
    with pytest.raises(ValueError, match="factor_alpha"):
        EnjoymentModel(factor_alpha=0).fit(tiny_world.dates, tiny_world.catalog)
    with pytest.raises(ValueError, match="factor_alpha must be a number > 0 or 'auto'"):
        HistoryFeaturizer(factor_alpha="high").fit(tiny_world.dates, tiny_world.catalog)


def test_artifacts_from_before_rank_with_the_weight_they_were_fitted_with(tiny_world):
    state = upgraded_state({"learner": "linear"})
    assert state["factor_alpha"] == state["factor_alpha_"] == 1.0
    # an older featurizer has no factor_alpha_: its couples are folded in with implicit ALS's 1
    feat = HistoryFeaturizer(factor_alpha=1.0).fit(tiny_world.dates, tiny_world.catalog)
    couples = sorted(tiny_world.dates["couple_id"].unique())[:5]
    hist = feat.histories(tiny_world.dates, couples)
    now = feat._factor_scores(hist)
    del feat.factor_alpha_
    assert np.array_equal(feat._factor_scores(hist), now)
    feat.factor_alpha_ = 8.0
    assert not np.allclose(feat._factor_scores(hist), now)


def test_conjugate_gradient_sweeps_reach_the_exact_sweeps_objective():
    rng = np.random.default_rng(0)
    C = sp.random(300, 120, density=0.08, random_state=1, format="csr")
    C.data[:] = rng.integers(1, 4, C.nnz)
    start = rng.normal(0.0, 0.01, (120, 16))
    dense, reg, alpha = C.toarray(), 1.0, 2.0

    def objective(U, V):  # Hu, Koren & Volinsky's weighted squared error plus the ridge
        return ((1 + alpha * dense) * ((dense > 0) - U @ V.T) ** 2).sum() + reg * ((U ** 2).sum() + (V ** 2).sum())

    exact = objective(*als_sweeps(C, start, reg, alpha, 30))
    steps = objective(*als_sweeps(C, start, reg, alpha, 30, cg_steps=3))
    assert steps == pytest.approx(exact, rel=1e-3)
    assert objective(*als_sweeps(C, start, reg, alpha, 2, cg_steps=3)) > steps  # it does descend
    # the exact solution of one side is a fixed point of the steps
    _, V = als_sweeps(C, start, reg, alpha, 10)
    U = solve_factors(C, V, reg, alpha)
    assert np.allclose(_cg_factors(C, V, U, reg, alpha, 3), U, atol=1e-10)
