"""Atomic file writes: a file is either its old content or its complete new one, never half.

The content goes to a temporary file beside the target (``.<name>.<random>.tmp``,
hidden), is flushed to disk, and replaces the target with one ``os.replace``;
on any failure the temporary file is removed and the target is untouched.
Used by the model registry (``LIVE``, ``HISTORY``) and the newsletter (part
files, ``picks.csv``, ``summary.json``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_file", "atomic_write"]


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the block ends without an error.

    Parameters
    ----------
    path : Path
        The target; its folder must exist.
    binary : bool, default=False
        A bytes handle; else text, UTF-8, newlines written as given.

    Yields
    ------
    file object
        Write the whole new content to it.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically (see the module notes).

    Parameters
    ----------
    path : Path
    text : str
    """
    with atomic_file(path) as handle:
        handle.write(text)
