"""The :class:`Store`: every repository of the engine's state over one database handle.

:class:`Store` inherits its repositories (mixins) and :class:`~engine.store.handle.Handle`:
each repository is a class of methods over the handle's transactions
(``self._read()``, ``self._write()``, ``self._raw_cursor()``, ...), so one
``Store`` object, one engine and one connection pool serve them all. Mixins
rather than a facade of one-line delegations: a repository calls the others'
methods on ``self`` (``add_date`` -> ``get_couple``, ``release_dead_lock`` ->
``lock_holder``), and callers and tests patch ``Store.record_sends`` or
``Store._insert_dates_chunk`` on the class; both keep working unchanged.
"""

from __future__ import annotations

from .bulk import BulkRepository
from .couples import CouplesRepository
from .daily_mail import DailyMailRepository
from .dates import DatesRepository
from .handle import Handle, make_engine
from .mail import MailRepository
from .marks import MarksRepository
from .migrations import SchemaRepository
from .newsletter import NewsletterRepository
from .practice import PracticeRepository
from .serving import ServingRepository
from .training import TrainingRepository

__all__ = ["Store", "open_store"]


class Store(CouplesRepository, DatesRepository, ServingRepository, NewsletterRepository, TrainingRepository,
            BulkRepository, PracticeRepository, MailRepository, DailyMailRepository, MarksRepository,
             SchemaRepository, Handle):
    """All reads and writes of the engine's state. Create with :func:`open_store`.

    One ``Store`` per process (after a fork, open a new one). Thread-safe:
    each call checks a connection out of the engine's pool.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Built by :func:`open_store` (SQLite needs its connect/begin hooks).
    """


def open_store(url: str | None = None) -> Store:
    """Open the database at ``url`` (no schema change; call :meth:`Store.migrate`).

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL. ``sqlite:///var/dateideas.sqlite3`` (folder created),
        ``postgresql+psycopg://user@host:5432/db`` (``postgresql://`` is read
        as psycopg 3). Default: ``settings_from_env().database_url``.

    Returns
    -------
    Store
    """
    if url is None:
        from ..config import settings_from_env

        url = settings_from_env().database_url
    return Store(make_engine(url))
