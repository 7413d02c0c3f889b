"""``dateideas suggest`` and ``dateideas rate``: the operator's view of one couple.

They call the same functions as the HTTP service (:func:`engine.serving.serve_tonight`,
:func:`engine.serving.check_date_input`), on the store and live model of the
environment; no token is needed.
"""

from __future__ import annotations

import json

import click

from ..context import SETTINGS, WEATHERS

__all__ = ["rate", "suggest"]


def _open():
    from ..config import settings_from_env
    from ..store import open_store

    settings = settings_from_env()
    store = open_store(settings.database_url)
    store.migrate()
    return settings, store


def _known_couple(store, couple_id: str) -> None:
    if store.get_couple(couple_id) is None:
        raise click.ClickException(f"no couple with id {couple_id!r}; list them in the database or create one "
                                   "with POST /v1/couples")


@click.command()
@click.argument("couple")
@click.option("--budget", type=click.IntRange(0, 3), help="Highest cost tier, 0 free ... 3 splurge.")
@click.option("--minutes", type=click.IntRange(15, 1440), help="Time available tonight.")
@click.option("--setting", type=click.Choice(SETTINGS), help="home, or out (includes away).")
@click.option("--weather", type=click.Choice(WEATHERS), help="Rain, snow and storm exclude weather-dependent ideas.")
@click.option("--kids", is_flag=True, help="Kids come along: kid-friendly ideas only.")
@click.option("--k", "k", type=click.IntRange(1, 10), default=3, show_default=True, help="Ideas to show.")
@click.option("--another", is_flag=True, help="Move on to the next ideas for the same request today.")
@click.option("--json", "as_json", is_flag=True, help="Print the HTTP service's JSON.")
def suggest(couple: str, budget, minutes, setting, weather, kids: bool, k: int, another: bool,
            as_json: bool) -> None:
    """Tonight's suggestion for COUPLE (logged like the service's)."""
    from ..context import ContextError, parse_context
    from ..recommender import Recommender
    from ..registry import ArtifactError, NoModelError
    from ..serving import serve_tonight

    raw = {"budget": budget, "minutes": minutes, "setting": setting, "weather": weather, "kids": kids}
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
    """Record that COUPLE did IDEA, with one partner's rating."""
    from ..catalog import load_catalog
    from ..serving import DateInputError, check_date_input

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
    click.echo(f"recorded date {record['id']}: {couple} did {idea} on {record['done_on']}, "
               f"partner {partner} rated it {rating}")
