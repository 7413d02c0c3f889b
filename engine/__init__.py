"""The date-idea recommendation engine.

The public surface: the catalog, tonight's context, the recommender facade
that the service, the CLI and the newsletter call, the model, the store, the
simulator and the import format. Everything else is internal.

Names are imported on first use (PEP 562), so ``import engine`` and the CLI's
``--help`` stay fast.
"""

from __future__ import annotations

from .domain.lazy import lazy_exports

#: public name -> the module (relative to this package) that defines it
_EXPORTS = {
    "ArtifactError": ".learning.registry",
    "Catalog": ".domain.catalog",
    "CatalogError": ".domain.catalog",
    "Context": ".domain.context",
    "ContextError": ".domain.context",
    "EnjoymentModel": ".learning.model",
    "NoModelError": ".learning.registry",
    "Recommender": ".app.recommender",
    "Registry": ".learning.registry",
    "Schema": ".domain.schema",
    "Suggestion": ".app.recommender",
    "check_catalog": ".domain.catalog",
    "load_catalog": ".domain.catalog",
    "load_schema": ".domain.schema",
    "open_store": ".store",
    "parse_context": ".domain.context",
    "read_dataset": ".domain.dataset",
    "simulate": ".lab.simulator",
    "write_dataset": ".domain.dataset",
}

__all__ = sorted(_EXPORTS)

#: imported on first use and then kept here
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, cache=True)
