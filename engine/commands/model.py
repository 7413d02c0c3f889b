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
    """Single-flight training: lock, record the run, train, gate, promote, prune, release.

    A pending retraining request (:mod:`engine.app.retrain_queue`) is taken when
    the run starts: this run trains on every date stored so far. After the
    run the registry is pruned to ``settings.keep_models`` (plus the live,
    pinned and rollback versions).

    ``relevant`` is the rating the model is trained to find (default: the
    catalog schema's ``"ratings"`` ``"relevant"``, else 4 of 5;
    :func:`engine.app.training.target_params`); ``params`` override it.

    Returns the :class:`~engine.app.training.TrainResult`, or None when another
    run holds the lock. Failures are recorded on the run and re-raised.
    """
    from ..app import Registry, retrain_queue, target_params, train_and_maybe_promote
    from ..domain.catalog import load_catalog

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    store.release_dead_lock("training")
    if not store.try_lock("training", owner, ttl_s=3 * 3600):
        return None
    run_id = store.start_training_run()
    retrain_queue.take(store)
    try:
        catalog = load_catalog()
        dates = store.read_dates()  # rows with an implausible day are skipped, logged and reported
        params = {**target_params(catalog, relevant), **(params or {})}
        result = train_and_maybe_promote(dates.frame, catalog, Registry(settings.model_dir),
                                         promote=promote, params=params, profiles=store.profiles(),
                                         keep=settings.keep_models, dismissals=store.dismissals_frame())
        result.skipped_dates = dates.skipped
        store.finish_training_run(run_id, "succeeded", version=result.version, promoted=result.promoted,
                                  metrics=result.to_dict()["metrics"] | {"seconds": round(result.seconds, 2),
                                                                         "reason": result.reason,
                                                                         "skipped_dates": len(dates.skipped)})
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
@click.option("--then-queue", is_flag=True, hidden=True,
              help="After this run, serve the retraining queue (the service's background process).")
@click.option("--wait-for-queue", is_flag=True, hidden=True,
              help="Do not train now; serve the retraining queue (the service's background process).")
def train(no_promote: bool, as_json: bool, relevant: float | None, then_queue: bool, wait_for_queue: bool) -> None:
    """Train on every date in the database, judge against the live model (the promotion gate), promote if it passes.

    The gate and its bounds are in docs/training.md; a pinned version (after
    `models rollback`) stays live until `models promote VERSION` or `models unpin`.
    """
    from ..app import open_store
    from ..config import settings_from_env

    settings = settings_from_env()
    store = open_store(settings.database_url)
    store.migrate()
    store.mark_stale_training_runs()
    if not wait_for_queue:
        _train_once(store, settings, no_promote, as_json, relevant=relevant)
    if then_queue or wait_for_queue:
        from ..app import retrain_queue

        retrain_queue.serve_queue(store, settings.retrain_min_interval,
                    lambda: _train_once(store, settings, no_promote, as_json, busy_ok=True, relevant=relevant))


def _train_once(store, settings, no_promote: bool, as_json: bool, busy_ok: bool = False,
                relevant: float | None = None):
    try:
        result = run_training(store, settings, promote=not no_promote, relevant=relevant)
    except Exception as exc:  # noqa: BLE001 - report any training failure to the operator
        traceback.print_exc(file=sys.stderr)
        raise click.ClickException(f"training failed: {exc}") from exc
    if result is None:
        if busy_ok:
            return None
        click.echo("another training run is in progress; not starting a second one", err=True)
        sys.exit(EXIT_BUSY)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        state = "promoted" if result.promoted else "not promoted"
        click.echo(f"model {result.version} {state}: {result.reason} ({result.seconds:.1f} s)")
        if result.skipped_dates:
            named = ", ".join(f"{row['id']} ({row['couple_id']}, {row['done_on']})" for row in result.skipped_dates[:5])
            click.echo(f"skipped {len(result.skipped_dates)} stored date(s) with an implausible day: {named}"
                       f"{', ...' if len(result.skipped_dates) > 5 else ''}", err=True)
    return result


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """The model registry: list versions, promote one, roll back (which pins), pin, unpin, prune."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_)


def _registry():
    from ..app import Registry
    from ..config import settings_from_env

    return Registry(settings_from_env().model_dir)


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Every version, newest last, with its metrics and gate verdict; * marks the live one, P the pinned one."""
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
        gate = card.get("gate") or {}
        verdict = "" if not gate else ("  gate passed" if gate.get("passed") else
                                       "  gate refused: " + ", ".join(c["metric"] for c in gate.get("checks", [])
                                                                      if not c.get("passed")))
        mark = ("*" if card.get("live") else " ") + ("P" if card.get("pinned") else " ")
        click.echo(f"{mark} {card['version']}  created {card.get('created', '?')}  "
                   f"dates {card.get('data', {}).get('dates', '?')}  holdout NDCG@10 {ndcg_s}{verdict}")


@models.command()
@click.argument("version")
@click.option("--pin", is_flag=True, help="Keep VERSION pinned (trainings will not promote past it).")
def promote(version: str, pin: bool) -> None:
    """Make VERSION live (it must load and match this installation); lifts a pin unless --pin."""
    from ..app import ArtifactError
    from ..domain.catalog import load_catalog

    registry = _registry()
    try:
        registry.promote(version, catalog=load_catalog())
    except ArtifactError as exc:
        raise click.ClickException(str(exc)) from exc
    if pin:
        registry.pin(version)
        click.echo(f"{version} is live and pinned")
    else:
        was = registry.unpin()
        click.echo(f"{version} is live" + (f" (the pin on {was} is lifted)" if was else ""))


@models.command()
def rollback() -> None:
    """Make the previously promoted version live again and pin it (trainings will not promote past it)."""
    from ..app import ArtifactError, NoModelError
    from ..domain.catalog import load_catalog

    try:
        version = _registry().rollback(catalog=load_catalog())
    except (ArtifactError, NoModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"rolled back: {version} is live and pinned; trainings save candidates without promoting them "
               "until `dateideas models promote VERSION` or `dateideas models unpin`")


@models.command()
@click.argument("version", required=False)
def pin(version: str | None) -> None:
    """Pin VERSION (default: the live one): trainings save candidates but do not promote them."""
    from ..app import ArtifactError, NoModelError

    try:
        pinned = _registry().pin(version)
    except (ArtifactError, NoModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{pinned} is pinned")


@models.command()
def unpin() -> None:
    """Lift the pin: the next training that passes the gate is promoted again."""
    was = _registry().unpin()
    click.echo(f"unpinned {was}" if was else "nothing was pinned")


@models.command()
@click.option("--keep", type=click.IntRange(min=0), default=None,
              help="Newest versions to keep besides the live, pinned and rollback ones "
                   "(default $DATEIDEAS_KEEP_MODELS or 10).")
def prune(keep: int | None) -> None:
    """Remove old versions (never the live, the pinned or the rollback target)."""
    from ..config import settings_from_env

    settings = settings_from_env()
    removed = _registry().prune(settings.keep_models if keep is None else keep)
    click.echo(f"removed {len(removed)} version(s)" + (": " + ", ".join(removed) if removed else ""))
