"""Loading artifacts saved by earlier versions of :class:`~engine.learning.model.EnjoymentModel`.

A saved model is its pickled ``__dict__`` as :func:`saved_state` leaves it.
:func:`upgraded_state` fills in
what an older artifact lacks (parameters added since, with the value that
reproduces how it ranked then) and renames learned attributes saved under
their names before issue 17, so every version in a registry still loads and
ranks as it did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .similarity import RowSimilarity

__all__ = ["ARTIFACT_FORMAT", "saved_state", "upgraded_state"]

#: the layout of a pickled model this code writes, recorded in each version's card (``artifact_format``;
#: a card without it: 1). It goes up when code from before could no longer serve what is saved now:
#: 2 (2026-12-07) no longer pickles the match features' blocks of the idea vectors, the idea id
#: index or the on-demand similarity's own copy of the vectors. :func:`upgraded_state` reads every
#: format up to this one; a registry refuses a newer one (code rolled back past a model)
ARTIFACT_FORMAT = 2

#: learned attributes under their names in artifacts saved before issue 17
_RENAMED = {"_idea_sim": "idea_similarity_", "_linear_weights": "linear_weights_", "_linear_bias": "linear_bias_"}


def saved_state(state: dict[str, Any]) -> dict[str, Any]:
    """What of a model's ``__dict__`` (a copy, changed in place) is pickled: not the training data or
    per-process caches, and the idea vectors once (a large catalog's idea similarity computes its
    rows from the featurizer's vectors; pickled twice they load as two copies, 35 MB each at 50,000
    ideas)."""
    for name in ("_history", "_profiles", "_title_cache"):
        state.pop(name, None)
    similarity, featurizer = state.get("idea_similarity_"), state.get("featurizer_")
    if isinstance(similarity, RowSimilarity) and similarity.vectors is getattr(featurizer, "idea_vectors_", None):
        state["idea_similarity_"] = RowSimilarity(None)  # its vectors are the featurizer's: linked on load
    return state


def upgraded_state(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` (a pickled model's ``__dict__``, changed in place) with today's names and defaults."""
    state.setdefault("target_couples", None)  # artifacts from before the parameter: no cap
    state.setdefault("partner_targets", False)
    state.setdefault("gap_penalty", 0.0)  # and before partners: ranked by the couple's mean
    state.setdefault("breadth", 0.0)  # and before issue 21's breadth: no long-tail slots
    state.setdefault("scale", "catalog")  # and before issue 19: scaled by the best idea of the catalog
    state.setdefault("popular_share_", 0.0)
    state.setdefault("factor_alpha", 1.0)  # and before the weight was chosen on the data: implicit ALS's 1
    state.setdefault("factor_alpha_", 1.0)
    state.setdefault("learner_name_", state.get("learner", "linear"))
    for old, new in _RENAMED.items():  # artifacts from before the learned attributes took a trailing _
        if old in state:
            state[new] = state.pop(old)
    similarity = state.get("idea_similarity_")
    if isinstance(similarity, RowSimilarity):  # the featurizer's vectors (saved before: a second copy of them)
        vectors = state["featurizer_"].idea_vectors_
        if similarity.vectors is None or np.array_equal(similarity.vectors, vectors):
            similarity.vectors = vectors
    return state
