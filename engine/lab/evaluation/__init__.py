"""Offline evaluation: the engine beside baselines, on the same splits.

Protocol (issue 3, item 5)
--------------------------
1. Ratings are averaged per (couple, idea) (each date's rating is the mean of
   the partners who rated, :func:`engine.domain.dates.mean_rating`).
2. For every couple with at least ``min_rated`` (3) rated ideas, a random 20%
   of its rated ideas (at least one; ``round(0.2 n)``) is held out, seeded.
   Every date of a held-out idea leaves the training data; couples with
   fewer rated ideas stay whole in training.
3. Each model is fitted on the training dates and ranks, for each test
   couple, every catalog idea not in that couple's training history
   (the history is passed as ``exclude``).
4. Relevant = held-out mean rating >= ``relevant``.
5. Metrics @k are averaged over couples, then over seeds. Accuracy metrics
   (ndcg, recall, precision) average over the test couples with at least one
   relevant held-out idea; the others over all test couples. Each mean comes
   with its 95% Student-t interval over seeds and the per-seed values; when
   the intervals overlap between models a one-line note says the order is noise.

Metrics
-------
ndcg, recall, precision
    Binary relevance; ``recall = hits / n_relevant``, ``precision = hits / k``.
novelty
    Mean ``-log2 popularity`` of recommended ideas, popularity = share of
    training couples who did the idea (an idea nobody did counts as done by
    one couple, so novelty stays finite).
routine_distance
    Mean cosine distance between a recommended idea's
    :class:`engine.learning.features.IdeaEncoder` vector and the mean vector of the
    couple's training dates.
diversity
    Intra-list diversity: mean pairwise cosine distance within a list.
coverage
    Share of the catalog recommended to at least one test couple.
exposure_gini
    Gini coefficient of the exposure of catalog ideas: how many test couples'
    top-k lists hold each idea, ideas never shown counting 0
    (:func:`exposure_gini`; 0 = every idea shown equally, (n-1)/n = one idea
    takes everything).
popular_share_top10
    Share of the recommended items (the top-k of every test couple, pooled)
    that are among the 10% most popular ideas, popularity = training dates
    of the idea in the split; the shortlist is ``ceil(0.1 n_ideas)`` ideas,
    ties broken by catalog order (:func:`popular_share`). The key keeps its
    name for any ``k``.
enjoyment_ratio (synthetic only)
    Mean over couples of ``sum(true expected enjoyment of the model's
    top-3) / sum(the oracle's top-3 among the same candidate ideas)``.
outside_routine (catalogs with a ``category`` attribute)
    Share of top-3 picks whose category is not among the couple's three most
    frequent training-history categories.

Usage::

    from engine.lab.evaluation import evaluate, default_models
    result = evaluate(world, default_models(), k=10, seeds=3, relevant=4)
"""

from . import metrics
from .metrics import *  # noqa: F403 (the metrics' __all__, re-exported whole: the names are listed there once)
from .protocol import default_models, evaluate, tradeoff_curve
from .splits import Split, split_dates

__all__ = [*metrics.__all__, "Split", "default_models", "evaluate", "split_dates", "tradeoff_curve"]
