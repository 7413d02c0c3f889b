"""Throwaway databases for the benchmarks."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

__all__ = ["throwaway_postgres"]


@contextlib.contextmanager
def throwaway_postgres(server_url: str, prefix: str = "dateideas_bench") -> Iterator[str]:
    """Create an empty database on the PostgreSQL server at ``server_url``; yield its URL; drop it afterwards."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)  # survives a server restart
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
