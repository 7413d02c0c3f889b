"""A small thread-safe LRU map, checked against the data its value was computed from."""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["Memo"]


class Memo:
    """A small thread-safe LRU map; values are shared read-only, so never mutate one.

    Each value is stored with the ``rows`` (any comparable: the data, or a
    stamp of it) it was computed from, and :meth:`get` returns it only for
    equal rows, so a changed input is a miss rather than a stale answer.
    ``hits`` and ``misses`` count lookups. A pickled copy starts empty.
    """

    def __init__(self, size: int):
        self.size = size
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"size": self.size}  # a copy (pickled to a Dask worker, say) starts empty

    def __setstate__(self, state):
        self.__init__(state["size"])

    def get(self, key, rows):
        """The value stored under ``key`` for exactly these ``rows``, or None."""
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[0] == rows:
                self._data.move_to_end(key)
                self.hits += 1
                return entry[1]
            self.misses += 1
            return None

    def put(self, key, rows, value) -> None:
        with self._lock:
            self._data[key] = (rows, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
