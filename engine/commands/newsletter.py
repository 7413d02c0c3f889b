"""``dateideas newsletter``: the weekly batch (see docs/newsletter.md)."""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from pathlib import Path

import click

from ._extras import require_extra

__all__ = ["EXIT_BUSY", "newsletter", "read_couples_file"]

#: exit status when another run of the same week is in progress (as ``dateideas train``)
EXIT_BUSY = 75


def read_couples_file(path: Path) -> list[str]:
    """Couple ids from a file: one per line; blank lines, ``#`` comments and a
    ``couple_id``/``id`` header line are skipped; the first comma-separated
    field of a line is the id (so a CSV with the id first works too)."""
    ids: list[str] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].split(",", 1)[0].strip()
            if not text or (number == 1 and text.lower() in ("couple_id", "id", "couple")):
                continue
            ids.append(text)
    return ids


def _parse_week(ctx: click.Context, param: click.Parameter, value: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"must be a date as YYYY-MM-DD (any day of the week), got {value!r}") from None


@click.command()
@click.option("--week", required=True, callback=_parse_week,
              help="Any day of the week (YYYY-MM-DD); picks are for that week's Saturday evening.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for emails/, picks.csv, picks.jsonl and summary.json.")
@click.option("--k", type=click.IntRange(1, 10), default=3, show_default=True, help="Picks per couple.")
@click.option("--couples", "couples_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Only these couples: a file with one couple id per line (default: every active couple).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Plan on a local Dask cluster with N worker processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Plan on an existing Dask cluster, e.g. tcp://10.0.0.5:8786.")
@click.option("--force", is_flag=True, help="Run a week that was already completed again (replaces its sends).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Couples per chunk (one vectorised scoring call).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Exploration seed.")
@click.option("--catalog", "catalog_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Catalog folder the live model was trained on (default: the shipped catalog).")
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.option("--send", is_flag=True,
              help="Then email each couple's newsletter to its confirmed addresses through SMTP "
                   "(DATEIDEAS_SMTP_HOST, _PORT, _TLS, _USER, _PASSWORD, DATEIDEAS_MAIL_FROM, DATEIDEAS_PUBLIC_URL; "
                   "at most DATEIDEAS_SMTP_PER_SECOND a second). A week already written is only delivered; "
                   "no address ever gets the same week twice.")
