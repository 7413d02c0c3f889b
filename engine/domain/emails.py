"""An email address: THE one check of a partner's address (sign-up API, page, store).

Deliberately plain (no DNS lookups, no quoted local parts): what a couple types
on a sign-up form and what an SMTP server accepts in ``RCPT TO``.
"""

from __future__ import annotations

import re

__all__ = ["EMAIL_MAX", "EmailError", "check_email"]

#: the longest address SMTP carries (RFC 5321's 256-octet path minus the angle brackets)
EMAIL_MAX = 254

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ALLOWED = ("an email address such as sam@example.org: letters, digits and .!#$%&'*+/=?^_`{|}~- before the @, "
           f"a domain with a dot after it, at most {EMAIL_MAX} characters")


class EmailError(ValueError):
    """A bad email address; ``field`` names the input, the message says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def check_email(value, field: str = "email") -> str:
    """The address, stripped, with its domain lower-cased; :class:`EmailError` when it is not one.

    Parameters
    ----------
    value : str
    field : str, default "email"
        Named in the error (``email_a``, ``email_b``).

    Returns
    -------
    str

    Raises
    ------
    EmailError
        Not a string, too long, no single ``@``, a bad local part or domain;
        the message says what is allowed.
    """
    if not isinstance(value, str):
        raise EmailError(field, f"must be {_ALLOWED}, got {type(value).__name__}")
    text = value.strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    if not text or len(text) > EMAIL_MAX or text.count("@") != 1:
        raise EmailError(field, f"must be {_ALLOWED}, got {shown!r}")
    local, domain = text.split("@")
    labels = domain.split(".")
    if (not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local
            or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit()):
        raise EmailError(field, f"must be {_ALLOWED}, got {shown!r}")
    return f"{local}@{domain.lower()}"
