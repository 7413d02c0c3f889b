"""``dateideas catalog``: work with the idea catalog (``catalog check``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..catalog import check_catalog, default_catalog_dir

__all__ = ["catalog", "check"]


@click.group()
def catalog() -> None:
    """The date-idea catalog (data/ideas.csv + data/schema.json)."""


@catalog.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help='Print {"ideas", "by_category", "by_pillar", "errors"} as JSON.')
def check(path: Path | None, as_json: bool) -> None:
    """Validate a catalog and report every problem at once.

    PATH is a catalog folder (ideas.csv + schema.json) or an ideas CSV with
    schema.json beside it; default: the shipped catalog. Exits 1 if any
    problem was found, 0 otherwise.
    """
    report = check_catalog(path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for problem in report.errors:
            click.echo(str(problem))
        where = path if path is not None else default_catalog_dir()
        if report.errors:
            click.echo(f"{where}: {len(report.errors)} problem(s) in {report.ideas} idea(s) read.")
        else:
            click.echo(f"{where}: OK, {report.ideas} ideas in {len(report.by_category)} categories.")
            if report.by_category:
                click.echo("by category: " + ", ".join(f"{k} {v}" for k, v in report.by_category.items()))
            if report.by_pillar:
                click.echo("by pillar: " + ", ".join(f"{k} {v}" for k, v in report.by_pillar.items()))
    if report.errors:
        raise SystemExit(1)
