"""The ``dateideas`` command line.

Each command lives in a module of :mod:`engine.commands` and is imported only
when it runs, so ``dateideas --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging

import click

__all__ = ["main"]

#: command name -> "module:attribute" under engine.commands
_COMMANDS = {
    "init": "store:init",
    "import": "importing:import_",
    "catalog": "catalog:catalog",
    "simulate": "simulate:simulate",
    "train": "model:train",
    "models": "model:models",
    "evaluate": "evaluate:evaluate",
    "convert": "evaluate:convert",
    "suggest": "couple:suggest",
    "rate": "couple:rate",
    "invite": "couple:invite",
    "serve": "serve:serve",
    "newsletter": "newsletter:newsletter",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            mod = importlib.import_module(f"engine.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.commands.{module}":
                raise
            return None
        return getattr(mod, attr)


@click.group(cls=_LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Date ideas that break a couple's routine: suggest, rate, train, evaluate, send."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
