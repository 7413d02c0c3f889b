"""The optional install extras a command needs, checked before it starts.

A command that needs an extra the installation lacks stops with a sentence
naming the extra and the command that installs it, instead of a bare
``ModuleNotFoundError`` from deep inside the command.
"""

from __future__ import annotations

import importlib.util

import click

__all__ = ["require_extra"]


def require_extra(extra: str, modules: tuple[str, ...], needed_for: str) -> None:
    """Raise :class:`click.ClickException` unless every module of ``modules`` can be imported.

    Parameters
    ----------
    extra : str
        The extra in pyproject.toml that installs them (``server``, ``dask``, ``plots``).
    modules : tuple of str
        Top-level module names the command imports.
    needed_for : str
        What needs them, as the user asked for it (``"dateideas serve"``).
    """
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(
            f"{needed_for} needs the {extra!r} extra ({', '.join(missing)} not installed): "
            f"pip install -e '.[{extra}]' in the project folder (or pip install 'dateideas[{extra}]')")
