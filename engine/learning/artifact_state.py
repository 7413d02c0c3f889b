"""Loading artifacts saved by earlier versions of :class:`~engine.learning.model.EnjoymentModel`.

A saved model is its pickled ``__dict__``. :func:`upgraded_state` fills in
what an older artifact lacks (parameters added since, with the value that
reproduces how it ranked then) and renames learned attributes saved under
their names before issue 17, so every version in a registry still loads and
ranks as it did.
"""

from __future__ import annotations

from typing import Any

__all__ = ["upgraded_state"]

#: learned attributes under their names in artifacts saved before issue 17
_RENAMED = {"_idea_sim": "idea_similarity_", "_linear_weights": "linear_weights_", "_linear_bias": "linear_bias_"}


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
    return state
