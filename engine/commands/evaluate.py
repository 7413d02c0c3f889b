"""``dateideas evaluate`` (offline evaluation with baselines) and ``dateideas convert``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._extras import require_extra
from .simulate import generation_options, simulated

__all__ = ["DEFAULT_WEIGHTS", "convert", "evaluate"]

#: routine_weight values of the report's trade-off curve
DEFAULT_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
_SYNTHETIC_COUPLES = 2000
_COLUMNS = ("ndcg", "recall", "precision", "novelty", "routine_distance", "diversity",
            "coverage", "exposure_gini", "popular_share_top10", "enjoyment_ratio", "outside_routine")


def _cell(values: dict, metric: str) -> str:
    """``0.2860±0.0312``: the mean over seeds and the half-width of its 95% interval."""
    if metric not in values:
        return "-"
    ci = values.get(f"{metric}_ci")
    return f"{values[metric]:.4f}" + (f"±{(ci[1] - ci[0]) / 2:.4f}" if ci else "")


def _table(result: dict) -> str:
    """The models' means ± 95% half-widths, the headline metrics per seed, and the noise note."""
    from ..lab.evaluation import HEADLINE_METRICS

    models = result["models"]
    cols = [c for c in _COLUMNS if any(c in v for v in models.values())]
    widths = {c: max(len(c), *(len(_cell(v, c)) for v in models.values())) + 2 for c in cols}
    width = max(len(n) for n in models) + 2
    seeds = result.get("seeds")
    head = "model".ljust(width) + "".join(c.rjust(widths[c]) for c in cols)
    spread = f"mean ± 95% interval over {seeds} seeds" if seeds and seeds > 1 else "one seed: no interval"
    lines = [f"dataset {result['dataset']}, metrics @{result['k']} ({spread})", head, "-" * len(head)]
    for name, values in models.items():
        lines.append(name.ljust(width) + "".join(_cell(values, c).rjust(widths[c]) for c in cols))
    shown = [m for m in HEADLINE_METRICS if m in cols]
    if seeds and seeds > 1 and shown:
        lines.append("")
        lines.append("per seed: " + "; ".join(shown))
        for name, values in models.items():
            per = values.get("per_seed", {})
            lines.append(name.ljust(width) + " | ".join(
                " ".join(f"{v:.4f}" for v in per.get(m, [])) for m in shown))
    if result.get("note"):
        lines.append("")
        lines.append(f"note: {result['note']}")
    lines += [f"note: {note}" for note in result.get("notes", ())]
    return "\n".join(lines)


@click.command()
@click.option("--data", "data", default="synthetic", show_default=True,
              help="'synthetic' (simulated couples with a known truth) or a dataset folder "
                   "in the import format.")
@click.option("--couples", "n_couples", type=click.IntRange(min=1), default=None,
              help=f"Simulated couples for --data synthetic [default: {_SYNTHETIC_COUPLES}].")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="List length for the metrics.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Number of random hold-out splits; metrics are averaged over them, with a 95% "
                   "interval from their spread.")
@click.option("--relevant", type=float, default=None,
              help="Held-out rating counted as relevant, and the engine's training target "
                   "[default: 4 for synthetic (5 with --counts), for a folder the \"relevant\" "
                   "of its schema.json ratings, else the top of its rating scale].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the simulated world (--data synthetic); with --loop the first world's.")
@click.option("--catalog", "catalog_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Catalog for --data synthetic (default: the shipped catalog).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"dataset", "k", "seeds", "models": {name: {metric: mean, metric_ci: [lo, hi], '
                   '"per_seed": {metric: [...]}}}, "note"?} as JSON.')
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML report with plots to this file.")
@generation_options
@click.option("--no-progress", is_flag=True, help="Do not show progress bars.")
@click.option("--loop", "loop", is_flag=True,
              help="Simulate weeks of dates instead (the closed loop): every week each couple asks for "
                   "tonight, chooses among the three, does it and both partners rate it; policies side "
                   "by side. See docs/evaluation.md.")
@click.option("--weeks", type=click.IntRange(min=1), default=26, show_default=True,
              help="With --loop: weeks simulated.")
@click.option("--retrain-every", "retrain_every", type=click.IntRange(min=1), default=4, show_default=True,
              help="With --loop: the engine and the baselines retrain every this many weeks.")
