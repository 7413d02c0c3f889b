""""Not for us" marks as training negatives: what a couple turned down teaches the model too.

A couple that marks a suggestion "not for us" (``Store.mark_idea``) never sees
it again (the serving path excludes it); training learns from the mark as
well. A training target's negatives are ideas its couple never did, drawn at
random (:func:`engine.learning.sampling.training_examples`); a turned-down
idea is a negative the couple *told* us about, so the couple's marks made
before the target's day (any mark, on undated data) take the place of that
many random negatives. The number of examples and the share of relevant
ones stay as they were, so the model's base rates do not move; what moves is
that the ideas compared with a target are ones the couple really did not
want (with the pairwise learner: the target is ranked above them).
A mark of an idea the couple has done is left out (its ratings speak).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..domain.dates import UNDATED

__all__ = ["DISMISSAL_COLUMNS", "known_negatives", "mark_days"]

#: the columns a dismissals frame has (``Store.dismissals_frame``)
DISMISSAL_COLUMNS = ("couple_id", "idea_id", "created_at")


def mark_days(dismissals: pd.DataFrame, dates: pd.DataFrame) -> pd.DataFrame:
    """The marks that can teach: ``couple_id``, ``idea_id``, ``day`` (day number of the mark), one per
    couple and idea (the first), without ideas the couple has done.

    Raises
    ------
    ValueError
        If ``dismissals`` lacks one of :data:`DISMISSAL_COLUMNS`, naming the columns it has.
    """
    missing = [c for c in DISMISSAL_COLUMNS if c not in dismissals.columns]
    if missing:
        raise ValueError(f"a dismissals frame needs columns {', '.join(DISMISSAL_COLUMNS)}; missing {missing}, "
                         f"found {list(dismissals.columns)}")
    marks = dismissals.loc[:, list(DISMISSAL_COLUMNS)].astype({"couple_id": str, "idea_id": str})
    when = pd.to_datetime(marks["created_at"], utc=True).dt.tz_localize(None)
    marks = marks.assign(day=when.to_numpy("datetime64[D]").astype("int64")).drop(columns="created_at")
    done = pd.MultiIndex.from_frame(dates[["couple_id", "idea_id"]].astype(str))
    marks = marks.loc[~pd.MultiIndex.from_frame(marks[["couple_id", "idea_id"]]).isin(done)]
    return marks.sort_values("day", kind="stable").drop_duplicates(["couple_id", "idea_id"]).reset_index(drop=True)


def known_negatives(marks: pd.DataFrame, owners: np.ndarray, target_days: np.ndarray,
                    columns: np.ndarray, negatives: int) -> tuple[np.ndarray, np.ndarray]:
    """Which random negatives a target's turned-down ideas replace.

    Parameters
    ----------
    marks : DataFrame
        :func:`mark_days`' rows, with ``column`` (the idea's catalog column, -1 unknown).
    owners : ndarray of str (n_targets,)
        Each target's couple.
    target_days : ndarray of int (n_targets,)
        Each target's day number; :data:`~engine.domain.dates.UNDATED` = undated (every mark counts).
    columns : ndarray of int
        ``marks``' catalog columns.
    negatives : int
        Negatives per target: at most this many marks replace them.

    Returns
    -------
    slots, cols : ndarray of int
        Positions in the targets' negatives laid out target by target (target ``r``'s
        ``j``-th negative at ``r * negatives + j``) and the turned-down idea's column for each.
    """
    pairs = pd.DataFrame({"row": np.arange(len(owners)), "couple_id": owners, "t_day": target_days}).merge(
        marks.assign(column=columns), on="couple_id", how="inner")
    pairs = pairs.loc[(pairs["column"] >= 0) & ((pairs["t_day"] == UNDATED) | (pairs["day"] < pairs["t_day"]))]
    j = pairs.groupby("row", sort=False).cumcount().to_numpy()
    keep = j < negatives
    rows = pairs["row"].to_numpy()[keep]
    return rows * negatives + j[keep], pairs["column"].to_numpy()[keep]
