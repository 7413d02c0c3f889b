"""The ranking policy on hand-made candidates: known answers, no model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ranking.policy import Candidates, RankingPolicy, together

N_IDEAS = 5


def _candidates(a, b=None, **overrides) -> Candidates:
    """One couple, five ideas: partner a's (and b's, default a's) enjoyment, nothing done, all allowed."""
    a = np.asarray(a, dtype=float)
    b = a if b is None else np.asarray(b, dtype=float)
    fields = dict(enjoyment=np.stack([a, b], axis=-1)[None], outside_routine=np.zeros((1, N_IDEAS)),
                  days_since=np.full((1, N_IDEAS), 365.0), times_done=np.zeros((1, N_IDEAS)),
                  rated=np.full((1, N_IDEAS), np.nan), n_dates=np.array([10]), push=np.zeros(1),
                  allowed=np.ones((1, N_IDEAS), bool), suggested=np.zeros((1, N_IDEAS)))
    fields.update(overrides)
    return Candidates(**fields)


def _rank(policy: RankingPolicy, candidates: Candidates, k: int = 3, **kwargs):
    kwargs.setdefault("similarity", np.eye(N_IDEAS))
    return policy.rank(candidates, k, relevant_z=0.75, **kwargs)


PLAIN = RankingPolicy(routine_weight=0.0, routine_push=0.0, diversity=0.0)


def test_without_routine_weight_the_list_goes_by_enjoyment():
    positions, scores, _ = _rank(PLAIN, _candidates([0.2, 0.9, 0.5, 0.7, 0.1]))
    assert positions.tolist() == [[1, 3, 2]]
    np.testing.assert_allclose(scores, [[1.0, 0.7 / 0.9, 0.5 / 0.9]])


def test_the_gap_penalty_prefers_what_both_enjoy():
    # idea 0: one partner loves it, the other not; idea 1: both like it a little less on average
    a, b = [1.0, 0.6, 0.1, 0.1, 0.1], [0.2, 0.55, 0.1, 0.1, 0.1]
    assert _rank(RankingPolicy(routine_weight=0, routine_push=0, gap_penalty=0.0), _candidates(a, b), k=1)[0] \
        .tolist() == [[0]]
    assert _rank(RankingPolicy(routine_weight=0, routine_push=0, gap_penalty=0.4), _candidates(a, b), k=1)[0] \
        .tolist() == [[1]]
    np.testing.assert_allclose(together(np.array([[1.0, 0.2]]), 0.4), [0.6 - 0.4 * 0.8])


def test_routine_weight_moves_the_alternatives_out_of_the_routine_but_not_the_first():
    enjoyment = [0.9, 0.85, 0.8, 0.5, 0.45]
    outside = np.array([[0.0, 0.0, 0.0, 1.0, 1.0]])  # ideas 3 and 4 are outside the couple's usual kinds
    policy = RankingPolicy(routine_weight=0.5, routine_push=0.0, diversity=0.0)
    positions, _, _ = _rank(policy, _candidates(enjoyment, outside_routine=outside))
    assert positions.tolist() == [[0, 3, 4]]
    # a stuck couple's own push reaches the first idea too
    stuck = RankingPolicy(routine_weight=0.0, routine_push=1.0, diversity=0.0)
    positions, _, _ = _rank(stuck, _candidates(enjoyment, outside_routine=outside, push=np.array([1.0])))
    assert positions[0, 0] in (3, 4)


def test_constraints_exclusions_and_short_lists():
    allowed = np.array([[True, False, True, False, False]])
    positions, scores, _ = _rank(PLAIN, _candidates([0.2, 0.9, 0.5, 0.7, 0.1], allowed=allowed))
    assert positions.tolist() == [[2, 0, -1]]
    assert np.isneginf(scores[0, 2])


def test_repeats_recent_suggestions_and_dislikes_sink():
    enjoyment = [0.9, 0.8, 0.7, 0.6, 0.5]
    done_yesterday = _candidates(enjoyment, days_since=np.array([[1.0, 365, 365, 365, 365]]),
                                 times_done=np.array([[1.0, 0, 0, 0, 0]]))
    assert _rank(PLAIN, done_yesterday, k=1)[0].tolist() == [[1]]
    suggested = _candidates(enjoyment, suggested=np.array([[1.0, 1.0, 0, 0, 0]]))
    assert _rank(PLAIN, suggested, k=1)[0].tolist() == [[2]]
    disliked = _candidates(enjoyment, rated=np.array([[0.25, np.nan, np.nan, np.nan, np.nan]]))
    assert _rank(PLAIN, disliked, k=5)[0].tolist() == [[1, 2, 3, 4, 0]]


