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
    "couples": "couples:couples",
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
    "today": "today:today",
}


#: words of a driver's message that mean the database could not be reached at all
_UNREACHABLE = ("connection", "connect", "unable to open database", "timeout", "timed out",
                "name or service not known", "could not translate host")


class _LazyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = _database_down(exc)
            if message is None or logging.getLogger().isEnabledFor(logging.DEBUG):  # -vv: the traceback
                raise
            raise click.ClickException(message) from exc

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


def _database_down(exc: BaseException) -> str | None:
    """One sentence for a database that cannot be reached (URL without its password), else None."""
    if type(exc).__module__.split(".")[0] != "sqlalchemy":
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    from .config import settings_from_env

    raw = settings_from_env().database_url
    try:
        url = make_url(raw).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL fails earlier, in open_store; never echo it with a password
        url = "DATEIDEAS_DATABASE_URL"
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if not any(word in reason.lower() for word in _UNREACHABLE):
        return f"the database at {url} refused the operation ({reason})"
    return (f"cannot reach the database at {url} ({reason}); start the database server, or set "
            "DATEIDEAS_DATABASE_URL to a database that is reachable")


@click.group(cls=_LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Date ideas that break a couple's routine: suggest, rate, train, evaluate, send."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
