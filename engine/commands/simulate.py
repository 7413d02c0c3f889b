"""``dateideas simulate``: synthetic couples and dates in the import format."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["simulate"]


@click.command()
@click.option("--couples", "n_couples", type=click.IntRange(min=1), required=True,
              help="Number of couples to simulate (about 28 dates each).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed; the same seed gives the same data.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write ideas.csv, schema.json, dates.csv and couples.csv into.")
@click.option("--catalog", "catalog_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Catalog folder to draw ideas from (default: the shipped catalog).")
@click.option("--no-progress", is_flag=True, help="Do not show progress bars.")
def simulate(n_couples: int, seed: int, out: Path, catalog_path: Path | None, no_progress: bool) -> None:
    """Simulate couples with tastes, a routine and a novelty response; write the import format.

    The generative model is documented in engine/simulator.py and
    docs/simulator.md. Load the result with `dateideas import OUT`.
    """
    from ..catalog import CatalogError, load_catalog
    from ..dataset import write_dataset
    from ..simulator import simulate as run

    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    world = run(n_couples, seed=seed, catalog=catalog, progress=not no_progress)
    write_dataset(out, catalog, world.dates, world.couples)
    click.echo(f"wrote {len(world.couples)} couples, {len(world.dates)} dates and "
               f"{len(catalog)} ideas to {out}")