def newsletter(week: _dt.date, out: Path, k: int, couples_file: Path | None, workers: int | None,
               scheduler: str | None, force: bool, chunk_size: int, seed: int, catalog_path: Path | None,
               no_progress: bool, send: bool) -> None:
    """Write the week's newsletter: K diverse picks per couple as HTML+text emails, CSV and JSONL.

    Excludes ideas done in the last 90 days and ideas sent in the couple's last
    4 newsletters. Re-running a week after a crash resumes it; a completed week
    is refused without --force (with --send it is delivered: the emails not
    sent yet go out). Database: DATEIDEAS_DATABASE_URL; model: the live
    version in DATEIDEAS_MODEL_DIR.
    """
    from ..app import (
        AlreadySentError,
        ArtifactError,
        NewsletterBusyError,
        NewsletterError,
        NoModelError,
        Recommender,
        StoreError,
        open_store,
        run_newsletter,
    )
    from ..config import settings_from_env
    from ..domain.catalog import CatalogError, load_catalog

    if workers is not None and scheduler is not None:
        raise click.UsageError("use either --workers N (a local cluster) or --scheduler ADDRESS, not both")
    settings = settings_from_env()
    mail = _mail_settings(settings) if send else None  # refused before anything is written
    try:
        catalog = load_catalog(catalog_path)
        recommender = Recommender.load(settings.model_dir, catalog=catalog)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    except (NoModelError, ArtifactError) as exc:
        raise click.ClickException(str(exc)) from exc
    store = open_store(settings.database_url)
    client = cluster = None
    try:
        store.migrate()
        couple_ids = None
        if couples_file is not None:
            couple_ids = read_couples_file(couples_file)
            known = set(store.couple_ids())
            unknown = [c for c in couple_ids if c not in known]
            if unknown:
                raise click.ClickException(
                    f"{couples_file}: {len(unknown)} unknown couple id(s): {', '.join(unknown[:5])}"
                    f"{', ...' if len(unknown) > 5 else ''}; nothing was done")
        if workers is not None or scheduler is not None:
            require_extra("dask", ("dask", "distributed"), "newsletter --workers / --scheduler")
            from distributed import Client, LocalCluster

            # distributed sets its own loggers to INFO on import; follow the CLI's -v level instead
            logging.getLogger("distributed").setLevel(logging.getLogger().getEffectiveLevel())

            if workers is not None:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
                client = Client(cluster)
            else:
                try:
                    client = Client(scheduler, timeout="20s")
                except (OSError, TimeoutError) as exc:
                    raise click.ClickException(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
            click.echo(f"dask: {client.dashboard_link}", err=True)
        try:
            result = run_newsletter(store, recommender, week, out, k=k, couple_ids=couple_ids, client=client,
                                    chunk_size=chunk_size, force=force, seed=seed, progress=not no_progress)
        except AlreadySentError:
            if mail is None:
                raise
            result = None  # the week is written: deliver what was not sent yet
        if mail is not None:
            delivery = _deliver(store, catalog, week, out, mail, couple_ids, progress=not no_progress)
    except NewsletterBusyError as exc:  # another run of the week holds its lock: cron's "try later" status
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_BUSY)
    except (NewsletterError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        store.close()
    if result is None:
        click.echo(f"week of {week}: its newsletter was already written completely (files in {out}), "
                   "so only the emails not sent yet were delivered.")
    else:
        _report(result, recommender)
    if mail is not None:
        _report_delivery(delivery)


def _report(result, recommender) -> None:
    rate = result.couples / result.seconds if result.seconds else 0.0
    resumed = f"; {result.skipped} couple(s) were already sent by an earlier run" if result.skipped else ""
    click.echo(f"week of {result.week} (run {result.run_id}): {result.couples} couples, {result.picks} picks "
               f"in {result.seconds:.1f} s ({rate:.0f} couples/s){resumed}. "
               f"Model {recommender.version}. Files in {result.out_dir}")
    if result.skipped_dates:
        named = ", ".join(f"{row['id']} ({row['couple_id']}, {row['done_on']})" for row in result.skipped_dates[:5])
        click.echo(f"skipped {len(result.skipped_dates)} stored date(s) with an implausible day: {named}"
                   f"{', ...' if len(result.skipped_dates) > 5 else ''} (see summary.json)", err=True)


def _mail_settings(settings):
    """(SMTP settings, signing key) for ``--send``; a clear error when SMTP or the public URL is not configured."""
    from ..config import mail_settings_from_env, signing_secret

    try:
        mail = mail_settings_from_env()
    except ValueError as exc:
        raise click.ClickException(f"{exc}; nothing was done") from exc
    if mail is None:
        raise click.ClickException(
            "--send needs an SMTP server: set DATEIDEAS_SMTP_HOST (and DATEIDEAS_SMTP_PORT, DATEIDEAS_SMTP_TLS="
            "none|starttls|ssl, DATEIDEAS_SMTP_USER, DATEIDEAS_SMTP_PASSWORD, DATEIDEAS_MAIL_FROM); nothing was done")
    if mail.public_url is None:
        raise click.ClickException(
            "--send needs DATEIDEAS_PUBLIC_URL, where readers reach the service (https://dates.example.org): "
            "the emails' rate and unsubscribe links start with it; nothing was done")
    return mail, signing_secret(settings.model_dir)


def _deliver(store, catalog, week, out: Path, mail, couple_ids, *, progress: bool):
    from ..app import MailLinks, NewsletterError, deliver_newsletter, read_week_picks

    settings, secret = mail
    done = store.completed_newsletter_run(week)
    if done is None:  # cannot happen after a run that returned; say so rather than send a half week
        raise NewsletterError(f"the week of {week} has no completed newsletter run to deliver")
    picks = read_week_picks(out, week)
    return deliver_newsletter(store, catalog, week, picks, run_id=done["id"], settings=settings,
                              links=MailLinks(secret, settings.public_url), couple_ids=couple_ids,
                              progress=progress)


def _report_delivery(delivery) -> None:
    earlier = []
    if delivery.already_sent:
        earlier.append(f"{delivery.already_sent} already sent by an earlier delivery")
    if delivery.unknown:
        earlier.append(f"{delivery.unknown} claimed by a delivery that stopped before the server's answer was "
                       "recorded (not sent again)")
    if delivery.failed:
        earlier.append(f"{delivery.failed} refused by the server (tried again next time)")
    click.echo(f"sent {delivery.sent} email(s) to {delivery.addresses} confirmed address(es) of {delivery.couples} "
               f"couple(s) in {delivery.seconds:.1f} s" + (f"; {'; '.join(earlier)}" if earlier else "") + ".")
