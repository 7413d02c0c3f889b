"""Lazy re-exports for a package's ``__init__`` (PEP 562): names imported on first use.

``engine/__init__.py`` and the facade ``engine/app/__init__.py`` list their
public names with the module defining each, and import a module only when one
of its names is first asked for, so ``import engine`` and the CLI's ``--help``
stay fast. :func:`lazy_exports` builds the two module hooks from that list.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str], *,
                 cache: bool) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package that exports ``exports`` lazily.

    Parameters
    ----------
    namespace : dict
        The package's ``globals()``.
    exports : mapping of str to str
        Public name -> the module defining it, relative to the package
        (``".serving"``, ``"..store"``). A module named by the name itself
        (``"retrain_queue": ".retrain_queue"``) is exported whole.
    cache : bool
        True: a name once looked up is stored in ``namespace`` (later accesses
        skip ``__getattr__``). False: it is looked up in its defining module on
        every access, so the package hands out what that module holds now (a
        test's monkeypatch included).

    Returns
    -------
    (__getattr__, __dir__)
        To assign at the package's top level.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        try:
            where = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(where, package)
        value = module if where == f".{name}" else getattr(module, name)
        if cache:
            namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
