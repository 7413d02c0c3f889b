"""Attribute schemas: what each column of an idea catalog means.

A schema is the ``schema.json`` of the import format (see the README)::

    {"attributes": {"<column>": {"kind": K, ...}}}

with ``K`` one of ``categorical`` (optional ``values``), ``ordinal``
(required ``order``), ``numeric`` (optional ``min``/``max``), ``boolean``,
``multi`` (values joined by ``|``, optional ``values``), ``text`` and
``location`` (``"latitude,longitude"`` in decimal degrees, or empty for an
idea with no place of its own; see :mod:`engine.domain.geo`).
The feature pipeline is driven by these kinds, so it runs unchanged on any
catalog that comes with a schema.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .geo import ALLOWED as _LOCATION
from .geo import format_location

__all__ = ["DEFAULT_RATING_SCALE", "KINDS", "AttributeSpec", "RatingSpec", "Schema", "SchemaError",
           "load_schema", "rating_spec"]

KINDS = ("categorical", "ordinal", "numeric", "boolean", "multi", "text", "location")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


#: the rating scale of dates.csv when schema.json does not say (``"ratings"``)
DEFAULT_RATING_SCALE = (1.0, 5.0)


class SchemaError(ValueError):
    """The schema file itself is malformed."""


@dataclass(frozen=True)
class RatingSpec:
    """The rating scale of a dataset and the rating counted as relevant.

    Attributes
    ----------
    scale : (float, float)
        Lowest and highest rating.
    relevant : float or None
        A rating at or above this is relevant (what the engine is trained to
        find and what ``evaluate`` scores); None = the caller's default (the
        top of the scale in ``evaluate``, the top quarter in the model).
    """

    scale: tuple[float, float] = DEFAULT_RATING_SCALE
    relevant: float | None = None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rating_spec(value: Any) -> RatingSpec:
    """Read the ``"ratings"`` entry of ``schema.json``: ``{"min", "max", "relevant"?}``.

    ``None`` (no entry) is the default 1-5 scale with no stated threshold.

    Raises
    ------
    SchemaError
        Saying what is allowed: numbers with min < max, and ``relevant``
        (optional) a number from min to max.
    """
    if value is None:
        return RatingSpec()
    lo = value.get("min") if isinstance(value, dict) else None
    hi = value.get("max") if isinstance(value, dict) else None
    if not (_number(lo) and _number(hi)) or lo >= hi:
        raise SchemaError('ratings must be {"min": number, "max": number} with min < max '
                          f'(and optionally "relevant": number), got {value!r}')
    relevant = value.get("relevant")
    if relevant is not None and not (_number(relevant) and lo <= relevant <= hi):
        raise SchemaError(f'ratings "relevant" must be a number from {lo:g} to {hi:g} '
                          f"(the rating counted as relevant), got {relevant!r}")
    return RatingSpec((float(lo), float(hi)), None if relevant is None else float(relevant))


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute (column) of an idea catalog.

    Parameters
    ----------
    name : str
        Column name in ``ideas.csv``.
    kind : str
        One of :data:`KINDS`.
    values : tuple of str, optional
        Allowed values for ``categorical`` and ``multi`` (empty = open).
    order : tuple of str, optional
        Ordered levels of an ``ordinal`` attribute, lowest first.
    min, max : float, optional
        Bounds of a ``numeric`` attribute.
    optional : bool, default=False
        ``"optional": true``: an idea may leave the cell empty (unknown). The
        idea encoder then gives it no evidence for that attribute (a numeric
        one the catalog's median, an ordinal one the middle level, a boolean
        one 0.5, no categorical label). Text, multi and location cells may
        always be empty.
    """

    name: str
    kind: str
    values: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    description: str = ""
    optional: bool = False

    def allowed(self) -> str:
        """A short phrase saying which values this attribute accepts."""
        if self.kind == "ordinal":
            return "one of " + ", ".join(self.order)
        if self.kind == "categorical":
            return "one of " + ", ".join(self.values) if self.values else "any label"
        if self.kind == "numeric":
            if self.min is not None and self.max is not None:
                return f"a number from {self.min:g} to {self.max:g}"
            if self.min is not None:
                return f"a number of at least {self.min:g}"
            if self.max is not None:
                return f"a number of at most {self.max:g}"
            return "a number"
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "multi":
            if self.values:
                return "values from " + ", ".join(self.values) + " joined by |"
            return "labels joined by |"
        if self.kind == "location":
            return _LOCATION
        return "any text"

    def parse(self, raw: str) -> Any:
        """Parse one CSV cell; raise ``ValueError`` saying what is allowed.

        Returns ``None`` for an empty cell (only ``text``, ``multi`` and
        ``location`` may be empty in a valid catalog; callers decide). A
        location comes back normalised, as ``"latitude,longitude"`` text.
        """
        raw = (raw or "").strip()
        if raw == "":
            return () if self.kind == "multi" else None
        if self.kind == "categorical":
            if self.values and raw not in self.values:
                raise ValueError(f"{raw!r} is not one of {', '.join(self.values)}")
            return raw
        if self.kind == "ordinal":
            if raw not in self.order:
                raise ValueError(f"{raw!r} is not one of {', '.join(self.order)}")
            return raw
        if self.kind == "numeric":
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{raw!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"{raw!r} is not a finite number")
            if self.min is not None and value < self.min:
                raise ValueError(f"{raw} is below the minimum {self.min:g}")
            if self.max is not None and value > self.max:
                raise ValueError(f"{raw} is above the maximum {self.max:g}")
            return value
        if self.kind == "boolean":
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"{raw!r} is not a boolean (true or false)")
        if self.kind == "multi":
            parts = tuple(p.strip() for p in raw.split("|") if p.strip())
            if self.values:
                bad = [p for p in parts if p not in self.values]
                if bad:
                    raise ValueError(
                        f"{', '.join(map(repr, bad))} not in {', '.join(self.values)}"
                    )
            return parts
        if self.kind == "location":
            return format_location(raw)
        return raw  # text


