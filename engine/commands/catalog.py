"""``dateideas catalog``: work with the idea catalog (``catalog check``), its prompts and nudges."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..app import check_nudges, check_prompts, nudges_path, prompts_path
from ..domain.catalog import check_catalog, default_catalog_dir

__all__ = ["catalog", "check"]


@click.group()
def catalog() -> None:
    """The date-idea catalog (data/ideas.csv + data/schema.json, data/prompts.csv, data/nudges.csv)."""


@catalog.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help='Print {"ideas", "by_category", "by_pillar", "by_intimacy", "errors"} as JSON, with "prompts", '
                   '"by_depth", "prompts_by_pillar" and "nudges" when those files are present.')
def check(path: Path | None, as_json: bool) -> None:
    """Validate a catalog and report every problem at once.

    PATH is a catalog folder (ideas.csv + schema.json, optionally prompts.csv
    and nudges.csv) or an ideas CSV with schema.json beside it; default: the
    shipped catalog. The prompts and nudges beside the ideas are checked too
    when present. Exits 1 if any problem was found, 0 otherwise.
    """
    report = check_catalog(path)
    out = report.to_dict()
    errors = list(report.errors)
    prompts = None
    if prompts_path(path).is_file():
        prompts = check_prompts(path)
        out.update(prompts=prompts.prompts, by_depth=prompts.by_depth, prompts_by_pillar=prompts.by_pillar)
        errors.extend(prompts.errors)
    if nudges_path(path).is_file():
        count, found = check_nudges(path)
        out["nudges"] = count
        errors.extend(found)
    out["errors"] = [p.to_dict() for p in errors]
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        for problem in errors:
            click.echo(str(problem))
        where = path if path is not None else default_catalog_dir()
        if errors:
            click.echo(f"{where}: {len(errors)} problem(s) in {report.ideas} idea(s) read"
                       + (f", {prompts.prompts} prompt(s)" if prompts else "") + ".")
        else:
            click.echo(f"{where}: OK, {report.ideas} ideas in {len(report.by_category)} categories.")
            if report.by_category:
                click.echo("by category: " + ", ".join(f"{k} {v}" for k, v in report.by_category.items()))
            if report.by_pillar:
                click.echo("by pillar: " + ", ".join(f"{k} {v}" for k, v in report.by_pillar.items()))
            if report.by_intimacy:
                click.echo("by intimacy level: " + ", ".join(f"{k} {v}" for k, v in report.by_intimacy.items()))
            if prompts is not None:
                click.echo(f"prompts: {prompts.prompts}; by depth: "
                           + ", ".join(f"{k} {v}" for k, v in prompts.by_depth.items())
                           + "; by pillar: " + ", ".join(f"{k} {v}" for k, v in prompts.by_pillar.items()))
            if "nudges" in out:
                click.echo(f"nudges: {out['nudges']}")
    if errors:
        raise SystemExit(1)
