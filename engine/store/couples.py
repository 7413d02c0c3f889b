"""Couples, their tokens and their web sessions (:class:`CouplesRepository`)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ._values import _as_text, _checked_profile, _dumps, _iso_instant, _loads, _new_stamp, _partner_column, _utcnow
from .errors import StoreError, UnknownCoupleError
from .tables import _COUPLE_TABLES, _ID_MAX, PARTNERS, tbl_couples, tbl_session_epochs

__all__ = ["CouplesRepository"]

logger = logging.getLogger(__name__)


def _new_couple_id() -> str:
    return "c_" + secrets.token_urlsafe(8)[:10]


def _hash_token(token: str, salt: str | None = None) -> str:
    salt = secrets.token_hex(16) if salt is None else salt
    digest = hashlib.sha256((salt + token).encode("utf-8")).hexdigest()
    return f"sha256${salt}${digest}"


def _token_matches(token: str, stored: str | None) -> bool:
    if not stored or not isinstance(token, str):
        # compare anyway so unknown couples cost the same as wrong tokens
        hmac.compare_digest(_hash_token(str(token), "0" * 32), _hash_token("", "0" * 32))
        return False
    try:
        scheme, salt, _digest = stored.split("$", 2)
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    return hmac.compare_digest(_hash_token(token, salt).encode(), stored.encode())


class CouplesRepository:
    """Couples, tokens and session epochs (a base of :class:`engine.store.Store`)."""

    # ---------------------------------------------------------------- couples

    def create_couple(self, profile: dict[str, Any] | None = None,
                      couple_id: str | None = None) -> tuple[str, str]:
        """Create a couple and its API token.

        Parameters
        ----------
        profile : dict, optional
            Keys from :data:`PROFILE_FIELDS` (``budget_ceiling`` 0-3, ``kids``
            bool, ``accessibility_needs`` str, ``interests`` list of str, ``home``,
            ``intimacy`` affection / romantic / sensual).
        couple_id : str, optional
            Default: ``"c_"`` + 10 random URL-safe characters.

        Returns
        -------
        (couple_id, token) : tuple of str
            The token is shown only here; the database keeps a salted hash.

        Raises
        ------
        ValidationError
            Bad profile or id (``field`` names it).
        StoreError
            If ``couple_id`` already exists.
        """
        clean = _checked_profile(profile)
        new_id = _new_couple_id() if couple_id is None else _as_text("couple_id", couple_id, max_len=_ID_MAX)
        token = secrets.token_urlsafe(32)
        try:
            with self._write() as conn:
                conn.execute(tbl_couples.insert().values(
                    id=new_id, created_at=_utcnow(), profile=_dumps(clean),
                    token_hash=_hash_token(token), active=True, source="api", dates_stamp=_new_stamp()))
        except IntegrityError as exc:
            raise StoreError(f"a couple with id {new_id!r} already exists") from exc
        return new_id, token

    def update_profile(self, couple_id: str, changes: dict[str, Any] | None) -> dict[str, Any]:
        """Change some fields of a couple's stated profile and return the whole profile.

        Parameters
        ----------
        couple_id : str
        changes : dict
            Keys from :data:`PROFILE_FIELDS`, checked like a new couple's
            profile; a None value removes that field (back to its default:
            ``intimacy`` None is ``affection``). Other fields are kept.

        Returns
        -------
        dict
            The stored profile after the change.

        Raises
        ------
        ValidationError
            Bad profile (``field`` names it).
        UnknownCoupleError
        """
        removed = [k for k, v in (changes or {}).items() if v is None] if isinstance(changes, dict) else []
        clean = _checked_profile(changes)
        with self._write() as conn:
            row = conn.execute(sa.select(tbl_couples.c.profile).where(tbl_couples.c.id == couple_id)
                               .with_for_update()).first()
            if row is None:
                raise UnknownCoupleError(couple_id)
            profile = {k: v for k, v in (_loads(row.profile) or {}).items() if k not in removed}
            profile.update(clean)
            # a new stamp: the history cache holds the profile with the couple's rows (engine.store.serving)
            conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                         .values(profile=_dumps(profile), dates_stamp=_new_stamp()))
        return profile

    def rotate_token(self, couple_id: str) -> str:
        """Give the couple a new token (the old one stops working) and return it.

        Raises
        ------
        UnknownCoupleError
        """
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            done = conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                .values(token_hash=_hash_token(token))).rowcount
            if done:
                self._bump_session_epoch(conn, couple_id, "")  # the old token's web sessions end too
        if not done:
            raise UnknownCoupleError(couple_id)
        return token

    # ---------------------------------------------------------------- web sessions

    def session_generation(self, couple_id: str, partner: str | None = None) -> str | None:
        """What a web session of the couple (or of one partner) must still hold to be valid.

        An opaque string made of the couple's creation time and its session
        epochs (the couple's, plus ``partner``'s when given). It changes when
        :meth:`revoke_sessions` or :meth:`rotate_token` runs, or the couple is
        erased and created again. None when no active couple has this id.
        """
        query = (sa.select(tbl_couples.c.created_at, tbl_couples.c.active, tbl_session_epochs.c.partner,
                           tbl_session_epochs.c.epoch)
                 .select_from(tbl_couples.outerjoin(tbl_session_epochs, sa.and_(
                     tbl_session_epochs.c.couple_id == tbl_couples.c.id,
                     tbl_session_epochs.c.partner.in_(["", partner or ""]))))
                 .where(tbl_couples.c.id == couple_id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        if not rows or not rows[0].active:
            return None
        epochs = {row.partner: int(row.epoch) for row in rows if row.partner is not None}
        return f"{rows[0].created_at.isoformat()}/{epochs.get('', 0)}/{epochs.get(partner, 0) if partner else '-'}"

    def revoke_sessions(self, couple_id: str, partner: str | None = None) -> None:
        """End every web session of the couple, or only ``partner``'s (``"a"``/``"b"``).

        Raises
        ------
        UnknownCoupleError
        """
        try:
            with self._write() as conn:
                self._bump_session_epoch(conn, couple_id, partner or "")
        except IntegrityError as exc:  # the foreign key: no such couple
            raise UnknownCoupleError(couple_id) from exc

    @staticmethod
    def _bump_session_epoch(conn: Connection, couple_id: str, partner: str) -> None:
        conn.execute(sa.text(
            "INSERT INTO session_epochs (couple_id, partner, epoch) VALUES (:couple_id, :partner, 1) "
            "ON CONFLICT (couple_id, partner) DO UPDATE SET epoch = session_epochs.epoch + 1"),
            {"couple_id": couple_id, "partner": partner})

    def verify_token(self, couple_id: str, token: str) -> bool:
        """Whether ``token`` is the current token of the active couple ``couple_id``.

        Constant-time comparison; unknown couples and inactive couples give False.
        """
        with self._raw_cursor() as cursor:  # checked on every couple request: a plain indexed read
            cursor.execute(f"SELECT token_hash, active FROM couples WHERE id = {self._mark}", (couple_id,))
            row = cursor.fetchone()
        stored = row[0] if row is not None and row[1] else None
        return _token_matches(token, stored)

    def issue_partner_token(self, couple_id: str, partner: str) -> str:
        """Give one partner a sign-in token of their own (a new one replaces the old) and return it.

        The partner's token works like the couple's on the couple's routes,
        but says who is there (:meth:`token_role`): that partner rates only
        for themselves and sees the other's rating of a date once both rated.

        Raises
        ------
        ValidationError
            ``partner`` is not ``"a"`` or ``"b"``.
        UnknownCoupleError
        """
        column = _partner_column(partner, "hash")
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            done = conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                .values({column: _hash_token(token)})).rowcount
        if not done:
            raise UnknownCoupleError(couple_id)
        return token

    def token_role(self, couple_id: str, token: str) -> str | None:
        """Whose token ``token`` is for the active couple ``couple_id``.

        Returns ``"couple"`` (the couple's shared token), ``"a"`` or ``"b"``
        (a partner's own token), or None (unknown couple, paused couple or
        wrong token). Every stored hash is compared, in constant time.
        """
        with self._raw_cursor() as cursor:
            cursor.execute(f"SELECT token_hash, partner_a_hash, partner_b_hash, active FROM couples "
                           f"WHERE id = {self._mark}", (couple_id,))
            row = cursor.fetchone()
        stored = row[:3] if row is not None and row[3] else (None, None, None)
        found = [role for role, digest in zip(("couple", *PARTNERS), stored) if _token_matches(token, digest)]
        return found[0] if found else None

    def get_couple(self, couple_id: str) -> dict[str, Any] | None:
        """``{"id", "created_at", "profile", "active", "source"}`` or None (never the token)."""
        with self._read() as conn:
            row = conn.execute(sa.select(tbl_couples.c.id, tbl_couples.c.created_at, tbl_couples.c.profile,
                                         tbl_couples.c.active, tbl_couples.c.source)
                               .where(tbl_couples.c.id == couple_id)).first()
        if row is None:
            return None
        return {"id": row.id, "created_at": _iso_instant(row.created_at),
                "profile": _loads(row.profile), "active": bool(row.active), "source": row.source}

    def set_couple_active(self, couple_id: str, active: bool) -> bool:
        """Pause (False) or resume (True) a couple; False if there is no such couple."""
        with self._write() as conn:
            return bool(conn.execute(tbl_couples.update().where(tbl_couples.c.id == couple_id)
                                     .values(active=bool(active))).rowcount)

    def couple_ids(self, active_only: bool = False) -> list[str]:
        """Every couple id, sorted; only active couples when ``active_only``."""
        query = sa.select(tbl_couples.c.id).order_by(tbl_couples.c.id)
        if active_only:
            query = query.where(tbl_couples.c.active.is_(True))
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def count_couples(self) -> int:
        """Number of couples."""
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tbl_couples)).scalar())

    def delete_couple(self, couple_id: str) -> bool:
        """Erase the couple and every row about them, in one transaction.

        Returns True if the couple existed; calling it again is harmless (False).
        """
        with self._write() as conn:
            for table in _COUPLE_TABLES:
                conn.execute(table.delete().where(table.c.couple_id == couple_id))
            existed = conn.execute(tbl_couples.delete().where(tbl_couples.c.id == couple_id)).rowcount
        if existed:
            logger.info("erased couple %s", couple_id)
        return bool(existed)

    def is_empty(self) -> bool:
        """True when the database holds no couple (and so no dates)."""
        with self._read() as conn:
            return conn.execute(sa.select(tbl_couples.c.id).limit(1)).first() is None