def test_diversity_and_one_idea_per_group():
    sim = np.eye(N_IDEAS)
    sim[0, 1] = sim[1, 0] = 1.0  # ideas 0 and 1 are the same thing
    diverse = RankingPolicy(routine_weight=0.0, routine_push=0.0, diversity=0.5)
    assert _rank(diverse, _candidates([0.9, 0.85, 0.6, 0.1, 0.1]), k=2, similarity=sim)[0].tolist() == [[0, 2]]
    groups = np.array([0, 0, 1, 1, 2])
    assert _rank(PLAIN, _candidates([0.9, 0.85, 0.6, 0.5, 0.1]), groups=groups)[0].tolist() == [[0, 2, 4]]


def test_exploration_is_seeded_and_favourite_is_the_best_mean_not_done():
    noisy = RankingPolicy(routine_weight=0.0, routine_push=0.0, diversity=0.0, exploration=1.0)
    c = _candidates([0.5, 0.5, 0.5, 0.5, 0.5])
    assert _rank(noisy, c, seed=7)[0].tolist() == _rank(noisy, c, seed=7)[0].tolist()
    assert len({tuple(_rank(noisy, c, seed=s)[0][0]) for s in range(6)}) > 1
    # idea 0 is the best but done; idea 2 (mean 0.5) beats idea 1 (mean 0.4)
    done = _candidates([0.9, 0.3, 0.6, 0.1, 0.1], [0.9, 0.5, 0.4, 0.1, 0.1],
                       times_done=np.array([[1.0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(_rank(PLAIN, done)[2], [[0.6, 0.4]])
    with pytest.raises(ValueError, match="k must be >= 1"):
        _rank(PLAIN, c, k=0)


def test_scale_by_the_best_allowed_idea_changes_the_routine_trade_off_only_under_constraints():
    # idea 0, the couple's best, is ruled out tonight; idea 3 is outside the routine
    enjoyment = [1.0, 0.5, 0.45, 0.3, 0.1]
    outside = np.array([[0.0, 0.0, 0.0, 1.0, 0.0]])
    allowed = np.array([[False, True, True, True, True]])
    catalog, best_allowed = (RankingPolicy(routine_weight=0.2, routine_push=0.0, diversity=0.0, scale=s)
                             for s in ("catalog", "allowed"))
    constrained = _candidates(enjoyment, outside_routine=outside, allowed=allowed)
    # by the catalog's best (1.0) idea 2 is worth 0.8 * 0.45 = 0.36 and idea 3 0.8 * 0.3 + 0.2 = 0.44;
    # by the best allowed (0.5) idea 2 is worth 0.8 * 0.9 = 0.72 and idea 3 0.8 * 0.6 + 0.2 = 0.68
    positions, scores, _ = _rank(catalog, constrained)
    assert positions.tolist() == [[1, 3, 2]]
    np.testing.assert_allclose(scores, [[0.5, 0.44, 0.36]])
    positions, scores, _ = _rank(best_allowed, constrained)
    assert positions.tolist() == [[1, 2, 3]]
    np.testing.assert_allclose(scores, [[1.0, 0.72, 0.68]])
    # everything allowed: the best allowed idea is the catalog's best, and the lists are the same
    free = _candidates(enjoyment, outside_routine=outside)
    for a, b in zip(_rank(catalog, free, k=5), _rank(best_allowed, free, k=5)):
        np.testing.assert_array_equal(a, b)
    # a couple with nothing allowed gets an empty list either way
    none = _candidates(enjoyment, allowed=np.zeros((1, N_IDEAS), bool))
    assert _rank(best_allowed, none)[0].tolist() == [[-1, -1, -1]]


def test_an_unknown_scale_names_the_choices():
    with pytest.raises(ValueError, match="'catalog', 'allowed'.*'best'"):
        RankingPolicy(scale="best")


def test_diversity_from_idea_vectors_picks_as_the_matrix_of_their_cosines():
    """A large catalog's similarity is computed from the ideas' unit vectors, only over the ideas
    a list may still take: the same list as the whole matrix. Ideas 1 and 2 are near-twins of idea 0."""
    from engine.learning.similarity import RowSimilarity

    vectors = np.array([[1.0, 0, 0], [0.99, 0.141, 0], [0.98, 0, 0.199], [0, 1.0, 0], [0, 0, 1.0]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    diverse = RankingPolicy(routine_weight=0.0, routine_push=0.0, diversity=0.5)
    for allowed in (np.ones((1, N_IDEAS), bool), np.array([[True, True, True, False, True]])):
        c = _candidates([0.9, 0.88, 0.87, 0.6, 0.55], allowed=allowed)
        by_matrix = _rank(diverse, c, k=4, similarity=vectors @ vectors.T)
        by_vectors = _rank(diverse, c, k=4, similarity=RowSimilarity(vectors))
        assert by_matrix[0].tolist() == by_vectors[0].tolist()
        np.testing.assert_allclose(by_matrix[1], by_vectors[1], rtol=1e-12)
    # the twins wait: after idea 0 the distinct ideas come first, then the twins
    assert by_vectors[0].tolist() == [[0, 4, 1, 2]]
