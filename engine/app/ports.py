"""What the application facade needs from a store and from a model, as typed :class:`typing.Protocol` s.

The facade's modules never import :mod:`engine.store`; they are handed a store
(the service's, the CLI's, or a test's) and call only the methods below.
:class:`engine.store.Store` satisfies :class:`StorePort` structurally, so a
fake with these methods does too. Likewise the facade ranks through
:class:`Ranker`, which :class:`engine.learning.model.EnjoymentModel` satisfies.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..domain.catalog import Catalog
    from ..domain.context import Context
    from ..domain.profiles import Profile, Profiles
    from ..ranking.policy import Ranked

__all__ = ["Ranker", "StorePort"]


@runtime_checkable
class StorePort(Protocol):
    """The store methods :mod:`engine.app` calls (serving, the retrain queue, the demo)."""

    # serving tonight (engine.app.serving)
    def tonight_reads(self, couple_id: str, today: _dt.date, since: _dt.date, request: str) -> Any:
        """The couple's history, what was served before, and today's ``another`` count, in one read."""

    def count_another(self, couple_id: str, today: _dt.date, request: str,
                      limit: int | None = None) -> int | None:
        """Count one ``another`` request; None when over ``limit``."""

    def log_suggestions(self, rows: Iterable[dict[str, Any]]) -> int:
        """Record what was served; the number of rows written."""

    def prompt_history(self, couple_ids: Iterable[str], since: _dt.date) -> dict[str, list[dict[str, Any]]]:
        """Each couple's prompt rows shown after ``since`` or ever marked (what tonight's prompts are chosen from)."""

    def record_served(self, couple_id: str, since: _dt.date,
                      choose: Callable[[list[dict[str, Any]]], tuple[Any, list[dict[str, Any]]]] | None,
                      rows: Iterable[dict[str, Any]]) -> tuple[Any, int]:
        """A request's new prompts (``choose``'s, under the couple's lock) and its log ``rows``, in one write
        transaction, both or neither; ``(chosen, rows written)``. ``choose=None``: :meth:`log_suggestions`."""

    # the retrain queue and single-flight training (engine.app.retrain_queue)
    def try_lock(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the named lock for ``owner`` unless someone else holds it."""

    def release_lock(self, name: str, owner: str) -> bool:
        """Release the named lock if ``owner`` holds it."""

    def release_dead_lock(self, name: str) -> bool:
        """Release the named lock when its owner's process is gone."""

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """Who holds the named lock, or None."""

    def training_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest training runs, newest first."""

    # the demo (engine.app.demo)
    def bulk_load(self, couples: Sequence[dict[str, Any]], dates: pd.DataFrame, *,
                  replace: bool = False, source: str = "import", chunk_size: int = 50_000,
                  progress: bool = False) -> tuple[int, int]:
        """Load couples and dates; the numbers loaded."""

    def dates_frame(self, couple_ids: Iterable[str] | None = None, context: bool = False) -> pd.DataFrame:
        """The stored dates as a frame."""

    def profiles(self, couple_ids: Iterable[str] | None = None) -> dict[str, Profile]:
        """The couples' stated profiles, by couple id."""

    def rotate_token(self, couple_id: str) -> str:
        """A new token for the couple (the old one stops working)."""


@runtime_checkable
class Ranker(Protocol):
    """What the facade needs from a fitted model (:mod:`engine.app.recommender`, ``reasons``, ``gate``)."""

    catalog_: Catalog
    feature_names_: list[str]
    featurizer_: Any
    idea_similarity_: Any

    def enjoyment(self, history: Any, couple_ids: Sequence[str], as_of_day: int | None = None,
                  profiles: Profiles | None = None) -> tuple[np.ndarray, np.ndarray, Any]:
        """Each partner's predicted enjoyment of every idea, the pair features and the histories."""

    def rank(self, history: Any, couple_ids: Sequence[str], k: int = 3, *, context: Context | None = None,
             **options: Any) -> Ranked:
        """The one scoring path: each couple's top ``k`` allowed ideas."""

    def idea_titles(self) -> np.ndarray:
        """Idea titles in catalog order."""
