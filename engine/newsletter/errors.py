"""The newsletter's errors: each message says why a run cannot go on and what to do."""

from __future__ import annotations

__all__ = ["AlreadySentError", "NewsletterBusyError", "NewsletterError"]


class NewsletterError(Exception):
    """The newsletter cannot run as asked; the message says why and what to do."""


class AlreadySentError(NewsletterError):
    """The week's newsletter was already completed (pass ``force`` to send it again)."""


class NewsletterBusyError(NewsletterError):
    """Another run of the same week holds the week's lock (single flight per week)."""
