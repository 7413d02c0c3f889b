"""Places: where an idea happens and where a couple lives, and how far apart they are.

A location is written ``"latitude,longitude"`` in decimal degrees (WGS 84),
for example ``"22.1498,-100.9792"``: in an idea catalog as an attribute of
kind ``location`` (an empty cell is an idea with no place of its own, such as
cooking at home), and in a couple's profile as ``home``. The model turns the
two into the ``distance`` and ``nearby`` pair features
(:mod:`engine.learning.features`): how far a couple would travel for an idea weighs on
whether they will do it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ALLOWED", "distances_km", "format_location", "parse_location"]

#: what a location may be, for error messages
ALLOWED = ('"latitude,longitude" in decimal degrees, latitude from -90 to 90 and longitude '
           'from -180 to 180 (e.g. "22.1498,-100.9792")')

_EARTH_KM = 6371.0


def parse_location(value: Any) -> tuple[float, float] | None:
    """A location as ``(latitude, longitude)``, or None for an empty value.

    Accepts a ``"latitude,longitude"`` string or a pair of numbers.

    Raises
    ------
    ValueError
        Saying what is allowed (:data:`ALLOWED`).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    parts = value.split(",") if isinstance(value, str) else value
    try:
        if isinstance(parts, (bool, bytes)) or len(parts) != 2 or any(isinstance(p, bool) for p in parts):
            raise ValueError
        lat, lon = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a location; expected {ALLOWED}") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{value!r} is out of range; expected {ALLOWED}")
    return lat, lon


def format_location(value: Any) -> str | None:
    """The normalised ``"latitude,longitude"`` text of a location (at most 6 decimals, about
    0.1 m), from anything :func:`parse_location` accepts; None for an empty value.

    Raises
    ------
    ValueError
        As :func:`parse_location`.
    """
    location = parse_location(value)
    if location is None:
        return None
    return ",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in location)


def distances_km(origins: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Great-circle distance in km from each origin to each place.

    Parameters
    ----------
    origins : ndarray (n, 2)
        Latitude, longitude in degrees; a NaN row has no distances (NaN).
    places : ndarray (m, 2)
        Likewise; a NaN row (no place) gives NaN.

    Returns
    -------
    ndarray (n, m)
    """
    a = np.radians(np.asarray(origins, dtype=float))[:, None, :]
    b = np.radians(np.asarray(places, dtype=float))[None, :, :]
    dlat, dlon = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    h = np.sin(dlat / 2) ** 2 + np.cos(a[..., 0]) * np.cos(b[..., 0]) * np.sin(dlon / 2) ** 2
    return 2 * _EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
