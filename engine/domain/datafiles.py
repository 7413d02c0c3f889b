"""Reading the data files (catalogs, prompts, datasets): the records of a CSV and the problems found.

:class:`Problem` is one thing wrong with a file (file, line, field, message)
and :class:`ProblemsError` the error listing every problem of a catalog or a
dataset. :class:`CsvRecords` reads a CSV's records with the physical lines
each spans (a quoted cell may hold line breaks) and keeps a read error
instead of raising it; :func:`checked_rows` is the strict reading of the
catalog's and the prompts' files on top of it: the header, then every
record that is not blank with the line it starts on, each unreadable part a
:class:`Problem`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["CsvRecords", "Problem", "ProblemsError", "checked_rows"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data file (a catalog, its schema, prompts, nudges, a dataset)."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class ProblemsError(ValueError):
    """Files failed validation; ``problems`` lists every problem found (the first 20 in the message)."""

    #: what the message says the problems are in
    subject = "the files"

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} problem(s) in {self.subject}:\n{shown}{more}")


class CsvRecords:
    """The records of an open CSV file, each as ``(first line, last line, cells)``, the header first.

    A record that cannot be read (bad UTF-8, a quoting error with
    ``strict=True``) ends the iteration: ``error`` then holds the exception
    and ``error_line`` the line after the last record read (1 for the
    header); both stay None while everything read.
    """

    def __init__(self, fh: TextIO, *, strict: bool = False):
        self._reader = csv.reader(fh, strict=strict)
        self.error: UnicodeDecodeError | csv.Error | None = None
        self.error_line: int | None = None

    def __iter__(self) -> Iterator[tuple[int, int, list[str]]]:
        end = self._reader.line_num  # physical line where the previous record ended
        try:
            for row in self._reader:
                line, end = end + 1, self._reader.line_num
                yield line, end, row
        except (UnicodeDecodeError, csv.Error) as exc:
            self.error, self.error_line = exc, end + 1

    @property
    def reason(self) -> str:
        """What went wrong reading, and for text in another encoding what to do about it."""
        if isinstance(self.error, UnicodeDecodeError):
            return f"{self.error}; the file is not UTF-8: save it as UTF-8 (in Excel: \"CSV UTF-8\")"
        return str(self.error)


def checked_rows(fh: TextIO, fname: str,
                 problems: list[Problem]) -> tuple[list[str], Iterator[tuple[int, list[str]]]] | None:
    """The header (cells stripped) and the records of a strict CSV, what cannot be read added to ``problems``.

    Parameters
    ----------
    fh : text file
        Open with ``newline=""``.
    fname : str
        The file's name in the problems.
    problems : list of Problem
        Appended to: an empty file or an unreadable header (line 1), and a
        record that cannot be read (the line after the last one read; once
        the records are all iterated).

    Returns
    -------
    (header, records) or None
        ``records`` yields ``(line, cells)`` of each record with a non-blank
        cell, ``line`` the physical line it starts on. None when there is no
        header to read.
    """
    records = CsvRecords(fh, strict=True)
    found = iter(records)
    first = next(found, None)
    if records.error is not None:
        problems.append(Problem(fname, 1, None, f"cannot read the header: {records.reason}"))
        return None
    if first is None:
        problems.append(Problem(fname, 1, None, "the file is empty; a header row is required"))
        return None

    def rows() -> Iterator[tuple[int, list[str]]]:
        for line, _, cells in found:
            if any(cell.strip() for cell in cells):
                yield line, cells
        if records.error is not None:
            problems.append(Problem(fname, records.error_line, None, f"cannot read the file: {records.reason}"))

    return [h.strip() for h in first[2]], rows()
