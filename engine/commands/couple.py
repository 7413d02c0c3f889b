"""``dateideas suggest``, ``rate`` and ``invite``: the operator's view of one couple.

They call the same functions as the HTTP service (:func:`engine.app.serving.serve_tonight`,
:func:`engine.app.serving.check_date_input`), on the store and live model of the
environment; no token is needed.
"""

from __future__ import annotations

import json

import click

from ..domain.context import SETTINGS, TIMES_OF_DAY, WEATHERS
from .couples import known_couple as _known_couple
from .couples import open_migrated as _open

__all__ = ["invite", "rate", "suggest"]


@click.command()
@click.argument("couple")
@click.option("--budget", type=click.IntRange(0, 3), help="Highest cost tier, 0 free ... 3 splurge.")
@click.option("--minutes", type=click.IntRange(15, 1440), help="Time available tonight.")
@click.option("--setting", type=click.Choice(SETTINGS), help="home, or out (includes away).")
@click.option("--weather", type=click.Choice(WEATHERS), help="Rain, snow and storm exclude weather-dependent ideas.")
@click.option("--kids/--no-kids", default=None,
              help="Kids come along: kid-friendly ideas only [default: what the couple's profile says].")
@click.option("--time-of-day", "time_of_day", type=click.Choice(TIMES_OF_DAY),
              help="When the date happens [default: tonight, evening or night ideas].")
@click.option("--k", "k", type=click.IntRange(1, 10), default=3, show_default=True, help="Ideas to show.")
@click.option("--another", is_flag=True, help="Move on to the next ideas for the same request today.")
@click.option("--json", "as_json", is_flag=True, help="Print the HTTP service's JSON.")
def suggest(couple: str, budget, minutes, setting, weather, kids: bool | None, time_of_day, k: int, another: bool,
            as_json: bool) -> None:
    """Tonight's suggestion for COUPLE (logged like the service's)."""
    from ..app import ArtifactError, NoModelError, Recommender, serve_tonight
    from ..domain.context import ContextError, parse_context

    raw = {"budget": budget, "minutes": minutes, "setting": setting, "weather": weather, "kids": kids,
           "time_of_day": time_of_day}
    try:
        context, _ = parse_context({key: value for key, value in raw.items() if value is not None})
    except ContextError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.field}") from exc
    settings, store = _open()
    try:
        _known_couple(store, couple)
        try:
            recommender = Recommender.load(settings.model_dir)
        except (NoModelError, ArtifactError) as exc:
            raise click.ClickException(str(exc)) from exc
        served = serve_tonight(store, recommender, couple, context, k, another=another)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(served.to_dict(), indent=2))
        return
    if not served.suggestions:
        click.echo("no idea fits tonight's constraints; loosen budget, minutes or setting")
        return
    for s in served.suggestions:
        label = "tonight" if s.rank == 1 else f"or #{s.rank}"
        click.echo(f"{label:>8}: {s.title} [{s.idea_id}]")
        for reason in s.reasons:
            click.echo(f"          - {reason}")
        if s.prompt:
            click.echo(f"          talk about: {s.prompt['text']}")
    flag = "; cold start (no history yet)" if served.cold_start else ""
    click.echo(f"model {served.model_version}{flag}")


@click.command()
@click.argument("couple")
@click.argument("idea")
@click.option("--rating", type=int, required=True, help="1-5.")
@click.option("--partner", type=click.Choice(["a", "b"]), default="a", show_default=True,
              help="Whose rating it is.")
@click.option("--on", "on", metavar="YYYY-MM-DD", help="The day of the date (default today).")
@click.option("--note", default="", help="A note (at most 2,000 characters).")
def rate(couple: str, idea: str, rating: int, partner: str, on: str | None, note: str) -> None:
    """Record that COUPLE did IDEA, with one partner's rating.

    If the other partner already rated IDEA on that day and this partner's
    rating of it is missing, the rating completes that date (one date, both
    ratings) instead of recording a second one.
    """
    from ..app import DateInputError, check_date_input
    from ..domain.catalog import load_catalog

    try:
        clean = check_date_input(load_catalog(), idea, {partner: rating}, on, note)
    except DateInputError as exc:
        option = {"ratings.a": "--rating", "ratings.b": "--rating", "done_on": "--on", "note": "--note",
                  "idea_id": "IDEA"}.get(exc.field, exc.field)
        raise click.BadParameter(str(exc), param_hint=option) from exc
    _, store = _open()
    try:
        _known_couple(store, couple)
        record, _ = store.add_date(couple, clean["idea_id"], clean["done_on"], clean["rating_a"],
                                   clean["rating_b"], note=clean["note"], context=clean["context"])
    finally:
        store.close()
    if record["completed"]:
        other = "b" if partner == "a" else "a"
        click.echo(f"completed date {record['id']}: {couple} did {idea} on {record['done_on']}, "
                   f"partner {partner} rated it {rating} (partner {other}: {record[f'rating_{other}']})")
        return
    click.echo(f"recorded date {record['id']}: {couple} did {idea} on {record['done_on']}, "
               f"partner {partner} rated it {rating}")


@click.command()
@click.argument("couple")
@click.option("--partner", type=click.Choice(["a", "b"]), required=True, help="Whose sign-in it is.")
def invite(couple: str, partner: str) -> None:
    """Make a sign-in token of their own for one partner of COUPLE (shown once; replaces the old one).

    The partner signs in with the couple id and this token on the pages, or
    sends it as the bearer token of the couple's API routes: they rate only
    for themselves and see the other's rating of a date once both rated.
    """
    _, store = _open()
    try:
        _known_couple(store, couple)
        token = store.issue_partner_token(couple, partner)
    finally:
        store.close()
    click.echo(f"partner {partner} of {couple} signs in with this token (shown once):\n{token}")
