"""The parameters of :class:`~engine.learning.model.EnjoymentModel`, declared for scikit-learn.

:data:`PARAMETER_CONSTRAINTS` is the estimator's ``_parameter_constraints``:
scikit-learn's ``_validate_params`` checks every parameter against it at
``fit`` and names the allowed values in its error. The parameters themselves
are documented on the estimator.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..ranking.policy import SCALES
from .learners import LEARNERS

__all__ = ["PARAMETER_CONSTRAINTS"]

PARAMETER_CONSTRAINTS: dict = {
    "learner": [StrOptions({"auto", *LEARNERS})],
    "breadth": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
    "routine_weight": [Interval(Real, 0, 1, closed="both")],
    "routine_push": [Interval(Real, 0, 1, closed="both")],
    "diversity": [Interval(Real, 0, None, closed="left")],
    "repeat_penalty": [Interval(Real, 0, None, closed="left")],
    "repeat_days": [Interval(Integral, 1, None, closed="left")],
    "exploration": [Interval(Real, 0, None, closed="left")],
    "gap_penalty": [Interval(Real, 0, 0.5, closed="both")],
    "scale": [StrOptions(set(SCALES))],
    "partner_targets": ["boolean"],
    "negatives": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "target_share": [Interval(Real, 0, 1, closed="neither")],
    "target_couples": [Interval(Integral, 1, None, closed="left"), None],
    "training_history": [StrOptions({"before", "others"})],
    "rounds": [Interval(Integral, 1, None, closed="left"), None],
    "shrink": [Interval(Real, 0, None, closed="left")],
    "popular_negatives": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
    "factor_alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "max_leaf_nodes": [Interval(Integral, 2, None, closed="left")],
    "rating_scale": [tuple, list, None],
    "relevant_rating": [Real, None],
    "random_state": [Interval(Integral, 0, None, closed="left")],
}
