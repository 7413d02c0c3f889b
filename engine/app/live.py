"""The live model of this process, loaded on first use and hot-swapped.

At most every ``check_interval`` seconds a caller looks at the registry's
live pointer (:meth:`~engine.learning.registry.Registry.live_pointer_identity`,
one ``stat``; the registry replaces the pointer atomically); when it changed,
the named version is loaded and swapped in. One thread does the loading while
the others keep serving the old model, and a caller keeps the
:class:`~engine.app.recommender.Recommender` it got from :meth:`LiveModel.get`,
so a request in flight finishes on the model it began with.

A version that fails to load (corrupt, wrong catalog, wrong library) is
logged and skipped: the old model keeps serving until the pointer changes again.

In a serving worker (``freeze_gc``, set by the gunicorn hook) the garbage
collector runs once after a swap and then leaves everything alive (the model,
the catalog, the code) out of its later passes (``gc.freeze``): a full pass
over a 50,000-idea worker took 100-160 ms, paused whichever request it fell in
(two in 300 fresh requests) and found nothing to free there; what the next
swap leaves is collected then (``gc.unfreeze``). Off elsewhere: a full pass
per load would cost a test process with many apps more than it saves.
The service wraps one :class:`LiveModel` per worker (:mod:`service.models`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..domain.catalog import Catalog, load_catalog
from ..learning.registry import ArtifactError, NoModelError, Registry
from .recommender import Recommender

__all__ = ["LiveModel"]

logger = logging.getLogger(__name__)


class LiveModel:
    """This process's current recommender and the catalog.

    Parameters
    ----------
    model_dir : str or Path
        The registry folder.
    catalog_dir : str or Path, optional
        The catalog; default ``$DATEIDEAS_CATALOG`` or the shipped ``data/``.
    check_interval : float, default=1.0
        Seconds between looks at the live pointer.
    on_swap : callable, optional
        Called with the new version after each load.
    freeze_gc : bool, default=False
        After each load, collect once and keep what is alive out of the
        collector's later passes (see the module notes; a serving worker).
    """

    def __init__(self, model_dir: str | Path, catalog_dir: str | Path | None = None,
                 check_interval: float = 1.0, on_swap: Callable[[str], object] | None = None,
                 freeze_gc: bool = False):
        self.on_swap = on_swap
        self.freeze_gc = freeze_gc
        self.registry = Registry(model_dir)
        self.catalog_dir = catalog_dir
        self.check_interval = check_interval
        self.last_error: str | None = None
        self.swaps = 0
        self._lock = threading.Lock()
        self._catalog_lock = threading.Lock()
        self._current: Recommender | None = None
        self._catalog: Catalog | None = None
        self._pointer: tuple[int, int, int] | None = None
        self._next_check = 0.0

    @property
    def catalog(self) -> Catalog:
        """The idea catalog (loaded once)."""
        if self._catalog is None:
            with self._catalog_lock:
                if self._catalog is None:
                    self._catalog = load_catalog(self.catalog_dir)
        return self._catalog

    @property
    def loaded_version(self) -> str | None:
        """Version this process serves now, or None."""
        current = self._current
        return None if current is None else current.version

    def get(self) -> Recommender:
        """The recommender to use for one request.

        Returns
        -------
        recommender : Recommender
            Take it once and use that reference throughout the request.

        Raises
        ------
        NoModelError
            When no model could be loaded yet (message says why).
        """
        current = self._current
        if current is not None and time.monotonic() < self._next_check:
            return current
        if current is None:
            with self._lock:  # nothing to serve yet: wait for the loader
                if self._current is None and time.monotonic() >= self._next_check:
                    self._refresh()
            if self._current is None:
                raise NoModelError(self.last_error or "no live model; run `dateideas train`")
            return self._current
        if self._lock.acquire(blocking=False):  # one thread looks; the others serve the old model
            del current  # (not kept alive here while a swap collects what the old model leaves)
            try:
                self._refresh()
            finally:
                self._lock.release()
        return self._current

    def _refresh(self) -> None:
        self._next_check = time.monotonic() + self.check_interval
        pointer = self.registry.live_pointer_identity()
        if pointer == self._pointer and self._current is not None:
            return
        self._pointer = pointer
        version = self.registry.live_version()
        if version is None:
            self.last_error = f"no live model in {self.registry.model_dir}; run `dateideas train`"
            return
        if self._current is not None and self._current.version == version:
            return
        try:
            loaded = Recommender.load(self.registry.model_dir, catalog=self.catalog, version=version)
        except (ArtifactError, NoModelError, OSError) as exc:
            self.last_error = f"could not load model {version}: {exc}"
            logger.error("%s; still serving %s", self.last_error, self.loaded_version)
            return
        previous = self.loaded_version
        self._current = loaded
        self.last_error = None
        self.swaps += 1
        if self.freeze_gc:  # what the old model left is seen (and freed) again; then the new one is kept out
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        if self.on_swap is not None:
            self.on_swap(version)
        logger.info("serving model %s (was %s)", version, previous)
