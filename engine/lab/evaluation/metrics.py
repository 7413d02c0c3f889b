"""Ranking-list metrics and their summaries over seeds (see :mod:`engine.lab.evaluation`, "Metrics").

The per-list figures (NDCG, recall, precision, novelty, diversity), the
breadth of a model's lists over the catalog (coverage, the Gini of exposure,
the share of the most popular ideas) and, over the seeds of an evaluation, the Student-t interval of a
mean (:func:`interval`) and the one-line note when intervals overlap
(:func:`noise_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ACCURACY_METRICS", "BREADTH_METRICS", "HEADLINE_METRICS", "coverage", "exposure_gini", "interval",
           "intra_list_diversity", "ndcg_at_k", "noise_note", "novelty", "popular_share", "popular_shortlist",
           "precision_at_k", "recall_at_k"]

ACCURACY_METRICS = ("ndcg", "recall", "precision")
#: how widely a model's lists spread over the catalog (issue 21): coverage, exposure Gini, popular share
BREADTH_METRICS = ("coverage", "exposure_gini", "popular_share_top10")


def _dcg(gains: np.ndarray) -> float:
    return float(np.sum(gains / np.log2(np.arange(2, len(gains) + 2))))


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Binary-relevance NDCG of the first ``k`` of ``ranked``.

    Parameters
    ----------
    ranked : sequence of str
        Idea ids, best first.
    relevant : iterable of str
        The relevant idea ids.
    k : int

    Returns
    -------
    float in [0, 1]; 0.0 when nothing is relevant.
    """
    rel = set(relevant)
    if not rel:
        return 0.0
    gains = np.array([1.0 if i in rel else 0.0 for i in list(ranked)[:k]])
    ideal = _dcg(np.ones(min(len(rel), k)))
    return _dcg(gains) / ideal


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant ideas found in the first ``k`` (0.0 if none is relevant)."""
    rel = set(relevant)
    if not rel:
        return 0.0
    return len(rel.intersection(list(ranked)[:k])) / len(rel)


def precision_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Relevant ideas among the first ``k``, divided by ``k``."""
    rel = set(relevant)
    return len(rel.intersection(list(ranked)[:k])) / k


