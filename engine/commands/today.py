"""``dateideas today --send``: the daily nudge email, a daily cron job (see docs/practice.md)."""

from __future__ import annotations

import datetime as _dt

import click

from .newsletter import _mail_settings

__all__ = ["today"]


def _parse_day(ctx: click.Context, param: click.Parameter, value: str | None) -> _dt.date:
    if value is None:
        return _dt.date.today()
    try:
        return _dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"must be a date as YYYY-MM-DD, got {value!r}") from None


@click.command()
@click.option("--day", callback=_parse_day, default=None, help="The day (YYYY-MM-DD; default today).")
@click.option("--send", is_flag=True,
              help="Email each opted-in, confirmed partner address its Today nudge through SMTP (DATEIDEAS_SMTP_*, "
                   "DATEIDEAS_MAIL_FROM, DATEIDEAS_PUBLIC_URL). No address ever gets the same day twice.")
def today(day: _dt.date, send: bool) -> None:
    """Send the day's nudge email to every partner who opted in to it (run once a day from cron).

    Each opted-in, confirmed, subscribed address gets one email with the
    nudge its Today page shows that day. A second run of the day sends
    nothing; a killed run resumes without duplicates. Without --send it
    only says how many emails the day has left to send (nothing is sent or
    stored). Database: DATEIDEAS_DATABASE_URL.
    """
    from ..app import MailLinks, NewsletterError, StoreError, deliver_daily, open_store
    from ..config import settings_from_env
    from ..domain.catalog import CatalogError, load_catalog

    settings = settings_from_env()
    if not send:
        _preview(settings.database_url, day)
        return
    mail, secret = _mail_settings(settings)
    try:
        catalog = load_catalog(None)
    except CatalogError:
        catalog = None  # nudges then never name a recent date
    store = open_store(settings.database_url)
    try:
        store.migrate()
        result = deliver_daily(store, day, settings=mail, links=MailLinks(secret, mail.public_url), catalog=catalog)
    except (NewsletterError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    extra = []
    if result.already_sent:
        extra.append(f"{result.already_sent} already sent earlier today")
    if result.unknown:
        extra.append(f"{result.unknown} claimed by a run that stopped before the server's answer (not sent again)")
    if result.failed:
        extra.append(f"{result.failed} refused by the server (tried again next run)")
    click.echo(f"sent {result.sent} daily email(s) for {day} to {result.addresses} opted-in address(es)"
               + (f"; {'; '.join(extra)}" if extra else "") + ".")


def _preview(database_url: str, day: _dt.date) -> None:
    """What ``--send`` would do for ``day``: the opted-in addresses and how many the day has left."""
    from ..app import open_store

    store = open_store(database_url)
    try:
        store.migrate()
        recipients = store.daily_recipients()
        done = {(row["couple_id"], row["address"]) for row in store.daily_log(day)}
    finally:
        store.close()
    left = sum((r["couple_id"], r["address"]) not in done for r in recipients)
    click.echo(f"{day}: {len(recipients)} opted-in, confirmed address(es); {left} to send, "
               f"{len(recipients) - left} already sent or claimed today. Nothing was sent: pass --send to send.")
