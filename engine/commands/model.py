"""``dateideas train`` and ``dateideas models``: training runs and the model registry."""

from __future__ import annotations

import json
import os
import socket
import sys
import traceback
import uuid

import click

__all__ = ["models", "train", "run_training"]

#: exit status when another training run holds the lock
EXIT_BUSY = 75


def run_training(store, settings, *, promote: bool = True, params: dict | None = None,
                 relevant: float | None = None):
    """Single-flight training: lock, record the run, train, gate, promote, release.

    ``relevant`` is the rating the model is trained to find (default: the
    catalog schema's ``"ratings"`` ``"relevant"``, else 4 of 5;
    :func:`engine.training.target_params`); ``params`` override it.

    Returns the :class:`~engine.training.TrainResult`, or None when another
    run holds the lock. Failures are recorded on the run and re-raised.
    """
    from ..catalog import load_catalog
    from ..registry import Registry
    from ..training import target_params, train_and_maybe_promote

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    store.release_dead_lock("training")
    if not store.try_lock("training", owner, ttl_s=3 * 3600):
        return None
    run_id = store.start_training_run()
    try:
        catalog = load_catalog()
        params = {**target_params(catalog, relevant), **(params or {})}
        result = train_and_maybe_promote(store.dates_frame(), catalog, Registry(settings.model_dir),
                                         promote=promote, params=params, profiles=store.profiles())
        store.finish_training_run(run_id, "succeeded", version=result.version, promoted=result.promoted,
                                  metrics=result.metrics | {"seconds": round(result.seconds, 2),
                                                            "reason": result.reason})
        return result
    except BaseException as exc:  # record even KeyboardInterrupt/SystemExit, then re-raise
        store.finish_training_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        store.release_lock("training", owner)


@click.command()
@click.option("--no-promote", is_flag=True, help="Save the new version without promoting it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--relevant", type=float, default=None,
              help="Rating the model is trained to find (and judged on): at or above it is relevant "
                   "[default: the \"relevant\" of schema.json's \"ratings\", else 4 of 5].")
def train(no_promote: bool, as_json: bool, relevant: float | None) -> None:
    """Train on every date in the database, evaluate on a time-based hold-out, promote if not worse."""
    from ..config import settings_from_env
    from ..store import open_store

    settings = settings_from_env()
    store = open_store(settings.database_url)
    store.migrate()
    store.mark_stale_training_runs()
    try:
        result = run_training(store, settings, promote=not no_promote, relevant=relevant)
    except Exception as exc:  # noqa: BLE001 - report any training failure to the operator
        traceback.print_exc(file=sys.stderr)
        raise click.ClickException(f"training failed: {exc}") from exc
    if result is None:
        click.echo("another training run is in progress; not starting a second one", err=True)
        sys.exit(EXIT_BUSY)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        state = "promoted" if result.promoted else "not promoted"
        click.echo(f"model {result.version} {state}: {result.reason} ({result.seconds:.1f} s)")


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """The model registry: list versions, promote one, roll back."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_)


def _registry():
    from ..config import settings_from_env
    from ..registry import Registry

    return Registry(settings_from_env().model_dir)


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Every version, newest last, with its metrics; * marks the live one."""
    versions = _registry().versions()
    if as_json:
        click.echo(json.dumps(versions, indent=2))
        return
    if not versions:
        click.echo("no models yet; run `dateideas train`")
        return
    for card in versions:
        ndcg = card.get("metrics", {}).get("holdout_ndcg@10")
        ndcg_s = "-" if ndcg is None else f"{ndcg:.4f}"
        click.echo(f"{'*' if card.get('live') else ' '} {card['version']}  created {card.get('created', '?')}  "
                   f"dates {card.get('data', {}).get('dates', '?')}  holdout NDCG@10 {ndcg_s}")


@models.command()
@click.argument("version")
def promote(version: str) -> None:
    """Make VERSION live (it must load and match this installation)."""
    from ..catalog import load_catalog
    from ..registry import ArtifactError

    try:
        _registry().promote(version, catalog=load_catalog())
    except ArtifactError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{version} is live")


@models.command()
def rollback() -> None:
    """Make the previously promoted version live again."""
    from ..catalog import load_catalog
    from ..registry import ArtifactError, NoModelError

    try:
        version = _registry().rollback(catalog=load_catalog())
    except (ArtifactError, NoModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"rolled back: {version} is live")
