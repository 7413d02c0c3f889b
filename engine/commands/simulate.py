"""``dateideas simulate``: synthetic couples and dates in the import format.

The generation options (:func:`generation_options`) are shared with
``dateideas evaluate --data synthetic``: :func:`simulated` builds the same
world for both.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["generation_options", "simulate", "simulated"]


def generation_options(command):
    """The options that shape a simulated dataset (short histories, long tail, other shapes)."""
    options = [
        click.option("--ideas", "n_ideas", type=click.IntRange(min=1), default=None,
                     help="Generate this many ideas from the catalog's (each a shipped idea with some "
                          "attributes redrawn) instead of using the catalog as is."),
        click.option("--dates-per-couple", type=click.FloatRange(min=1.0), default=None,
                     help="Mean dates per couple, 1 + Poisson(N - 1): short histories "
                          "[default: 10 + Poisson(18), about 28]."),
        click.option("--popularity-skew", type=click.FloatRange(min=0.0, max=10.0), default=0.0,
                     show_default=True,
                     help="Long tail: choices weighted by exposure rank^-S (enjoyment untouched); "
                          "1 is Zipf-like."),
        click.option("--no-attributes", is_flag=True,
                     help="Write ids and titles only (an empty schema): a purely collaborative dataset."),
        click.option("--counts", is_flag=True,
                     help="Write usage counts (dates.csv: couple_id, idea_id, count) instead of ratings."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def simulated(n_couples: int, seed: int, catalog_path: Path | None, progress: bool, *,
              n_ideas: int | None, dates_per_couple: float | None, popularity_skew: float,
              no_attributes: bool, counts: bool):
    """The simulated world the generation options ask for (see :func:`engine.lab.simulator.simulate`)."""
    from ..domain.catalog import CatalogError, load_catalog
    from ..lab.simulator import dataset_variant, generate_catalog
    from ..lab.simulator import simulate as run

    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    if n_ideas is not None:
        catalog = generate_catalog(n_ideas, seed=seed, base=catalog)
    try:
        world = run(n_couples, seed=seed, catalog=catalog, progress=progress,
                    dates_per_couple=dates_per_couple, popularity_skew=popularity_skew)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    return dataset_variant(world, no_attributes=no_attributes, counts=counts)


@click.command()
@click.option("--couples", "n_couples", type=click.IntRange(min=1), required=True,
              help="Number of couples to simulate (about 28 dates each).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed; the same seed gives the same data.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write ideas.csv, schema.json, dates.csv and couples.csv into.")
@click.option("--catalog", "catalog_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Catalog folder to draw ideas from (default: the shipped catalog).")
@generation_options
@click.option("--no-progress", is_flag=True, help="Do not show progress bars.")
def simulate(n_couples: int, seed: int, out: Path, catalog_path: Path | None, n_ideas: int | None,
             dates_per_couple: float | None, popularity_skew: float, no_attributes: bool, counts: bool,
             no_progress: bool) -> None:
    """Simulate couples with tastes, a routine and a novelty response; write the import format.

    The generative model is documented in engine/lab/simulator.py and
    docs/simulator.md. Load the result with `dateideas import OUT`; evaluate
    it with `dateideas evaluate --data OUT`. For short histories over a
    long-tailed catalog: --ideas 2000 --dates-per-couple 6 --popularity-skew 1.
    """
    from ..domain.dataset import write_dataset

    world = simulated(n_couples, seed, catalog_path, not no_progress, n_ideas=n_ideas,
                      dates_per_couple=dates_per_couple, popularity_skew=popularity_skew,
                      no_attributes=no_attributes, counts=counts)
    dates = world.usage if counts else world.dates
    write_dataset(out, world.catalog, dates, world.couples)
    click.echo(f"wrote {len(world.couples)} couples, {len(dates)} {'usage rows' if counts else 'dates'} "
               f"and {len(world.catalog)} ideas to {out}")
