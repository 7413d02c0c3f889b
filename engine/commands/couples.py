"""``dateideas couples``: the operator's list of couples (list, show, create, token, erase).

Every write goes through the same store calls as the HTTP service
(:meth:`engine.store.Store.create_couple` validates the profile for both,
:meth:`~engine.store.Store.rotate_token`, :meth:`~engine.store.Store.delete_couple`),
so the command line accepts and refuses exactly what ``POST /v1/couples`` does.
"""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["couples", "known_couple", "open_migrated"]


def open_migrated():
    """(settings, store) of the environment, the store created or upgraded first."""
    from ..app import open_store
    from ..config import settings_from_env

    settings = settings_from_env()
    store = open_store(settings.database_url)
    store.migrate()
    return settings, store


def _summary(store, couple: dict[str, Any]) -> dict[str, Any]:
    return {**couple, "dates": store.count_dates(couple["id"])}


def known_couple(store, couple_id: str) -> dict[str, Any]:
    """The couple's record, or a ClickException naming the commands that list and add couples."""
    couple = store.get_couple(couple_id)
    if couple is None:
        raise click.ClickException(f"no couple with id {couple_id!r}; `dateideas couples list` shows them, "
                                   "`dateideas couples create` adds one")
    return couple


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


@click.group()
def couples() -> None:
    """The couples in the database (DATEIDEAS_DATABASE_URL): list, show, create, token, erase.

    \b
    Round trip:
      dateideas couples create --budget-ceiling 2 --interest cooking   # prints the id and token
      dateideas suggest ID; dateideas rate ID IDEA --rating 5
      dateideas couples show ID; dateideas couples erase ID --yes
    """


@couples.command("list")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show at most this many couples, by id (0: all).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"total", "couples": [{"id", "created_at", "profile", "active", "source", "dates"}]}.')
def list_(limit: int, as_json: bool) -> None:
    """Couples by id, with how many dates each has recorded."""
    _, store = open_migrated()
    try:
        ids = store.couple_ids()
        shown = [_summary(store, store.get_couple(cid)) for cid in (ids[:limit] if limit else ids)]
    finally:
        store.close()
    if as_json:
        _echo_json({"total": len(ids), "couples": shown})
        return
    if not ids:
        click.echo("no couples yet; add one with `dateideas couples create` (or `dateideas init --demo`)")
        return
    width = max(len(c["id"]) for c in shown)
    click.echo(f"{'id'.ljust(width)}  {'created (UTC)':<20} {'source':<7} {'dates':>5}  status")
    for c in shown:
        click.echo(f"{c['id'].ljust(width)}  {c['created_at'][:19].replace('T', ' '):<20} {c['source'] or '-':<7} "
                   f"{c['dates']:>5}  {'active' if c['active'] else 'paused'}")
    if len(shown) < len(ids):
        click.echo(f"... {len(ids) - len(shown)} more of {len(ids)} (--limit 0 shows all)")


@couples.command()
@click.argument("couple")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"id", "created_at", "profile", "active", "source", "dates"}.')
def show(couple: str, as_json: bool) -> None:
    """One couple: profile, source and number of dates (never the token)."""
    _, store = open_migrated()
    try:
        record = _summary(store, known_couple(store, couple))
    finally:
        store.close()
    if as_json:
        _echo_json(record)
        return
    click.echo(f"couple {record['id']} ({'active' if record['active'] else 'paused'}; source "
               f"{record['source'] or '-'}; created {record['created_at']})")
    click.echo(f"dates recorded: {record['dates']}")
    for key, value in record["profile"].items():
        click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


@couples.command()
@click.option("--id", "couple_id", help="The couple id (default: c_ + 10 random characters).")
@click.option("--budget-ceiling", type=int, help="Highest cost tier, 0 free ... 3 splurge.")
@click.option("--kids/--no-kids", default=None, help="Kids at home.")
@click.option("--interest", "interests", multiple=True, help="An interest (repeat the option for more).")
@click.option("--accessibility-needs", help="Free text.")
@click.option("--home", help="Where the couple lives: 'LAT,LON' (decimal degrees).")
@click.option("--profile", "profile_json", metavar="JSON",
              help='The profile as POST /v1/couples takes it, e.g. \'{"budget_ceiling": 2}\'; '
                   "the options above override its keys.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"id", "token", "profile", "created_at"} like POST /v1/couples.')
def create(couple_id: str | None, budget_ceiling: int | None, kids: bool | None, interests: tuple[str, ...],
           accessibility_needs: str | None, home: str | None, profile_json: str | None, as_json: bool) -> None:
    """Create a couple and print its token (shown once).

    The profile is validated like POST /v1/couples; `couples token` issues a new token later.
    """
    from ..app import StoreError, ValidationError

    profile: Any = {}
    if profile_json is not None:
        try:
            profile = json.loads(profile_json)
        except ValueError as exc:
            raise click.BadParameter(f"is not valid JSON ({exc})", param_hint="--profile") from None
    options = {"budget_ceiling": budget_ceiling, "kids": kids, "interests": list(interests) or None,
               "accessibility_needs": accessibility_needs, "home": home}
    if isinstance(profile, dict):
        profile = {**profile, **{key: value for key, value in options.items() if value is not None}}
    _, store = open_migrated()
    try:
        new_id, token = store.create_couple(profile=profile, couple_id=couple_id)
        record = store.get_couple(new_id)
    except ValidationError as exc:  # the API's 400, in the same words
        raise click.ClickException(f"{exc.field} {exc.message}") from exc
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if as_json:
        _echo_json({"id": new_id, "token": token, "profile": record["profile"], "created_at": record["created_at"]})
        return
    click.echo(f"created couple {new_id}")
    click.echo(f"token (shown once): {token}")


@couples.command()
@click.argument("couple")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "token"}.')
def token(couple: str, as_json: bool) -> None:
    """Issue a new token for COUPLE; the old one stops working.

    Also the way to give an imported couple (which has none) its first token.
    """
    from ..app import UnknownCoupleError

    _, store = open_migrated()
    try:
        known_couple(store, couple)
        new = store.rotate_token(couple)
    except UnknownCoupleError as exc:  # erased in between
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if as_json:
        _echo_json({"id": couple, "token": new})
        return
    click.echo(f"new token for {couple} (earlier tokens no longer work): {new}")


@couples.command()
@click.argument("couple")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "erased": true, "dates"}.')
def erase(couple: str, yes: bool, as_json: bool) -> None:
    """Erase COUPLE and everything about them.

    The same store call as DELETE /v1/couples/ID: dates, suggestions and newsletter sends, in one transaction.
    """
    _, store = open_migrated()
    try:
        record = _summary(store, known_couple(store, couple))
        if not yes:
            click.confirm(f"erase couple {couple} and their {record['dates']} date(s)? This cannot be undone",
                          abort=True)
        store.delete_couple(couple)
    finally:
        store.close()
    if as_json:
        _echo_json({"id": couple, "erased": True, "dates": record["dates"]})
        return
    click.echo(f"erased couple {couple} and their {record['dates']} date(s)")
