"""Signed links in emails: confirm an address, rate an idea signed in, unsubscribe in one click.

A link is ``<public url><path>?token=<token>``; the token is an
:class:`itsdangerous.URLSafeTimedSerializer` signature (HMAC-SHA1 over the
payload and its time) of ``{"c": couple, "p": partner, "e": address}`` (plus
``"i": idea`` for a rating link) with the key that signs the service's session
cookie (:func:`engine.config.signing_secret`) and a salt per kind, so a token
of one kind never works as another. The service verifies them
(:func:`read_link`); the address inside lets it refuse a link to an address
the partner has since changed.

How long each kind is good for (:data:`LINK_MAX_AGE`): a confirmation 7 days,
a rating link 60 days (a weekly email read late), an unsubscribe link for
ever (RFC 8058: it must keep working however old the email); so is the daily
nudge email's own ``daily-unsubscribe`` link (it stops the daily email only).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

__all__ = ["LINK_MAX_AGE", "LINK_PATHS", "LinkError", "MailLinks", "read_link"]

#: seconds a link of each kind verifies after it was made (None: always)
LINK_MAX_AGE: dict[str, int | None] = {"confirm": 7 * 86400, "rate": 60 * 86400, "unsubscribe": None,
                                       "daily-unsubscribe": None}

#: where each kind of link points, under the public URL (routes in service/mail_pages.py)
LINK_PATHS = {"confirm": "/email/confirm", "rate": "/email/rate", "unsubscribe": "/email/unsubscribe",
              "daily-unsubscribe": "/email/daily/unsubscribe"}


class LinkError(ValueError):
    """A link that does not verify: ``reason`` is ``"expired"`` or ``"invalid"``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _serializer(secret: str, kind: str) -> URLSafeTimedSerializer:
    if kind not in LINK_PATHS:
        raise ValueError(f"kind must be one of {', '.join(LINK_PATHS)}, got {kind!r}")
    return URLSafeTimedSerializer(secret, salt=f"dateideas-email-{kind}")


@dataclass(frozen=True)
class MailLinks:
    """Makes the signed links of one sender.

    Parameters
    ----------
    secret : str
        The service's signing key (:func:`engine.config.signing_secret`).
    base_url : str
        Where a reader's browser reaches the service, e.g. ``https://dates.example.org``.
    """

    secret: str
    base_url: str

    def token(self, kind: str, couple_id: str, partner: str, address: str, idea_id: str | None = None) -> str:
        """The signed token of one link."""
        payload: dict[str, Any] = {"c": str(couple_id), "p": str(partner), "e": str(address)}
        if idea_id is not None:
            payload["i"] = str(idea_id)
        return _serializer(self.secret, kind).dumps(payload)

    def url(self, kind: str, couple_id: str, partner: str, address: str, idea_id: str | None = None) -> str:
        """The whole link: ``<base_url><path>?token=...``."""
        token = self.token(kind, couple_id, partner, address, idea_id)
        return f"{self.base_url.rstrip('/')}{LINK_PATHS[kind]}?{urllib.parse.urlencode({'token': token})}"


def read_link(secret: str, kind: str, token: str) -> dict[str, str]:
    """The payload of a ``kind`` link's token: ``{"couple_id", "partner", "address"}`` (+ ``"idea_id"``).

    Raises
    ------
    LinkError
        ``reason="expired"`` when older than :data:`LINK_MAX_AGE` of its kind;
        ``reason="invalid"`` when it is not a token of this kind signed with ``secret``.
    """
    try:
        payload = _serializer(secret, kind).loads(str(token or ""), max_age=LINK_MAX_AGE[kind])
    except SignatureExpired:
        raise LinkError("expired", f"this {kind} link has expired; links of its kind last "
                                   f"{(LINK_MAX_AGE[kind] or 0) // 86400} days") from None
    except BadSignature:
        raise LinkError("invalid", f"this {kind} link is not valid (copied incompletely, or not ours)") from None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("c", "p", "e")) \
            or (kind == "rate" and not isinstance(payload.get("i"), str)):
        raise LinkError("invalid", f"this {kind} link is not valid (copied incompletely, or not ours)")
    out = {"couple_id": payload["c"], "partner": payload["p"], "address": payload["e"]}
    if "i" in payload:
        out["idea_id"] = payload["i"]
    return out