def novelty(lists: Sequence[Sequence[int]], popularity: np.ndarray) -> float:
    """Mean ``-log2 popularity`` of recommended ideas, averaged per list then over lists.

    Parameters
    ----------
    lists : sequence of sequences of int
        Catalog positions of each list's ideas.
    popularity : ndarray of shape (n_ideas,)
        Share of couples who did each idea, in (0, 1].
    """
    per_list = [float(np.mean(-np.log2(popularity[np.asarray(lst, dtype=int)])))
                for lst in lists if len(lst)]
    return float(np.mean(per_list)) if per_list else 0.0


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance between the rows of ``vectors`` (n, d; rows unit norm).

    0.0 for fewer than two rows.
    """
    n = len(vectors)
    if n < 2:
        return 0.0
    sim = vectors @ vectors.T
    upper = sim[np.triu_indices(n, k=1)]
    return float(np.mean(1.0 - upper))


def coverage(lists: Sequence[Sequence[int]], n_ideas: int) -> float:
    """Share of the ``n_ideas`` catalog that appears in at least one list."""
    seen = {int(i) for lst in lists for i in lst}
    return len(seen) / n_ideas if n_ideas else 0.0


def exposure_gini(lists: Sequence[Sequence[int]], n_ideas: int) -> float:
    """Gini coefficient of how often each catalog idea appears across all the lists.

    The exposure of idea ``j`` is ``x_j`` = the number of lists (one per couple, its top k)
    that contain it; every one of the ``n_ideas`` ideas counts, an idea never shown with
    ``x_j = 0``. With the exposures sorted ascending, ``x_(1) <= ... <= x_(n)``,

    ``G = 2 * sum_i(i * x_(i)) / (n * sum_i x_(i)) - (n + 1) / n``   (i = 1 .. n)

    0 when every idea is shown equally often; ``(n - 1) / n`` (-> 1) when one idea takes all
    the exposure. E.g. exposures ``[0, 1, 1, 2]``: ``2 * (0 + 2 + 3 + 8) / (4 * 4) - 5 / 4 = 0.375``.
    0.0 when nothing is shown at all (or ``n_ideas`` is 0).

    Parameters
    ----------
    lists : sequence of sequences of int
        Catalog positions (0 .. n_ideas - 1) of each list's ideas.
    n_ideas : int
        Size of the catalog.
    """
    if n_ideas <= 0:
        return 0.0
    flat = np.fromiter((int(i) for lst in lists for i in lst), dtype=int)
    counts = np.sort(np.bincount(flat, minlength=n_ideas).astype(float))
    total = counts.sum()
    if total == 0:
        return 0.0
    n = len(counts)
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * counts) / (n * total) - (n + 1) / n)


def popular_shortlist(popularity: np.ndarray, top: float = 0.10) -> np.ndarray:
    """Catalog positions of the ``top`` share of ideas with the highest ``popularity``.

    The shortlist has exactly ``ceil(top * n_ideas)`` ideas (at least one): ideas are ordered
    by popularity, highest first, and ties - at the cutoff too - go to the idea earlier in the
    catalog (a stable sort), so the set is deterministic and its size never depends on ties.
    """
    counts = np.asarray(popularity, dtype=float)
    if not 0 < top <= 1:
        raise ValueError(f"top must be a share of the catalog in (0, 1], got {top!r}")
    if counts.size == 0:
        return np.array([], dtype=int)
    size = max(1, int(np.ceil(round(top * counts.size, 9))))  # round: 0.1 * 30 is 3.0000000000000004
    return np.sort(np.argsort(-counts, kind="stable")[:size])


def popular_share(lists: Sequence[Sequence[int]], popularity: np.ndarray, top: float = 0.10) -> float:
    """Share of the recommended items that are among the ``top`` (10%) most popular ideas.

    Over all lists pooled: (recommendations of a shortlisted idea) / (all recommendations),
    the shortlist being :func:`popular_shortlist` of ``popularity`` (``ceil(top * n_ideas)``
    ideas, ties broken by catalog order). A most-popular ranker scores about 1, a uniform
    random one about ``top``. 0.0 when the lists are empty.

    Parameters
    ----------
    lists : sequence of sequences of int
        Catalog positions of each list's ideas (its top k).
    popularity : ndarray of shape (n_ideas,)
        Popularity of each idea; the protocol passes the number of training interactions
        (dates) of each idea in the split.
    top : float, default=0.10
        The share of the catalog counted as most popular.
    """
    popular = np.zeros(len(popularity), dtype=bool)
    popular[popular_shortlist(popularity, top)] = True
    flat = np.fromiter((int(i) for lst in lists for i in lst), dtype=int)
    return float(popular[flat].mean()) if flat.size else 0.0



def interval(values: Sequence[float], level: float = 0.95) -> list[float] | None:
    """Student-t confidence interval ``[lo, hi]`` of the mean of ``values`` (4 digits).

    The spread is over seeds (hold-out splits of the same data), so it says how much the
    split alone moves a figure. None for fewer than two values: one seed has no spread.
    """
    if len(values) < 2:
        return None
    from scipy.stats import t

    arr = np.asarray(values, dtype=float)
    half = float(t.ppf(0.5 + level / 2, len(arr) - 1) * arr.std(ddof=1) / np.sqrt(len(arr)))
    mean = float(arr.mean())
    return [round(mean - half, 4), round(mean + half, 4)]



#: the figures :func:`noise_note` compares between models
HEADLINE_METRICS = ("ndcg", "enjoyment_ratio")


def noise_note(models: Mapping[str, Mapping[str, Any]], seeds: int) -> str | None:
    """One line when the 95% intervals are wider than the gaps between models, else None.

    For each headline metric (:data:`HEADLINE_METRICS`), models are ordered by their mean;
    neighbours whose intervals overlap form a group whose order the data cannot tell apart.
    With one seed there is no interval, and the line says so.
    """
    if seeds < 2:
        return ("one seed gives no interval, so differences between models may be noise; "
                "run --seeds 3 or more to see the spread")
    groups = []
    for metric in HEADLINE_METRICS:
        ranked = sorted((m for m in models if models[m].get(f"{metric}_ci")),
                        key=lambda m: -models[m][metric])
        chains, chain = [], ranked[:1]
        for upper, lower in zip(ranked, ranked[1:]):
            if models[lower][f"{metric}_ci"][1] >= models[upper][f"{metric}_ci"][0]:
                chain.append(lower)
            else:
                chains.append(chain)
                chain = [lower]
        chains.append(chain)
        tied = [" ~ ".join(c) for c in chains if len(c) > 1]
        if tied:
            groups.append(f"{metric}: {', '.join(tied)}")
    if not groups:
        return None
    return (f"the 95% intervals over {seeds} seeds are wider than the gaps between these models, so their "
            f"order is noise at this size (evaluate more couples or seeds): {'; '.join(groups)}")
