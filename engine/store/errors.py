"""The store's errors: what it refuses, and why (:class:`StoreError` and its kinds)."""

from __future__ import annotations

__all__ = ["CouplesExistError", "StoreError", "UnknownCoupleError", "ValidationError"]


class StoreError(Exception):
    """A request the store cannot carry out; the message says why and what to do."""


class CouplesExistError(StoreError):
    """A bulk load met couples that already exist (``existing``: their ids, sorted); nothing was loaded."""

    def __init__(self, existing: list[str]) -> None:
        self.existing = sorted(existing)
        super().__init__(
            f"{len(existing)} couple(s) already exist ({', '.join(self.existing[:5])}"
            f"{', ...' if len(existing) > 5 else ''}); nothing was loaded. Pass replace=True to erase and "
            "reload them.")


class ValidationError(StoreError, ValueError):
    """A value given to the store is not allowed.

    Attributes
    ----------
    field : str
        The name of the offending field (e.g. ``"profile.budget_ceiling"``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message



class UnknownCoupleError(StoreError, LookupError):
    """The couple id does not exist (or was erased)."""

    def __init__(self, couple_id: str) -> None:
        super().__init__(f"no couple with id {couple_id!r}")
        self.couple_id = couple_id
