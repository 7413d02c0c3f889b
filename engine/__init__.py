"""The date-idea recommendation engine.

The public surface: the catalog, tonight's context, the recommender facade
that the service, the CLI and the newsletter call, the model, the store, the
simulator and the import format. Everything else is internal.

Names are imported on first use (PEP 562), so ``import engine`` and the CLI's
``--help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ArtifactError": "learning.registry",
    "Catalog": "domain.catalog",
    "CatalogError": "domain.catalog",
    "Context": "domain.context",
    "ContextError": "domain.context",
    "EnjoymentModel": "learning.model",
    "NoModelError": "learning.registry",
    "Recommender": "app.recommender",
    "Registry": "learning.registry",
    "Schema": "domain.schema",
    "Suggestion": "app.recommender",
    "check_catalog": "domain.catalog",
    "load_catalog": "domain.catalog",
    "load_schema": "domain.schema",
    "open_store": "store",
    "parse_context": "domain.context",
    "read_dataset": "domain.dataset",
    "simulate": "lab.simulator",
    "write_dataset": "domain.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
