"""Freed arrays kept for the next block of a chunk instead of going back to the OS (glibc only).

A chunk is scored in blocks of couples (``Recommender.batch``) whose arrays are
megabytes each. glibc gives an allocation above its mmap threshold fresh pages
from the kernel and unmaps them when it is freed, so every block faults in all
of its memory again. In a plain process the threshold rises on its own after
the first large free, but a Dask worker starts with ``MALLOC_TRIM_THRESHOLD_``
set (distributed's default, to hand memory back promptly), and any such
setting pins the threshold at 128 KiB: measured on a 2,000-couple chunk at 367
ideas, 0.28 ms of system time a couple beside 0.46 ms of work.

:func:`reusing_freed_memory` raises the thresholds while a chunk runs (arrays
up to 32 MiB come from the heap, and freed ones are reused by the next block)
and, when it ends, gives the free memory back (``malloc_trim``) and puts back
the thresholds the process was started with (``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_MMAP_THRESHOLD_``), so a shared worker's other tasks see the allocator
it was configured with. A process started without them (the CLI) keeps the
raised ones: glibc cannot go back to moving the threshold by itself. With
another C library (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["reusing_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's own ceiling for the threshold it raises by itself on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
_MMAP_THRESHOLD = 32 << 20
#: free memory at the top of the heap kept while a chunk runs (a block's arrays: ~50 MB)
_TRIM_THRESHOLD = 256 << 20
#: where glibc starts both thresholds (the mmap one stays there once the environment sets either)
_GLIBC_DEFAULT = 128 << 10


def _glibc():
    try:
        lib = ctypes.CDLL("libc.so.6")
        lib.gnu_get_libc_version  # noqa: B018 - present in glibc only (musl has a libc.so.6 too on some systems)
        return lib if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


@contextmanager
def reusing_freed_memory() -> Iterator[bool]:
    """While the chunk runs, large freed arrays stay for the next block; after it, the free memory
    and the process's own thresholds go back.

    Yields True when the allocator was tuned (glibc), False where it does nothing.
    """
    if _LIBC is None:
        yield False
        return
    _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    _LIBC.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    try:
        yield True
    finally:
        _LIBC.malloc_trim(0)
        started = _started_thresholds()
        if started is not None:
            _LIBC.mallopt(_M_TRIM_THRESHOLD, started[0])
            _LIBC.mallopt(_M_MMAP_THRESHOLD, started[1])


def _started_thresholds() -> tuple[int, int] | None:
    """(trim, mmap) thresholds the environment gave this process (as a Dask worker gets them), or
    None when it set neither (glibc then moved the mmap threshold by itself)."""
    trim, mmap = os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_")
    if trim is None and mmap is None:
        return None
    try:
        return (int(trim) if trim is not None else _GLIBC_DEFAULT,
                int(mmap) if mmap is not None else _GLIBC_DEFAULT)
    except ValueError:  # not a number: glibc ignored it too
        return None
