"""``dateideas import``: load a dataset folder (the import format) into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from ..domain.geo import format_location
from ..domain.profiles import DEFAULT_INTIMACY, budget_ceiling, intimacy_level

__all__ = ["import_", "couple_records"]

#: couples.csv columns that go into the stored profile (``interests`` is ``|``-joined)
_PROFILE_COLUMNS = ("budget_ceiling", "kids", "accessibility_needs", "interests", "home", "intimacy")
_TRUE = {"true": True, "false": False}


def couple_records(couples: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Turn a dataset's couples frame into :meth:`engine.store.Store.bulk_load` records.

    Parameters
    ----------
    couples : pandas.DataFrame
        ``id`` then profile columns (as :func:`engine.domain.dataset.read_dataset` returns).

    Returns
    -------
    records : list of dict
        ``{"id", "profile", "created_at"?}`` per couple, in frame order.
    problems : list of str
        One message per bad value, naming the couples.csv row (line = row + 2)
        and the field.
    ignored : list of str
        Columns that are neither ``created`` nor a profile field.
    """
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    columns = [c for c in couples.columns if c != "id"]
    ignored = [c for c in columns if c != "created" and c not in _PROFILE_COLUMNS]
    for i, row in enumerate(couples.to_dict(orient="records")):
        line = i + 2
        profile: dict[str, Any] = {}
        record: dict[str, Any] = {"id": str(row["id"])}
        for col in columns:
            value = row[col]
            if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
                continue
            if col == "created":
                stamp = pd.to_datetime(str(value), errors="coerce")
                if pd.isna(stamp):
                    problems.append(f"couples.csv:{line}: created: {value!r} is not a date (YYYY-MM-DD)")
                else:
                    record["created_at"] = stamp.to_pydatetime()
            elif col == "budget_ceiling":
                try:
                    profile[col] = budget_ceiling(value)  # the domain's one rule for a cost tier
                except ValueError:
                    problems.append(f"couples.csv:{line}: budget_ceiling: must be an integer from 0 "
                                    f"(free) to 3 (splurge), got {value!r}")
            elif col == "kids":
                flag = value if isinstance(value, (bool, np.bool_)) else _TRUE.get(str(value).lower())
                if flag is None:
                    problems.append(f"couples.csv:{line}: kids: must be true or false, got {value!r}")
                else:
                    profile[col] = bool(flag)
            elif col == "interests":
                profile[col] = [v.strip() for v in str(value).split("|") if v.strip()]
            elif col == "accessibility_needs":
                profile[col] = str(value)
            elif col == "home":
                try:
                    profile[col] = format_location(str(value))
                except ValueError as exc:
                    problems.append(f"couples.csv:{line}: home: {exc}")
            elif col == "intimacy":
                try:
                    level = intimacy_level(value)  # the domain's one rule for a level
                except ValueError as exc:
                    problems.append(f"couples.csv:{line}: {exc}")
                else:
                    if level != DEFAULT_INTIMACY:
                        profile[col] = level
        record["profile"] = profile
        records.append(record)
    return records, problems, ignored


@click.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--replace", is_flag=True,
              help="Erase couples that already exist in the database and load them afresh.")
@click.option("--no-progress", is_flag=True, help="Do not show progress bars.")
def import_(folder: Path, replace: bool, no_progress: bool) -> None:
    """Validate FOLDER (the import format) and load its couples and dates into the database.

    Every bad row is reported with file, line and field, and nothing is
    loaded (exit 1). Otherwise everything is loaded in one transaction.
    The database is DATEIDEAS_DATABASE_URL (created or upgraded first).
    """
    from ..app import CouplesExistError, StoreError, open_store
    from ..config import settings_from_env
    from ..domain.catalog import CatalogError, load_catalog
    from ..domain.dataset import DatasetError, read_dataset

    try:
        dataset = read_dataset(folder)
    except DatasetError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{folder}: {len(exc.problems)} problem(s); nothing was loaded.", err=True)
        raise SystemExit(1) from None
    records, problems, ignored = couple_records(dataset.couples)
    if problems:
        for message in problems:
            click.echo(f"{folder / message}", err=True)
        click.echo(f"{folder}: {len(problems)} problem(s); nothing was loaded.", err=True)
        raise SystemExit(1)
    if ignored:
        click.echo(f"note: couples.csv column(s) not stored in the profile: {', '.join(ignored)}", err=True)
    try:
        served = load_catalog()
        unknown = sorted(set(dataset.dates["idea_id"]) - set(served.ids))
    except CatalogError:
        unknown = []
    if unknown:
        click.echo(f"note: {len(unknown)} idea id(s) of the dataset are not in the served catalog "
                   f"(e.g. {', '.join(unknown[:3])}); their dates are stored but cannot be suggested",
                   err=True)
    store = open_store(settings_from_env().database_url)
    try:
        store.migrate()
        n_couples, n_dates = store.bulk_load(records, dataset.dates, replace=replace,
                                             progress=not no_progress)
    except CouplesExistError as exc:
        ids = ", ".join(exc.existing[:5]) + (", ..." if len(exc.existing) > 5 else "")
        click.echo(f"{folder}: {len(exc.existing)} couple(s) already exist ({ids}); nothing was loaded. "
                   "Run the import again with --replace to erase and reload them.", err=True)
        raise SystemExit(1) from None
    except StoreError as exc:
        click.echo(f"{folder}: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        store.close()
    click.echo(f"loaded {n_couples} couples and {n_dates} dates from {folder}")
