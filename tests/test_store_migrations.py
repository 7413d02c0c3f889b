"""Known-answer test of the released migrations: they are frozen.

``tests/data/migrated_schemas.json`` holds, for SQLite and PostgreSQL, the
schema that ``migrate(target=N)`` leaves in a blank database for every
released version N: tables, columns (type, nullability, default), primary
keys, foreign keys, unique constraints, check constraints and indexes, as
reflected. It was recorded from the migrations as they were released, so a
change to a released migration (or to a column factory one of them uses)
fails here: append a migration instead.

A new migration's version is missing from the file; record it (and only the
missing versions: recorded ones are never rewritten) with::

    PYTHONPATH=. python tests/test_store_migrations.py sqlite:////tmp/record/blank.sqlite3 \\
        postgresql+psycopg://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.databases import throwaway_postgres
from engine.store import LATEST_VERSION, open_store
from engine.store.tables import _META

SNAPSHOT = Path(__file__).parent / "data" / "migrated_schemas.json"


def _columns(inspector: sa.Inspector, table: str) -> list[dict]:
    """The columns of ``table`` in order: name, type as the dialect spells it, nullability, default."""
    dialect = inspector.bind.dialect
    return [{"name": c["name"], "type": c["type"].compile(dialect=dialect), "nullable": c["nullable"],
             "default": c["default"]} for c in inspector.get_columns(table)]


def _table(inspector: sa.Inspector, table: str) -> dict:
    """Everything reflected about ``table``, lists sorted so that the order of reflection does not matter."""
    pk = inspector.get_pk_constraint(table)
    return {
        "columns": _columns(inspector, table),
        "primary_key": {"name": pk.get("name"), "columns": pk["constrained_columns"]},
        "foreign_keys": sorted(({"name": fk.get("name"), "columns": fk["constrained_columns"],
                                 "referred": f"{fk['referred_table']}({', '.join(fk['referred_columns'])})",
                                 "ondelete": fk.get("options", {}).get("ondelete")}
                                for fk in inspector.get_foreign_keys(table)), key=json.dumps),
        "unique": sorted(({"name": u["name"], "columns": u["column_names"]}
                          for u in inspector.get_unique_constraints(table)), key=json.dumps),
        "checks": sorted(({"name": c.get("name"), "sql": c["sqltext"]}
                          for c in inspector.get_check_constraints(table)), key=json.dumps),
        "indexes": sorted(({"name": i["name"], "columns": i["column_names"], "unique": bool(i["unique"])}
                           for i in inspector.get_indexes(table)), key=json.dumps),
    }


def reflect_schema(engine: sa.Engine) -> dict:
    """The schema of the database behind ``engine``: its tables by name (a JSON-ready dictionary)."""
    inspector = sa.inspect(engine)
    return {name: _table(inspector, name) for name in sorted(inspector.get_table_names())}


def migrated_schema(url: str, version: int) -> dict:
    """The schema a blank database at ``url`` has after ``migrate(target=version)``."""
    store = open_store(url)
    try:
        store.migrate(target=version)
        return reflect_schema(store.engine)
    finally:
        store.close()


def _recorded() -> dict:
    """The recorded schemas: backend name -> version (a string, JSON keys) -> schema."""
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_every_released_version_is_recorded():
    recorded = _recorded()
    for backend in ("sqlite", "postgresql"):
        missing = [n for n in range(1, LATEST_VERSION + 1) if str(n) not in recorded[backend]]
        assert not missing, (f"the {backend} schema of version(s) {missing} is not recorded in {SNAPSHOT.name}; "
                             "record it with this file's recording command (see its docstring)")


@pytest.mark.parametrize("version", range(1, LATEST_VERSION + 1))
def test_migration_creates_exactly_its_released_schema(blank_db_url: str, version: int):
    backend = sa.make_url(blank_db_url).get_backend_name()
    expected = _recorded()[backend].get(str(version))
    if expected is None:
        pytest.fail(f"version {version} is not recorded for {backend}; see test_every_released_version_is_recorded")
    assert migrated_schema(blank_db_url, version) == expected


def _declared(table: sa.Table) -> dict:
    """What the queries assume of ``table`` (from the replayed steps), in the terms of :func:`_reflected`."""
    return {
        "columns": [(c.name, c.type.python_type, c.nullable, c.server_default is not None and not c.primary_key)
                    for c in table.columns],
        "primary_key": [c.name for c in table.primary_key.columns],
        "foreign_keys": sorted((tuple(fk.column_keys), fk.referred_table.name, fk.ondelete)
                               for fk in table.foreign_key_constraints),
        "unique": sorted(u.name for u in table.constraints if isinstance(u, sa.UniqueConstraint)),
        "indexes": sorted((i.name, bool(i.unique)) for i in table.indexes),
    }


def _reflected(inspector: sa.Inspector, name: str) -> dict:
    """What the database has of table ``name``, in the terms of :func:`_declared`."""
    return {
        "columns": [(c["name"], c["type"].python_type, c["nullable"], c["default"] is not None and not pk)
                    for c in inspector.get_columns(name)
                    for pk in [c["name"] in inspector.get_pk_constraint(name)["constrained_columns"]]],
        "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
        "foreign_keys": sorted((tuple(fk["constrained_columns"]), fk["referred_table"],
                                fk.get("options", {}).get("ondelete")) for fk in inspector.get_foreign_keys(name)),
        "unique": sorted(u["name"] for u in inspector.get_unique_constraints(name)),
        "indexes": sorted((i["name"], bool(i["unique"])) for i in inspector.get_indexes(name)
                          if "duplicates_constraint" not in i),
    }


def test_latest_schema_is_what_the_replayed_steps_declare(store):
    # the queries use the replayed tables (engine.store.tables): an AddColumn's factory must say what its DDL made
    inspector = sa.inspect(store.engine)
    assert sorted(inspector.get_table_names()) == sorted(_META.tables)
    for table in _META.sorted_tables:
        assert _reflected(inspector, table.name) == _declared(table), table.name


def record_missing(blank_urls: dict[str, Callable[[], str]], versions: range) -> dict:
    """Add to the snapshot the schema of every version in ``versions`` a backend lacks, never changing a
    recorded one; ``blank_urls``: backend name -> a function giving a new blank database's URL."""
    recorded = _recorded() if SNAPSHOT.exists() else {}
    for backend, blank_url in blank_urls.items():
        schemas = recorded.setdefault(backend, {})
        for version in versions:
            if str(version) not in schemas:
                schemas[str(version)] = migrated_schema(blank_url(), version)
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return recorded


def _record(sqlite_url: str, postgres_server_url: str) -> None:
    """Record the missing versions from blank SQLite files next to ``sqlite_url``'s and throwaway databases
    on the PostgreSQL server at ``postgres_server_url`` (dropped afterwards)."""
    path = Path(sa.make_url(sqlite_url).database)
    made = iter(range(1, 1000))
    with contextlib.ExitStack() as stack:
        record_missing({
            "sqlite": lambda: f"sqlite:///{path.with_name(f'{path.stem}_{next(made)}{path.suffix}')}",
            "postgresql": lambda: stack.enter_context(throwaway_postgres(postgres_server_url, "schema_record")),
        }, range(1, LATEST_VERSION + 1))


if __name__ == "__main__":
    _record(*sys.argv[1:])
