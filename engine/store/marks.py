"""Ideas a couple marked (:class:`MarksRepository`): "not for us" and "saved for later".

One row per couple, kind and idea in ``idea_marks`` (created by the migration
``_migration_idea_marks``, erased with the couple):

* ``not-for-us`` - never suggested to that couple again: :meth:`Store.tonight_reads` reads the
  couple's set with the history and tonight's ranking gets it as ``exclude``
  (:func:`engine.app.serving.serve_tonight`). The rows stay with the time they were made, so a
  training run can read them as a negative signal (:meth:`MarksRepository.dismissals_frame`).
  Undoing it deletes the row.
* ``saved`` - an idea the couple keeps for later (the pages' "Browse ideas" and "Saved").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._values import _as_text, _chunks, _iso_instant, _utcnow
from .errors import UnknownCoupleError, ValidationError
from .tables import _ID_MAX, tbl_idea_marks

__all__ = ["MARK_KINDS", "NOT_FOR_US", "SAVED", "MarksRepository"]

#: never suggest this idea to this couple again
NOT_FOR_US = "not-for-us"
#: kept for later
SAVED = "saved"
MARK_KINDS = (NOT_FOR_US, SAVED)


def _kind(kind: Any) -> str:
    if kind not in MARK_KINDS:
        raise ValidationError("kind", f"must be one of {list(MARK_KINDS)}, got {kind!r}")
    return kind


class MarksRepository:
    """"Not for us" and saved ideas (a base of :class:`engine.store.Store`)."""

    def mark_idea(self, couple_id: str, idea_id: str, kind: str) -> bool:
        """Mark an idea for the couple; True when the mark is new, False when it was there already.

        Raises
        ------
        ValidationError
            A bad kind or id.
        UnknownCoupleError
            No such couple.
        """
        _as_text("couple_id", couple_id, max_len=_ID_MAX)
        values = {"couple_id": couple_id, "kind": _kind(kind), "idea_id": _as_text("idea_id", idea_id, max_len=200),
                  "created_at": _utcnow()}
        if self._marked(couple_id, kind, idea_id):
            return False
        try:
            with self._write() as conn:
                conn.execute(tbl_idea_marks.insert().values(**values))
        except IntegrityError as exc:
            if self._marked(couple_id, kind, idea_id):  # a concurrent identical mark won
                return False
            raise UnknownCoupleError(couple_id) from exc
        return True

    def unmark_idea(self, couple_id: str, idea_id: str, kind: str) -> bool:
        """Remove a mark (undo "not for us", unsave); True when there was one."""
        with self._write() as conn:
            return bool(conn.execute(tbl_idea_marks.delete().where(
                tbl_idea_marks.c.couple_id == couple_id, tbl_idea_marks.c.kind == _kind(kind),
                tbl_idea_marks.c.idea_id == idea_id)).rowcount)

    def marked_ideas(self, couple_id: str, kind: str) -> list[dict[str, Any]]:
        """The couple's marks of one kind, newest first: ``[{"idea_id", "created_at"}]``."""
        query = (sa.select(tbl_idea_marks.c.idea_id, tbl_idea_marks.c.created_at)
                 .where(tbl_idea_marks.c.couple_id == couple_id, tbl_idea_marks.c.kind == _kind(kind))
                 .order_by(tbl_idea_marks.c.created_at.desc(), tbl_idea_marks.c.idea_id))
        with self._read() as conn:
            return [{"idea_id": row.idea_id, "created_at": _iso_instant(row.created_at)}
                    for row in conn.execute(query)]

    def not_for_us_by_couple(self, couple_ids: Iterable[str]) -> dict[str, set[str]]:
        """The ideas each of these couples marked "not for us" (couples without any are left out)."""
        out: dict[str, set[str]] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(couple_ids))):
                for couple, idea in conn.execute(
                        sa.select(tbl_idea_marks.c.couple_id, tbl_idea_marks.c.idea_id)
                        .where(tbl_idea_marks.c.kind == NOT_FOR_US, tbl_idea_marks.c.couple_id.in_(chunk))):
                    out.setdefault(couple, set()).add(idea)
        return out

    def dismissals_frame(self) -> pd.DataFrame:
        """Every couple's "not for us" marks, for training to read as a negative signal:
        ``couple_id``, ``idea_id``, ``created_at`` (datetime64, UTC), oldest first."""
        query = (sa.select(tbl_idea_marks.c.couple_id, tbl_idea_marks.c.idea_id, tbl_idea_marks.c.created_at)
                 .where(tbl_idea_marks.c.kind == NOT_FOR_US)
                 .order_by(tbl_idea_marks.c.created_at, tbl_idea_marks.c.couple_id, tbl_idea_marks.c.idea_id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame({"couple_id": pd.Series([r.couple_id for r in rows], dtype=object),
                             "idea_id": pd.Series([r.idea_id for r in rows], dtype=object),
                             "created_at": pd.to_datetime([r.created_at for r in rows])})

    def _marked(self, couple_id: str, kind: str, idea_id: str) -> bool:
        with self._read() as conn:
            return conn.execute(sa.select(tbl_idea_marks.c.idea_id).where(
                tbl_idea_marks.c.couple_id == couple_id, tbl_idea_marks.c.kind == kind,
                tbl_idea_marks.c.idea_id == idea_id)).first() is not None
