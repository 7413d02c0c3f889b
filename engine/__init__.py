"""The date-idea recommendation engine.

Public names are re-exported here; everything else is internal.
"""

from .catalog import Catalog, CatalogError, check_catalog, load_catalog
from .schema import Schema, load_schema

__all__ = ["Catalog", "CatalogError", "Schema", "check_catalog", "load_catalog", "load_schema"]