def evaluate(data: str, n_couples: int | None, k: int, seeds: int, relevant: float | None, seed: int,
             catalog_path: Path | None, as_json: bool, report: Path | None, n_ideas: int | None,
             dates_per_couple: float | None, popularity_skew: float, no_attributes: bool, counts: bool,
             no_progress: bool, loop: bool, weeks: int, retrain_every: int) -> None:
    """Evaluate the engine beside random, most-popular, item-kNN and matrix-factorisation
    baselines on the same seeded hold-out splits.

    Protocol: ratings averaged per (couple, idea); for each couple with 3 or
    more rated ideas a random 20% (at least one) is held out; every idea not
    in the couple's training history is ranked; relevant = held-out rating
    >= --relevant. See docs/evaluation.md.

    With --loop: weeks of dates on simulated couples (engine, engine with
    routine_weight 0, popular, item_knn, mf, random, oracle); --json prints
    {"weeks", "couples", "seeds", "policies": {name: {"enjoyment", ...}}}.
    """
    from ..lab.evaluation import default_models, tradeoff_curve
    from ..lab.evaluation import evaluate as run

    progress = not no_progress
    if report is not None:  # before hours of evaluation, not after
        require_extra("plots", ("matplotlib",), "evaluate --report")
    if loop:
        _loop(data, n_couples, seeds, seed, weeks, retrain_every, catalog_path, as_json, report, progress)
        return
    generation = {"n_ideas": n_ideas, "dates_per_couple": dates_per_couple,
                  "popularity_skew": popularity_skew, "no_attributes": no_attributes, "counts": counts}
    if data == "synthetic":
        source = simulated(n_couples or _SYNTHETIC_COUPLES, seed, catalog_path, progress, **generation)
        name = "synthetic"
        if relevant is None:  # usage counts: the couple's most used fifth (the top of the 1-5 quantiles)
            relevant = 5.0 if counts else 4.0
    else:
        from ..domain.dataset import DatasetError, read_dataset

        used = [flag for flag, value in (("--ideas", n_ideas), ("--dates-per-couple", dates_per_couple),
                                         ("--popularity-skew", popularity_skew), ("--no-attributes", no_attributes),
                                         ("--counts", counts)) if value]
        if used:
            raise click.BadParameter(f"{', '.join(used)} only apply to --data synthetic; a dataset "
                                     "folder brings its own shape", param_hint=used[0])
        if n_couples is not None:
            raise click.BadParameter("--couples only applies to --data synthetic", param_hint="--couples")
        if catalog_path is not None:
            raise click.BadParameter("--catalog only applies to --data synthetic; a dataset folder "
                                     "brings its own ideas.csv", param_hint="--catalog")
        folder = Path(data)
        if not folder.is_dir():
            raise click.BadParameter(f"{data!r} is neither 'synthetic' nor a dataset folder",
                                     param_hint="--data")
        try:
            source = read_dataset(folder)
        except DatasetError as exc:
            raise click.ClickException(str(exc)) from exc
        name = folder.name or str(folder)
        if relevant is None:
            stated = source.relevant_rating
            relevant = float(source.rating_scale[1]) if stated is None else stated
    models = default_models()
    try:
        result = run(source, models, k=k, seeds=seeds, relevant=relevant, progress=progress, name=name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if report is not None:
        from ..lab.report import write_report

        engine = models["engine"]
        default_weight = float(engine().get_params()["routine_weight"])
        weights = sorted(set(DEFAULT_WEIGHTS) | {default_weight})
        curve = tradeoff_curve(source, engine, weights, k=k, seeds=seeds, relevant=relevant,
                               progress=progress)
        notes = [f"data {name}; {seeds} seed(s); relevant = held-out rating >= {relevant:g}; "
                 "per couple with >= 3 rated ideas a random 20% (at least one) held out; "
                 "every idea not in the couple's training history ranked."]
        write_report(report, result, curve, default_weight=default_weight, notes=notes)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_table(result))
        if report is not None:
            click.echo(f"report written to {report}")


_LOOP_COLUMNS = ("enjoyment", "enjoyment_less_happy", "outside_routine", "pillar_coverage",
                 "satisfaction_up_share")


def _loop(data: str, n_couples: int | None, seeds: int, seed: int, weeks: int, retrain_every: int,
          catalog_path: Path | None, as_json: bool, report: Path | None, progress: bool) -> None:
    from ..domain.catalog import CatalogError, load_catalog
    from ..lab.loop import run_loop

    if data != "synthetic":
        raise click.BadParameter("--loop needs simulated couples (their true enjoyment is known); "
                                 "leave --data at 'synthetic'", param_hint="--data")
    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    couples = n_couples or _SYNTHETIC_COUPLES
    result = run_loop(weeks=weeks, couples=couples, seeds=seeds, retrain_every=retrain_every,
                      catalog=catalog, first_seed=seed, progress=progress)
    if report is not None:
        from ..lab.loop_report import write_loop_report

        write_loop_report(report, result, notes=[
            f"dateideas evaluate --loop --weeks {weeks} --couples {couples} --seeds {seeds} "
            f"--retrain-every {retrain_every} --seed {seed}; worlds simulate(couples, seed=s) for "
            f"s = {seed} ... {seed + seeds - 1}; "
            "every policy on the same couples, contexts and random numbers."])
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    width = max(len(n) for n in result["policies"]) + 2
    head = "policy".ljust(width) + "".join(c.rjust(len(c) + 2) for c in _LOOP_COLUMNS)
    lines = [f"{couples} couples, {weeks} weeks, {seeds} seed(s), retrained every {retrain_every} weeks",
             head, "-" * len(head)]
    for name, values in result["policies"].items():
        lines.append(name.ljust(width) + "".join(f"{values[c]:.4f}".rjust(len(c) + 2) for c in _LOOP_COLUMNS))
    click.echo("\n".join(lines))
    if report is not None:
        click.echo(f"report written to {report}")


@click.command()
@click.argument("dataset", type=click.Choice(["movielens", "uci-restaurant"]))
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def convert(dataset: str, src: Path, dest: Path) -> None:
    """Turn a public ratings dataset in SRC into the import format in DEST.

    uci-restaurant: the UCI "Restaurant & consumer data" files (a copy ships in
    data/uci-restaurant, CC BY 4.0). Then: dateideas evaluate --data DEST --relevant 2

    movielens: a MovieLens download (ratings.csv + movies.csv, or ml-1m's
    ratings.dat + movies.dat; not shipped). Then: dateideas evaluate --data DEST --relevant 4
    """
    from ..domain.dataset import DatasetError
    from ..lab.convert import ConvertError
    from ..lab.convert import convert as run

    try:
        counts = run(dataset, src, dest)
    except (ConvertError, DatasetError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {counts['ideas']} ideas, {counts['dates']} dates and "
               f"{counts['couples']} couples to {dest}")
