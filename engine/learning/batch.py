"""Top-k lists for many couples from stored histories: the research path of the estimator.

:class:`BatchRecommendMixin` gives :class:`~engine.learning.model.EnjoymentModel`
its :meth:`recommend`, the interface the offline evaluation calls on every
model (the baselines in :mod:`engine.lab.baselines` have the same method). It
ranks through the model's ``rank`` (the one scoring path) in batches sized so
a batch's feature planes stay bounded (:func:`~engine.learning.sampling.batch_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..domain.context import Context
from ..domain.dates import as_dates_frame
from ..domain.profiles import Profiles
from .sampling import batch_rows

__all__ = ["BatchRecommendMixin"]


class BatchRecommendMixin:
    """``recommend`` for an estimator with ``rank``, ``catalog_``, ``feature_names_`` and the
    training ``_history`` / ``_profiles`` it keeps after ``fit`` (never pickled)."""

    def recommend(self, couples: Sequence[str], k: int = 10, context: Context | None = None,
                  exclude: dict[str, set[str]] | None = None,
                  history: pd.DataFrame | None = None,
                  profiles: Profiles | None = None) -> list[list[tuple[str, float]]]:
        """Top-``k`` (idea id, score) per couple, best first.

        ``history`` and ``profiles`` default to what :meth:`fit` saw.
        """
        check_is_fitted(self, "learner_")
        if profiles is None and history is None:
            profiles = self._profiles
        history = self._history if history is None else as_dates_frame(history)
        out: list[list[tuple[str, float]]] = []
        ids = self.catalog_.ids
        couples = list(couples)
        step = batch_rows(1000, len(ids), len(self.feature_names_))
        for start in range(0, len(couples), step):
            chunk = couples[start:start + step]
            sub = history[history["couple_id"].isin(set(map(str, chunk)))]
            ranked = self.rank(sub, chunk, k, context=context, exclude=exclude, profiles=profiles)
            for r in range(len(chunk)):
                out.append([(str(ids[p]), float(s)) for p, s in zip(ranked.positions[r], ranked.scores[r]) if p >= 0])
        return out
