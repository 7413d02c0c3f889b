"""Ranking-list metrics and their summaries over seeds (see :mod:`engine.lab.evaluation`, "Metrics").

The per-list figures (NDCG, recall, precision, novelty, diversity,
coverage) and, over the seeds of an evaluation, the Student-t interval of a
mean (:func:`interval`) and the one-line note when intervals overlap
(:func:`noise_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ACCURACY_METRICS", "HEADLINE_METRICS", "coverage", "interval", "intra_list_diversity", "ndcg_at_k",
           "noise_note", "novelty", "precision_at_k", "recall_at_k"]

ACCURACY_METRICS = ("ndcg", "recall", "precision")


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
