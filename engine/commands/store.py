"""``dateideas init``: create or upgrade the database, optionally with demo data."""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from ..app import LATEST_VERSION, StoreError, open_store
from ..config import settings_from_env

__all__ = ["init"]


@click.command()
@click.option("--demo", is_flag=True,
              help="Add simulated couples with history and train the first model "
                   "(skipped when the database already holds couples).")
@click.option("--couples", "n_couples", type=click.IntRange(min=1), default=50, show_default=True,
              help="Number of demo couples.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the demo data.")
def init(demo: bool, n_couples: int, seed: int) -> None:
    """Create or upgrade the database at DATEIDEAS_DATABASE_URL (safe to re-run)."""
    settings = settings_from_env()
    store = open_store(settings.database_url)
    try:
        before = store.version()
        after = store.migrate()
        if before == 0:
            what = "created"
        elif before < after:
            what = f"upgraded from version {before}"
        else:
            what = "already up to date"
        click.echo(f"database {store.url}: {what}; schema version {after} (latest {LATEST_VERSION})")
        if demo:
            _demo(store, settings, n_couples, seed)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:
        raise click.ClickException(f"cannot use the database at {store.url}: {exc.orig}") from exc
    finally:
        store.close()


def _demo(store, settings, n_couples: int, seed: int) -> None:
    if not store.is_empty():
        click.echo(f"demo skipped: the database already holds {store.count_couples()} couple(s)")
        return
    try:
        from ..app import build_demo
    except ModuleNotFoundError as exc:
        if exc.name != "engine.app.demo":
            raise
        raise click.ClickException("the demo builder (engine/app/demo.py) is not part of this build") from exc
    result = build_demo(store, settings, couples=n_couples, seed=seed)
    click.echo(f"demo: {result.couples} couples, {result.dates} dates; model {result.version or 'not promoted'}")
    click.echo(f"demo couple {result.couple_id}, token {result.token}")
    click.echo(f"  dateideas suggest {result.couple_id} --budget 1")