@dataclass(frozen=True)
class Schema:
    """The attributes of a catalog, in file order."""

    attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def names(self, *kinds: str) -> list[str]:
        """Attribute names, optionally only those of the given kinds."""
        return [n for n, a in self.attributes.items() if not kinds or a.kind in kinds]

    def __contains__(self, name: str) -> bool:
        return name in self.attributes

    def __getitem__(self, name: str) -> AttributeSpec:
        return self.attributes[name]

    def ratings(self) -> RatingSpec:
        """The ``"ratings"`` entry (scale and relevant rating); see :func:`rating_spec`."""
        return rating_spec(self.extra.get("ratings"))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Schema:
        """Build a schema from the parsed ``schema.json`` document."""
        if not isinstance(doc, dict) or not isinstance(doc.get("attributes"), dict):
            raise SchemaError('schema must be an object with an "attributes" object')
        attrs: dict[str, AttributeSpec] = {}
        for name, spec in doc["attributes"].items():
            if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
                got = spec.get("kind") if isinstance(spec, dict) else spec
                raise SchemaError(
                    f"attribute {name!r}: kind must be one of {', '.join(KINDS)}, got {got!r}"
                )
            kind = spec["kind"]
            if kind == "ordinal" and not spec.get("order"):
                raise SchemaError(f'attribute {name!r}: an ordinal needs a non-empty "order" list')
            _check_spec(name, spec)
            attrs[name] = AttributeSpec(
                name=name,
                kind=kind,
                values=tuple(str(v) for v in spec.get("values", ())),
                order=tuple(str(v) for v in spec.get("order", ())),
                min=spec.get("min"),
                max=spec.get("max"),
                description=str(spec.get("description", "")),
                optional=spec.get("optional", False),
            )
        extra = {k: v for k, v in doc.items() if k != "attributes"}
        return cls(attributes=attrs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The ``schema.json`` document for this schema."""
        out: dict[str, Any] = {}
        for name, a in self.attributes.items():
            spec: dict[str, Any] = {"kind": a.kind}
            if a.values:
                spec["values"] = list(a.values)
            if a.order:
                spec["order"] = list(a.order)
            if a.min is not None:
                spec["min"] = a.min
            if a.max is not None:
                spec["max"] = a.max
            if a.description:
                spec["description"] = a.description
            if a.optional:
                spec["optional"] = True
            out[name] = spec
        return {"attributes": out, **self.extra}


def _check_spec(name: str, spec: dict[str, Any]) -> None:
    """Refuse malformed ``values``/``order``/``min``/``max`` entries of one attribute."""
    for key in ("values", "order"):
        if key in spec:
            seq = spec[key]
            if not isinstance(seq, list) or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in seq
            ):
                raise SchemaError(
                    f'attribute {name!r}: "{key}" must be a list of strings, got {seq!r}'
                )
            if len(set(map(str, seq))) != len(seq):
                raise SchemaError(f'attribute {name!r}: "{key}" lists a value twice: {seq!r}')
    for key in ("min", "max"):
        if key in spec and spec[key] is not None:
            bound = spec[key]
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
                raise SchemaError(f'attribute {name!r}: "{key}" must be a number, got {bound!r}')
    if not isinstance(spec.get("optional", False), bool):
        raise SchemaError(f'attribute {name!r}: "optional" must be true or false, got {spec["optional"]!r}')
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and hi is not None and lo > hi:
        raise SchemaError(f'attribute {name!r}: "min" ({lo:g}) is above "max" ({hi:g})')


def load_schema(path: str | Path) -> Schema:
    """Read a ``schema.json`` file.

    Raises
    ------
    SchemaError
        If the file is not valid JSON or does not describe attributes.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text ({exc})") from exc
    return Schema.from_dict(doc)
